"""fetch against a scripted loopback server that lies: spliced resumes, bad ranges, drips, redirects, 303 bodies.

Each test reproduces a defect class of issue 12 that ``hubvendor serve`` cannot stage (objects that
change between requests, weak or missing validators, conflicting headers, dripping bodies, redirects
to other hosts, hostile UNCOMPRESSED answers, unparseable hosts and bad numeric settings).
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from hubvendor import fetch, handle, httpget, settings
from hubvendor.errors import ConfigError, FetchError, SourceChangedError

SIZE = 300_000


@dataclass
class Obj:
    body: bytes
    etag: str | None = '"v1"'
    last_modified: str | None = None


@dataclass
class Script:
    """What the server does: ``obj`` is served at /obj; ``steps`` are consumed one per request."""

    obj: Obj
    steps: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        script: Script = self.server.script  # type: ignore[attr-defined]
        script.requests.append(dict(self.headers))
        step = script.steps.pop(0) if script.steps else {}
        if "change_to" in step:
            script.obj = step["change_to"]
        obj = script.obj
        if "status" in step:
            body = step.get("body", b"")
            self.send_response(step["status"])
            self.send_header("Content-Length", str(len(body)))
            for name, value in step.get("headers", {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            return
        if "redirect" in step:
            self.send_response(302)
            self.send_header("Location", step["redirect"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = 0
        range_header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        honour = range_header and (step.get("ignore_if_range") or if_range is None or if_range == obj.etag)
        if honour and not step.get("ignore_range"):
            start = int(range_header.split("=")[1].split("-")[0])
        partial = start > 0 or step.get("partial_for_full")
        body = obj.body[start:]
        self.send_response(206 if partial else 200)
        lengths = step.get("content_length", [str(len(body))])
        for value in lengths:
            self.send_header("Content-Length", value)
        if partial and not step.get("no_content_range"):
            self.send_header("Content-Range", step.get("content_range", f"bytes {start}-{len(obj.body) - 1}/{len(obj.body)}"))
        if obj.etag:
            self.send_header("ETag", obj.etag)
        if obj.last_modified:
            self.send_header("Last-Modified", obj.last_modified)
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = step.get("reset_at")
        if cut is not None:
            self.wfile.write(body[: max(0, cut - start)])
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            return
        drip = step.get("drip")
        if drip:
            for i in range(0, len(body), drip):
                self.wfile.write(body[i:i + drip])
                self.wfile.flush()
                time.sleep(0.1)
            return
        self.wfile.write(body)


class ScriptedServer:
    def __init__(self, script: Script) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.script = script  # type: ignore[attr-defined]
        self.script = script
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(httpget, "BACKOFF_BASE", 0.01)
    monkeypatch.setenv("HUBVENDOR_RETRIES", "3")
    monkeypatch.setenv("HUBVENDOR_READ_TIMEOUT", "2")
    monkeypatch.delenv("HUBVENDOR_DOWNLOADER_CONFIG", raising=False)
    monkeypatch.delenv("HUBVENDOR_OFFLINE", raising=False)


def body(seed: int) -> bytes:
    return bytes((i * seed + i // 7) & 0xFF for i in range(SIZE))


def get_all(url: str) -> bytes:
    with fetch.open_download(url, name="test/model/1") as d:
        return b"".join(d)


A, B = body(3), body(5)


@pytest.mark.parametrize("validator", ["none", "weak etag", "last-modified only", "strong etag, If-Range ignored"])
def test_a_changed_object_is_never_spliced_after_a_drop(validator):
    etag = {"none": None, "weak etag": 'W/"v1"', "last-modified only": None}.get(validator, '"v1"')
    modified = "Tue, 01 Dec 2026 10:00:00 GMT" if validator == "last-modified only" else None
    new_etag = '"v2"' if etag == '"v1"' else etag
    ignore = validator.endswith("ignored")
    script = Script(Obj(A, etag, modified), [{"reset_at": 100_000},
                                             {"change_to": Obj(B, new_etag, modified), "ignore_if_range": ignore}])
    with ScriptedServer(script) as server:
        with pytest.raises(SourceChangedError, match=r"test/model/1: .*127\.0\.0\.1.*changed on the server"):
            get_all(server.url + "/obj")


@pytest.mark.parametrize("etag", [None, 'W/"v1"'])
def test_without_a_strong_etag_a_drop_restarts_from_zero_and_checks_the_prefix(etag):
    script = Script(Obj(A, etag), [{"reset_at": 100_000}])
    with ScriptedServer(script) as server:
        assert get_all(server.url + "/obj") == A
    assert "Range" not in script.requests[1] and "If-Range" not in script.requests[1]


def test_with_a_strong_etag_a_drop_resumes_with_if_range():
    script = Script(Obj(A), [{"reset_at": 100_000}])
    with ScriptedServer(script) as server:
        assert get_all(server.url + "/obj") == A
    assert script.requests[1]["Range"] == "bytes=100000-" and script.requests[1]["If-Range"] == '"v1"'


def test_a_changed_object_behind_if_range_is_a_clean_error():
    script = Script(Obj(A), [{"reset_at": 100_000}, {"change_to": Obj(B, '"v2"')}])
    with ScriptedServer(script) as server:
        with pytest.raises(SourceChangedError, match=r'ETag "v1" at the start, "v2" now'):
            get_all(server.url + "/obj")


@pytest.mark.parametrize("step, cause", [
    ({"partial_for_full": True}, "206 Partial Content to a request without Range"),
    ({"content_length": ["300000", "299999"]}, "invalid headers .*Content-Length contained multiple unmatching values"),
    ({"content_length": ["abc"]}, "malformed Content-Length"),
])
def test_bad_first_answers_name_url_and_cause(step, cause):
    with ScriptedServer(Script(Obj(A), [step])) as server:
        with pytest.raises(FetchError, match=cause) as error:
            get_all(server.url + "/obj")
    assert str(error.value).startswith("test/model/1: ") and server.url in str(error.value)


@pytest.mark.parametrize("step, cause", [
    ({"no_content_range": True}, "without a valid Content-Range"),
    ({"content_range": "bytes 5-299999/300000"}, "asked for bytes from 100000"),
])
def test_bad_resumes_name_url_and_cause(step, cause):
    with ScriptedServer(Script(Obj(A), [{"reset_at": 100_000}, step])) as server:
        with pytest.raises(FetchError, match=cause) as error:
            get_all(server.url + "/obj")
    assert server.url in str(error.value)


def test_a_reset_at_the_same_offset_every_time_gives_up_naming_url_and_offset(monkeypatch):
    monkeypatch.setenv("HUBVENDOR_RETRIES", "2")
    with ScriptedServer(Script(Obj(A), [{"reset_at": 100_000}] * 10)) as server:
        with pytest.raises(FetchError, match=r"/obj: connection dropped after 100000 bytes .*gave up after 2 retries"):
            get_all(server.url + "/obj")


def test_small_progress_between_resets_does_not_renew_the_retry_budget(monkeypatch):
    monkeypatch.setenv("HUBVENDOR_RETRIES", "3")
    steps = [{"reset_at": 1000 * (i + 1)} for i in range(50)]
    with ScriptedServer(Script(Obj(A), steps)) as server:
        with pytest.raises(FetchError, match="gave up after 3 retries"):
            get_all(server.url + "/obj")
        assert len(server.script.requests) == 4


def test_a_dripping_server_trips_the_minimum_speed(monkeypatch):
    monkeypatch.setenv("HUBVENDOR_MIN_SPEED", "10kB")
    monkeypatch.setenv("HUBVENDOR_MIN_SPEED_TIME", "1")
    started = time.monotonic()
    with ScriptedServer(Script(Obj(A), [{"drip": 200}])) as server:
        with pytest.raises(FetchError, match=r"slower than HUBVENDOR_MIN_SPEED=10000 bytes/s"):
            get_all(server.url + "/obj")
    assert time.monotonic() - started < 5


def test_signed_query_strings_never_appear_in_errors():
    script = Script(Obj(A), [{"redirect": "/signed?X-Goog-Signature=s3cr3t&X-Goog-Expires=60"},
                             {"status": 403, "body": b"expired"}])
    with ScriptedServer(script) as server:
        with pytest.raises(FetchError, match="HTTP 403") as error:
            get_all(server.url + "/obj")
    assert "s3cr3t" not in str(error.value) and "/signed?..." in str(error.value)


def test_redirects_go_through_allow_and_block(tmp_path, monkeypatch):
    script = Script(Obj(A), [{}, {}])
    with ScriptedServer(script) as server:
        config = tmp_path / "d.cfg"
        config.write_text(f"rewrite tfhub.dev/(.*) {server.url}/$1\nallow 127.0.0.1\nblock *\n")
        monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", str(config))
        assert get_all("https://tfhub.dev/obj") == A  # allowed host, no redirect
        script.steps = [{"redirect": f"http://localhost:{server.port}/obj"}]
        with pytest.raises(FetchError, match=r"redirect to http://localhost:\d+/obj not followed: its host is blocked"):
            get_all("https://tfhub.dev/obj")
        assert len(script.requests) == 2  # the blocked host was never asked


@pytest.mark.parametrize("answer, problem", [
    (b"../../..", "'.' or '..' segments"),
    (b"http://elsewhere.example/model", "expected a gs:// location"),
    (b"gs://bucket/a\ngs://bucket/b", "several words or lines"),
    (b"gs://bucket/" + b"x" * 8000, "longer than 4096 bytes"),
    (b"gs://bucket/../../etc", "'.' or '..' segments"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_uncompressed_answers_are_checked(answer, problem, tmp_path, monkeypatch):
    with ScriptedServer(Script(Obj(A), [{"status": 303, "body": answer}])) as server:
        with pytest.raises(FetchError, match=problem) as error:
            fetch.request_uncompressed_location(handle.parse(f"{server.url}/test/model/1"))
    assert "\n" not in str(error.value)


def test_uncompressed_accepts_a_gs_location():
    with ScriptedServer(Script(Obj(A), [{"status": 303, "body": b"gs://tfhub-modules/google/spice/2/uncompressed\n"}])) as s:
        assert fetch.request_uncompressed_location(handle.parse(f"{s.url}/x/y/1")) == \
            "gs://tfhub-modules/google/spice/2/uncompressed"


@pytest.mark.parametrize("url", ["http://a..b/x", "http://" + "a" * 300 + ".example/x", "http://127.0.0.1:99999/x"])
def test_unparseable_hosts_are_fetch_errors(url, monkeypatch):
    monkeypatch.setenv("HUBVENDOR_RETRIES", "0")
    with pytest.raises(FetchError, match="invalid URL"):
        get_all(url)


@pytest.mark.parametrize("replacement", ["http://[::1/$1", "http://127.0.0.1:99999/$1", "http:///$1"])
def test_rewrites_to_unusable_urls_name_the_rule(replacement, tmp_path, monkeypatch):
    config = tmp_path / "d.cfg"
    config.write_text(f"rewrite tfhub.dev/(.*) {replacement}\n")
    monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", str(config))
    with pytest.raises(ConfigError, match=rf"{config}: `rewrite tfhub.dev/\(\.\*\) .*not a usable URL"):
        get_all("https://tfhub.dev/a/b/1")


@pytest.mark.parametrize("name, value", [
    ("HUBVENDOR_RETRIES", "inf"), ("HUBVENDOR_RETRIES", "nan"), ("HUBVENDOR_RETRIES", "1e400"),
    ("HUBVENDOR_RETRIES", "2.5"), ("HUBVENDOR_CONNECT_TIMEOUT", "1e400"), ("HUBVENDOR_CONNECT_TIMEOUT", "nan"),
    ("HUBVENDOR_READ_TIMEOUT", "0"), ("HUBVENDOR_READ_TIMEOUT", "-1"), ("HUBVENDOR_MIN_SPEED", "fast"),
    ("HUBVENDOR_MIN_SPEED_TIME", "inf"), ("HUBVENDOR_MAX_MEMBERS", "1e400"),
])
def test_bad_numeric_settings_are_config_errors_naming_the_variable(name, value, monkeypatch):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        {"HUBVENDOR_MAX_MEMBERS": settings.max_members}.get(name, lambda: get_all("http://127.0.0.1:9/x"))()


def test_cli_prints_one_line_for_bad_hosts_and_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBVENDOR_")}
    env.update(TFHUB_CACHE_DIR=str(tmp_path / "cache"), HUBVENDOR_RETRIES="0")
    for handle_text, extra in [("http://a..b/x.tar.gz", {}), ("https://tfhub.dev/a/b/1", {"HUBVENDOR_RETRIES": "inf"})]:
        run = subprocess.run([sys.executable, "-m", "hubvendor", "resolve", handle_text], env={**env, **extra},
                             capture_output=True, text=True, timeout=120)
        assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def _plain_tar(seed: int) -> bytes:
    import io
    import random
    import tarfile

    rng = random.Random(seed)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, size in (("saved_model.pb", 2000), ("variables/variables.data-00000-of-00001", 400_000)):
            data = rng.randbytes(size)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize("etag", [None, 'W/"v1"'])
def test_a_plain_tar_model_changed_mid_download_is_never_cached_spliced(etag, tmp_path):
    """Issue 12: a model stitched from two archives was accepted; now the cache ends up empty."""
    from hubvendor import download
    from hubvendor.cache import Cache
    from hubvendor.errors import HubVendorError

    first, second = _plain_tar(1), _plain_tar(2)
    assert len(first) == len(second)
    script = Script(Obj(first, etag), [{"reset_at": 200_000}, {"change_to": Obj(second, etag)}])
    with ScriptedServer(script) as server:
        cache = Cache(str(tmp_path / "cache"))
        with pytest.raises(HubVendorError):
            download.ensure(f"{server.url}/test/model/1.tar", cache=cache)
    assert sorted(os.listdir(tmp_path / "cache")) == []
