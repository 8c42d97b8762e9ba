"""Outside attack: the cache (object-store roots, entries planted by the cache's other writers)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from attack.helpers import base_env, cli, entry_name, one_error_line

HANDLE = "https://tfhub.dev/test/s/1"


@pytest.mark.parametrize("root", ["s3://mybucket/cache", "ftp://127.0.0.1/cache", "zip://cache"])
@pytest.mark.parametrize("command", [["cache", "list"], ["resolve", HANDLE]])
def test_cache_root_that_cannot_be_opened_is_one_error_line(tmp_path, root, command):
    """TFHUB_CACHE_DIR=s3://... without AWS credentials (README: s3:// works), or a scheme fsspec
    cannot open, gave a botocore/TypeError/IsADirectoryError traceback instead of one line naming
    TFHUB_CACHE_DIR."""
    env = base_env(tmp_path, TFHUB_CACHE_DIR=root, HUBVENDOR_OFFLINE="1")
    proc = cli(*command, env=env, timeout=60)
    assert one_error_line(proc), proc.stderr[-2000:]
    assert "TFHUB_CACHE_DIR" in proc.stderr or root in proc.stderr, proc.stderr[-2000:]


def _plant_entry(cache: Path, victim: Path) -> Path:
    """An entry another writer of the cache left: a SavedModel whose variables/ is a symlink to a
    user's directory, plus an absolute file symlink."""
    entry = cache / entry_name(HANDLE)
    entry.mkdir(parents=True)
    (entry / "saved_model.pb").write_bytes(b"pb")
    os.symlink(victim, entry / "variables")
    os.symlink("/etc/hostname", entry / "hostname")
    (cache / f"{entry.name}.descriptor.txt").write_text(
        f"Module: {HANDLE}\nDownload Time: x\nDownloader Hostname: vm (PID:1)\n"
    )
    return entry


def test_vendor_never_links_files_from_outside_the_cache(tmp_path):
    """`vendor` followed a symlinked directory inside a cache entry and hard-linked the user's file
    from outside the cache into the output (same inode: editing the output edits the user's file);
    absolute symlinks were copied into the output as they were. Expected: the entry is refused (or
    fetched again), the output holds no symlink and no file from outside the cache."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("precious")
    env = base_env(tmp_path, HUBVENDOR_OFFLINE="1")
    _plant_entry(tmp_path / "cache", victim)
    out = tmp_path / "out"
    cli("vendor", "-o", str(out), HANDLE, env=env)
    victim_inode = (victim / "data.txt").stat().st_ino
    for dirpath, dirnames, filenames in os.walk(out):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            assert not p.is_symlink(), f"symlink in vendored output: {p} -> {os.readlink(p)}"
            assert p.lstat().st_ino != victim_inode, f"{p} is the user's file {victim / 'data.txt'}"
    assert (victim / "data.txt").read_text() == "precious"


def test_prune_does_not_claim_to_remove_what_it_leaves(tmp_path):
    """An entry that is a symlink: `cache prune --max-size 0 --force` printed 'removed', left the
    link renamed to <sha1>.<uuid>.tmp, and every later prune printed 'swept' for it and left it
    again. Expected: the link itself is removed (its target untouched), or a clear message."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "saved_model.pb").write_bytes(b"pb")
    cache = tmp_path / "cache"
    cache.mkdir()
    name = entry_name(HANDLE)
    os.symlink(victim, cache / name)
    (cache / f"{name}.descriptor.txt").write_text(f"Module: {HANDLE}\nDownload Time: x\nDownloader Hostname: vm (PID:1)\n")
    env = base_env(tmp_path, HUBVENDOR_OFFLINE="1")
    first = cli("cache", "prune", "--max-size", "0", "--force", env=env)
    second = cli("cache", "prune", "--max-size", "0", "--force", env=env)
    left = sorted(p.name for p in cache.iterdir() if p.name.startswith(name))
    assert (victim / "saved_model.pb").exists()
    said = first.stdout + second.stdout
    if "removed" in first.stdout or "swept" in second.stdout:
        assert left == [], f"prune said {said!r} but left {left}"


def _entry_with_descriptor(cache: Path, make_descriptor) -> None:
    entry = cache / entry_name(HANDLE)
    (entry / "variables").mkdir(parents=True)
    (entry / "saved_model.pb").write_bytes(b"pb")
    make_descriptor(cache / f"{entry.name}.descriptor.txt")


DAMAGED_DESCRIPTORS = {
    "fifo": os.mkfifo,
    "dev-zero": lambda p: os.symlink("/dev/zero", p),
}
COMMANDS = [["resolve", HANDLE], ["cache", "list"], ["cache", "verify"], ["cache", "prune", "--max-size", "0", "--force"]]


@pytest.mark.parametrize("damage", sorted(DAMAGED_DESCRIPTORS))
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_damaged_descriptor_is_neither_a_hang_nor_unbounded_memory(tmp_path, damage, command):
    """A descriptor that is a FIFO: resolve, cache list/verify/prune blocked forever on open/read.
    A descriptor that is a symlink to /dev/zero: each read it whole (MemoryError traceback under a
    2 GB ulimit; without one, all the machine's memory). Expected: the descriptor is read only if it
    is a regular file, size-capped; a damaged one is an error or a warning naming it."""
    import resource
    import subprocess

    cache = tmp_path / "cache"
    _entry_with_descriptor(cache, DAMAGED_DESCRIPTORS[damage])
    env = base_env(tmp_path, HUBVENDOR_OFFLINE="1")

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    try:
        proc = subprocess.run(
            [sys.executable, "-m", "hubvendor", *command], env=env, capture_output=True, text=True,
            timeout=15, preexec_fn=limit,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`hubvendor {' '.join(command)}` hung on a {damage} descriptor")
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    assert proc.returncode in (0, 1), proc.stderr[-1500:]


def test_lock_that_is_a_fifo_does_not_hang_resolve(tmp_path):
    """`<sha1>.lock` is a FIFO (a damaged cache): `resolve` of a miss blocked forever opening it;
    `cache prune` too. Expected: an error naming the lock file, or the lock broken."""
    import subprocess

    from attack.helpers import make_model, serve

    root = tmp_path / "root"
    make_model(root)
    cache = tmp_path / "cache"
    cache.mkdir()
    os.mkfifo(cache / f"{entry_name(HANDLE)}.lock")
    env = base_env(tmp_path)
    with serve(root, env) as port:
        cfg = tmp_path / "dl.cfg"
        cfg.write_text(f"rewrite tfhub.dev/(.*) http://127.0.0.1:{port}/$1\n")
        env["HUBVENDOR_DOWNLOADER_CONFIG"] = str(cfg)
        for command in (["resolve", HANDLE], ["cache", "prune", "--max-size", "0", "--force"]):
            try:
                proc = cli(*command, env=env, timeout=15)
            except subprocess.TimeoutExpired:
                pytest.fail(f"`hubvendor {' '.join(command)}` hung on a FIFO lock file")
            assert "Traceback" not in proc.stderr, proc.stderr
