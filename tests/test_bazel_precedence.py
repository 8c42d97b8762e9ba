"""Issue 15 must-show 4: inside a Bazel test, the runfiles copy of a model beats an installed wheel's copy.

The interpreter Bazel runs (``HUBVENDOR_PYTHON``, hence ``@hubvendor_python//:toolchain``) is a fresh venv
with hubvendor installed from a wheel of this checkout and a decoy wheel built by hubvendor's hatchling
hook that vendors other bytes for the same handle: ``https://tfhub.dev/test/half_plus_two/1`` there is a
model computing ``4 * x`` (the real one computes ``0.5 * x + 2``), plus a handle only the wheel carries. The
workspace gets the real model from ``hubvendor.lock`` through ``hub_lock()``; the py_test calls unchanged
``hub.load`` and runs ``hubvendor which`` in that interpreter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.models import build_tf2_module
from support.server import HubServer, write_mirror_config
from support.venvs import site_without_hubvendor, venv_seeing
from test_bazel import bazel_session  # noqa: F401 (fixture)
from test_bazel import EXAMPLE_MODELS, HALF_PLUS_TWO, LOCK_WORKSPACE, REPO, Workspace, locked, make_bazelrc

from hubvendor import lockfile

WHEEL_ONLY = "https://tfhub.dev/test/times_four/1"

DECOY_PROJECT = f"""\
[build-system]
requires = ["hatchling", "hubvendor"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/decoy_models"]

[tool.hatch.build.hooks.hubvendor]

[project]
name = "decoy-models"
version = "1.0"

[tool.hubvendor]
models = ["{HALF_PLUS_TWO}", "{WHEEL_ONLY}"]
"""

PRECEDENCE_TEST = """\
import importlib.metadata
import os
import subprocess
import sys
import unittest

import tensorflow as tf
import tensorflow_hub as hub

CONTESTED = {contested!r}
WHEEL_ONLY = {wheel_only!r}
VENV = {venv!r}


def runfiles_root():
    return os.path.abspath(os.environ.get("RUNFILES_DIR") or os.environ["TEST_SRCDIR"])


def which(handle):
    \"\"\"`hubvendor which HANDLE` in this interpreter: its lines as a dict (order, location, why, ...).\"\"\"
    out = subprocess.run([sys.executable, "-m", "hubvendor", "which", handle], check=True,
                         capture_output=True, text=True).stdout
    fields = {{}}
    for line in out.splitlines()[1:]:
        name, _, value = line.strip().partition(":")
        fields[name] = value.strip()
    return fields


class PrecedenceTest(unittest.TestCase):
    def test_interpreter_carries_the_decoy_wheel(self):
        self.assertEqual(os.path.realpath(sys.prefix), os.path.realpath(VENV))
        files = [str(f) for f in importlib.metadata.distribution("decoy-models").files]
        self.assertIn("hubvendor.d/decoy_models.json", files)
        # The wheel is live here: the handle only it carries loads its "4 * x" model.
        self.assertEqual(hub.load(WHEEL_ONLY)(tf.constant([1.0, 2.0])).numpy().tolist(), [4.0, 8.0])

    def test_runfiles_copy_wins_over_the_installed_wheel(self):
        # 0.5 * x + 2 (the runfiles copy), not 4 * x (the wheel's bytes for the same handle).
        self.assertEqual(hub.load(CONTESTED)(tf.constant([0.0, 4.0])).numpy().tolist(), [2.0, 4.0])
        self.assertTrue(hub.resolve(CONTESTED).startswith(runfiles_root() + os.sep), hub.resolve(CONTESTED))

    def test_which_lists_runfiles_before_installed_wheels(self):
        contested = which(CONTESTED)
        self.assertEqual(contested["why"], "vendored via Bazel runfiles")
        self.assertTrue(contested["location"].startswith(runfiles_root() + os.sep), contested)
        self.assertEqual(contested["order"].split(" -> ")[-1], "vendored models (Bazel runfiles)", contested)
        wheel_only = which(WHEEL_ONLY)
        self.assertEqual(wheel_only["why"], "vendored via installed wheels")
        self.assertIn(os.sep + "hubvendor.d" + os.sep, wheel_only["location"])
        order = wheel_only["order"].split(" -> ")
        self.assertLess(order.index("vendored models (Bazel runfiles)"),
                        order.index("vendored models (installed wheels)"), order)


if __name__ == "__main__":
    unittest.main()
"""

PRECEDENCE_BUILD = """\
load("@hubvendor//bazel:defs.bzl", "hub_models")

hub_models(name = "models", models = ["@{repository}"])

py_test(
    name = "precedence_test",
    srcs = ["precedence_test.py"],
    data = [":models"],
    env = {{"HUBVENDOR_OFFLINE": "1", "TFHUB_CACHE_DIR": {cache!r}, "TF_CPP_MIN_LOG_LEVEL": "3"}},
)
"""


def pip(*args: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args], env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"pip {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"


def decoy_wheel(tmp_path: Path) -> Path:
    """A wheel built by hubvendor's hatchling hook vendoring a ``4 * x`` model for both decoy handles."""
    root = tmp_path / "decoy_server"
    build_tf2_module(root / "test" / "half_plus_two" / "1", a=4.0, b=0.0)
    shutil.copytree(root / "test" / "half_plus_two" / "1", root / "test" / "times_four" / "1")
    project = tmp_path / "decoy"
    (project / "src" / "decoy_models").mkdir(parents=True)
    (project / "src" / "decoy_models" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(DECOY_PROJECT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_"))}
    with HubServer(root) as server:
        env.update(HUBVENDOR_DOWNLOADER_CONFIG=str(write_mirror_config(tmp_path / "decoy.cfg", server.url)),
                   TFHUB_CACHE_DIR=str(tmp_path / "decoy_cache"))
        pip("wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"),
            str(project), env=env)
    return next((tmp_path / "dist").glob("decoy_models-*.whl"))


def interpreter_with_decoy(tmp_path: Path) -> Path:
    """A venv seeing this environment's packages but hubvendor, then hubvendor (from this checkout) and the decoy."""
    dist = tmp_path / "dist"
    pip("wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(REPO))
    (hubvendor_wheel,) = dist.glob("hubvendor-*.whl")
    python = venv_seeing(tmp_path / "venv", site_without_hubvendor(tmp_path / "base"))
    pip("--python", str(python), "install", "-q", "--no-deps", "--no-index", str(hubvendor_wheel),
        str(decoy_wheel(tmp_path)))
    assert (tmp_path / "venv" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
            / "hubvendor.d" / "decoy_models.json").is_file()
    return python


@pytest.mark.bazel
def test_runfiles_copy_beats_an_installed_wheel(bazel_session, tmp_path: Path) -> None:
    """Issue 15 must-show 4: the py_test's unchanged hub.load gets the runfiles copy, not the wheel's bytes,
    and `hubvendor which` lists the runfiles before the installed wheels."""
    python = interpreter_with_decoy(tmp_path)
    repository = "tfhub_test_half_plus_two_1"
    tfhub_cache = tmp_path / "empty_tfhub_cache"
    tfhub_cache.mkdir()
    with HubServer(EXAMPLE_MODELS) as server:
        config = write_mirror_config(tmp_path / "downloader.cfg", server.url)
        bazelrc = make_bazelrc(bazel_session, repository_cache=tmp_path / "cache", downloader_config=config)
        this_python = f"--repo_env=HUBVENDOR_PYTHON={sys.executable}\n"
        assert this_python in bazelrc
        ws = Workspace(
            tmp_path / "ws",
            bazelrc.replace(this_python, f"--repo_env=HUBVENDOR_PYTHON={python}\n"),
            {
                "WORKSPACE": LOCK_WORKSPACE.format(repo=str(REPO)),
                "BUILD.bazel": PRECEDENCE_BUILD.format(repository=repository, cache=str(tfhub_cache)),
                "precedence_test.py": PRECEDENCE_TEST.format(
                    contested=HALF_PLUS_TWO, wheel_only=WHEEL_ONLY, venv=str(tmp_path / "venv")),
            },
        )
        lockfile.write(ws.root / "hubvendor.lock", lockfile.Lock([locked(HALF_PLUS_TWO, tmp_path)]))
        try:
            ws.ok("build", "//...")
            output_base = Path(ws.ok("info", "output_base").stdout.strip())
            toolchain = (output_base / "external" / "hubvendor_python" / "BUILD.bazel").read_text()
            assert f'"{python}"' in toolchain  # Bazel runs the venv carrying the decoy wheel
            server.stop()
            result = ws.ok("test", "//...", "--test_output=all")
            assert "Ran 3 tests" in ws.test_logs(), result.stdout
        finally:
            ws.shutdown()
    assert list(tfhub_cache.iterdir()) == []
