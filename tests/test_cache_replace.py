"""Issue 12, cache classes: replacing an entry tensorflow_hub wrote, dead locks, damaged cache files.

An entry tensorflow_hub wrote records no archive sha256, so a sha256 pin (``hubvendor lock`` of an inline
``sha256``, or ``hubvendor fetch``) replaces it with a verified download. The replacement must never show a
partial tree (to a concurrent lookup, to a process holding the entry, or after a crash mid-way), must not
spin on a lock a killed run left behind, and damaged cache files must give one line, never a traceback.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.commands import hubvendor
from support.server import HALF_PLUS_TWO_HANDLE

from hubvendor import archive, cacheprune, download
from hubvendor.cache import Cache
from hubvendor.filesystems import LocalFileSystem
from hubvendor.handle import parse

SHA1 = parse(HALF_PLUS_TWO_HANDLE).cache_name
HOLDER = "import sys, hubvendor\nprint(hubvendor.resolve(sys.argv[1]), flush=True)\nsys.stdin.read()\n"
PINNED = (
    "import sys\n"
    "from hubvendor import download\n"
    "print(download.ensure(sys.argv[1], expected_sha256=sys.argv[2]))\n"
)


class Killed(BaseException):
    """Stands for a SIGKILL in the middle of a deletion (nothing after it runs)."""


@pytest.fixture
def served(use_hub_env, tmp_path: Path) -> dict[str, str]:
    """The served model's archive sha256 and tree digest, and its tree (downloaded once elsewhere)."""
    reference = Cache(str(tmp_path / "reference"))
    path = download.ensure(HALF_PLUS_TWO_HANDLE, cache=reference)
    descriptor = reference.read_descriptor(HALF_PLUS_TWO_HANDLE)
    return {"sha256": descriptor.archive_sha256, "tree_digest": descriptor.tree_digest, "tree": path}


def tensorflow_hub_entry(root: Path, tree: str) -> Path:
    """An entry as tensorflow_hub 0.16 leaves it: the tree and its three-line descriptor (no digests)."""
    entry = root / SHA1
    shutil.copytree(tree, entry)
    (root / f"{SHA1}.descriptor.txt").write_text(
        f"Module: {HALF_PLUS_TWO_HANDLE}\nDownload Time: 2026-01-01 00:00:00\nDownloader Hostname: h (PID:1)\n"
    )
    return entry


class ProbingFileSystem(LocalFileSystem):
    """Deletes trees file by file (graph last); after each file, looks at the cache as a reader would."""

    def __init__(self, root: str, expected: str, crash_after: int | None = None) -> None:
        self.root, self.expected, self.crash_after = root, expected, crash_after
        self.partial_reads: list[str] = []
        self.deleted = 0

    def rmtree(self, path: str) -> None:
        files = sorted((os.path.join(d, n) for d, _, names in os.walk(path) for n in names),
                       key=lambda p: (os.path.basename(p) in ("saved_model.pb", "saved_model.pbtxt"), p))
        for name in files:
            os.unlink(name)
            self.deleted += 1
            found = Cache(self.root, fs=LocalFileSystem()).lookup(HALF_PLUS_TWO_HANDLE)
            if found and archive.tree_digest(found) != self.expected:
                self.partial_reads.append(found)
            if self.crash_after is not None and self.deleted >= self.crash_after:
                raise Killed
        super().rmtree(path)


def test_replacing_a_tensorflow_hub_entry_never_shows_a_partial_tree(served, tmp_path: Path):
    root = tmp_path / "cache"
    root.mkdir()
    tensorflow_hub_entry(root, served["tree"])
    fs = ProbingFileSystem(str(root), served["tree_digest"])
    path = download.ensure(HALF_PLUS_TWO_HANDLE, cache=Cache(str(root), fs=fs), expected_sha256=served["sha256"])
    assert fs.deleted, "the old tree was never deleted"
    assert fs.partial_reads == []
    assert archive.tree_digest(path) == served["tree_digest"]
    assert Cache(str(root)).read_descriptor(HALF_PLUS_TWO_HANDLE).archive_sha256 == served["sha256"]


def test_a_crash_while_replacing_leaves_no_partial_entry(served, tmp_path: Path):
    root = tmp_path / "cache"
    root.mkdir()
    tensorflow_hub_entry(root, served["tree"])
    fs = ProbingFileSystem(str(root), served["tree_digest"], crash_after=2)
    with pytest.raises(Killed):
        download.ensure(HALF_PLUS_TWO_HANDLE, cache=Cache(str(root), fs=fs), expected_sha256=served["sha256"])
    found = Cache(str(root)).lookup(HALF_PLUS_TWO_HANDLE)
    assert found is None or archive.tree_digest(found) == served["tree_digest"]
    path = download.ensure(HALF_PLUS_TWO_HANDLE, cache=Cache(str(root)))  # what a later resolve gets
    assert archive.tree_digest(path) == served["tree_digest"]


