"""Outside attack: servers that lie or stall (fetch)."""

from __future__ import annotations

import http.server
import subprocess
import threading

import pytest

from attack.helpers import base_env, cli, one_error_line


class _RetryAfter(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    value = "999999999"

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.send_response(503)
        self.send_header("Retry-After", self.value)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.mark.parametrize("value", ["999999999", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_huge_retry_after_does_not_hang(tmp_path, value):
    """A 503 with `Retry-After: 999999999` (31 years) or a date in year 9999: with
    HUBVENDOR_RETRIES=1, `hubvendor resolve` made one request and then slept silently, holding the
    cache lock, for as long as the server asked (killed by the test after 45 s). Expected: the wait
    is capped (or refused) and the run ends with one error line naming the URL."""
    handler = type("H", (_RetryAfter,), {"value": value})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cfg = tmp_path / "dl.cfg"
        cfg.write_text(f"rewrite tfhub.dev/(.*) http://127.0.0.1:{server.server_address[1]}/$1\n")
        env = base_env(tmp_path, HUBVENDOR_DOWNLOADER_CONFIG=str(cfg), HUBVENDOR_RETRIES="1")
        try:
            proc = cli("resolve", "https://tfhub.dev/test/m/1", env=env, timeout=45)
        except subprocess.TimeoutExpired:
            pytest.fail(f"resolve still waiting after 45 s on Retry-After: {value}")
        assert one_error_line(proc), proc.stderr
    finally:
        server.shutdown()
