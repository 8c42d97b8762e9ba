"""Parallel ranged downloads: same bytes in order, If-Range on every range, never a splice, one budget.

A scripted loopback server (below) counts requests and concurrency, redirects the first request to
"storage", can drop ``Accept-Ranges`` and can change the object after N range requests;
``hubvendor serve`` (through ``HubServer``) serves real SavedModel archives end to end.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.models import HALF_PLUS_TWO, tar_gz_bytes
from support.server import HALF_PLUS_TWO_HANDLE, HubServer, write_mirror_config

from hubvendor import fetch, httpget, ranged, settings
from hubvendor.errors import ConfigError, FetchError, SourceChangedError

from hubvendor.digest import tree_digest

SIZE = 1_000_003


class Served:
    def __init__(self, body: bytes, etag: str = '"v1"') -> None:
        self.body, self.etag = body, etag
        self.accept_ranges = True
        self.ignore_ranges = False  # advertise ranges, answer every Range with 200 and the whole body
        self.redirect_first: str | None = None  # where the first request is sent on to
        self.change_after: int | None = None  # range requests before the object becomes ``changed``
        self.changed: tuple[bytes, str] | None = None
        self.first_byte_delay = 0.0  # seconds between the headers and the body's first byte
        self.requests: list[dict[str, str]] = []
        self.active = self.peak = 0  # requests being answered
        self.active_ranges = self.peak_ranges = 0
        self.lock = threading.Lock()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        served: Served = self.server.served  # type: ignore[attr-defined]
        with served.lock:
            served.requests.append({"path": self.path, **dict(self.headers)})
            ranges = sum("Range" in r for r in served.requests)
            if served.change_after is not None and ranges > served.change_after and served.changed:
                served.body, served.etag = served.changed
            body, etag = served.body, served.etag
            is_range = "Range" in self.headers
            served.active += 1
            served.active_ranges += is_range
            served.peak = max(served.peak, served.active)
            served.peak_ranges = max(served.peak_ranges, served.active_ranges)
        try:
            if served.redirect_first and self.path == "/obj":
                self.send_response(302)
                self.send_header("Location", served.redirect_first)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end = 0, len(body)
            header, if_range = self.headers.get("Range"), self.headers.get("If-Range")
            partial = bool(header) and served.accept_ranges and not served.ignore_ranges and if_range in (None, etag)
            if partial:
                first, _, last = header.split("=")[1].partition("-")
                start, end = int(first), min(len(body), int(last) + 1 if last else len(body))
            self.send_response(206 if partial else 200)
            self.send_header("Content-Length", str(end - start))
            self.send_header("ETag", etag)
            if served.accept_ranges:
                self.send_header("Accept-Ranges", "bytes")
            if partial:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(body)}")
            self.end_headers()
            time.sleep(served.first_byte_delay)
            for at in range(start, end, 65536):
                time.sleep(0.002)  # slow enough that ranges overlap
                self.wfile.write(body[at:min(end, at + 65536)])
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            with served.lock:
                served.active -= 1
                served.active_ranges -= is_range


class Server:
    def __init__(self, served: Served) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.served = served  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def ranges_on(monkeypatch):
    monkeypatch.setattr(httpget, "BACKOFF_BASE", 0.01)
    monkeypatch.setattr(fetch, "_budget", None)  # a budget sized from this test's settings
    monkeypatch.setenv("HUBVENDOR_RANGED_MIN_SIZE", "1")
    monkeypatch.setenv("HUBVENDOR_CONNECTIONS", "4")
    monkeypatch.setenv("HUBVENDOR_RANGED_SPEED", "always")  # loopback is fast: ranges forced on
    monkeypatch.setenv("HUBVENDOR_RETRIES", "3")
    monkeypatch.delenv("HUBVENDOR_DOWNLOADER_CONFIG", raising=False)
    monkeypatch.delenv("HUBVENDOR_OFFLINE", raising=False)


def get_all(url: str) -> tuple[bytes, Any]:
    with fetch.open_download(url, name="test/model/1") as d:
        return b"".join(d), d


def body(seed: int) -> bytes:
    return bytes((i * seed + i // 7) & 0xFF for i in range(SIZE))


def test_ranges_carry_if_range_go_to_the_final_url_and_arrive_in_order():
    served = Served(body(3))
    served.redirect_first = "/storage/obj?signature=secret"
    with Server(served) as server:
        data, d = get_all(server.url + "/obj")
    assert data == served.body
    assert isinstance(d, ranged.RangedDownload)
    parts = [r for r in served.requests if "Range" in r]
    assert len(parts) == len(ranged.split(SIZE, 4)) - 1  # part 0 comes from the probing response
    assert all(r["path"] == "/storage/obj?signature=secret" and r["If-Range"] == '"v1"' for r in parts)
    assert {r["Range"] for r in parts} == {f"bytes={s}-{e - 1}" for s, e in ranged.split(SIZE, 4)[1:]}
    assert served.peak > 1


@pytest.mark.parametrize("why", ["no Accept-Ranges", "weak ETag", "one connection", "below the threshold"])
def test_without_ranges_one_stream_same_result(why, monkeypatch):
    served = Served(body(5), etag='W/"v1"' if why == "weak ETag" else '"v1"')
    served.accept_ranges = why != "no Accept-Ranges"
    if why == "one connection":
        monkeypatch.setenv("HUBVENDOR_CONNECTIONS", "1")
    if why == "below the threshold":
        monkeypatch.setenv("HUBVENDOR_RANGED_MIN_SIZE", "2MB")
    with Server(served) as server:
        data, d = get_all(server.url + "/obj")
    assert data == served.body
    assert isinstance(d, fetch.Download)
    assert len(served.requests) == 1 and "Range" not in served.requests[0]


def test_an_object_changed_between_two_ranges_is_never_spliced():
    served = Served(body(3))
    served.change_after, served.changed = 2, (body(7), '"v2"')
    with Server(served) as server:
        with pytest.raises(SourceChangedError, match=r"test/model/1: .*127\.0\.0\.1.*changed on the server"):
            get_all(server.url + "/obj")


def test_a_budget_of_four_is_shared_by_two_downloads():
    served = Served(body(3))
    with Server(served) as server:
        results: list[bytes] = []
        threads = [threading.Thread(target=lambda: results.append(get_all(server.url + "/obj")[0])) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert results == [served.body, served.body]
    assert served.peak_ranges <= 4  # the budget: 4 range connections in the process, not 4 per download


def test_closing_mid_download_stops_every_connection():
    served = Served(body(3) * 4)
    with Server(served) as server:
        with fetch.open_download(server.url + "/obj", name="test/model/1") as d:
            next(iter(d))
        time.sleep(0.5)
        assert not [t for t in threading.enumerate() if t.name.startswith("hubvendor-range") and t.is_alive()]


@pytest.mark.parametrize("name, value", [("HUBVENDOR_CONNECTIONS", "many"), ("HUBVENDOR_CONNECTIONS", "65"),
                                         ("HUBVENDOR_RANGED_MIN_SIZE", "big")])
def test_bad_settings_are_one_line_errors(name, value, monkeypatch):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        settings.connections() if name == "HUBVENDOR_CONNECTIONS" else settings.ranged_min_size()


# -- end to end: a real SavedModel archive from hubvendor serve ------------------------------------


def _resolve(cache: Path, config: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HUBVENDOR_")}
    environment.update(TFHUB_CACHE_DIR=str(cache), HUBVENDOR_AUTOLOAD="0", HUBVENDOR_DOWNLOADER_CONFIG=str(config),
                       HUBVENDOR_RANGED_MIN_SIZE="1", HUBVENDOR_CONNECTIONS="4", HUBVENDOR_RANGED_SPEED="always")
    environment.update(env)
    return subprocess.run([sys.executable, "-m", "hubvendor", "resolve", HALF_PLUS_TWO_HANDLE],
                          env=environment, capture_output=True, text=True, timeout=120)


def _model(model_root: Path, target: Path, blob_seed: int) -> str:
    shutil.copytree(model_root / HALF_PLUS_TWO, target)
    (target / "assets").mkdir(exist_ok=True)
    (target / "assets" / "blob.bin").write_bytes(os.urandom(1 << 20) if blob_seed else b"")
    return tree_digest(str(target))


def test_the_archive_replaced_between_two_range_requests_gives_the_new_model_or_a_clean_error(model_root, tmp_path):
    old_digest = _model(model_root, tmp_path / "old", 1)
    new_digest = _model(model_root, tmp_path / "new", 2)
    root = tmp_path / "root"
    (root / HALF_PLUS_TWO).parent.mkdir(parents=True)
    stored = root / f"{HALF_PLUS_TWO}.tar.gz"
    stored.write_bytes(tar_gz_bytes(tmp_path / "old"))
    (tmp_path / "new.tar.gz").write_bytes(tar_gz_bytes(tmp_path / "new"))
    cache = tmp_path / "cache"
    with HubServer(root) as server:
        server.faults([{"kind": "throttle", "rate": 1 << 20, "times": 1000}])  # about 1 s per connection
        config = write_mirror_config(tmp_path / "m.cfg", server.url)
        run: dict[str, subprocess.CompletedProcess] = {}
        worker = threading.Thread(target=lambda: run.setdefault("r", _resolve(cache, config)))
        worker.start()
        deadline = time.monotonic() + 30
        while server.stats()["range_requests"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.replace(tmp_path / "new.tar.gz", stored)  # new range requests now see another ETag
        worker.join(120)
    result = run["r"]
    entries = [p for p in cache.iterdir() if p.is_dir()] if cache.exists() else []
    if result.returncode == 0:
        assert [tree_digest(str(p)) for p in entries] == [new_digest]
    else:
        assert "changed on the server" in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
        assert entries == []
    assert old_digest != new_digest


def test_a_real_model_in_ranges_matches_one_stream(model_root, tmp_path):
    root = tmp_path / "root"
    digest = _model(model_root, root / HALF_PLUS_TWO, 1)
    with HubServer(root) as server:
        config = write_mirror_config(tmp_path / "m.cfg", server.url)
        ranged_run = _resolve(tmp_path / "c1", config)
        stats = server.stats()
        server.reset()
        single_run = _resolve(tmp_path / "c2", config, HUBVENDOR_CONNECTIONS="1")
        single_stats = server.stats()
    assert ranged_run.returncode == 0 and single_run.returncode == 0, ranged_run.stderr + single_run.stderr
    assert tree_digest(ranged_run.stdout.strip()) == tree_digest(single_run.stdout.strip()) == digest
    assert stats["range_requests"] == 7 and single_stats["range_requests"] == 0


def test_a_server_that_always_ignores_ranges_fails_naming_url_and_cause():
    served = Served(body(3))
    served.ignore_ranges = True
    with Server(served) as server:
        with pytest.raises(FetchError, match=r"test/model/1: .*/obj: answered 200 instead of 206 .*gave up"):
            get_all(server.url + "/obj")


def test_the_progress_bar_shows_the_whole_download(monkeypatch, capsys):
    monkeypatch.setenv("TFHUB_DOWNLOAD_PROGRESS", "1")
    served = Served(body(3))
    with Server(served) as server:
        with fetch.open_download(server.url + "/obj", name="test/model/1") as d:
            bar = d._first._progress
            assert sum(len(chunk) for chunk in d) == SIZE
            assert isinstance(d, ranged.RangedDownload) and (bar.n, bar.total) == (SIZE, SIZE)


@pytest.mark.parametrize("speed, ranges", [("1", False), (None, True)])
def test_ranges_start_only_when_one_connection_is_slow(speed, ranges, monkeypatch):
    """This server sends about 30 MB/s per connection: under the default 100MB, ranges help; with
    HUBVENDOR_RANGED_SPEED=1 (1 byte/s) the probing connection is fast enough and reads it all."""
    if speed is None:
        monkeypatch.delenv("HUBVENDOR_RANGED_SPEED")
    else:
        monkeypatch.setenv("HUBVENDOR_RANGED_SPEED", speed)
    served = Served(body(3) * 4)
    with Server(served) as server:
        data, _ = get_all(server.url + "/obj")
    assert data == served.body
    assert any("Range" in r for r in served.requests) == ranges


def test_a_late_first_byte_is_latency_not_a_slow_connection(monkeypatch):
    """The probe's speed is timed from its first byte: ranges would each wait as long for theirs (CI once
    saw the 1 byte/s case above start ranges because its first chunk came after MEASURE_SECONDS)."""
    monkeypatch.setenv("HUBVENDOR_RANGED_SPEED", "1")
    served = Served(body(3))
    served.first_byte_delay = 10 * ranged.MEASURE_SECONDS
    with Server(served) as server:
        data, _ = get_all(server.url + "/obj")
    assert data == served.body
    assert not any("Range" in r for r in served.requests)


@pytest.mark.parametrize("host, sent", [("127.0.0.1", True), ("localhost", False)])
def test_credentials_go_to_ranges_on_the_same_host_only(host, sent):
    served = Served(body(3))
    with Server(served) as server:
        served.redirect_first = f"http://{host}:{server.url.rsplit(':', 1)[1]}/storage/obj"
        with fetch.open_download(server.url + "/obj", name="test/model/1", headers={"Authorization": "Bearer s3cret"}) as d:
            assert b"".join(d) == served.body
    parts = [r for r in served.requests if "Range" in r]
    assert parts and all(("Authorization" in r) == sent for r in parts)


def test_a_fast_probe_is_read_on_the_consumers_thread():
    """While ranges have not started, the probing response is read by the thread that iterates the download
    (no hand-off to a worker: on a fast link the machinery costs nothing); once they start, workers read."""
    readers: set[str] = set()

    class Probe:
        name, url, size = "test/model/1", "http://127.0.0.1/obj", 8 << 20

        def __iter__(self):
            for _ in range(8):
                readers.add(threading.current_thread().name)
                yield b"x" * (1 << 20)

        def close(self) -> None:
            pass

        def stop(self) -> None:
            pass

    def no_range(start: int, end: int):
        raise AssertionError("no range requested while the probe is fast")

    download = ranged.RangedDownload(Probe(), open_part=no_range, connections=4, budget=threading.Semaphore(4),
                                     spread_below=0.0)
    with download:
        assert sum(len(chunk) for chunk in download) == 8 << 20
    assert readers == {threading.current_thread().name}
