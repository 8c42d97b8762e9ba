"""Outside attack: lock files that are not regular files."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from attack.helpers import base_env


def test_bazel_lock_from_dev_zero_is_bounded(tmp_path):
    """`hubvendor bazel --lock /dev/zero` read the 'lock file' whole: MemoryError traceback under a
    2 GB ulimit (all memory without one). Expected: a size cap and one error line naming the file."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    try:
        proc = subprocess.run(
            [sys.executable, "-m", "hubvendor", "bazel", "--lock", "/dev/zero"], env=base_env(tmp_path),
            capture_output=True, text=True, timeout=30, preexec_fn=limit,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("bazel --lock /dev/zero still reading after 30 s")
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr, proc.stderr[-1000:]
    assert proc.returncode == 1 and "/dev/zero" in proc.stderr, proc.stderr[-1000:]
