"""Issue 14 must-show 2: Kaggle models through Bazel runfiles and through ``HUBVENDOR_PATH``.

A project declares a Kaggle TF SavedModel and a Keras Hub preset (a tiny GPT2Backbone built by the test
with keras_hub) as ``kaggle://`` handles; ``hubvendor lock`` pins them from a loopback stand-in for Kaggle's
API (``support.kaggle_api``) reached through the downloader-config rewrite, so the canonical handles stay
unchanged. Bazel 4 (offline, as in test_bazel.py) then gets the preset from that ``hubvendor.lock``
through ``hub_lock()`` and the SavedModel from a pinned ``hub_model()``; ``hubvendor vendor`` writes the
``HUBVENDOR_PATH`` directory. In both, unchanged kagglehub and keras_hub code runs with the Kaggle API
stopped, ``HUBVENDOR_OFFLINE=1`` and an empty ``KAGGLEHUB_CACHE`` that stays empty.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.kaggle_api import KaggleApi, kagglehub_env
from support.kaggle_models import GPT2_PARAMS, build_gpt2_preset, build_saved_model
from test_bazel import bazel_session  # noqa: F401 (fixture)
from test_bazel import LOCK_WORKSPACE, REPO, Workspace, make_bazelrc
from test_kaggle import doc_block

from hubvendor import bazel, lockfile, manifest
from hubvendor.handle import normalise

TF_SLUG = "testorg/half-plus-two/tensorFlow2/tiny"
PRESET_SLUG = "keras/gpt2/keras/gpt2_tiny"
TF_MODEL = f"kaggle://{TF_SLUG}/3"
PRESET = f"kaggle://{PRESET_SLUG}/2"
DIRECT = "direct_half_plus_two"  # the hub_model() written by hand; the preset comes from hub_lock()

PROJECT = f"""\
[project]
name = "kaggle-app"
version = "1.0"

[tool.hubvendor]
models = ["{TF_MODEL}", "kaggle://{PRESET_SLUG}"]  # the preset versionless: `hubvendor lock` pins it
"""

KAGGLE_TEST = """\
import os
import unittest

import kagglehub
import keras_hub
import tensorflow as tf

TF_MODEL = {tf_model!r}
PRESET = {preset!r}


class KaggleRunfilesTest(unittest.TestCase):
    def test_kagglehub_and_keras_hub_get_the_runfiles_copies(self):
        runfiles = os.path.abspath(os.environ.get("RUNFILES_DIR") or os.environ["TEST_SRCDIR"])
        cache = os.environ["KAGGLEHUB_CACHE"]
        self.assertEqual(os.listdir(cache), [])

        expected_whole = os.path.join(runfiles, {direct!r}, "model")
        expected_config = os.path.join(runfiles, {preset_repository!r}, "model", "config.json")
        if os.environ.get("EXPECT_MANIFEST_ONLY") == "1":  # no runfiles tree: where the runfiles MANIFEST points
            with open(os.environ["RUNFILES_MANIFEST_FILE"]) as lines:
                real = dict(line.rstrip("\\n").partition(" ")[::2] for line in lines)
            expected_whole = os.path.dirname(real[{direct!r} + "/model/saved_model.pb"])
            expected_config = real[{preset_repository!r} + "/model/config.json"]
        whole = kagglehub.model_download(TF_MODEL)
        self.assertEqual(whole, expected_whole)
        saved_model = kagglehub.model_download(TF_MODEL, path="saved_model.pb")
        self.assertEqual(saved_model, os.path.join(whole, "saved_model.pb"))
        self.assertTrue(os.path.isfile(saved_model))
        self.assertEqual(tf.saved_model.load(whole)(tf.constant([0.0, 4.0])).numpy().tolist(), [2.0, 4.0])

        config = kagglehub.model_download(PRESET, path="config.json")
        self.assertEqual(config, expected_config)
        self.assertTrue(os.path.isfile(config), config)
        backbone = keras_hub.models.Backbone.from_preset("kaggle://" + PRESET)
        self.assertEqual(type(backbone).__name__, "GPT2Backbone")
        self.assertEqual(backbone.count_params(), {params})

        self.assertEqual(os.listdir(cache), [])


if __name__ == "__main__":
    unittest.main()
"""

DIRECT_STANZA = """
load("@hubvendor//bazel:defs.bzl", "hub_model")

