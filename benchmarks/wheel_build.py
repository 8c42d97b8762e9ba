"""Wheel build and install time for a project vendoring a 512 MiB model: hubvendor vs hatchling's deflate.

Both variants build the same project with hatchling's backend (``build_wheel``, no build isolation: we
measure the wheel, not environment creation) from the same extracted model:

- ``hubvendor``: ``[tool.hatch.build.hooks.hubvendor]``; the model comes from a warm cache (pinned in
  hubvendor.lock) and is streamed into the finished wheel as ZIP_STORED entries.
- ``deflate``: the same files through ``[tool.hatch.build.targets.wheel.force-include]`` (hatchling
  always deflates) plus the same manifest, i.e. what a project would do without hubvendor.

Each run installs the wheel with ``pip install --no-deps`` into a fresh venv. Runs alternate; the table
shows medians and the hubvendor/deflate ratio. The model is synthetic: a small TF2 SavedModel whose
variables shard is replaced by float32 normal(0, 1) weights (trained weights compress about as badly).

Usage: python benchmarks/wheel_build.py [--size-mib 512] [--runs 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from support.venvs import site_without_hubvendor, venv_seeing  # noqa: E402 (needs tests/ on sys.path)
HANDLE = "https://tfhub.dev/bench/big/1"


def sh(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def timed(cmd: list[str], **kwargs) -> float:
    """Wall seconds of a child process."""
    start = time.perf_counter()
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}")
    return elapsed


def make_model(root: Path, size_mib: int) -> None:
    """``root/bench/big/1``: a real SavedModel with a ``size_mib`` float32 normal variables shard."""
    import numpy as np

    from support.models import build_tf2_module

    model = root / "bench" / "big" / "1"
    build_tf2_module(model)
    rng = np.random.default_rng(0)
    chunk = 16 * 1024 * 1024 // 4
    with open(model / "variables" / "variables.data-00000-of-00001", "wb") as out:
        for _ in range(size_mib // 16):
            out.write(rng.standard_normal(chunk, dtype=np.float32).tobytes())


def tools_env(work: Path) -> Path:
    """A venv seeing this environment's packages (hatchling, pip) with hubvendor installed from a fresh wheel."""
    wheels = work / "wheels"
    sh([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(wheels), str(REPO)])
    python = venv_seeing(work / "tools", site_without_hubvendor(work / "base"))
    (wheel,) = wheels.glob("hubvendor-*.whl")
    sh([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)])
    return python


def write_projects(work: Path, model_dir: Path) -> dict[str, Path]:
    common = '[build-system]\nrequires = ["hatchling", "hubvendor"]\nbuild-backend = "hatchling.build"\n\n' \
             '[project]\nname = "bench-app"\nversion = "1.0"\n\n' \
             '[tool.hatch.build.targets.wheel]\npackages = ["src/bench_app"]\n'
    projects = {}
    for variant in ("hubvendor", "deflate"):
        project = work / variant
        (project / "src" / "bench_app").mkdir(parents=True)
        (project / "src" / "bench_app" / "__init__.py").write_text("")
        projects[variant] = project
    (projects["hubvendor"] / "pyproject.toml").write_text(
        common + f'\n[tool.hatch.build.hooks.hubvendor]\n\n[tool.hubvendor]\nmodels = ["{HANDLE}"]\n'
    )
    manifest = {"format": "hubvendor-manifest/1",
                "models": {HANDLE: {"handle": HANDLE, "path": "bench_app/big"}}}
    (projects["deflate"] / "bench_app.json").write_text(json.dumps(manifest))
    (projects["deflate"] / "pyproject.toml").write_text(
        common + "\n[tool.hatch.build.targets.wheel.force-include]\n"
        f'"{model_dir}" = "hubvendor.d/bench_app/big"\n"bench_app.json" = "hubvendor.d/bench_app.json"\n'
    )
    return projects


def build(python: Path, project: Path, out: Path, env: dict[str, str]) -> tuple[float, Path]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    code = f"from hatchling.build import build_wheel; build_wheel({str(out)!r})"
    seconds = timed([str(python), "-c", code], cwd=project, env=env)
    (wheel,) = out.glob("*.whl")
    return seconds, wheel


def install(wheel: Path, target: Path, base: Path) -> float:
    shutil.rmtree(target, ignore_errors=True)
    python = venv_seeing(target, base)
    return timed([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                  "--no-index", "--no-cache-dir", str(wheel)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--make-model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_model:  # in a child, so that TensorFlow's memory does not show up in the builds' peak RSS
        make_model(args.make_model, args.size_mib)
        return

    from support.server import HubServer, write_mirror_config

    work = Path(args.workdir or tempfile.mkdtemp(prefix="hubvendor-wheel-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"workdir {work}; preparing a {args.size_mib} MiB model and a warm cache ...", flush=True)
    sh([sys.executable, __file__, "--make-model", str(work / "root"), "--size-mib", str(args.size_mib)])
    python = tools_env(work)
    env = dict(os.environ, TFHUB_CACHE_DIR=str(work / "cache"), SOURCE_DATE_EPOCH="1700000000")
    env.pop("HUBVENDOR_PATH", None)
    with HubServer(work / "root") as server:
        env["HUBVENDOR_DOWNLOADER_CONFIG"] = str(write_mirror_config(work / "mirror.cfg", server.url))
        projects = write_projects(work, work / "root" / "bench" / "big" / "1")
        sh([str(python), "-m", "hubvendor", "lock", "--project", str(projects["hubvendor"])], env=env)
    env["HUBVENDOR_OFFLINE"] = "1"  # the builds below read the warm cache only

    results: dict[str, dict[str, list[float]]] = {v: {"build": [], "install": [], "size": []} for v in projects}
    for run in range(args.runs):
        for variant in (("hubvendor", "deflate") if run % 2 == 0 else ("deflate", "hubvendor")):
            seconds, wheel = build(python, projects[variant], work / f"out-{variant}", env)
            installed = install(wheel, work / f"venv-{variant}", work / "base")
            row = results[variant]
            row["build"].append(seconds)
            row["install"].append(installed)
            row["size"].append(wheel.stat().st_size / 2**20)
            print(f"run {run + 1} {variant:9s} build {seconds:6.2f} s  install {installed:5.2f} s  "
                  f"wheel {wheel.stat().st_size / 2**20:.0f} MiB", flush=True)

    med = {v: {k: statistics.median(vals) for k, vals in r.items()} for v, r in results.items()}
    print(f"\n{args.size_mib} MiB model, median of {args.runs} alternating runs (hatchling build_wheel, warm cache)")
    print(f"{'':14s}{'hubvendor':>12s}{'deflate':>12s}{'ratio':>9s}")
    for key, unit in (("build", "s"), ("install", "s"), ("size", "MiB")):
        a, b = med["hubvendor"][key], med["deflate"][key]
        print(f"{key + ' (' + unit + ')':14s}{a:12.2f}{b:12.2f}{a / b:9.2f}")
    ratio = med["hubvendor"]["build"] / med["deflate"]["build"]
    print(f"\nbuild-time target (hubvendor <= 0.5 x deflate): {'met' if ratio <= 0.5 else 'NOT met'} ({ratio:.2f})")


if __name__ == "__main__":
    main()
