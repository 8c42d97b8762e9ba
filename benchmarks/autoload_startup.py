"""Start-up cost of hubvendor's autoload hook in processes that never import tensorflow_hub.

Builds hubvendor's wheel (or takes ``--wheel``), installs it into two throwaway venvs, one with
``hubvendor-autoload.pth`` and one with it deleted, and times ``python -c pass`` side by side
(interleaved runs, medians). It also reads the hook's own import time from ``python -X importtime``,
which isolates it from start-up noise (and slightly overstates it: importtime adds its own overhead).

    python benchmarks/autoload_startup.py [--runs 300] [--wheel dist/hubvendor-*.whl]
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PTH = "hubvendor-autoload.pth"


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        check=True,
    )
    return Path(glob.glob(str(out / "hubvendor-*.whl"))[0])


def make_venv(path: Path, wheel: Path, keep_hook: bool) -> tuple[Path, str]:
    """A venv with ``wheel`` installed: its python and the hook's line (the .pth deleted unless kept)."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    hook = Path(purelib, PTH)
    if not hook.is_file():
        sys.exit(f"{wheel} did not install {PTH}")
    line = hook.read_text().strip()
    if not keep_hook:
        hook.unlink()
    return python, line


def time_process(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def importtime_us(python: Path, env: dict[str, str]) -> int:
    """Cumulative microseconds of importing ``hubvendor._autoload`` at start-up, as ``-X importtime`` says."""
    stderr = subprocess.run([str(python), "-X", "importtime", "-c", "pass"], env=env, check=True,
                            capture_output=True, text=True).stderr
    for row in stderr.splitlines():
        fields = row.split("|")
        if len(fields) == 3 and fields[2].strip() == "hubvendor._autoload":
            return int(fields[1])
    sys.exit("hubvendor._autoload was not imported at start-up")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="processes per variant (default 300)")
    parser.add_argument("--wheel", type=Path, help="a built hubvendor wheel (default: build one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hubvendor-bench-") as tmp:
        tmp_path = Path(tmp)
        wheel = args.wheel or build_wheel(tmp_path / "dist")
        with_hook, line = make_venv(tmp_path / "with-hook", wheel, keep_hook=True)
        without_hook, _ = make_venv(tmp_path / "without-hook", wheel, keep_hook=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "PYTHON"))}
        off = dict(env, HUBVENDOR_AUTOLOAD="0")
        variants = [
            ("without the .pth (baseline)", [str(without_hook), "-c", "pass"], env),
            ("with the .pth", [str(with_hook), "-c", "pass"], env),
            ("with the .pth, HUBVENDOR_AUTOLOAD=0", [str(with_hook), "-c", "pass"], off),
        ]
        for _, argv, variant_env in variants:  # warm the page cache and .pyc files
            for _ in range(3):
                time_process(argv, variant_env)
        samples: dict[str, list[float]] = {name: [] for name, _, _ in variants}
        for _ in range(args.runs):
            for name, argv, variant_env in variants:
                samples[name].append(time_process(argv, variant_env))

        hook_only = [importtime_us(with_hook, env) / 1e3 for _ in range(min(args.runs, 100))]

    baseline = statistics.median(samples[variants[0][0]])
    print(f"python {sys.version.split()[0]}, {args.runs} interleaved runs per variant, wheel {wheel.name}")
    print(f"{'variant':40} {'median ms':>10} {'delta ms':>9} {'ratio':>6}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:40} {median * 1e3:10.2f} {(median - baseline) * 1e3:9.2f} {median / baseline:6.3f}")
    print(f"the hook's own imports ({line!r}), python -X importtime: median {statistics.median(hook_only):.3f} ms "
          f"over {len(hook_only)} processes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
