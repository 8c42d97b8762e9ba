"""Must-show 1, 3 and 5 of issue 14: a hatchling project vendoring a Kaggle TF SavedModel and a Keras Hub preset.

Real pip (build isolation), hatchling, kagglehub and keras_hub; the Kaggle stand-in (``support.kaggle_api``)
requires credentials and redirects downloads to expiring signed storage URLs.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from hubvendor import lockfile
from hubvendor.kaggle import credentials
from support.kaggle_api import KaggleApi, kagglehub_env
from support.kaggle_models import GPT2_PARAMS, build_gpt2_preset, build_saved_model
from support.venvs import venv_seeing
from test_wheels import pip_into, run, tf_base, wheelhouse  # noqa: F401 (fixtures)

TF = "kaggle://testorg/half-plus-two/tensorFlow2/tiny/3"
PRESET = "kaggle://keras/gpt2/keras/gpt2_tiny"  # versionless: `hubvendor lock` pins it
APP = '''\
import json
import kagglehub
import keras_hub


def main():
    out = {
        "whole": kagglehub.model_download("testorg/half-plus-two/tensorFlow2/tiny/3"),
        "file": kagglehub.model_download("testorg/half-plus-two/tensorFlow2/tiny/3", path="saved_model.pb"),
        "preset": keras_hub.models.Backbone.from_preset("kaggle://keras/gpt2/keras/gpt2_tiny/2").count_params(),
        "versionless": keras_hub.models.Backbone.from_preset("kaggle://keras/gpt2/keras/gpt2_tiny").count_params(),
    }
    print("RESULT " + json.dumps(out))
'''


def write_project(path: Path) -> Path:
    (path / "src" / "kapp").mkdir(parents=True)
    (path / "src" / "kapp" / "__init__.py").write_text(APP)
    (path / "pyproject.toml").write_text(f"""[build-system]
requires = ["hatchling", "hubvendor"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/kapp"]

[tool.hatch.build.hooks.hubvendor]

[project]
name = "kapp"
version = "1.0"

[tool.hubvendor]
models = ["{TF}", "{PRESET}"]
""")
    return path


def build(project: Path, out: Path, env: dict[str, str], house: Path):
    return run([os.sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-index", "--find-links", str(house),
                "--no-cache-dir", "-w", str(out), str(project)], env=env)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kaggle_wheel_models")
    return {"tf": build_saved_model(root / "tf"), "preset": build_gpt2_preset(root / "preset")}


def test_kaggle_models_in_a_wheel_load_with_kagglehub_and_keras_hub_unchanged(models, tmp_path, wheelhouse, tf_base):
    secret = "kaggle-key-" + os.urandom(6).hex()
    build_env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_", "KAGGLE"))}
    build_env.update(KAGGLE_USERNAME="someone", KAGGLE_KEY=secret, HOME=str(tmp_path / "home"),
                     TFHUB_CACHE_DIR=str(tmp_path / "cache1"))
    authorization = credentials._basic("someone", secret)
    with KaggleApi(authorization=authorization) as api:
        api.add("testorg/half-plus-two/tensorFlow2/tiny", 3, models["tf"])
        api.add("keras/gpt2/keras/gpt2_tiny", 1, models["tf"])
        api.add("keras/gpt2/keras/gpt2_tiny", 2, models["preset"])
        config = tmp_path / "mirror.cfg"
        config.write_text(f"rewrite www.kaggle.com/(.*) {api.url}/$1\n")
        build_env["HUBVENDOR_DOWNLOADER_CONFIG"] = str(config)
        project = write_project(tmp_path / "proj")
        lock_run = run([os.sys.executable, "-m", "hubvendor", "lock", "--project", str(project)], env=build_env)
        lock = lockfile.load(project / "hubvendor.lock")
        assert [m.handle for m in lock.models] == ["kaggle://keras/gpt2/keras/gpt2_tiny/2", TF]
        first = build(project, tmp_path / "out1", build_env, wheelhouse)
        # Must-show 3: the signatures seen so far stop working; a build from the lock into an empty cache
        # gets fresh redirects and gives the same wheel, byte for byte.
        old_signatures = list(api.issued)
        assert old_signatures
        api.secret = os.urandom(8).hex()
        second = build(project, tmp_path / "out2", dict(build_env, TFHUB_CACHE_DIR=str(tmp_path / "cache2")), wheelhouse)
        assert len(api.issued) > len(old_signatures)
        assert all(request[2] for request in api.requests if request[1].startswith("/api/"))
    wheel1, wheel2 = (next((tmp_path / f"out{i}").glob("*.whl")) for i in (1, 2))
    assert wheel1.read_bytes() == wheel2.read_bytes()
    with zipfile.ZipFile(wheel1) as whl:
        manifest = json.loads(whl.read("hubvendor.d/kapp.json"))
        assert sorted(manifest["models"]) == ["kaggle://keras/gpt2/keras/gpt2_tiny/2",
                                              "kaggle://testorg/half-plus-two/tensorflow2/tiny/3"]
        payload = b"".join(whl.read(name) for name in whl.namelist())
    # Must-show 3 and 5: no signature and no credential in anything hubvendor wrote or printed.
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink() and "home" not in p.parts]
    texts = [p.read_bytes() for p in written] + [payload, (lock_run.stdout + first.stdout + second.stdout).encode()]
    for needle in [secret, authorization.split()[1], *api.issued]:
        assert not [t for t in texts if needle.encode() in t], needle

    # Must-show 1: installed in a fresh venv, unchanged kagglehub/keras_hub code; the Kaggle API unreachable
    # (the stand-in is stopped) and kagglehub's cache empty, and it stays empty.
    python = venv_seeing(tmp_path / "venv", tf_base)
    pip_into(python, "install", str(wheel1), wheelhouse=wheelhouse)
    kagglehub_cache = tmp_path / "kagglehub"
    kagglehub_cache.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_", "KAGGLE", "PYTHON"))}
    env.update(kagglehub_env(api, kagglehub_cache), KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3",
               TFHUB_CACHE_DIR=str(tmp_path / "empty-tfhub-cache"))
    out = run([str(python), "-c", "import kapp; kapp.main()"], env=env, cwd=tmp_path).stdout
    (line,) = [line for line in out.splitlines() if line.startswith("RESULT ")]
    result = json.loads(line[len("RESULT "):])
    site = Path(result["whole"]).parent
    assert site.name == "kapp" and site.parent.name == "hubvendor.d"
    assert (Path(result["whole"]) / "saved_model.pb").is_file()
    assert result["file"] == os.path.join(result["whole"], "saved_model.pb")
    assert result["preset"] == result["versionless"] == GPT2_PARAMS
    assert list(kagglehub_cache.iterdir()) == [] and not (tmp_path / "empty-tfhub-cache").exists()
