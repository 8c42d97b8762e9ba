"""The product server (``hubvendor.server``) plus test controls: counters, fault injection, redirect chains.

Run as ``python tests/support/fault_server.py ROOT [--port N] [--redirect] [--uncompressed-base URL]``
(``support.server.HubServer`` does); it prints the same banner as ``hubvendor serve``. Control
endpoints (unauthenticated: test only), not counted as requests:

- ``GET /_stats`` -> JSON ``{"requests": n, "archive_downloads": {"<path>": n}, "range_requests": n,
  "range_downloads": {"<path>": n}, "head_requests": n, "uncompressed_requests": n, "redirects": n,
  "not_found": n, "faults_applied": n, "faults_pending": n, "signed_downloads": n, "expired_signatures": n}``.
  ``archive_downloads`` counts archive GETs whose body starts at byte 0; a GET with a ``Range`` is
  counted in ``range_requests`` instead.
- ``POST /_reset`` zeroes the counters and drops pending faults.
- ``POST /_faults`` with a JSON list queues faults. Each archive GET takes the first pending fault whose
  optional ``"path"`` matches, applies it and decrements its ``"times"`` (default 1). Offsets (``"at"``)
  count bytes of that response's body.

  ``{"kind": "reset", "at": N}``               send N body bytes, then reset the connection (RST)
  ``{"kind": "stall", "at": N, "seconds": S}`` send N body bytes, pause S seconds, send the rest
  ``{"kind": "truncate", "at": N, "honest_length": false}``
                                               send N body bytes and close; the Content-Length
                                               announces the full size (or N when honest_length)
  ``{"kind": "corrupt", "at": N, "count": 1}`` flip (XOR 0xFF) ``count`` bytes starting at N
  ``{"kind": "status", "code": 503, "retry_after": 1}``
                                               answer with this status (Retry-After if given)
  ``{"kind": "replace_body", "body": "text", "status": 200, "content_type": "text/html"}``
                                               answer with this body instead of the archive
  ``{"kind": "ignore_range"}``                 answer a Range request with the full body (200)
  ``{"kind": "redirect_loop"}``                302 into ``/_loop/0`` <-> ``/_loop/1``, forever
  ``{"kind": "throttle", "rate": B}``          send the body at about B bytes per second (16 KiB writes)

- ``POST /_expire_signatures`` makes every signed URL issued so far answer 403 (new ones still work).

Kaggle-style redirect chain (the way tfhub.dev handles moved to Kaggle), for models laid out as
``ROOT/<owner>/<model>/<framework>/<variation>/<version>/`` (or ``<version>.tar.gz``):
``GET /_kaggle_hub/<owner>/<model>/<framework>/<variation>/<version>?tf-hub-format=compressed`` (reach it
with a downloader-config rewrite ``tfhub.dev/(.*) <url>/_kaggle_hub/$1``) -> 302
``/models/<owner>/<model>/frameworks/<framework>/variations/<variation>/versions/<version>?tf-hub-format=compressed&signed=1``
(kaggle.com's long form) -> 302 ``/_signed/<path>.tar.gz?X-Goog-Algorithm=...&X-Goog-Date=...&X-Goog-Expires=60&X-Goog-Signature=<random hex>``
-> 200 the archive. ``/api/v1/models/<...>/download?signed=1`` also answers with a signed redirect. A
``/_signed/`` URL whose signature was not issued, or was issued before the last ``/_expire_signatures``,
answers 403. Without ``signed=1`` the Kaggle paths answer the archive directly (the product behaviour).
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from typing import Any

from hubvendor import server as product
from hubvendor import servedroot

CONTROL_BODY_LIMIT = 1 << 20
LOOP_PREFIX = "_loop/"
KAGGLE_HUB_PREFIX = "_kaggle_hub/"
SIGNED_PREFIX = "_signed/"
THROTTLE_WRITE = 16 * 1024
FAULT_KINDS = (
    "reset", "stall", "truncate", "corrupt", "status", "replace_body", "ignore_range", "redirect_loop", "throttle"
)
COUNTERS = (
    "requests", "range_requests", "head_requests", "uncompressed_requests", "redirects", "not_found",
    "faults_applied", "signed_downloads", "expired_signatures",
)


class Controls:
    """Counters, pending faults and issued signatures, shared by the handler threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[dict[str, Any]] = []
        self._signatures: set[str] = set()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._stats: dict[str, Any] = {name: 0 for name in COUNTERS}
            self._stats.update(archive_downloads={}, range_downloads={})

    def count(self, counter: str, path: str | None = None) -> None:
        with self._lock:
            if path is None:
                self._stats[counter] += 1
            else:
                self._stats[counter][path] = self._stats[counter].get(path, 0) + 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps({**self._stats, "faults_pending": len(self._faults)}))

    def add_faults(self, faults: Any) -> None:
        """Queue faults; raises ValueError on a malformed list."""
        if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
            raise ValueError("expected a JSON list of fault objects")
        for fault in faults:
            if fault.get("kind") not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {fault.get('kind')!r}; expected one of {', '.join(FAULT_KINDS)}")
            if fault["kind"] == "status" and not isinstance(fault.get("code"), int):
                raise ValueError("a status fault needs an integer 'code'")
            if fault["kind"] == "throttle" and not (isinstance(fault.get("rate"), (int, float)) and fault["rate"] > 0):
                raise ValueError("a throttle fault needs a positive 'rate' (bytes per second)")
        with self._lock:
            self._faults.extend(dict(f, times=int(f.get("times", 1))) for f in faults)

    def take_fault(self, model_path: str) -> dict[str, Any] | None:
        with self._lock:
            for fault in self._faults:
                if fault.get("path", model_path).strip("/") == model_path:
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self._faults.remove(fault)
                    self._stats["faults_applied"] += 1
                    return fault
            return None

    def sign(self) -> str:
        signature = secrets.token_hex(32)
        with self._lock:
            self._signatures.add(signature)
        return signature

    def signed(self, signature: str) -> bool:
        with self._lock:
            return signature in self._signatures

    def expire_signatures(self) -> None:
        with self._lock:
            self._signatures.clear()


