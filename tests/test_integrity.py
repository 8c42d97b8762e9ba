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

from hubvendor import archive, cache as cache_module, settings
from hubvendor.build import core, wheel
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
    cache._wait_for_lock(cache_module.parse(handle), lock)
    assert naps == [1.0, 1.0]
