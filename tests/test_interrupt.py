"""Ctrl-C during a download stops it at once and leaves nothing half-written.

Downloads run on worker threads and Python delivers SIGINT to the main thread only: it used to wait for
the download to finish (and commit it) before saying "interrupted". The server here sends each archive
at 32 KiB/s, so a download takes about 25 s; the run must end a few seconds after SIGINT.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.models import build_text_embedding
from support.server import HubServer, write_mirror_config

RATE = 32 << 10  # bytes per second
HANDLES = ["https://tfhub.dev/test/embed/1", "https://tfhub.dev/test/embed/2"]


@pytest.fixture(scope="module")
def slow_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("slow")
    for version in (1, 2):
        build_text_embedding(root / "test" / "embed" / str(version), buckets=4000)  # ~800 KB archives
    return root


@pytest.mark.parametrize("command", [["fetch", "--jobs", "1"], ["fetch", "--jobs", "2"], ["vendor", "-o", "out"],
                                     ["lock"]])
def test_ctrl_c_stops_the_downloads_at_once_and_leaves_nothing(command, slow_root, hub_env, tmp_path):
    cache = tmp_path / "cache"
    (tmp_path / "pyproject.toml").write_text(
        "[tool.hubvendor]\nmodels = [" + ", ".join(f'"{h}"' for h in HANDLES) + "]\n")
    with HubServer(slow_root) as server:
        server.faults([{"kind": "throttle", "rate": RATE, "times": 100}])
        env = dict(hub_env, TFHUB_CACHE_DIR=str(cache),
                   HUBVENDOR_DOWNLOADER_CONFIG=str(write_mirror_config(tmp_path / "m.cfg", server.url)))
        handles = [] if command == ["lock"] else HANDLES
        process = subprocess.Popen([sys.executable, "-m", "hubvendor", *command, *handles], cwd=tmp_path, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while server.stats()["requests"] == 0 or time.monotonic() < deadline - 57:  # started, and 3 s in
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.1)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        took = time.monotonic() - interrupted
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "hubvendor: interrupted", err
    assert "Traceback" not in err
    assert took < 15, f"exited {took:.1f} s after SIGINT (a download takes ~25 s)"
    left = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
    assert left == [], f"left in the cache: {left}"
    assert not (tmp_path / "out").exists() and not (tmp_path / "hubvendor.lock").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
