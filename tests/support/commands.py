"""Run the ``hubvendor`` CLI as a real subprocess, as users do."""

from __future__ import annotations

import subprocess
import sys


def hubvendor(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m hubvendor ARGS`` with captured text output; a hang fails the test at ``timeout``."""
    return subprocess.run(
        [sys.executable, "-m", "hubvendor", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
