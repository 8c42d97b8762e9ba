"""Issue 16's section of ``run.py``: parallel ranged downloads on rate-capped links, side by side.

A threaded loopback server (``CappedServer``: ``os.sendfile`` in 64 KiB steps, single ``Range``
requests with ``If-Range``, strong ETags) paces every connection and/or the whole link with token
buckets. Cases: each connection capped at 25 MB/s (a WAN link, a proxy, signed storage), the whole
link capped at 200 MB/s, and no cap. Contenders: hubvendor (``HUBVENDOR_CONNECTIONS`` default),
hubvendor on one connection, tensorflow_hub ``hub.resolve``, ``aria2c -x8 -s8 -k1M`` then
``tar -xzf``, and ``curl | tar -xzf -``; plus ``hubvendor fetch --jobs 4`` of 8 models vs one at a
time on the capped link.
"""

from __future__ import annotations

import email.utils
import http.server
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import Contender, Table, Target, alternate, fresh_dir, remove

PY = sys.executable
CONTENDER = str(Path(__file__).resolve().parent / "contender.py")
STEP = 64 * 1024
MB = 1_000_000
PER_CONNECTION = 25 * MB
LINK = 200 * MB
RSS_LIMIT_MIB = 128


class Bucket:
    """A token bucket shared by threads: ``take(n)`` sleeps until ``n`` bytes may be sent."""

    def __init__(self, rate: float) -> None:
        self.rate, self.lock = rate, threading.Lock()
        self.tokens, self.stamp = 0.0, time.monotonic()

    def take(self, count: int) -> None:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.rate * 0.05, self.tokens + (now - self.stamp) * self.rate) - count
            self.stamp = now
            debt = -self.tokens
        if debt > 0:
            time.sleep(debt / self.rate)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        server: CappedServer = self.server  # type: ignore[assignment]
        name = self.path.split("?")[0].strip("/").removesuffix(".tar.gz")
        path = server.root / f"{name}.tar.gz"
        if ".." in name or not path.is_file():
            self.send_error(404)
            return
        st = path.stat()
        etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
        start, end = 0, st.st_size
        header = self.headers.get("Range")
        partial = bool(header) and self.headers.get("If-Range") in (None, etag)
        hubvendor = self.headers.get("User-Agent", "").startswith("hubvendor/")
        server.ranged_requests += bool(hubvendor and header and not header.startswith("bytes=0-"))
        if partial:
            first, _, last = header.partition("=")[2].partition("-")
            start, end = int(first), min(st.st_size, int(last) + 1 if last else st.st_size)
        self.send_response(206 if partial else 200)
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{st.st_size}")
        self.end_headers()
        self.wfile.flush()
        connection = Bucket(server.per_connection) if server.per_connection else None
        try:
            with open(path, "rb") as f:
                at = start
                while at < end:
                    count = min(STEP, end - at)
                    if connection:
                        connection.take(count)
                    if server.link:
                        server.link.take(count)
                    at += os.sendfile(self.connection.fileno(), f.fileno(), at, count)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class CappedServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, per_connection: float | None, link: float | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root, self.per_connection = root, per_connection
        self.ranged_requests = 0  # hubvendor's range requests past byte 0: its extra connections at work
        self.link = Bucket(link) if link else None
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def __enter__(self) -> CappedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


@dataclass
class Result:
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    markdown: list[str] = field(default_factory=list)


def _contender(ctx: Any, name: str, argv: Any, env: dict[str, str]) -> Contender:
    state: dict[str, Path] = {}

    def make() -> tuple[list[str], dict[str, str], Path | None]:
        state["dir"] = fresh_dir(ctx.scratch, "ranged")
        return argv(state["dir"]), ctx.env(TFHUB_CACHE_DIR=str(state["dir"] / "cache"), **env), None

    return Contender(name, make, lambda: remove(state.pop("dir")))


def _contenders(ctx: Any, url: str, handle: str, config: Path) -> list[Contender]:
    mirror = {"HUBVENDOR_DOWNLOADER_CONFIG": str(config)}
    aria = ("aria2c -q -x8 -s8 -k1M --allow-overwrite=true -d '{d}' -o a.tar.gz '{url}.tar.gz' && "
            "mkdir '{d}/out' && tar -xzf '{d}/a.tar.gz' -C '{d}/out'")
    curl = "set -o pipefail; mkdir '{d}/out'; curl -sSf '{url}?tf-hub-format=compressed' | tar -xzf - -C '{d}/out'"
    found = [
        _contender(ctx, "hubvendor (ranged, default connections)", lambda d: [PY, CONTENDER, "hubvendor-resolve", handle], mirror),
        _contender(ctx, "hubvendor one connection", lambda d: [PY, CONTENDER, "hubvendor-resolve", handle],
                   {**mirror, "HUBVENDOR_CONNECTIONS": "1"}),
        _contender(ctx, "tensorflow_hub hub.resolve", lambda d: [PY, CONTENDER, "tfhub-resolve", url],
                   {"HUBVENDOR_AUTOLOAD": "0"}),
        _contender(ctx, "curl | tar -xzf - (whole process)", lambda d: ["bash", "-c", curl.format(d=d, url=url)], {}),
    ]
    if shutil.which("aria2c"):
        found.insert(3, _contender(ctx, "aria2c -x8 -s8 -k1M, then tar -xzf (whole process)",
                                   lambda d: ["bash", "-c", aria.format(d=d, url=url)], {}))
    return found


