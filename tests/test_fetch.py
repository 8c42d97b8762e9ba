"""fetch: real downloads from ``hubvendor serve`` on loopback, with injected network faults."""

from __future__ import annotations

import email.utils
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Iterator

import pytest
import requests

from hubvendor import fetch, handle, httpinfo
from hubvendor.errors import FetchError, OfflineError
from support.models import HALF_PLUS_TWO
from support.server import HALF_PLUS_TWO_HANDLE, HubServer, write_mirror_config

HANDLE = handle.parse(HALF_PLUS_TWO_HANDLE)
URL = HANDLE.compressed_url()


@pytest.fixture
def archive(hub_server) -> bytes:
    """The archive as served, fetched directly; the server's counters are reset afterwards."""
    data = requests.get(f"{hub_server.url}/{HALF_PLUS_TWO}.tar.gz", timeout=30).content
    hub_server.reset()
    return data


def download(url: str = URL, **kwargs) -> tuple[bytes, fetch.Download]:
    with fetch.open_download(url, name=HALF_PLUS_TWO_HANDLE, **kwargs) as d:
        return b"".join(d), d


def test_download_through_the_mirror(use_hub_env, hub_server, archive):
    data, d = download()
    assert data == archive
    assert d.size == len(archive)
    assert d.url == f"{hub_server.url}/{HALF_PLUS_TWO}?tf-hub-format=compressed"
    assert hub_server.stats()["archive_downloads"] == {HALF_PLUS_TWO: 1}


def test_download_from_an_offset(use_hub_env, archive):
    data, d = download(offset=1000)
    assert data == archive[1000:] and d.size == len(archive)


def test_redirects_are_followed_and_the_final_url_kept(model_root, tmp_path, monkeypatch):
    with HubServer(model_root, redirect=True) as server:
        monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", str(write_mirror_config(tmp_path / "m.cfg", server.url)))
        data, d = download()
        assert d.url == f"{server.url}/_storage/{HALF_PLUS_TWO}.tar.gz"
        assert data[:2] == b"\x1f\x8b"
        assert server.stats()["redirects"] == 1


def test_resume_after_a_connection_reset(use_hub_env, hub_server, archive):
    hub_server.faults([{"kind": "reset", "at": 3000}])
    data, _ = download()
    assert data == archive
    stats = hub_server.stats()
    assert stats["archive_downloads"] == {HALF_PLUS_TWO: 1}
    assert stats["range_downloads"] == {HALF_PLUS_TWO: 1}


def test_resume_after_a_short_body(use_hub_env, hub_server, archive):
    hub_server.faults([{"kind": "truncate", "at": 3000}])
    data, _ = download()
    assert data == archive
    assert hub_server.stats()["range_requests"] == 1


def test_resume_when_the_server_ignores_range(use_hub_env, hub_server, archive):
    hub_server.faults([{"kind": "reset", "at": 3000}, {"kind": "ignore_range"}])
    data, _ = download()
    assert data == archive
    assert hub_server.stats()["archive_downloads"] == {HALF_PLUS_TWO: 2}


def test_503_with_retry_after_is_retried(use_hub_env, hub_server, archive):
    hub_server.faults([{"kind": "status", "code": 503, "retry_after": 1}])
    started = time.monotonic()
    data, _ = download()
    assert data == archive
    assert time.monotonic() - started >= 0.9
    assert hub_server.stats()["requests"] == 2


