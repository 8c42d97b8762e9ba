"""A TF Hub-protocol HTTP server: tests, the demo, and internal mirrors for air-gapped networks.

``hubvendor serve ROOT`` answers the requests tensorflow_hub and hubvendor make of tfhub.dev:

- ``GET /<path>?tf-hub-format=compressed`` (or ``GET /<path>.tar.gz``): ``ROOT/<path>.tar.gz`` if
  that file exists, else a deterministic tar.gz of the directory ``ROOT/<path>/`` (sorted members,
  ``./`` prefix, mtime 0), generated once per directory state and kept in a temporary file.
  Responses carry Content-Length and ETag; ``Range``/``If-Range`` (206) and ``HEAD`` work.
- ``GET /<path>?tf-hub-format=uncompressed``: ``303 See Other`` without a Location header, the body
  being the model's location: ``<uncompressed_base>/<path>/uncompressed`` when a base is configured,
  else the absolute local path ``ROOT/<path>``.
- With ``redirect=True`` compressed requests answer ``302`` to ``/_storage/<path>.tar.gz``, as
  tfhub.dev redirects to its storage.

Control endpoints, for tests and benchmarks only: enabled by ``--test-controls`` (``test_controls=True``),
404 otherwise. They are unauthenticated and let any client change what others download (a queued
``replace_body`` serves arbitrary bytes), so never enable them on a shared mirror. Not counted as requests:

- ``GET /_stats`` -> JSON ``{"requests": n, "archive_downloads": {"<path>": n}, "range_requests": n,
  "range_downloads": {"<path>": n}, "head_requests": n, "uncompressed_requests": n, "redirects": n,
  "not_found": n, "faults_applied": n, "faults_pending": n}``. ``archive_downloads`` counts archive
  GETs whose body starts at byte 0; a GET with a ``Range`` is counted in ``range_requests`` instead.
- ``POST /_reset`` zeroes the counters and drops pending faults.
- ``POST /_faults`` with a JSON list queues faults. Each archive GET (the request that would send
  the archive body) takes the first pending fault whose optional ``"path"`` matches, applies it and
  decrements its ``"times"`` (default 1). Offsets (``"at"``) count bytes of that response's body.

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
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import json
import os
import shutil
import socket
import struct
import tarfile
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK = 1 << 20
FORMAT_QUERY = "tf-hub-format"
STORAGE_PREFIX = "_storage/"
LOOP_PREFIX = "_loop/"
FAULT_KINDS = (
    "reset", "stall", "truncate", "corrupt", "status", "replace_body", "ignore_range", "redirect_loop", "throttle"
)
THROTTLE_WRITE = 16 * 1024


@dataclass(frozen=True)
class Archive:
    """An archive file ready to serve."""

    path: str
    size: int
    etag: str
    mtime: float


class HubState:
    """What the server serves and counts: the root, generated archives, stats and pending faults."""

    def __init__(
        self, root: str | os.PathLike, *, redirect: bool = False, uncompressed_base: str = "",
        test_controls: bool = False,
    ) -> None:
        self.root = Path(root).resolve()
        self.redirect = redirect
        self.test_controls = test_controls
        self.uncompressed_base = uncompressed_base.rstrip("/")
        self._lock = threading.Lock()
        self._generated: dict[str, tuple[str, Archive]] = {}
        self._generating: dict[str, threading.Lock] = {}
        self._workdir = tempfile.mkdtemp(prefix="hubvendor-serve-")
        self._faults: list[dict[str, Any]] = []
        self.reset()

    def close(self) -> None:
        shutil.rmtree(self._workdir, ignore_errors=True)

    # -- stats and faults -------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._stats: dict[str, Any] = {
                "requests": 0, "archive_downloads": {}, "range_requests": 0, "range_downloads": {},
                "head_requests": 0, "uncompressed_requests": 0, "redirects": 0, "not_found": 0,
                "faults_applied": 0,
            }

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

    # -- archives ---------------------------------------------------------------------------

    def model_dir(self, model_path: str) -> Path | None:
        path = self.root / model_path
        return path if model_path and path.is_dir() else None

    def archive(self, model_path: str) -> Archive | None:
        """The stored ``ROOT/<path>.tar.gz``, else a generated archive of ``ROOT/<path>/``."""
        if not model_path:
            return None
        stored = self.root / f"{model_path}.tar.gz"
        if stored.is_file():
            st = stored.stat()
            return Archive(str(stored), st.st_size, f'"{st.st_size:x}-{st.st_mtime_ns:x}"', st.st_mtime)
        directory = self.model_dir(model_path)
        return self._generated_archive(directory) if directory else None

    def _generated_archive(self, directory: Path) -> Archive:
        key = str(directory)
        with self._lock:
            dir_lock = self._generating.setdefault(key, threading.Lock())
        with dir_lock:
            fingerprint = _fingerprint(directory)
            cached = self._generated.get(key)
            if cached and cached[0] == fingerprint:
                return cached[1]
            target = os.path.join(self._workdir, hashlib.sha256(f"{key}\0{fingerprint}".encode()).hexdigest() + ".tar.gz")
            write_deterministic_tar_gz(directory, target)
            if cached:
                os.unlink(cached[1].path)
            archive = Archive(target, os.path.getsize(target), f'"{fingerprint[:32]}"', time.time())
            self._generated[key] = (fingerprint, archive)
            return archive

    def uncompressed_location(self, model_path: str) -> str | None:
        directory = self.model_dir(model_path)
        if self.uncompressed_base:
            return f"{self.uncompressed_base}/{model_path}/uncompressed" if directory or self.archive(model_path) else None
        return str(directory) if directory else None


def _fingerprint(directory: Path) -> str:
    """A digest of the directory's file names, sizes and mtimes (changes when its contents do)."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        for name in sorted(filenames):
            st = os.stat(os.path.join(dirpath, name))
            rel = os.path.relpath(os.path.join(dirpath, name), directory)
            digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def write_deterministic_tar_gz(directory: str | os.PathLike, target: str) -> None:
    """Write a tar.gz of ``directory`` like tfhub.dev's: ``./``-prefixed sorted members, mtime 0."""
    from isal import igzip

    def normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
        return info

    partial = target + ".partial"
    with open(partial, "wb") as raw, igzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.GNU_FORMAT, bufsize=CHUNK) as tar:
            tar.add(str(directory), arcname=".", filter=normalised)  # tarfile adds directory entries sorted
    os.replace(partial, target)