CASES = (("each connection capped at 25 MB/s", PER_CONNECTION, None),
         ("whole link capped at 200 MB/s", None, LINK),
         ("uncapped loopback", None, None))


def ranged(ctx: Any, sizes: dict[str, object], many: list[Any], **_: object) -> Result:
    """Target 8: ranged downloads vs tensorflow_hub, aria2c + tar, one connection; RSS; --jobs on a capped link."""
    result = Result()
    models: dict[str, Any] = sizes["models"]  # type: ignore[assignment]
    if ctx.quick:
        chosen = [models["normal"]]
    else:
        chosen = [m for m in sizes["scaling"] if m.size == 256 << 20] + [models["normal"], models["random"]]  # type: ignore[attr-defined]
    root = ctx.data_dir / "root"
    rss: list[float] = []
    for label, per_connection, link in CASES:
        with CappedServer(root, per_connection, link) as server:
            config = ctx.scratch.parent / "ranged-downloader.cfg"
            config.write_text(f"rewrite tfhub.dev/(.*) {server.url}/$1\n")
            for model in chosen:
                archive_mb = int(ctx.archives[model.name]["size"]) / 1e6
                contenders = _contenders(ctx, f"{server.url}/bench/{model.name}/1", model.handle, config)
                ctx.log(f" ranged, {label}: {model.name} ({archive_mb:.0f} MB)")
                alternate(contenders, ctx.runs, ctx.log)
                by = {c.name.split(" (")[0].split(",")[0]: c for c in contenders}
                hub, single = by["hubvendor"], by["hubvendor one connection"]
                rss.append(hub.peak_rss)
                result.tables.append(Table(f"Ranged downloads, {label}: {model.name} ({archive_mb:.0f} MB archive)",
                                           "tensorflow_hub hub.resolve", contenders))
                if model is not chosen[0]:
                    continue
                if per_connection:
                    result.targets.append(Target("8a", f"{label}, {model.name}: hubvendor / tensorflow_hub hub.resolve",
                                                 hub.median / by["tensorflow_hub hub.resolve"].median, 0.2))
                    if "aria2c -x8 -s8 -k1M" in by:
                        result.targets.append(Target("8b", f"{label}, {model.name}: hubvendor / aria2c -x8 + tar -xzf",
                                                     hub.median / by["aria2c -x8 -s8 -k1M"].median, 0.6))
                if not (per_connection or link):
                    evidence = (f"hubvendor sent {server.ranged_requests} range requests past byte 0 in this case "
                                f"(0: the extra connections never started in {ctx.runs} ranged runs, so the "
                                "difference is the in-order buffer's thread hand-off, or noise: one-connection "
                                f"samples {min(single.seconds):.2f}-{max(single.seconds):.2f} s, ranged "
                                f"{min(hub.seconds):.2f}-{max(hub.seconds):.2f} s)")
                    result.targets.append(Target("8d", f"{label}, {model.name}: hubvendor ranged / one connection",
                                                 hub.median / single.median, 1.05, evidence=evidence))
            if per_connection:
                result.tables.append(_jobs(ctx, many, config, result))
    result.targets.append(Target("8c", "hubvendor peak RSS with ranges, every case and archive", max(rss),
                                 RSS_LIMIT_MIB, unit="MiB"))
    return result


def _jobs(ctx: Any, many: list[Any], config: Path, result: Result) -> Table:
    handles = [m.handle for m in many]
    contenders = [
        _contender(ctx, f"hubvendor fetch --jobs {jobs} (whole process)",
                   lambda d, jobs=jobs: [PY, "-m", "hubvendor", "fetch", "--jobs", str(jobs), *handles],
                   {"HUBVENDOR_DOWNLOADER_CONFIG": str(config)})
        for jobs in (4, 1)
    ]
    alternate(contenders, ctx.runs, ctx.log)
    sequential = contenders[1].median
    total = sum(int(ctx.archives[m.name.split("-", 1)[1]]["size"]) for m in many)  # links to one archive
    budget = int(os.environ.get("HUBVENDOR_CONNECTIONS") or 8)
    link_floor, cpu_floor = total / (budget * PER_CONNECTION), contenders[0].cpu / (os.cpu_count() or 1)
    evidence = (f"--jobs 4 shares the one budget of HUBVENDOR_CONNECTIONS={budget} connections, and sequential "
                f"fetches already use all {budget} (ranges): {budget} x 25 MB/s carry the {total / 1e6:.0f} MB "
                f"in no less than {link_floor:.2f} s = {link_floor / sequential:.2f}x sequential ({sequential:.2f} s); "
                f"the CPU floor on {os.cpu_count()} cores is {cpu_floor:.2f} s = {cpu_floor / sequential:.2f}x. "
                "A larger budget (HUBVENDOR_CONNECTIONS=32, asked for) lifts the first floor only")
    result.targets.append(Target("8e", "8 models, each connection capped at 25 MB/s: fetch --jobs 4 / --jobs 1",
                                 contenders[0].median / sequential, 0.35, evidence=evidence))
    return Table(f"Ranged downloads, each connection capped at 25 MB/s: 8 x {many[0].name}", contenders[1].name,
                 contenders)