@pytest.mark.parametrize("value", ["61", "999999999", "99999999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_retry_after_beyond_the_cap_fails_at_once_naming_url_and_value(use_hub_env, hub_server, value):
    hub_server.faults([{"kind": "status", "code": 503, "retry_after": value, "times": 10}])
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"HTTP 503 .*Retry-After: .*not waiting longer than 60 s") as error:
        download()
    assert time.monotonic() - started < 10
    assert value[:20] in str(error.value) and "http://127.0.0.1:" in str(error.value)
    assert hub_server.stats()["requests"] == 1


def test_retries_run_out_with_one_clear_error(use_hub_env, hub_server, monkeypatch):
    monkeypatch.setenv("HUBVENDOR_RETRIES", "2")
    hub_server.faults([{"kind": "status", "code": 502, "times": 10}])
    with pytest.raises(FetchError, match=r"HTTP 502 .*gave up after 2 retries") as error:
        download()
    assert HALF_PLUS_TWO_HANDLE in str(error.value)
    assert hub_server.stats()["requests"] == 3


def test_404_fails_at_once_naming_handle_host_and_status(use_hub_env, hub_server):
    missing = handle.parse("https://tfhub.dev/test/missing/1")
    with pytest.raises(FetchError) as error:
        with fetch.open_download(missing.compressed_url(), name=missing.raw):
            pass
    message = str(error.value)
    assert message.startswith("https://tfhub.dev/test/missing/1: ")
    assert f"not found on 127.0.0.1:{hub_server.port}" in message and "404" in message
    assert "\n" not in message
    assert hub_server.stats()["requests"] == 1


def test_a_refusing_proxy_is_named_not_taken_for_the_server(use_hub_env, hub_server, monkeypatch):
    """HTTP_PROXY at a port nobody listens on: the error names the proxy (without its credentials); it used to
    read as if the mirror had refused the connection."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://user:secret@127.0.0.1:{port}")
    monkeypatch.setenv("HUBVENDOR_RETRIES", "0")
    with pytest.raises(FetchError) as caught:
        download()
    message = str(caught.value)
    assert f"Connection refused at the proxy http://127.0.0.1:{port}" in message, message
    assert "secret" not in message and "user" not in message.split("proxy", 1)[1]


def test_other_4xx_fails_at_once(use_hub_env, hub_server):
    hub_server.faults([{"kind": "status", "code": 403, "times": 5}])
    with pytest.raises(FetchError, match="HTTP 403"):
        download()
    assert hub_server.stats()["requests"] == 1


def test_a_stall_past_the_read_timeout_is_resumed(use_hub_env, hub_server, archive, monkeypatch):
    monkeypatch.setenv("HUBVENDOR_READ_TIMEOUT", "0.5")
    hub_server.faults([{"kind": "stall", "at": 3000, "seconds": 5}])
    started = time.monotonic()
    data, _ = download()
    assert data == archive
    assert time.monotonic() - started < 4
    assert hub_server.stats()["range_requests"] == 1


def test_endless_stalls_fail_without_hanging(use_hub_env, hub_server, monkeypatch):
    monkeypatch.setenv("HUBVENDOR_READ_TIMEOUT", "0.3")
    monkeypatch.setenv("HUBVENDOR_RETRIES", "1")
    hub_server.faults([{"kind": "stall", "at": 0, "seconds": 3, "times": 5}])
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        download()
    assert time.monotonic() - started < 3


def test_redirect_loop_fails_clearly(use_hub_env, hub_server):
    hub_server.faults([{"kind": "redirect_loop"}])
    with pytest.raises(FetchError, match="redirect loop"):
        download()


def test_falls_back_to_the_next_mirror(hub_server, archive, tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    config = tmp_path / "mirrors.cfg"
    config.write_text(
        f"rewrite tfhub.dev/(.*) http://127.0.0.1:{dead}/$1\n"
        f"rewrite tfhub.dev/(.*) {hub_server.url}/elsewhere/$1\n"
        f"rewrite tfhub.dev/(.*) {hub_server.url}/$1\n"
    )
    monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", str(config))
    monkeypatch.setenv("HUBVENDOR_RETRIES", "1")
    data, d = download()
    assert data == archive and d.url.startswith(hub_server.url + "/test/")
    assert hub_server.stats()["not_found"] == 1


def test_every_mirror_failing_names_them_all(hub_server, tmp_path, monkeypatch):
    config = tmp_path / "mirrors.cfg"
    config.write_text(
        f"rewrite tfhub.dev/(.*) {hub_server.url}/a/$1\nrewrite tfhub.dev/(.*) {hub_server.url}/b/$1\n"
    )
    monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", str(config))
    with pytest.raises(FetchError) as error:
        download()
    message = str(error.value)
    assert f"{hub_server.url}/a/test" in message and f"{hub_server.url}/b/test" in message


def test_offline_raises_before_any_connection(monkeypatch):
    def no_connect(*args, **kwargs):
        pytest.fail("a socket was connected while offline")

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", no_connect)
    monkeypatch.setenv("HUBVENDOR_OFFLINE", "1")
    with pytest.raises(OfflineError, match="half_plus_two"):
        download()
    with pytest.raises(OfflineError, match="half_plus_two"):
        fetch.request_uncompressed_location(HANDLE)


def test_blocked_url_names_the_url_config_and_message(tmp_path, monkeypatch):
    config = tmp_path / "blocked.cfg"
    config.write_text("block *\nall_blocked_message Ask #ml-infra for a mirror.\n")
    monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", str(config))
    with pytest.raises(FetchError) as error:
        download()
    message = str(error.value)
    assert URL in message and str(config) in message and "Ask #ml-infra for a mirror." in message


def test_request_uncompressed_location(use_hub_env, model_root):
    assert fetch.request_uncompressed_location(HANDLE) == str((model_root / HALF_PLUS_TWO).resolve())


def test_request_uncompressed_location_rejects_other_statuses(use_hub_env, hub_server):
    missing = handle.parse("https://tfhub.dev/test/missing/1")
    with pytest.raises(FetchError, match=r"expected 303 See Other.*received 404"):
        fetch.request_uncompressed_location(missing)
    with pytest.raises(FetchError, match=r"received 200"):
        fetch.request_uncompressed_location(handle.parse(f"{hub_server.url}/_stats"))


def test_progress_bar_only_when_asked(use_hub_env, capfd, monkeypatch):
    monkeypatch.delenv("TFHUB_DOWNLOAD_PROGRESS", raising=False)
    download()
    assert capfd.readouterr().err == ""
    monkeypatch.setenv("TFHUB_DOWNLOAD_PROGRESS", "1")
    download()
    assert "half_plus_two" in capfd.readouterr().err


def test_retry_after_parsing():
    assert httpinfo.retry_after("3") == 3.0
    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= httpinfo.retry_after(in_ten) <= 10
    assert httpinfo.retry_after("soon") is None
    assert httpinfo.retry_after("0000000005") == 5.0  # leading zeros are not truncated into 0
    assert httpinfo.retry_after("9" * 5000) == 10**12


def test_importing_hubvendor_does_not_import_requests():
    code = "import sys, hubvendor, hubvendor.fetch, hubvendor.mirrors; print('requests' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"



def test_a_download_closed_while_the_extraction_pump_reads_it_stops_cleanly(tmp_path, monkeypatch):
    """As ``cache.fetch_archive``: extraction fails while its fetch thread waits on the network, then
    ``with download:`` closes the download from this thread; the reader must stop without reconnecting."""
    from hubvendor import archive as extraction
    from hubvendor.errors import ArchiveError

    model = tmp_path / "root" / "pub" / "big" / "1"
    model.mkdir(parents=True)
    (model / "variables.data").write_bytes(os.urandom(3 << 20))  # incompressible: a 1 MiB chunk, then the stall
    monkeypatch.setattr(extraction.pipeline, "JOIN_SECONDS", 0.2)  # extract returns while the fetch thread still waits
    with HubServer(tmp_path / "root") as server:
        server.faults([{"kind": "stall", "at": 3 << 19, "seconds": 3}])
        url = f"{server.url}/pub/big/1?tf-hub-format=compressed"
        errors: list[Exception] = []

        def reader(d: fetch.Download) -> Iterator[bytes]:
            try:
                yield from d
            except Exception as exc:  # what the fetch thread would swallow
                errors.append(exc)
                raise

        with fetch.open_download(url, name="pub/big/1") as d:
            with pytest.raises(ArchiveError, match="more than 1 members"):
                extraction.extract(reader(d), str(tmp_path / "out"), name="pub/big/1",
                                   limits=extraction.Limits(1, 1 << 30))
        for pump in [t for t in threading.enumerate() if t.name == "hubvendor-fetch pub/big/1"]:
            pump.join(10)
            assert not pump.is_alive()
        stats = server.stats()
    assert errors == []
    assert (stats["requests"], stats["range_requests"]) == (1, 0)  # no reconnect after close


def test_close_from_another_thread_stops_the_reader_without_reconnecting(tmp_path):
    model = tmp_path / "root" / "pub" / "big" / "1"
    model.mkdir(parents=True)
    (model / "variables.data").write_bytes(os.urandom(3 << 20))
    with HubServer(tmp_path / "root") as server:
        server.faults([{"kind": "stall", "at": 1000, "seconds": 2}])
        d = fetch.open_download(f"{server.url}/pub/big/1?tf-hub-format=compressed", name="pub/big/1")
        after_close: list[int] = []
        errors: list[Exception] = []
        closed = threading.Event()

        def read() -> None:
            try:
                for chunk in d:
                    if closed.is_set():
                        after_close.append(len(chunk))
            except Exception as exc:
                errors.append(exc)

        thread = threading.Thread(target=read)
        thread.start()
        time.sleep(0.5)  # the reader waits in the stall
        closed.set()
        d.close()
        thread.join(10)
        assert not thread.is_alive()
        stats = server.stats()
    assert (after_close, errors) == ([], [])
    assert (stats["requests"], stats["range_requests"]) == (1, 0)
