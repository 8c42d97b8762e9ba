"""Vendor pip_app's models into its wheel and run it offline (``python examples/pip_app/demo.py``).

1. Build the two test models with TensorFlow and serve them with ``hubvendor serve`` (tfhub.dev -> loopback).
2. Re-pin them in a copy of the project with ``hubvendor lock --upgrade``: TensorFlow writes different
   SavedModel bytes on every build, so the committed hubvendor.lock cannot match this machine's models.
3. ``pip wheel`` the project under build isolation (hubvendor from a wheel of this checkout).
4. Stop the server, install the wheel into a fresh venv and run ``pip-app`` with HUBVENDOR_OFFLINE=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))
HANDLES = ("https://tfhub.dev/test/half_plus_two/1", "https://tfhub.dev/test/keras_dense/1")


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def sh(*cmd: str, env: dict[str, str] | None = None, show: bool = False) -> str:
    result = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}")
    if show:
        print(result.stdout.rstrip())
    return result.stdout


def main() -> None:
    from support.models import build_keras_dense, build_tf2_module
    from support.server import HubServer, write_mirror_config
    from support.venvs import site_without_hubvendor, venv_seeing

    work = Path(tempfile.mkdtemp(prefix="hubvendor-pip-app-"))
    step(f"building test models in {work / 'models'}")
    build_tf2_module(work / "models" / "test" / "half_plus_two" / "1")
    build_keras_dense(work / "models" / "test" / "keras_dense" / "1")

    wheelhouse = work / "wheelhouse"
    step("hubvendor wheel from this checkout + build requirements (for pip's build isolation)")
    sh(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(wheelhouse), str(REPO))
    (hubvendor_wheel,) = wheelhouse.glob("hubvendor-*.whl")
    sh(sys.executable, "-m", "pip", "download", "-q", "-d", str(wheelhouse), "hatchling", str(hubvendor_wheel))

    project = work / "pip_app"
    shutil.copytree(HERE, project, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_"))}
    env["TFHUB_CACHE_DIR"] = str(work / "cache")
    with HubServer(work / "models") as server:
        env["HUBVENDOR_DOWNLOADER_CONFIG"] = str(write_mirror_config(work / "mirror.cfg", server.url))
        step(f"tfhub.dev -> {server.url}; re-pinning the models (hubvendor lock --upgrade)")
        upgrades = [arg for handle in HANDLES for arg in ("--upgrade", handle)]
        sh(sys.executable, "-m", "hubvendor", "lock", "--project", str(project), *upgrades, env=env, show=True)
        sh(sys.executable, "-m", "hubvendor", "lock", "--project", str(project), "--check", "--verify", env=env)
        step("pip wheel (build isolation; hubvendor's hatchling hook vendors the models)")
        out = sh(sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-index", "--find-links", str(wheelhouse),
                 "-w", str(work / "dist"), str(project), env=env)
        print("\n".join(line.strip() for line in out.splitlines() if "hubvendor:" in line))
    step("server stopped")

    (wheel,) = (work / "dist").glob("pip_app-*.whl")
    with zipfile.ZipFile(wheel) as whl:
        stored = sum(i.compress_type == zipfile.ZIP_STORED for i in whl.infolist())
        print(f"{wheel.name}: {len(whl.infolist())} entries, {stored} model files stored uncompressed")

    step("fresh venv (sees this environment's TensorFlow), pip install the wheel, run pip-app offline")
    python = venv_seeing(work / "venv", site_without_hubvendor(work / "base"))
    sh(sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index", "--find-links",
       str(wheelhouse), str(wheel))
    run_env = {k: v for k, v in env.items() if k != "HUBVENDOR_DOWNLOADER_CONFIG"}
    run_env.update(HUBVENDOR_OFFLINE="1", TFHUB_CACHE_DIR=str(work / "empty-cache"), TF_CPP_MIN_LOG_LEVEL="3")
    sh(str(work / "venv" / "bin" / "pip-app"), env=run_env, show=True)
    print("expected: half_plus_two [2.5, 3.0, 3.5]; keras_dense [[14.5, 1.5]]")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
