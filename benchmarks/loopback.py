"""A loopback mirror for the benchmark archives: nginx (sendfile) when installed, else ``hubvendor serve``.

``ROOT/bench/<name>/1.tar.gz`` answers ``/bench/<name>/1`` (any query) and ``/bench/<name>/1.tar.gz``,
as tfhub.dev answers ``?tf-hub-format=compressed``. nginx is preferred because a Python server
competes with the client for the two cores (baselines.md: isal 1.73 s behind ``http.server`` vs 0.88 s
behind nginx). Install it with ``apt-get install nginx-light``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

NGINX_CONF = """\
{user}worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ try_files $uri.tar.gz $uri =404; }}
    }}
}}
"""


def _nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mirror:
    """A running loopback server for ``root``; ``url`` is its base, ``kind`` says which server it is."""

    def __init__(self, root: Path, prefer_nginx: bool = True) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="hubvendor-bench-mirror-")
        nginx = _nginx() if prefer_nginx else None
        if nginx:
            self.kind = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip().split(": ")[-1]
            self.port = _free_port()
            conf = Path(self._tmp.name, "nginx.conf")
            user = "user root root;\n" if os.geteuid() == 0 else ""
            conf.write_text(NGINX_CONF.format(user=user, tmp=self._tmp.name, port=self.port, root=root))
            self.process = subprocess.Popen(
                [nginx, "-p", self._tmp.name, "-c", str(conf), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
        else:
            self.kind = "hubvendor serve (nginx not installed: the server shares the cores with the clients)"
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hubvendor", "serve", str(root), "--port", "0"],
                stdout=subprocess.PIPE, text=True,
            )
            banner = self.process.stdout.readline()  # type: ignore[union-attr]
            match = re.search(r"http://127\.0\.0\.1:(\d+)/", banner)
            if not match:
                self.stop()
                raise RuntimeError(f"hubvendor serve did not start: {banner!r}")
            self.port = int(match.group(1))
        self.url = f"http://127.0.0.1:{self.port}"
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the mirror exited with {self.process.returncode}")
            try:
                urllib.request.urlopen(self.url + "/", timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # it answers (404 for the bare root)
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the mirror did not start listening within 20 s")

    def downloader_config(self, path: Path) -> Path:
        """A HUBVENDOR_DOWNLOADER_CONFIG / Bazel downloader config sending tfhub.dev here."""
        path.write_text(f"rewrite tfhub.dev/(.*) {self.url}/$1\n")
        return path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._tmp.cleanup()

    def __enter__(self) -> Mirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
