"""`make bench`'s harness runs end to end (quick mode: small archives, RESULTS.md untouched) and
prints every target of issue 6 with its limit and PASS/MISS. Timings are not asserted here: the
ratios are measured by `make bench` itself."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"1a", "1b", "1c", "1d", "1e", "1f", "1g", "2", "2x", "3", "4a", "4b", "4c", "5a", "5b", "7a", "7b", "7c",
           "8a", "8c", "8d", "8e"}
ROW = re.compile(r"^\| (\w+) \| .+ \| [^|]+ \| (<=|>=) [^|]+ \| (PASS|MISS) \|$", re.M)  # any value: -1.4, 1.2e+03


def test_quick_benchmark_prints_every_target(tmp_path: Path) -> None:
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = hashlib.sha256(results.read_bytes()).hexdigest()
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--data", str(tmp_path)],
        capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    printed = {number for number, _, _ in ROW.findall(run.stdout)}
    expected = TARGETS | ({"6", "6b"} if shutil.which("bazel") else set()) | ({"8b"} if shutil.which("aria2c") else set())
    assert printed == expected, run.stdout[-3000:]
    assert (tmp_path / "scaling.png").stat().st_size > 0
    assert hashlib.sha256(results.read_bytes()).hexdigest() == before
