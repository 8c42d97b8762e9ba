"""``hubvendor lock`` and builds for Kaggle handles: versionless handles pinned once, kagglehub's cache reused.

The loopback Kaggle stand-in (``support.kaggle_api``) answers ``.../get`` and redirects downloads to
expiring signed URLs; hubvendor reaches it through a downloader-config rewrite of www.kaggle.com.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubvendor import config, lockfile
from hubvendor.integrations.core import pinned_specs
from support.kaggle_api import KaggleApi

TF = "kaggle://testorg/half-plus-two/tensorFlow2/tiny/3"
PRESET = "kaggle://keras/gpt2/keras/gpt2_tiny"


def fake_model(path: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


@pytest.fixture
def world(tmp_path):
    """The Kaggle stand-in with a SavedModel-shaped model and two versions of a preset-shaped one."""
    tf = fake_model(tmp_path / "tf", {"saved_model.pb": b"pb", "variables/variables.index": b"index"})
    preset = fake_model(tmp_path / "preset", {"config.json": b"{}", "model.weights.h5": b"h5" * 50})
    with KaggleApi() as api:
        api.add("testorg/half-plus-two/tensorFlow2/tiny", 3, tf)
        api.add("keras/gpt2/keras/gpt2_tiny", 1, tf)
        api.add("keras/gpt2/keras/gpt2_tiny", 2, preset)
        config = tmp_path / "mirror.cfg"
        config.write_text(f"rewrite www.kaggle.com/(.*) {api.url}/$1\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_", "KAGGLE"))}
        env.update(HUBVENDOR_DOWNLOADER_CONFIG=str(config), TFHUB_CACHE_DIR=str(tmp_path / "cache"),
                   KAGGLEHUB_CACHE=str(tmp_path / "kagglehub"), HOME=str(tmp_path / "home"))
        yield api, env


def project(path: Path, models: list[str]) -> Path:
    path.mkdir()
    entries = "".join(f'  "{m}",\n' for m in models)
    (path / "pyproject.toml").write_text(f'[project]\nname = "p"\nversion = "1"\n\n[tool.hubvendor]\nmodels = [\n{entries}]\n')
    return path


def hubvendor(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "hubvendor", *args], env=env, capture_output=True, text=True,
                            timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_a_versionless_handle_is_pinned_once_and_builds_use_the_pin(world, tmp_path):
    api, env = world
    proj = project(tmp_path / "proj", [TF, PRESET])
    hubvendor("lock", "--project", str(proj), env=env)
    lock = lockfile.load(proj / "hubvendor.lock")
    assert [m.handle for m in lock.models] == ["kaggle://keras/gpt2/keras/gpt2_tiny/2", TF]
    assert [m.url for m in lock.models] == [
        "https://www.kaggle.com/api/v1/models/keras/gpt2/keras/gpt2_tiny/2/download",
        "https://www.kaggle.com/api/v1/models/testorg/half-plus-two/tensorflow2/tiny/3/download"]
    assert "Signature" not in (proj / "hubvendor.lock").read_text()
    api.add("keras/gpt2/keras/gpt2_tiny", 3, tmp_path / "tf")  # a new upstream version
    api.requests.clear()
    assert hubvendor("lock", "--check", "--project", str(proj), env=env).returncode == 0
    before = (proj / "hubvendor.lock").read_bytes()
    hubvendor("lock", "--project", str(proj), env=env)
    assert (proj / "hubvendor.lock").read_bytes() == before and api.requests == []  # kept: no API call
    specs, used, unpinned = pinned_specs(config.load(proj))  # what wheel builds fetch
    assert [s.handle for s in specs] == [TF, "kaggle://keras/gpt2/keras/gpt2_tiny/2"] and not unpinned
    assert all(s.sha256 and s.tree_digest for s in specs) and sorted(used) == [m.key for m in lock.models]
    hubvendor("lock", "--upgrade", PRESET, "--project", str(proj), env=env)
    assert lockfile.load(proj / "hubvendor.lock").entry_for(PRESET).handle == "kaggle://keras/gpt2/keras/gpt2_tiny/3"
    assert ("GET", "/api/v1/models/keras/gpt2/keras/gpt2_tiny/get", False) in api.requests


def test_lock_uses_kagglehubs_cache_without_a_second_download(world, tmp_path, monkeypatch):
    """Must-show 4: a version kagglehub downloaded is locked by its tree digest with no download; builds
    verify that digest (from kagglehub's cache, or a download from Kaggle where it is absent)."""
    from support.kaggle_api import kagglehub_env

    from hubvendor.digest import tree_digest
    from hubvendor.vendor import fetch_to_vendor

    api, env = world
    kagglehub = subprocess.run(
        [sys.executable, "-c", "import kagglehub; print(kagglehub.model_download('testorg/half-plus-two/tensorFlow2/tiny/3'))"],
        env={**env, **kagglehub_env(api, Path(env["KAGGLEHUB_CACHE"])), "HUBVENDOR_AUTOLOAD": "0"},
        capture_output=True, text=True, timeout=300)
    assert kagglehub.returncode == 0, kagglehub.stderr
    kagglehub_dir = kagglehub.stdout.strip().splitlines()[-1]
    api.requests.clear()
    proj = project(tmp_path / "proj", [TF])
    hubvendor("lock", "--project", str(proj), env=env)
    assert api.requests == []  # no second download, not even an API call
    (entry,) = lockfile.load(proj / "hubvendor.lock").models
    assert (entry.handle, entry.sha256, entry.size) == (TF, "", 0)
    assert entry.tree_digest == tree_digest(kagglehub_dir)
    assert hubvendor("lock", "--check", "--project", str(proj), env=env).returncode == 0
    stanza = hubvendor("bazel", "--lock", str(proj / "hubvendor.lock"), env=env).stdout  # pinned by the tree alone
    assert 'sha256 = ""' in stanza and f'tree_digest = "{entry.tree_digest}"' in stanza

    # A build elsewhere: kagglehub's cache absent, an empty hubvendor cache; Kaggle's archive is verified by the digest.
    specs, _, _ = pinned_specs(config.load(proj))
    assert (specs[0].sha256, specs[0].tree_digest) == (None, entry.tree_digest)
    from hubvendor.cache import Cache

    monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", env["HUBVENDOR_DOWNLOADER_CONFIG"])
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "no-kagglehub-here"))
    monkeypatch.delenv("HUBVENDOR_OFFLINE", raising=False)
    (fetched,) = fetch_to_vendor(specs, cache=Cache(str(tmp_path / "elsewhere")))
    assert fetched.tree_digest == entry.tree_digest and api.downloads()
    hubvendor("lock", "--upgrade", TF, "--project", str(proj), env=env)
    (upgraded,) = lockfile.load(proj / "hubvendor.lock").models
    assert upgraded.sha256 and upgraded.size and upgraded.tree_digest == entry.tree_digest


def test_a_kagglehub_entry_with_a_link_is_downloaded_instead(world, tmp_path, monkeypatch):
    """kagglehub's cache is another tool's directory: an entry holding a symlink (which could pull a file from
    anywhere into a wheel) is not copied; the model is downloaded and extracted under the archive policy."""
    from hubvendor import download
    from hubvendor.cache import Cache

    api, env = world
    entry = Path(env["KAGGLEHUB_CACHE"]) / "models" / "testorg" / "half-plus-two" / "tensorFlow2" / "tiny" / "3"
    fake_model(entry, {"saved_model.pb": b"pb", "variables/variables.index": b"index"})
    (entry.parent / "3.complete").write_text("")
    (tmp_path / "secret.txt").write_text("not part of the model")
    (entry / "extra.txt").symlink_to(tmp_path / "secret.txt")
    for name in ("HUBVENDOR_DOWNLOADER_CONFIG", "KAGGLEHUB_CACHE"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("HUBVENDOR_OFFLINE", raising=False)
    path = download.ensure(TF, cache=Cache(str(tmp_path / "hubcache")))
    assert sorted(p.name for p in Path(path).rglob("*")) == ["saved_model.pb", "variables", "variables.index"]
    assert api.downloads()