hub_model(
    name = "{name}",
    handle = "{handle}",
    sha256 = "{sha256}",
)
"""

BUILD = """\
load("@hubvendor//bazel:defs.bzl", "hub_models")

hub_models(name = "models", models = ["@{direct}", "@{preset_repository}"])

py_test(
    name = "kaggle_runfiles_test",
    srcs = ["kaggle_runfiles_test.py"],
    data = [":models"],
    env = {env!r},
)
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bazel_kaggle_models")
    return {"tf": build_saved_model(root / "tf"), "preset": build_gpt2_preset(root / "preset")}


def kaggle_api(models: dict[str, Path]) -> KaggleApi:
    api = KaggleApi()
    api.add(TF_SLUG, 3, models["tf"])
    api.add(PRESET_SLUG, 1, models["tf"])  # an older version the lock must not pick
    api.add(PRESET_SLUG, 2, models["preset"])
    return api


def hubvendor_cli(*args: str, api: KaggleApi, tmp_path: Path) -> subprocess.CompletedProcess:
    """``hubvendor ARGS`` with Kaggle's URLs rewritten to ``api`` and no credentials or caches of this machine."""
    config = tmp_path / "kaggle.cfg"
    config.write_text(f"rewrite www.kaggle.com/(.*) {api.url}/$1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_", "KAGGLE"))}
    env.update(HOME=str(tmp_path / "home"), TFHUB_CACHE_DIR=str(tmp_path / "tfhub_cache"),
               HUBVENDOR_DOWNLOADER_CONFIG=str(config))
    result = subprocess.run([sys.executable, "-m", "hubvendor", *args], env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"hubvendor {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result


def lock_project(api: KaggleApi, tmp_path: Path) -> Path:
    """``hubvendor lock`` of a project declaring both models; the lock's path."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(PROJECT)
    hubvendor_cli("lock", "--project", str(project), api=api, tmp_path=tmp_path)
    lock = project / lockfile.FILENAME
    assert [m.handle for m in lockfile.load(lock).models] == [PRESET, TF_MODEL]
    return lock


def empty_dir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.bazel
def test_kaggle_models_load_from_bazel_runfiles(bazel_session, models, tmp_path: Path) -> None:  # noqa: F811
    """Must-show 2 (Bazel): the preset via hub_lock() from hubvendor.lock, the SavedModel via a pinned hub_model(),
    both through hub_models(); the py_test's unchanged kagglehub/keras_hub calls get its runfiles, offline."""
    preset_repository = bazel.repository_name(PRESET)
    kagglehub_cache = empty_dir(tmp_path / "kagglehub_cache")
    ws = None
    try:
        with kaggle_api(models) as api:
            lock_path = lock_project(api, tmp_path)
            tf_entry = lockfile.load(lock_path).entry_for(normalise(TF_MODEL))
            config = tmp_path / "downloader.cfg"
            config.write_text(f"rewrite www.kaggle.com/(.*) {api.url}/$1\n")
            test_env = {
                **kagglehub_env(api, kagglehub_cache),  # the stand-in, stopped by the time the test runs
                "HUBVENDOR_OFFLINE": "1", "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
                "TFHUB_CACHE_DIR": str(empty_dir(tmp_path / "tfhub_cache_empty")),
            }
            ws = Workspace(
                tmp_path / "ws",
                make_bazelrc(bazel_session, repository_cache=tmp_path / "repository_cache", downloader_config=config),
                {
                    "WORKSPACE": LOCK_WORKSPACE.format(repo=str(REPO)) + DIRECT_STANZA.format(
                        name=DIRECT, handle=TF_MODEL, sha256=tf_entry.sha256),
                    "BUILD.bazel": BUILD.format(direct=DIRECT, preset_repository=preset_repository, env=test_env),
                    "kaggle_runfiles_test.py": KAGGLE_TEST.format(
                        tf_model=f"{TF_SLUG}/3", preset=f"{PRESET_SLUG}/2", direct=DIRECT,
                        preset_repository=preset_repository, params=GPT2_PARAMS),
                },
            )
            (ws.root / lockfile.FILENAME).write_bytes(lock_path.read_bytes())  # the lock `hubvendor lock` wrote
            before = len(api.downloads())
            # Also the lock's own entry for the SavedModel: it builds (with its tree digest checked).
            ws.ok("build", "//...", f"@{bazel.repository_name(TF_MODEL)}//:model")
            fetched = set(api.downloads()[before:])
            assert {"/storage/testorg/half-plus-two/tensorflow2/tiny/3/archive.tar.gz",
                    "/storage/keras/gpt2/keras/gpt2_tiny/2/archive.tar.gz"} <= fetched, fetched
        # The Kaggle API is gone: the py_test runs offline against its runfiles.
        ws.ok("test", "//...", "--test_output=all")
        assert "Ran 1 test" in ws.test_logs()
        # Manifest-only runfiles (no symlink tree), as in test_bazel.py: the same calls, the same models.
        result = ws.ok("test", "//...", "--noenable_runfiles", "--build_python_zip", "--spawn_strategy=standalone",
                       "--test_env=EXPECT_MANIFEST_ONLY=1")
        assert "Executed 1 out of 1 test" in result.stdout + result.stderr
        assert list(kagglehub_cache.iterdir()) == []
    finally:
        if ws is not None:
            ws.shutdown()


def test_kaggle_models_load_from_hubvendor_path(models, tmp_path: Path) -> None:
    """Must-show 2 (HUBVENDOR_PATH), as docs/kaggle.md has it: `hubvendor vendor --output vendored/ kaggle://...`
    from the stand-in, then docs/kaggle.md's app.py unchanged with the API stopped, HUBVENDOR_OFFLINE=1 and an
    empty kagglehub cache that stays empty. (test_kaggle.py covers the same program against a hand-made
    vendored directory; this one is the directory hubvendor writes, keyed by the kaggle:// handles.)"""
    vendored = tmp_path / "vendored"
    with kaggle_api(models) as api:
        hubvendor_cli("vendor", "--output", str(vendored), TF_MODEL, PRESET, api=api, tmp_path=tmp_path)
        assert api.downloads()
    model_dirs = manifest.model_dirs(str(vendored / manifest.FILENAME))
    assert sorted(model_dirs) == [normalise(PRESET), normalise(TF_MODEL)]
    kagglehub_cache = empty_dir(tmp_path / "kagglehub_cache")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_", "KAGGLE"))}
    env.update(kagglehub_env(api, kagglehub_cache), HUBVENDOR_PATH=str(vendored), HUBVENDOR_OFFLINE="1",
               KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", TFHUB_CACHE_DIR=str(tmp_path / "no_tfhub_cache"))
    result = subprocess.run([sys.executable, "-c", doc_block("app.py")], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    tf_dir = model_dirs[normalise(TF_MODEL)]
    assert Path(tf_dir).is_relative_to(vendored)
    assert result.stdout.split() == [tf_dir, os.path.join(tf_dir, "saved_model.pb"), str(GPT2_PARAMS)]
    assert list(kagglehub_cache.iterdir()) == [] and not (tmp_path / "no_tfhub_cache").exists()


def test_manifest_only_runfiles_find_a_model_without_saved_model(tmp_path: Path, monkeypatch) -> None:
    """Manifest-only runfiles (RUNFILES_MANIFEST_FILE, no tree): a Keras Hub preset (no saved_model.pb) is found
    from the real paths of its files, as a SavedModel is from its saved_model.pb (before: not vendored)."""
    from hubvendor import runfiles

    real = tmp_path / "external" / "gpt2" / "model"
    (real / "assets").mkdir(parents=True)
    for name in ("config.json", "metadata.json", "assets/vocab.txt"):
        (real / name).write_text("{}")
    models = tmp_path / "models.hubvendor.json"
    models.write_text('{"format": "hubvendor-manifest/1", "models": {"%s": {"handle": "%s", '
                      '"runfiles_path": "gpt2/model", "sha256": "", "url": ""}}}' % (normalise(PRESET), PRESET))
    lines = [f"app/models.hubvendor.json {models}"] + [f"gpt2/model/{n} {real / n}" for n in
                                                         ("assets/vocab.txt", "config.json", "metadata.json")]
    (tmp_path / "MANIFEST").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("RUNFILES_MANIFEST_FILE", str(tmp_path / "MANIFEST"))
    monkeypatch.delenv("RUNFILES_DIR", raising=False)
    assert runfiles.find_models() == {normalise(PRESET): str(real)}
