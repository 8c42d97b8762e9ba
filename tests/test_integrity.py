"""Integrity of what builds take from the cache: pins checked against every entry, locks that parse."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.server import HALF_PLUS_TWO_HANDLE

from hubvendor import archive, cache as cache_module, config, download, lockfile, settings
from hubvendor.integrations import core, wheel
from hubvendor.cache import Cache
from hubvendor.errors import ConfigError, IntegrityError
from hubvendor.filesystems import LocalFileSystem


def test_wheel_tree_check_uses_the_archive_digest_format(tmp_path: Path):
    tree = tmp_path / "model"
    (tree / "variables").mkdir(parents=True)
    (tree / "saved_model.pb").write_bytes(b"graph")
    (tree / "variables" / "variables.index").write_bytes(b"index")
    hashes = [
        wheel.FileHash(f"models/m/{p.relative_to(tree).as_posix()}", hashlib.sha256(p.read_bytes()).hexdigest(),
                       p.stat().st_size)
        for p in sorted(tree.rglob("*"), reverse=True) if p.is_file()
    ]
    expected = archive.tree_digest(str(tree))
    digest = archive.TreeDigest()
    for h in hashes:
        digest.add(h.arcname[len("models/m/"):].encode(), h.size, h.sha256)
    assert digest.hexdigest() == expected
    model = core.Model("https://tfhub.dev/a/m/1", "k", "m", str(tree), "0" * 64, 1, expected, "u")
    core._verify_trees([model], "models", hashes)
    hashes[0] = wheel.FileHash(hashes[0].arcname, hashes[0].sha256, hashes[0].size + 1)
    with pytest.raises(IntegrityError, match=f"https://tfhub.dev/a/m/1: .* expected {expected}"):
        core._verify_trees([model], "models", hashes)


# -- one stale-lock rule, one staging name, one reading of each setting ---------------------------
def test_lock_settings_parse_as_before(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("HUBVENDOR_LOCK_TIMEOUT", raising=False)
    monkeypatch.delenv("HUBVENDOR_CACHE_KEEP_RECENT", raising=False)
    assert (settings.lock_timeout(), settings.cache_keep_recent()) == (60.0, 600.0)
    monkeypatch.setenv("HUBVENDOR_LOCK_TIMEOUT", "2.5")
    monkeypatch.setenv("HUBVENDOR_CACHE_KEEP_RECENT", "15m")
    assert (settings.lock_timeout(), settings.cache_keep_recent()) == (2.5, 900.0)
    monkeypatch.setenv("HUBVENDOR_LOCK_TIMEOUT", "soon")
    monkeypatch.setenv("HUBVENDOR_CACHE_KEEP_RECENT", "a while")
    with pytest.raises(ConfigError, match="HUBVENDOR_LOCK_TIMEOUT='soon'"):
        settings.lock_timeout()
    with pytest.raises(ConfigError, match="HUBVENDOR_CACHE_KEEP_RECENT='a while'"):
        settings.cache_keep_recent()


def test_one_stale_lock_rule_for_waiters_and_cache_operations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HUBVENDOR_LOCK_TIMEOUT", "5")
    cache = Cache(str(tmp_path))
    entry = cache.entry_path("https://tfhub.dev/a/m/1")
    lock = entry + ".lock"
    assert cache.staging_path(entry, "f" * 32) == f"{entry}.{'f' * 32}.tmp"

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    Path(lock).write_text(f"{socket.gethostname()}.{dead.pid}.{'1' * 32}")
    assert cache.lock_is_stale(lock, Path(lock).read_text())  # holder dead on this host: at once

    other_host = f"elsewhere.example.42.{'2' * 32}"
    Path(lock).write_text(other_host)
    assert not cache.lock_is_stale(lock, other_host)  # fresh heartbeat
    old = time.time() - 60
    os.utime(lock, (old, old))
    assert cache.lock_is_stale(lock, other_host)  # no progress for the timeout
    staging = Path(cache.staging_path(entry, "2" * 32))
    (staging / "variables").mkdir(parents=True)
    (staging / "variables" / "variables.index").write_bytes(b"being written")
    assert not cache.lock_is_stale(lock, other_host)  # a file written moments ago is progress
    os.utime(staging / "variables" / "variables.index", (old, old))
    os.utime(staging, (old, old))
    assert cache.lock_is_stale(lock, other_host)
    assert not cache.lock_is_stale(lock, other_host, seen_change=time.time() - 1)  # a poller saw a change


class _RemoteLikeFileSystem(LocalFileSystem):
    local = False


def test_waiting_on_an_object_store_lock_polls_every_second(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    handle = "https://tfhub.dev/a/m/1"
    cache = Cache(str(tmp_path), fs=_RemoteLikeFileSystem())
    lock = cache.lock_path(handle)
    Path(lock).write_text(f"elsewhere.example.42.{'3' * 32}")
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            os.remove(lock)  # the holder finishes

    monkeypatch.setattr(cache_module.time, "sleep", sleep)
    cache._wait_for_lock(cache_module.parse(handle), lock, lambda: False)
    assert naps == [1.0, 1.0]


# -- pinned builds check entries tensorflow_hub wrote ---------------------------------------------
HALF = HALF_PLUS_TWO_HANDLE
VARIABLES = ("variables", "variables.data-00000-of-00001")


def as_tensorflow_hub_wrote_it(path: Path) -> None:
    """Cut an entry's descriptor to the three lines tensorflow_hub writes (no recorded digests)."""
    descriptor = Path(f"{path}.descriptor.txt")
    descriptor.write_text("\n".join(descriptor.read_text().splitlines()[:3]) + "\n")


