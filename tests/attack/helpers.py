"""Helpers for the outside-attack tests: the real CLI as a subprocess, a real `hubvendor serve`."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hubvendor", *args],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd,
    )


def base_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_", "AWS_", "GOOGLE_"))}
    env.update(
        HOME=str(tmp / "home"),
        TFHUB_CACHE_DIR=str(tmp / "cache"),
        HUBVENDOR_AUTOLOAD="0",
        HUBVENDOR_RETRIES="0",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(tmp / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "none"),
        NO_PROXY="*",
    )
    env.update(extra)
    return env


def one_error_line(proc: subprocess.CompletedProcess) -> bool:
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    return proc.returncode in (1, 2) and "Traceback" not in proc.stderr and any(
        l.startswith("hubvendor: error:") for l in lines
    )


def make_model(root: Path, path: str = "test/m/1") -> Path:
    d = root / path
    (d / "variables").mkdir(parents=True, exist_ok=True)
    (d / "saved_model.pb").write_bytes(b"PB:" + path.encode())
    (d / "variables" / "variables.index").write_bytes(b"index")
    return d


@contextlib.contextmanager
def serve(root: Path, env: dict[str, str]):
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubvendor", "serve", "--port", "0", str(root)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        yield int(m.group(1))
    finally:
        proc.kill()
        proc.wait(10)


def entry_name(handle: str) -> str:
    return hashlib.sha1(handle.encode()).hexdigest()
