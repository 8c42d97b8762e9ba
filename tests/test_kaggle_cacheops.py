"""kagglehub's cache operated by ``hubvendor cache ... --kagglehub``, taken in under the archive policy, and
``hubvendor fetch``/``vendor`` reading the project's lock for Kaggle handles (versionless ones included).

kagglehub itself (real, from PyPI) fills its cache from the loopback Kaggle stand-in; hubvendor runs as
the CLI a user runs.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hubvendor import lockfile
from hubvendor.digest import tree_digest
from hubvendor.kaggle import kagglecache
from support.kaggle_api import kagglehub_env
from test_kaggle_lock import PRESET, TF, fake_model, project, world  # noqa: F401 (world is a fixture)

TF_SLUG = "testorg/half-plus-two/tensorFlow2/tiny/3"


def cli(*args: str, env: dict[str, str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "hubvendor", *args], env=env, cwd=cwd, capture_output=True,
                            text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def kagglehub(code: str, api, env: dict[str, str]) -> str:
    """Run ``code`` with kagglehub alone (hubvendor's hook off); its last output line."""
    result = subprocess.run(
        [sys.executable, "-c", "import kagglehub\n" + code],
        env={**env, **kagglehub_env(api, Path(env["KAGGLEHUB_CACHE"])), "HUBVENDOR_AUTOLOAD": "0"},
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def listed(env: dict[str, str], cwd: Path, *extra: str) -> dict[str, dict]:
    out = cli("cache", "list", "--kagglehub", "--json", *extra, env=env, cwd=cwd)
    return {e["handle"]: e for e in json.loads(out.stdout)}


def test_cache_lists_verifies_and_prunes_kagglehubs_cache(world, tmp_path):
    api, env = world
    whole = Path(kagglehub(f"print(kagglehub.model_download({TF_SLUG!r}))", api, env))
    kagglehub("print(kagglehub.model_download('keras/gpt2/keras/gpt2_tiny/2', path='config.json'))", api, env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    entries = listed(env, elsewhere)
    assert {h: e["state"] for h, e in entries.items()} == {
        f"kaggle://{TF_SLUG}": "unverified", "kaggle://keras/gpt2/keras/gpt2_tiny/2": "partial"}
    assert entries[f"kaggle://{TF_SLUG}"]["path"] == str(whole) and entries[f"kaggle://{TF_SLUG}"]["origin"] == "kagglehub"
    table = cli("cache", "list", "--kagglehub", env=env, cwd=elsewhere).stdout
    assert "2 entries" in table and env["KAGGLEHUB_CACHE"] in table

    # The project's lock pins the tree digest (locked from kagglehub's cache); verify checks against it.
    proj = project(tmp_path / "proj", [TF])
    cli("lock", env=env, cwd=proj)
    verified = json.loads(cli("cache", "verify", "--kagglehub", "--json", env=env, cwd=proj).stdout)
    assert [(e["handle"], e["state"], e["source"]) for e in verified] == [
        ("kaggle://keras/gpt2/keras/gpt2_tiny/2", "partial", ""),
        (f"kaggle://{TF_SLUG}", "ok", "hubvendor.lock")]

    (whole / "saved_model.pb").write_bytes(b"changed behind kagglehub's back")
    bad = cli("cache", "verify", "--kagglehub", TF, env=env, cwd=proj, check=False)
    assert bad.returncode == 1
    assert "corrupt" in bad.stdout and f"tree digest {tree_digest(str(whole))} differs from" in bad.stdout
    assert "recorded in hubvendor.lock" in bad.stdout

    pruned = cli("cache", "prune", "--kagglehub", "--max-size", "0", "--force", env=env, cwd=proj).stdout
    assert f"removed kaggle://{TF_SLUG}" in pruned and "removed kaggle://keras/gpt2/keras/gpt2_tiny/2" in pruned
    models = Path(env["KAGGLEHUB_CACHE"]) / "models"
    assert [p for p in models.rglob("*") if not p.is_dir()] == []  # trees, markers and per-file markers
    assert not (models / "keras" / "gpt2" / "keras" / "gpt2_tiny" / ".complete" / "2").exists()
    assert listed(env, elsewhere) == {}

    # kagglehub sees the version as absent (the marker went first) and downloads it again.
    api.requests.clear()
    again = Path(kagglehub(f"print(kagglehub.model_download({TF_SLUG!r}))", api, env))
    assert again == whole and (again / "saved_model.pb").read_bytes() == b"pb" and api.downloads()


def test_verify_without_a_lock_uses_the_digest_hubvendor_recorded(world, tmp_path):
    api, env = world
    whole = Path(kagglehub(f"print(kagglehub.model_download({TF_SLUG!r}))", api, env))
    api.requests.clear()
    cli("fetch", TF, env=env, cwd=tmp_path)  # copied from kagglehub's cache into hubvendor's, digest recorded
    assert api.requests == []
    (entry,) = json.loads(cli("cache", "verify", "--kagglehub", "--json", env=env, cwd=tmp_path).stdout)
    assert entry["state"] == "ok" and entry["source"].startswith("hubvendor's cache ")
    rm = cli("cache", "rm", "--kagglehub", TF, env=env, cwd=tmp_path)
    assert f"removed kaggle://{TF_SLUG}" in rm.stdout and not whole.exists()
    missing = cli("cache", "rm", "--kagglehub", TF, env=env, cwd=tmp_path, check=False)
    assert missing.returncode == 1 and missing.stderr.strip() == (
        f"hubvendor: error: {TF}: not in kagglehub's cache {env['KAGGLEHUB_CACHE']}")


@pytest.mark.parametrize("extra, limit_env, cause", [
    ({"big.bin": b"x" * 4096}, {"HUBVENDOR_MAX_UNPACKED_SIZE": "2000"}, "HUBVENDOR_MAX_UNPACKED_SIZE"),
    ({"Saved_Model.pb": b"other"}, {}, "saved_model.pb"),
])
def test_a_kagglehub_entry_the_archive_policy_refuses_is_downloaded_instead(world, tmp_path, monkeypatch, caplog,
                                                                            extra, limit_env, cause):
    """The copy from kagglehub's cache obeys the limits and name rules extraction obeys; the refused entry
    is named in one warning and the model is downloaded (and extracted under the same policy)."""
    from hubvendor import download
    from hubvendor.cache import Cache

    api, env = world
    entry = Path(env["KAGGLEHUB_CACHE"]) / "models" / "testorg" / "half-plus-two" / "tensorFlow2" / "tiny" / "3"
    fake_model(entry, {"saved_model.pb": b"pb", "variables/variables.index": b"index", **extra})
    (entry.parent / "3.complete").write_text("")
    for name in ("HUBVENDOR_DOWNLOADER_CONFIG", "KAGGLEHUB_CACHE"):
        monkeypatch.setenv(name, env[name])
    for name, value in limit_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HUBVENDOR_OFFLINE", raising=False)
    with caplog.at_level(logging.WARNING, logger="hubvendor"):
        path = download.ensure(TF, cache=Cache(str(tmp_path / "hubcache")))
    assert sorted(p.name for p in Path(path).rglob("*")) == ["saved_model.pb", "variables", "variables.index"]
    assert api.downloads()
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"{TF} (kagglehub's cache {entry})" in warning and cause in warning and "downloading instead" in warning


def test_fetch_and_vendor_take_pins_from_the_lock(world, tmp_path):
    """A versionless Kaggle handle on the command line gets the locked version (no API call); without a lock
    entry, Kaggle's current version, said on stderr; a pin the download does not match fails in one line."""
    api, env = world
    proj = project(tmp_path / "proj", [PRESET])
    cli("lock", env=env, cwd=proj)
    (locked,) = lockfile.load(proj / "hubvendor.lock").models
    assert locked.handle == f"{PRESET}/2"
    api.add("keras/gpt2/keras/gpt2_tiny", 3, tmp_path / "tf")  # upstream moves on; the lock does not
    api.requests.clear()
    out = cli("vendor", "-o", "out", "--json", PRESET, env=env, cwd=proj)
    assert list(json.loads(out.stdout)["models"]) == [locked.key]
    assert not any(path.endswith("/get") for _, path, _ in api.requests) and "current version" not in out.stderr

    fetched = cli("fetch", PRESET, env=env, cwd=tmp_path)  # no lock here
    assert f"{PRESET}: not pinned in hubvendor.lock; using Kaggle's current version {PRESET}/3" in fetched.stderr
    assert fetched.stdout.startswith(f"{PRESET}/3\t")

    lock = proj / "hubvendor.lock"
    lock.write_text(lock.read_text().replace(locked.tree_digest, "sha256:" + "0" * 64))
    failed = cli("fetch", "--lock", str(lock), PRESET, env={**env, "TFHUB_CACHE_DIR": str(tmp_path / "c2")},
                 cwd=tmp_path, check=False)
    assert failed.returncode == 1 and len(failed.stderr.strip().splitlines()) == 1
    assert "sha256:" + "0" * 64 in failed.stderr and f"the pin is in {lock}" in failed.stderr


def test_a_version_directory_that_is_a_link_is_never_taken(world, tmp_path, monkeypatch):
    """A link in kagglehub's cache in place of a version directory could make any directory the model."""
    from hubvendor import download
    from hubvendor.cache import Cache

    api, env = world
    elsewhere = fake_model(tmp_path / "elsewhere", {"saved_model.pb": b"not the model", "secret.txt": b"private"})
    variation = Path(env["KAGGLEHUB_CACHE"]) / "models" / "testorg" / "half-plus-two" / "tensorFlow2" / "tiny"
    variation.mkdir(parents=True)
    (variation / "3").symlink_to(elsewhere)
    (variation / "3.complete").write_text("")
    assert listed(env, tmp_path) == {}
    for name in ("HUBVENDOR_DOWNLOADER_CONFIG", "KAGGLEHUB_CACHE"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("HUBVENDOR_OFFLINE", raising=False)
    path = download.ensure(TF, cache=Cache(str(tmp_path / "hubcache")))
    assert not (Path(path) / "secret.txt").exists() and (Path(path) / "saved_model.pb").read_bytes() == b"pb"
    assert api.downloads()


def test_framework_directories_differing_only_in_case_are_ambiguous_unless_one_is_spelled_exactly(
        world, tmp_path, monkeypatch, caplog):
    """kagglehub keeps the framework as each caller spelled it; hubvendor asks for ``tensorflow2``. With
    ``TensorFlow2`` and ``tensorFlow2`` both complete, either could be meant: a warning names both and the model
    is downloaded (the reader used to take the first in sorted order). A directory spelled exactly wins, as
    ``hubvendor serve`` decides (``kaggle.ref.match_name``)."""
    from hubvendor import download
    from hubvendor.cache import Cache

    api, env = world
    cache = Path(env["KAGGLEHUB_CACHE"])
    models = cache / "models" / "testorg" / "half-plus-two"
    for framework in ("TensorFlow2", "tensorFlow2"):
        fake_model(models / framework / "tiny" / "3", {"saved_model.pb": framework.encode(), "variables/x": b"x"})
        (models / framework / "tiny" / "3.complete").write_text("")
    lowered = "kaggle://testorg/half-plus-two/tensorflow2/tiny/3"
    for name in ("HUBVENDOR_DOWNLOADER_CONFIG", "KAGGLEHUB_CACHE"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("HUBVENDOR_OFFLINE", raising=False)
    with caplog.at_level(logging.WARNING, logger="hubvendor"):
        assert kagglecache.locate(lowered, str(cache)) is None
        path = download.ensure(lowered, cache=Cache(str(tmp_path / "hubcache")))
    assert (Path(path) / "saved_model.pb").read_bytes() == b"pb" and api.downloads()
    warnings = {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    assert warnings == {f"hubvendor: kagglehub's cache has {models / 'TensorFlow2'} and {models / 'tensorFlow2'}, "
                        f"differing only in case, for kaggle://testorg/half-plus-two/tensorflow2/tiny/3; Kaggle names "
                        "ignore case, so neither is used (keep one)"}
    assert kagglecache.locate(TF, str(cache)) == str(models / "tensorFlow2" / "tiny" / "3")  # spelled exactly

    fake_model(models / "tensorflow2" / "tiny" / "3", {"saved_model.pb": b"lower"})
    (models / "tensorflow2" / "tiny" / "3.complete").write_text("")
    caplog.clear()
    assert kagglecache.locate(lowered, str(cache)) == str(models / "tensorflow2" / "tiny" / "3")
    assert not caplog.records


def test_a_miss_looks_in_kagglehubs_cache_once(world, tmp_path, monkeypatch):
    """``download.ensure`` on a miss asks kagglehub's cache once, and fills from what it found."""
    from hubvendor import download
    from hubvendor.cache import Cache

    api, env = world
    entry = fake_model(Path(env["KAGGLEHUB_CACHE"]) / "models" / "testorg" / "half-plus-two" / "tensorFlow2"
                       / "tiny" / "3", {"saved_model.pb": b"kagglehub's", "variables/variables.index": b"index"})
    (entry.parent / "3.complete").write_text("")
    monkeypatch.setenv("KAGGLEHUB_CACHE", env["KAGGLEHUB_CACHE"])
    looked: list[str] = []
    locate = kagglecache.locate
    monkeypatch.setattr(kagglecache, "locate", lambda handle, *rest: looked.append(str(handle)) or locate(handle, *rest))
    path = download.ensure(TF, cache=Cache(str(tmp_path / "hubcache")))
    assert (Path(path) / "saved_model.pb").read_bytes() == b"kagglehub's" and not api.downloads()
    assert len(looked) == 1, looked


def test_a_kagglehub_reader_through_hubvendor_path_keeps_its_tree_while_vendor_replaces_it(world, tmp_path):
    """``kagglehub.model_download`` answered from HUBVENDOR_PATH holds the directory as ``hubvendor.resolve``
    does: ``vendor -o`` swapping the output keeps the old tree until the reader exits."""
    api, env = world
    out = tmp_path / "out"
    cli("vendor", "-o", str(out), TF, env=env, cwd=tmp_path)
    reader = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, kagglehub\n"
         f"path = kagglehub.model_download({TF_SLUG!r})\n"
         "fd = os.open(path, os.O_RDONLY)\n"
         "print(path, flush=True)\n"
         "sys.stdin.readline()\n"
         "print(sorted(os.listdir(fd)), flush=True)\n"],
        env={**env, "HUBVENDOR_PATH": str(out), "HUBVENDOR_OFFLINE": "1"}, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        held = reader.stdout.readline().strip()
        assert held.startswith(str(out)), held
        cli("vendor", "-o", str(out), TF, env=env, cwd=tmp_path)
        assert (Path(held) / "saved_model.pb").is_file()  # the path never vanished
        aside = [p for p in tmp_path.iterdir() if p.name.startswith(".out.") and p.name.endswith(".old")]
        assert len(aside) == 1, sorted(p.name for p in tmp_path.iterdir())  # the reader's tree, kept
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert "saved_model.pb" in reader.stdout.readline()
    finally:
        reader.communicate(timeout=60)
    cli("vendor", "-o", str(out), TF, env=env, cwd=tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".old", ".tmp"))]


def test_prune_sweeps_what_a_killed_run_left_in_kagglehubs_cache(world, tmp_path):
    """A staging tree with no change for HUBVENDOR_LOCK_TIMEOUT is swept by prune; a live one is left."""
    api, env = world
    whole = Path(kagglehub(f"print(kagglehub.model_download({TF_SLUG!r}))", api, env))
    stale, live = (Path(kagglecache.staging_path(str(whole))) for _ in range(2))
    for tree in (stale, live):
        (tree / "variables").mkdir(parents=True)
        (tree / "variables" / "variables.index").write_bytes(b"half")
    old = time.time() - 3600
    for path in (stale / "variables" / "variables.index", stale / "variables", stale):
        os.utime(path, (old, old))
    assert set(listed(env, tmp_path)) == {f"kaggle://{TF_SLUG}"}  # leftovers are never entries
    env = {**env, "HUBVENDOR_LOCK_TIMEOUT": "60"}
    dry = cli("cache", "prune", "--kagglehub", "--older-than", "100d", "--dry-run", env=env, cwd=tmp_path)
    assert f"would sweep {stale}" in dry.stdout and stale.is_dir()
    pruned = cli("cache", "prune", "--kagglehub", "--older-than", "100d", env=env, cwd=tmp_path)
    assert f"swept {stale}" in pruned.stdout and str(live) not in pruned.stdout
    assert not stale.exists() and live.is_dir() and (whole / "saved_model.pb").is_file()


def test_links_between_the_cache_and_a_version_are_never_followed(world, tmp_path):
    """A linked owner directory makes no entry: rm deletes nothing through it, fetch downloads instead."""
    api, env = world
    outside = tmp_path / "outside"
    victim = outside / "half-plus-two" / "tensorFlow2" / "tiny" / "3"
    victim.mkdir(parents=True)
    (victim / "saved_model.pb").write_bytes(b"not the model")
    (victim / "secret.txt").write_text("user's work")
    (victim.parent / "3.complete").write_text("")
    models = Path(env["KAGGLEHUB_CACHE"]) / "models"
    models.mkdir(parents=True)
    (models / "testorg").symlink_to(outside)
    assert listed(env, tmp_path) == {}
    removed = cli("cache", "rm", "--kagglehub", TF, env=env, cwd=tmp_path, check=False)
    assert removed.returncode == 1 and "not in kagglehub's cache" in removed.stderr, removed.stderr
    fetched = cli("fetch", TF, env=env, cwd=tmp_path)
    path = Path(fetched.stdout.split("\t")[1].strip())
    assert sorted(p.name for p in path.rglob("*")) == ["saved_model.pb", "variables", "variables.index"]
    assert api.downloads() and (victim / "secret.txt").read_text() == "user's work" and (victim.parent / "3.complete").exists()


def test_a_tampered_kagglehub_version_is_downloaded_again_not_copied(world, tmp_path):
    """The lock pins the tree digest kagglehub's copy had; after the copy is altered, fetch warns naming
    kagglehub's entry and downloads the pinned bytes (it used to fail the same way after every `cache rm`)."""
    api, env = world
    whole = Path(kagglehub(f"print(kagglehub.model_download({TF_SLUG!r}))", api, env))
    proj = project(tmp_path / "proj", [TF])
    cli("lock", env=env, cwd=proj)
    (locked,) = lockfile.load(proj / "hubvendor.lock").models
    assert locked.sha256 == "" and locked.tree_digest == tree_digest(str(whole))
    with (whole / "saved_model.pb").open("ab") as tampered:
        tampered.write(b"tampered")
    api.requests.clear()
    fetched = cli("fetch", TF, env={**env, "TFHUB_CACHE_DIR": str(tmp_path / "fresh")}, cwd=proj)
    assert f"kagglehub's cache {whole}" in fetched.stderr and "downloading instead" in fetched.stderr, fetched.stderr
    assert api.downloads()
    assert tree_digest(fetched.stdout.split("\t")[1].strip()) == locked.tree_digest


def test_offline_fetch_vendor_and_lock_take_kagglehubs_complete_versions(world, tmp_path):
    """HUBVENDOR_OFFLINE: what kagglehub already has is local, for fetch, vendor and lock as for resolve."""
    api, env = world
    whole = Path(kagglehub(f"print(kagglehub.model_download({TF_SLUG!r}))", api, env))
    offline = {**env, "HUBVENDOR_OFFLINE": "1"}
    api.requests.clear()
    fetched = cli("fetch", TF, env=offline, cwd=tmp_path)
    assert tree_digest(fetched.stdout.split("\t")[1].strip()) == tree_digest(str(whole))
    cli("vendor", "-o", str(tmp_path / "out"), TF, env={**offline, "TFHUB_CACHE_DIR": str(tmp_path / "c2")}, cwd=tmp_path)
    proj = project(tmp_path / "proj", [TF])
    cli("lock", env={**offline, "TFHUB_CACHE_DIR": str(tmp_path / "c3")}, cwd=proj)
    assert api.requests == []
    missing = cli("fetch", "kaggle://testorg/half-plus-two/tensorFlow2/tiny/4", env=offline, cwd=tmp_path, check=False)
    assert missing.returncode == 1 and "HUBVENDOR_OFFLINE" in missing.stderr


def test_kagglehub_cache_oddities_give_one_line_or_are_skipped(world, tmp_path, monkeypatch):
    api, env = world
    whole = Path(kagglehub(f"print(kagglehub.model_download({TF_SLUG!r}))", api, env))
    variation = whole.parent
    (variation / "²").mkdir()  # a digit to str.isdigit, not to int()
    (variation / "007").mkdir()  # kagglehub writes str(n): never a leading zero
    (variation / "007.complete").write_text("")
    spaced = Path(env["KAGGLEHUB_CACHE"]) / "models" / "o w" / "m" / "keras" / "v" / "1"
    spaced.mkdir(parents=True)
    (spaced.parent / "1.complete").write_text("")
    out = cli("cache", "list", "--kagglehub", "--json", env=env, cwd=tmp_path)
    assert [e["handle"] for e in json.loads(out.stdout)] == [f"kaggle://{TF_SLUG}"]
    assert "o w" in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr

    as_file = tmp_path / "a-file"
    as_file.write_text("")
    bad = cli("cache", "list", "--kagglehub", env={**env, "KAGGLEHUB_CACHE": str(as_file)}, cwd=tmp_path, check=False)
    assert bad.returncode == 1 and bad.stderr.strip() == (
        f"hubvendor: error: kagglehub's cache {as_file} (KAGGLEHUB_CACHE) is not a directory")

    (tmp_path / "models").mkdir()  # KAGGLEHUB_CACHE set but empty: kagglehub uses the current directory
    empty = cli("cache", "dir", "--kagglehub", env={**env, "KAGGLEHUB_CACHE": ""}, cwd=tmp_path)
    assert empty.stdout.strip() == ""
    refused = cli("cache", "prune", "--kagglehub", "--older-than", "0s", env={**env, "KAGGLEHUB_CACHE": ""},
                  cwd=tmp_path, check=False)  # deleting: never in whatever the current directory is
    assert refused.returncode == 1 and "KAGGLEHUB_CACHE is set but empty" in refused.stderr, refused.stderr


def test_rm_tries_every_entry_and_reports_each(world, tmp_path):
    api, env = world
    kagglehub(f"print(kagglehub.model_download({TF_SLUG!r}))", api, env)
    second = Path(kagglehub("print(kagglehub.model_download('keras/gpt2/keras/gpt2_tiny/2'))", api, env))
    Path(str(second) + ".complete").unlink()
    Path(str(second) + ".complete").mkdir()  # in the way of the removal
    result = cli("cache", "rm", "--kagglehub", "--json", TF, TF, "kaggle://keras/gpt2/keras/gpt2_tiny/2",
                 env=env, cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert [(e["handle"], e["result"]) for e in json.loads(result.stdout)] == [
        (TF, "removed"), ("kaggle://keras/gpt2/keras/gpt2_tiny/2", "kept")]


def test_prune_keeps_an_incomplete_version_kagglehub_is_still_writing(world, tmp_path):
    api, env = world
    writing = Path(env["KAGGLEHUB_CACHE"]) / "models" / "o" / "m" / "keras" / "v" / "1"
    writing.mkdir(parents=True)
    (writing / "model.weights.h5").write_bytes(b"part")
    old = time.time() - 3600
    os.utime(writing, (old, old))  # kagglehub created the directory long ago; the file grows now
    pruned = cli("cache", "prune", "--kagglehub", "--older-than", "30m", env=env, cwd=tmp_path)
    assert "removed" not in pruned.stdout and writing.is_dir(), pruned.stdout


def test_fetch_under_hubvendor_locked_refuses_a_handle_the_lock_does_not_pin(world, tmp_path):
    api, env = world
    refused = cli("fetch", PRESET, env={**env, "HUBVENDOR_LOCKED": "1"}, cwd=tmp_path, check=False)
    assert refused.returncode == 1 and refused.stderr.strip() == (
        f"hubvendor: error: {PRESET}: not pinned in hubvendor.lock, and HUBVENDOR_LOCKED is set "
        "(`hubvendor lock` pins it)")
    assert api.requests == []