# -- HTTP ------------------------------------------------------------------------------------


class HubServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: HubState) -> None:
        self.state = state
        super().__init__(address, HubRequestHandler)

    def server_close(self) -> None:
        super().server_close()
        self.state.close()


class HubRequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubvendor-serve"
    timeout = 300
    server: HubServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: tests and builds run many requests."""

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_POST(self) -> None:
        state = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if not state.test_controls:
            self._send_simple(404, "not found\n")
        elif path == "/_reset":
            state.reset()
            self._send_simple(200, "ok\n")
        elif path == "/_faults":
            try:
                state.add_faults(json.loads(body or b"[]"))
            except ValueError as exc:
                self._send_simple(400, f"bad faults: {exc}\n")
                return
            self._send_simple(200, "ok\n")
        else:
            self._send_simple(404, "not found\n")

    def _dispatch(self, *, head: bool) -> None:
        state = self.server.state
        parts = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(parts.path)
        if path == "/_stats" and state.test_controls:
            self._send_simple(200, json.dumps(state.stats()) + "\n", "application/json", head=head)
            return
        state.count("requests")
        if head:
            state.count("head_requests")
        model_path = path.strip("/")
        if "\0" in model_path or any(segment in ("..", ".") for segment in model_path.split("/")):
            self._not_found(head)
            return
        if model_path.startswith(LOOP_PREFIX):
            hop = 1 - int(model_path[len(LOOP_PREFIX):] == "1")
            self._send_redirect(f"/{LOOP_PREFIX}{hop}", head)
            return
        query = dict(urllib.parse.parse_qsl(parts.query))
        if model_path.startswith(STORAGE_PREFIX) and model_path.endswith(".tar.gz"):
            self._send_archive(model_path[len(STORAGE_PREFIX):-len(".tar.gz")], head)
        elif model_path.endswith(".tar.gz"):
            self._compressed(model_path[: -len(".tar.gz")], head)
        elif query.get(FORMAT_QUERY) == "compressed":
            self._compressed(model_path, head)
        elif query.get(FORMAT_QUERY) == "uncompressed":
            self._uncompressed(model_path, head)
        else:
            self._not_found(head)

    def _compressed(self, model_path: str, head: bool) -> None:
        if self.server.state.redirect:
            if self.server.state.archive(model_path) is None:
                self._not_found(head)
                return
            self.server.state.count("redirects")
            self._send_redirect(f"/{STORAGE_PREFIX}{urllib.parse.quote(model_path)}.tar.gz", head)
        else:
            self._send_archive(model_path, head)

    def _uncompressed(self, model_path: str, head: bool) -> None:
        state = self.server.state
        location = state.uncompressed_location(model_path)
        if location is None:
            self._not_found(head)
            return
        state.count("uncompressed_requests")
        self._send_simple(303, location, head=head)

    def _send_archive(self, model_path: str, head: bool) -> None:
        state = self.server.state
        archive = state.archive(model_path)
        if archive is None:
            self._not_found(head)
            return
        fault = None if head else state.take_fault(model_path)
        kind = fault["kind"] if fault else None
        if kind == "status":
            extra = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else {}
            self._send_simple(fault["code"], fault.get("body", f"injected status {fault['code']}\n"), headers=extra)
            return
        if kind == "replace_body":
            self._send_simple(
                int(fault.get("status", 200)), fault.get("body", ""), fault.get("content_type", "text/html")
            )
            return
        if kind == "redirect_loop":
            self._send_redirect(f"/{LOOP_PREFIX}0", head)
            return

        start, end = 0, archive.size  # [start, end)
        if_range = self.headers.get("If-Range")
        range_header = self.headers.get("Range")
        partial = bool(range_header) and kind != "ignore_range" and if_range in (None, archive.etag)
        if partial:
            parsed = _parse_range(range_header, archive.size)
            if parsed is None:
                self._send_simple(
                    416, "range not satisfiable\n", headers={"Content-Range": f"bytes */{archive.size}"}, head=head
                )
                return
            start, end = parsed
        if not head:
            if partial:
                state.count("range_requests")
                state.count("range_downloads", model_path)
            else:
                state.count("archive_downloads", model_path)

        body_length = end - start
        cut = fault.get("at") if kind in ("reset", "truncate") else None
        announced = cut if kind == "truncate" and fault.get("honest_length") else body_length
        self.send_response(206 if partial else 200)
        self.send_header("Content-Type", "application/x-gzip")
        self.send_header("Content-Length", str(announced))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", archive.etag)
        self.send_header("Last-Modified", email.utils.formatdate(archive.mtime, usegmt=True))
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{archive.size}")
        self.end_headers()
        if head:
            return
        try:
            self._send_body(archive.path, start, body_length, fault)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    def _send_body(self, file_path: str, start: int, length: int, fault: dict[str, Any] | None) -> None:
        kind = fault["kind"] if fault else None
        with open(file_path, "rb") as f:
            if kind in (None, "ignore_range"):
                self.connection.sendfile(f, start, length)
                return
            at = max(0, int(fault.get("at", 0)))
            stop = min(length, at) if kind in ("reset", "truncate") else length
            f.seek(start)
            sent = 0
            step = THROTTLE_WRITE if kind == "throttle" else CHUNK
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

    def _send_redirect(self, location: str, head: bool) -> None:
        self._send_simple(302, f"redirect to {location}\n", headers={"Location": location}, head=head)

    def _not_found(self, head: bool) -> None:
        self.server.state.count("not_found")
        self._send_simple(404, f"not found: {self.path}\n", head=head)

    def _send_simple(
        self, code: int, text: str, content_type: str = "text/plain; charset=utf-8", *,
        headers: dict[str, str] | None = None, head: bool = False,
    ) -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> [start, end), or None if unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if not first:
            start, end = max(0, size - int(last)), size
        else:
            start = int(first)
            end = min(size, int(last) + 1) if last else size
    except ValueError:
        return None
    return (start, end) if 0 <= start < end else None


def _flip(chunk: bytes, offset: int, at: int, count: int) -> bytes:
    """``chunk`` (starting at body ``offset``) with bytes [at, at+count) XOR 0xFF."""
    lo, hi = max(at, offset) - offset, min(at + count, offset + len(chunk)) - offset
    if lo >= hi:
        return chunk
    data = bytearray(chunk)
    for i in range(lo, hi):
        data[i] ^= 0xFF
    return bytes(data)


def make_server(
    root: str | os.PathLike, host: str = "127.0.0.1", port: int = 0, *,
    redirect: bool = False, uncompressed_base: str = "", test_controls: bool = False,
) -> HubServer:
    """A bound (not yet serving) server; call ``serve_forever()`` and finally ``server_close()``."""
    state = HubState(root, redirect=redirect, uncompressed_base=uncompressed_base, test_controls=test_controls)
    try:
        return HubServer((host, port), state)
    except BaseException:
        state.close()
        raise
