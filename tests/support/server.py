"""Run hubvendor's TF Hub-protocol server for tests (a pytest plugin).

``HubServer(root)`` starts the product server with test controls (``support/fault_server.py ROOT --port 0``)
as a real subprocess on loopback (the controls serve ``stats()``, ``reset()``, ``faults()`` and
``expire_signatures()``); ``HubServer(root, test_controls=False)`` starts ``python -m hubvendor serve`` itself. Fixtures: ``hub_server`` (serving the session ``model_root``), ``mirror_config`` (a
downloader config rewriting tfhub.dev to it), ``hub_env`` (an environment for subprocesses) and
``use_hub_env`` (the same applied to ``os.environ``). The model ``test/half_plus_two/1`` is then
reachable as ``https://tfhub.dev/test/half_plus_two/1``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

HALF_PLUS_TWO_HANDLE = "https://tfhub.dev/test/half_plus_two/1"
_BANNER = re.compile(r"^Serving .* at http://127\.0\.0\.1:(\d+)/$")
_START_TIMEOUT = 60
FAULT_SERVER = str(Path(__file__).with_name("fault_server.py"))


class HubServer:
    """``hubvendor serve`` in a subprocess; a context manager that stops it on exit."""

    def __init__(
        self, root: str | os.PathLike, *, redirect: bool = False, test_controls: bool = True,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        command = [FAULT_SERVER] if test_controls else ["-m", "hubvendor", "serve"]
        args = [sys.executable, *command, os.fspath(root), "--port", "0", *extra_args]
        if redirect:
            args.append("--redirect")
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        banner: list[str] = []
        reader = threading.Thread(target=lambda: banner.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(_START_TIMEOUT)
        match = _BANNER.match(banner[0].strip()) if banner else None
        if not match:
            self.stop()
            raise RuntimeError(f"hubvendor serve did not start (exit {self.process.returncode}): {banner!r}")
        self.port = int(match.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HubServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, path: str, data: bytes | None = None) -> bytes:
        request = urllib.request.Request(self.url + path, data=data, method="POST" if data is not None else "GET")
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    def stats(self) -> dict[str, Any]:
        return json.loads(self._call("/_stats"))

    def reset(self) -> None:
        self._call("/_reset", b"")

    def faults(self, faults: list[dict[str, Any]]) -> None:
        self._call("/_faults", json.dumps(faults).encode())

    def expire_signatures(self) -> None:
        """Signed storage URLs issued so far answer 403 from now on."""
        self._call("/_expire_signatures", b"")

    def downloads(self, path: str = "test/half_plus_two/1") -> int:
        """Full archive downloads of ``path`` so far."""
        return self.stats()["archive_downloads"].get(path, 0)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


def write_mirror_config(path: Path, server_url: str) -> Path:
    """A downloader config sending tfhub.dev requests to ``server_url``."""
    path.write_text(f"# tfhub.dev -> local test server\nrewrite tfhub.dev/(.*) {server_url}/$1\n")
    return path


@pytest.fixture
def hub_server(model_root: Path):
    """A server over the session's models, fresh for each test."""
    with HubServer(model_root) as server:
        yield server


@pytest.fixture
def mirror_config(hub_server: HubServer, tmp_path: Path) -> Path:
    return write_mirror_config(tmp_path / "downloader.cfg", hub_server.url)


@pytest.fixture
def hub_env(mirror_config: Path, tmp_path: Path) -> dict[str, str]:
    """os.environ for subprocesses: mirror config set, a fresh TFHUB_CACHE_DIR, no HUBVENDOR_PATH."""
    cache = tmp_path / "tfhub_cache"
    cache.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "HUBVENDOR_PATH"}
    env.update(HUBVENDOR_DOWNLOADER_CONFIG=str(mirror_config), TFHUB_CACHE_DIR=str(cache))
    return env


@pytest.fixture
def use_hub_env(hub_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Apply ``hub_env`` to os.environ for this test (undone afterwards)."""
    monkeypatch.delenv("HUBVENDOR_PATH", raising=False)
    for name, value in hub_env.items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    return hub_env
