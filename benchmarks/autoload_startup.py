"""Start-up cost of hubvendor's autoload hook in processes that never import tensorflow_hub.

Builds hubvendor's wheel (or takes ``--wheel``), installs it into two throwaway venvs, one with
``hubvendor-autoload.pth`` and one with it deleted, and times ``python -c pass`` side by side
(interleaved runs, medians). It also times the hook's line itself inside fresh processes of the venv
without the hook (``-P``: no cwd on sys.path, as at .pth time), isolating it from start-up noise.

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

        probe = (
            "import time; t = time.perf_counter(); exec(compile(%r, 'pth', 'exec')); "
            "print(time.perf_counter() - t)" % line
        )
        hook_only = [
            float(subprocess.run([str(without_hook), "-P", "-c", probe], env=env, check=True,
                                 capture_output=True, text=True).stdout)
            for _ in range(min(args.runs, 100))
        ]

    baseline = statistics.median(samples[variants[0][0]])
    print(f"python {sys.version.split()[0]}, {args.runs} interleaved runs per variant, wheel {wheel.name}")
    print(f"{'variant':40} {'median ms':>10} {'delta ms':>9} {'ratio':>6}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:40} {median * 1e3:10.2f} {(median - baseline) * 1e3:9.2f} {median / baseline:6.3f}")
    print(f"hook line alone ({line!r}) in a fresh process: median {statistics.median(hook_only) * 1e3:.3f} ms "
          f"over {len(hook_only)} processes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