def test_replacing_an_entry_a_process_holds_keeps_its_tree_until_it_exits(served, use_hub_env, tmp_path: Path):
    root = Path(use_hub_env["TFHUB_CACHE_DIR"])
    tensorflow_hub_entry(root, served["tree"])
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, HALF_PLUS_TWO_HANDLE], env=use_hub_env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == str(root / SHA1)
        held = os.open(root / SHA1, os.O_RDONLY | os.O_DIRECTORY)  # the holder's directory, whatever its name
        try:
            path = download.ensure(HALF_PLUS_TWO_HANDLE, cache=Cache(str(root)), expected_sha256=served["sha256"])
            assert archive.tree_digest(path) == served["tree_digest"]
            assert Cache(str(root)).read_descriptor(HALF_PLUS_TWO_HANDLE).archive_sha256 == served["sha256"]
            aside = [n for n in os.listdir(root) if n.startswith(SHA1 + ".") and n.endswith(".tmp")]
            assert len(aside) == 1, os.listdir(root)
            assert os.path.samestat(os.fstat(held), os.stat(root / aside[0]))
            assert archive.tree_digest(str(root / aside[0])) == served["tree_digest"]  # nothing vanished
            assert cacheprune.sweep(Cache(str(root))) == []  # still held: not reclaimed
            assert (root / aside[0]).is_dir()
        finally:
            os.close(held)
    finally:
        holder.communicate("", timeout=30)
    assert cacheprune.sweep(Cache(str(root))) == [str(root / aside[0])]
    assert not (root / aside[0]).exists()


def _run_bounded(args: list[str], env: dict[str, str], deadline: float) -> tuple[int | None, float, float, str]:
    """(exit code or None when killed at the deadline, wall seconds, CPU seconds, stderr)."""
    started = time.monotonic()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, err = process.communicate(timeout=deadline)
        code = process.returncode
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        code = None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return code, time.monotonic() - started, usage.ru_utime + usage.ru_stime, err


def test_a_dead_lock_over_a_tensorflow_hub_entry_is_broken_not_spun_on(served, use_hub_env):
    root = Path(use_hub_env["TFHUB_CACHE_DIR"])
    tensorflow_hub_entry(root, served["tree"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (root / f"{SHA1}.lock").write_text(f"{socket.gethostname()}.{dead.pid}.{'a' * 32}")
    code, wall, _, err = _run_bounded([sys.executable, "-c", PINNED, HALF_PLUS_TWO_HANDLE, served["sha256"]],
                                      use_hub_env, 60)
    assert code == 0, (wall, err[-2000:])
    assert Cache(str(root)).read_descriptor(HALF_PLUS_TWO_HANDLE).archive_sha256 == served["sha256"]
    assert not (root / f"{SHA1}.lock").exists()


def test_waiting_on_a_live_lock_over_a_tensorflow_hub_entry_sleeps(served, use_hub_env):
    root = Path(use_hub_env["TFHUB_CACHE_DIR"])
    tensorflow_hub_entry(root, served["tree"])
    (root / f"{SHA1}.lock").write_text(f"elsewhere.example.42.{'b' * 32}")  # another host: waited out
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code, wall, cpu, err = _run_bounded([sys.executable, "-c", PINNED, HALF_PLUS_TWO_HANDLE, served["sha256"]],
                                        {**use_hub_env, "HUBVENDOR_LOCK_TIMEOUT": "3"}, 60)
    cpu -= before.ru_utime + before.ru_stime
    assert code == 0, (wall, err[-2000:])
    assert wall >= 3
    assert cpu < wall / 2, f"{cpu:.1f} s of CPU in {wall:.1f} s: the waiter spins"


# -- damaged cache files: one line naming the file, or treated as absent -----------------------------
def _damage(root: Path, kind: str) -> None:
    if kind == "lock is a directory":
        (root / f"{SHA1}.lock").mkdir()
    elif kind == "descriptor is a directory":
        (root / f"{SHA1}.descriptor.txt").unlink()
        (root / f"{SHA1}.descriptor.txt").mkdir()
    elif kind == "descriptor number of 5000 digits":
        path = root / f"{SHA1}.descriptor.txt"
        path.write_text(path.read_text().replace("Hubvendor-Tree-Files: ", "Hubvendor-Tree-Files: " + "9" * 5000))
    elif kind == "descriptor PID of 5000 digits":
        path = root / f"{SHA1}.descriptor.txt"
        path.write_text(path.read_text().replace("(PID:", "(PID:" + "9" * 5000))
    elif kind == "lock PID of 5000 digits":
        (root / f"{SHA1}.lock").write_text(f"{socket.gethostname()}.{'9' * 5000}.{'c' * 32}")
        old = time.time() - 3600
        os.utime(root / f"{SHA1}.lock", (old, old))


@pytest.mark.parametrize("kind", ["lock is a directory", "descriptor is a directory",
                                  "descriptor number of 5000 digits", "descriptor PID of 5000 digits",
                                  "lock PID of 5000 digits"])
def test_damaged_cache_files_give_one_line(kind: str, hub_env):
    hub_env = {**hub_env, "HUBVENDOR_LOCK_TIMEOUT": "2"}  # a lock with no readable PID is waited out
    root = Path(hub_env["TFHUB_CACHE_DIR"])
    assert hubvendor("resolve", HALF_PLUS_TWO_HANDLE, env=hub_env).returncode == 0
    if "lock" in kind:
        shutil.rmtree(root / SHA1)  # a resolve must take the lock
    _damage(root, kind)
    api = subprocess.run([sys.executable, "-c", f"import hubvendor; print(hubvendor.resolve({HALF_PLUS_TWO_HANDLE!r}))"],
                         env=hub_env, capture_output=True, text=True, timeout=60)  # the start-up fast path
    assert api.returncode == 0 or api.stderr.strip().splitlines()[-1].startswith("hubvendor.errors."), api.stderr
    for args in (("resolve", HALF_PLUS_TWO_HANDLE), ("cache", "list"), ("cache", "verify"),
                 ("cache", "prune", "--max-size", "0", "--force"), ("fetch", HALF_PLUS_TWO_HANDLE)):
        result = hubvendor(*args, env=hub_env, timeout=60)
        assert "Traceback" not in result.stderr, (args, result.stderr[-3000:])
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("hubvendor: error: "), \
                (args, result.stderr)
            assert SHA1 in lines[0], (args, lines[0])  # names the damaged file