class FaultServer(product.HubServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.controls = Controls()


class FaultHandler(product.HubRequestHandler):
    server: FaultServer
    fault: dict[str, Any] | None = None
    model_path: str | None = None  # the archive being answered, for the counters
    head = False

    @property
    def controls(self) -> Controls:
        return self.server.controls

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        length = self.headers.get("Content-Length") or "0"
        if path not in ("/_reset", "/_faults", "/_expire_signatures"):
            self.close_connection = True  # the body is left unread
            self.send_simple(404, "not found\n", headers={"Connection": "close"})
            return
        if not length.isascii() or not length.isdigit() or int(length) > CONTROL_BODY_LIMIT:
            self.close_connection = True
            self.send_simple(400, f"bad Content-Length {length!r}\n", headers={"Connection": "close"})
            return
        body = self.rfile.read(int(length))
        if path == "/_reset":
            self.controls.reset()
        elif path == "/_expire_signatures":
            self.controls.expire_signatures()
        else:
            try:
                self.controls.add_faults(json.loads(body or b"[]"))
            except ValueError as exc:
                self.send_simple(400, f"bad faults: {exc}\n")
                return
        self.send_simple(200, "ok\n")

    def dispatch(self, *, head: bool) -> None:
        if urllib.parse.urlsplit(self.path).path == "/_stats":
            self.send_simple(200, json.dumps(self.controls.stats()) + "\n", "application/json", head=head)
            return
        self.controls.count("requests")
        if head:
            self.controls.count("head_requests")
        self.fault, self.model_path, self.head = None, None, head
        super().dispatch(head=head)

    def route(self, model_path: str, query: dict[str, str], head: bool) -> None:
        if model_path.startswith(LOOP_PREFIX):
            hop = 1 - int(model_path[len(LOOP_PREFIX):] == "1")
            product.HubRequestHandler.send_redirect(self, f"/{LOOP_PREFIX}{hop}", head)
        elif model_path.startswith(KAGGLE_HUB_PREFIX):
            rest = model_path[len(KAGGLE_HUB_PREFIX):]
            parts = rest.split("/")
            if len(parts) != product.KAGGLE_PARTS or self.server.state.archive(rest) is None:
                self.not_found(head)
                return
            owner, model, framework, variation, version = map(urllib.parse.quote, parts)
            long_form = f"/models/{owner}/{model}/frameworks/{framework}/variations/{variation}/versions/{version}"
            self.send_redirect(f"{long_form}?{product.FORMAT_QUERY}=compressed&signed=1", head)
        elif query.get("signed") == "1" and (
            model_path.startswith(product.KAGGLE_PREFIX) or product.KAGGLE_LONG_FORM.fullmatch(model_path)
        ):
            long_form = product.KAGGLE_LONG_FORM.fullmatch(model_path)
            rest = "/".join(long_form.groups()) if long_form else model_path[len(product.KAGGLE_PREFIX):].removesuffix("/download")
            if self.server.state.archive(rest) is None:
                self.not_found(head)
                return
            signed = urllib.parse.urlencode({
                "X-Goog-Algorithm": "GOOG4-RSA-SHA256", "X-Goog-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
                "X-Goog-Expires": "60", "X-Goog-Signature": self.controls.sign(),
            })
            self.send_redirect(f"/{SIGNED_PREFIX}{urllib.parse.quote(rest)}.tar.gz?{signed}", head)
        elif model_path.startswith(SIGNED_PREFIX) and model_path.endswith(".tar.gz"):
            if not self.controls.signed(query.get("X-Goog-Signature", "")):
                self.controls.count("expired_signatures")
                self.send_simple(403, "signature expired or invalid\n", head=head)
                return
            self.controls.count("signed_downloads")
            self.send_archive(model_path[len(SIGNED_PREFIX):-len(".tar.gz")], head)
        else:
            super().route(model_path, query, head)

    def uncompressed(self, model_path: str, head: bool) -> None:
        if self.server.state.uncompressed_location(model_path) is not None:
            self.controls.count("uncompressed_requests")
        super().uncompressed(model_path, head)

    def send_redirect(self, location: str, head: bool) -> None:
        self.controls.count("redirects")
        super().send_redirect(location, head)

    def not_found(self, head: bool) -> None:
        self.controls.count("not_found")
        super().not_found(head)

    def send_archive(self, model_path: str, head: bool) -> None:
        if self.server.state.archive(model_path) is None:
            self.not_found(head)
            return
        fault = None if head else self.controls.take_fault(model_path)
        kind = fault["kind"] if fault else None
        if kind == "status":
            extra = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else {}
            self.send_simple(fault["code"], fault.get("body", f"injected status {fault['code']}\n"), headers=extra)
        elif kind == "replace_body":
            self.send_simple(int(fault.get("status", 200)), fault.get("body", ""), fault.get("content_type", "text/html"))
        elif kind == "redirect_loop":
            product.HubRequestHandler.send_redirect(self, f"/{LOOP_PREFIX}0", head)
        else:
            self.fault, self.model_path = fault, model_path
            super().send_archive(model_path, head)

    def span(self, archive: servedroot.Archive) -> tuple[int, int, bool] | None:
        kind = self.fault["kind"] if self.fault else None
        span = (0, archive.size, False) if kind == "ignore_range" else super().span(archive)
        if span is not None and not self.head and self.model_path is not None:
            if span[2]:
                self.controls.count("range_requests")
                self.controls.count("range_downloads", self.model_path)
            else:
                self.controls.count("archive_downloads", self.model_path)
        return span

    def announced_length(self, length: int) -> int:
        fault = self.fault
        if fault and fault["kind"] == "truncate" and fault.get("honest_length"):
            return min(length, int(fault.get("at", 0)))
        return length

    def send_body(self, file_path: str, start: int, length: int) -> None:
        fault = self.fault
        kind = fault["kind"] if fault else None
        if kind in (None, "ignore_range"):
            super().send_body(file_path, start, length)
            return
        at = max(0, int(fault.get("at", 0)))
        stop = min(length, at) if kind in ("reset", "truncate") else length
        step = THROTTLE_WRITE if kind == "throttle" else servedroot.CHUNK
        with open(file_path, "rb") as f:
            f.seek(start)
            sent = 0
            while sent < stop:
                chunk_end = min(stop, sent + step)
                if kind == "stall" and sent < at < chunk_end:
                    chunk_end = at
                chunk = f.read(chunk_end - sent)
                if kind == "corrupt":
                    chunk = _flip(chunk, sent, at, int(fault.get("count", 1)))
                if kind == "stall" and sent == at:
                    time.sleep(float(fault.get("seconds", 1)))
                self.wfile.write(chunk)
                sent += len(chunk)
                if kind == "throttle":
                    time.sleep(len(chunk) / float(fault["rate"]))
            if kind == "stall" and sent == at == length:
                time.sleep(float(fault.get("seconds", 1)))
        if kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif kind == "truncate":
            self.close_connection = True


def _flip(chunk: bytes, offset: int, at: int, count: int) -> bytes:
    """``chunk`` (starting at body ``offset``) with bytes [at, at+count) XOR 0xFF."""
    lo, hi = max(at, offset) - offset, min(at + count, offset + len(chunk)) - offset
    if lo >= hi:
        return chunk
    data = bytearray(chunk)
    for i in range(lo, hi):
        data[i] ^= 0xFF
    return bytes(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("root")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--redirect", action="store_true")
    parser.add_argument("--uncompressed-base", default="")
    args = parser.parse_args(argv)
    state = servedroot.HubState(args.root, redirect=args.redirect, uncompressed_base=args.uncompressed_base)
    server = FaultServer(("127.0.0.1", args.port), state, FaultHandler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Serving {args.root} at http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
