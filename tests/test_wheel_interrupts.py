"""A wheel build stopped while hubvendor rewrites the backend's wheel (attack 4, item 1).

Real front-ends (``python -m build``, ``uv build``) write hatchling's wheel straight into their output
directory; hubvendor then adds the models. A build killed in that window (a CI cancel's SIGTERM, an
OOM kill's SIGKILL) must never leave a file under the final wheel name that lacks the models, and the
next build must succeed and sweep whatever a SIGKILL left behind.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from support.server import HubServer, write_mirror_config
from test_wheels import front_end_env, lock, run, wheelhouse, write_project  # noqa: F401 (fixture)

BIG = "https://tfhub.dev/test/big/1"
BIG_MIB = 96


@pytest.fixture(scope="module")
def big_root(tmp_path_factory) -> Path:
    """A server root holding ``test/big/1.tar.gz``: a SavedModel-shaped archive with ~96 MiB of random weights."""
    root = tmp_path_factory.mktemp("big-models")
    (root / "test" / "big").mkdir(parents=True)
    with tarfile.open(root / "test" / "big" / "1.tar.gz", "w:gz", compresslevel=1) as tar:
        for name, data in (("saved_model.pb", b"\x08\x01" * 64), ("variables/variables.index", b"i" * 32),
                           ("variables/variables.data-00000-of-00001", os.urandom(BIG_MIB << 20))):
            info = tarfile.TarInfo("./" + name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return root


def uv_path() -> str | None:
    import shutil

    return shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv")


def command(front_end: str, project: Path, out: Path) -> list[str]:
    if front_end == "uv":
        uv = uv_path()
        if uv is None:
            pytest.skip("uv is not installed")
        return [uv, "build", "--wheel", "--out-dir", str(out), str(project)]
    return [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(project)]


def complete(path: Path, dist: str) -> bool:
    """The wheel holds the manifest and the big model's weights."""
    try:
        with zipfile.ZipFile(path) as whl:
            names = set(whl.namelist())
    except zipfile.BadZipFile:
        return False
    return f"hubvendor.d/{dist}.json" in names and any(n.endswith("variables.data-00000-of-00001") for n in names)


def wait_for_group(pgid: int, timeout: float = 60) -> None:
    """Until every process of the group (the front-end and its backend) is gone."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, "the build's processes did not exit"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("front_end, backend", [("build", "hatchling"), ("uv", "hatchling"), ("build", "setuptools")])
def test_a_build_killed_mid_rewrite_leaves_no_wheel_without_models(front_end, backend, sig, tmp_path, big_root,
                                                                   wheelhouse):
    with HubServer(big_root) as server:
        env = dict(os.environ, HUBVENDOR_DOWNLOADER_CONFIG=str(write_mirror_config(tmp_path / "m.cfg", server.url)),
                   TFHUB_CACHE_DIR=str(tmp_path / "cache"))
        env.pop("HUBVENDOR_PATH", None)
        env = front_end_env(env, wheelhouse)
        project = write_project(tmp_path / "proj", "kill-app", backend, [BIG], keras=False,
                                extra="locked = true\n")
        lock(project, env)  # warms the cache: the builds below only copy
        out = tmp_path / "dist"
        process = subprocess.Popen(command(front_end, project, out), env=env, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        # setuptools rewrites in its own out/.tmp-*/ directory, renamed into out/ when done
        while not [p for p in out.rglob("*") if ".hubvendor" in p.name and p.name.endswith(".tmp")]:
            assert process.poll() is None, "the build ended before its rewrite was seen"
            assert time.monotonic() < deadline, "no rewrite seen"
            time.sleep(0.005)
        os.killpg(process.pid, sig)
        process.wait(60)
        wait_for_group(process.pid)
        left = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.name != ".gitignore")  # uv writes one
        for path in out.rglob("*.whl"):
            assert complete(path, "kill_app"), f"{path.name} is installable but has no models: {left}"
        if sig == signal.SIGTERM:
            assert not [n for n in left if not n.endswith(".whl")], f"SIGTERM left temporaries: {left}"
        else:  # a SIGKILL cannot be caught: the next build sweeps what it left
            assert [n for n in left if n.endswith(".tmp")], left

        run(command(front_end, project, out), env=env)
        left = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.name != ".gitignore")
        (name,) = left
        assert name.startswith("kill_app-1.0-") and name.endswith(".whl"), left
        assert complete(out / name, "kill_app")