def tamper(path: Path) -> None:
    """Change one byte, keeping the size (so only a digest can tell)."""
    target = path.joinpath(*VARIABLES)
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))


def test_pinned_ensure_verifies_entries_without_recorded_digests(hub_server, use_hub_env, monkeypatch):
    cache = Cache()
    path = Path(download.ensure(HALF, cache=cache))
    pins = cache.read_descriptor(HALF)
    as_tensorflow_hub_wrote_it(path)
    reads = []
    monkeypatch.setattr(cache, "read_descriptor", lambda h: reads.append(h) or Cache.read_descriptor(cache, h))
    assert download.ensure(HALF, cache=cache) == str(path) and len(reads) == 1  # nothing expected: one descriptor read

    monkeypatch.setenv("HUBVENDOR_OFFLINE", "1")
    assert download.ensure(HALF, cache=cache, expected_sha256=pins.archive_sha256, expected_tree_digest=pins.tree_digest) == str(path)
    tamper(path)
    actual = archive.tree_digest(str(path))
    with pytest.raises(IntegrityError) as info:
        download.ensure(HALF, cache=cache, expected_sha256=pins.archive_sha256, expected_tree_digest=pins.tree_digest)
    assert all(part in str(info.value) for part in (HALF, f"expected {pins.tree_digest}", actual))
    with pytest.raises(IntegrityError, match=f"{HALF}: .* cannot be verified offline .* without HUBVENDOR_OFFLINE"):
        download.ensure(HALF, cache=cache, expected_sha256=pins.archive_sha256)

    monkeypatch.delenv("HUBVENDOR_OFFLINE")
    assert download.ensure(HALF, cache=cache, expected_sha256=pins.archive_sha256) == str(path)  # fetched again, replaced
    assert hub_server.downloads() == 2
    assert Cache.read_descriptor(cache, HALF).archive_sha256 == pins.archive_sha256
    assert archive.tree_digest(str(path)) == pins.tree_digest


def test_locked_build_rejects_a_changed_tensorflow_hub_entry(hub_server, use_hub_env, tmp_path: Path):
    cache = Cache()
    path = Path(download.ensure(HALF, cache=cache))
    pins = cache.read_descriptor(HALF)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(f"[project]\nname = 'demo'\n\n[tool.hubvendor]\nmodels = ['{HALF}']\n")
    lockfile.write(project / "hubvendor.lock", lockfile.Lock([lockfile.LockedModel(
        HALF, HALF, pins.source, pins.archive_sha256, pins.archive_size, pins.tree_digest)]))
    cfg = config.load(project)
    as_tensorflow_hub_wrote_it(path)

    (model,) = core.prepare(cfg, "demo", editable=False, log=lambda message: None).models
    assert (model.sha256, model.tree_digest) == (pins.archive_sha256, pins.tree_digest)
    tamper(path)
    with pytest.raises(IntegrityError, match=f"{HALF}: .*tree digest .* expected {pins.tree_digest}"):
        core.prepare(cfg, "demo", editable=False, log=lambda message: None)
    with pytest.raises(IntegrityError, match="expected"):  # a model without a digest never passes the wheel check
        core._verify_trees([core.Model(HALF, HALF, "m", str(path), "", 0, "", "")], "models", [])
    assert hub_server.downloads() == 1


# -- `hubvendor lock` pins what it can read back ---------------------------------------------------
def test_lock_fetches_tensorflow_hub_entries_afresh_and_writes_a_valid_lock(hub_server, hub_env, tmp_path: Path):
    path = Path(subprocess.run([sys.executable, "-m", "hubvendor", "resolve", HALF], env=hub_env, check=True,
                               capture_output=True, text=True).stdout.strip())
    recorded = Path(f"{path}.descriptor.txt").read_text()
    as_tensorflow_hub_wrote_it(path)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(f"[project]\nname = 'demo'\n\n[tool.hubvendor]\nmodels = ['{HALF}']\n")
    hubvendor_lock = [sys.executable, "-m", "hubvendor", "lock", "--project", str(project)]

    result = subprocess.run(hubvendor_lock, env=hub_env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (model,) = lockfile.load(project / "hubvendor.lock").models
    assert f"Hubvendor-Archive-SHA256: {model.sha256}" in recorded
    assert f"Hubvendor-Tree-Digest: {model.tree_digest}" in recorded and model.size > 0
    assert hub_server.downloads() == 2  # the entry records nothing to pin: downloaded afresh
    check = subprocess.run([*hubvendor_lock, "--check"], env=hub_env, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_an_invalid_lock_is_never_written(tmp_path: Path):
    lock_path = tmp_path / "hubvendor.lock"
    unpinned = lockfile.LockedModel(HALF, HALF, HALF, "", 0, "")
    with pytest.raises(ConfigError, match=rf"{lock_path} \(not written\): model\[0\] \('{HALF}'\): sha256 = ''"):
        lockfile.write(lock_path, lockfile.Lock([unpinned]))
    assert list(tmp_path.iterdir()) == []


# -- vendoring needs a local cache ------------------------------------------------------------------
def test_vendoring_from_an_object_store_cache_fails_naming_tfhub_cache_dir(tmp_path: Path, monkeypatch):
    from hubvendor.vendor import ModelSpec, fetch_to_vendor, vendor

    monkeypatch.setenv("HUBVENDOR_OFFLINE", "1")  # the check comes before any download
    cache = Cache(str(tmp_path / "cache"), fs=_RemoteLikeFileSystem())
    for attempt in (lambda: vendor([ModelSpec(HALF)], str(tmp_path / "out"), cache=cache),
                    lambda: fetch_to_vendor([ModelSpec(HALF)], cache=cache)):
        with pytest.raises(ConfigError, match=r"TFHUB_CACHE_DIR=.*: vendoring .* needs a local cache directory.*"
                                              r"set TFHUB_CACHE_DIR to a local directory"):
            attempt()
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()  # nothing fetched or written


def test_a_writer_that_loses_the_race_keeps_the_winners_entry_and_descriptor(tmp_path, monkeypatch):
    """Where two lock holders are possible (object stores), the second to finish must not replace or
    describe the first one's entry."""
    import contextlib
    import os

    from hubvendor.cache import Cache, FillResult

    @contextlib.contextmanager
    def unguarded(self, handle, task_uid, done):  # as if both writers held the lock
        yield True

    monkeypatch.setattr(Cache, "_locked", unguarded)
    cache = Cache(str(tmp_path))
    handle = "https://tfhub.dev/test/race/1"

    def filler(label: str):
        def fill(_handle, dest):
            with open(os.path.join(dest, "saved_model.pb"), "w") as f:
                f.write(label)
            if label == "loser":  # the winner completes while the loser is still downloading
                cache.ensure(handle, fill=filler("winner"))
            return FillResult(f"http://{label}", "0" * 64, 1, f"sha256:{label}", 1, len(label))
        return fill

    entry = cache.ensure(handle, fill=filler("loser"))
    assert open(os.path.join(entry, "saved_model.pb")).read() == "winner"
    assert cache.read_descriptor(handle).source == "http://winner"
    assert sorted(os.listdir(tmp_path)) == sorted([os.path.basename(entry), os.path.basename(entry) + ".descriptor.txt"])
