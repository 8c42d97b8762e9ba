"""Resource exhaustion: a full disk during extraction and an unwritable cache fail cleanly, leave
nothing partial and say what to do.

Decisions (tests run as root in CI, and root ignores permission bits):

- *Disk full*: ``RLIMIT_FSIZE`` set in the subprocess (``preexec_fn``) with ``SIGXFSZ`` ignored, so a
  write past the limit fails with ``EFBIG`` exactly as ``ENOSPC`` would: works everywhere, no
  privileges. When mounting is permitted (root with CAP_SYS_ADMIN), a real 2 MiB tmpfs also gives ``ENOSPC``.
- *Permissions*: directories are made read-only (``chmod``) and, when running as root, the subprocess
  drops ``CAP_DAC_OVERRIDE`` and ``CAP_DAC_READ_SEARCH`` from its capability bounding set
  (``prctl(PR_CAPBSET_DROP)`` in ``preexec_fn``), so after ``exec`` root obeys permission bits too.
  (Switching to an unprivileged user fails where the interpreter lives under ``/root``, and read-only
  bind mounts or ``chattr +i`` need privileges and filesystems that CI may not have.)
"""

from __future__ import annotations

import ctypes
import os
import re
import resource
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from hubvendor.handle import parse

from . import figures
from .common import Run, environment, hubvendor, leftovers
from .conftest import BIG, SMALL, tfhub

FILE_SIZE_LIMIT = 1024 * 1024  # the BIG model has a 3 MiB file
ADVICE = re.compile(r"set TFHUB_CACHE_DIR|free disk space|make \S+ writable|another output directory")
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited across exec: writes fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def _obey_permission_bits() -> None:
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
            if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _record(result: Run, partial: list[str]) -> None:
    advice = bool(ADVICE.search(result.error))
    figures.add("resource exhaustion", cases=1, failed_cleanly=int(result.clean_failure), partial_left=len(partial),
                no_advice=int(not advice))
    assert result.clean_failure, f"rc={result.returncode}: {result.stderr[-2000:]}"
    assert not partial, partial
    assert advice, f"the message does not say what to do: {result.error}"


def _cache_residue(cache: Path) -> list[str]:
    return sorted(os.listdir(cache)) if cache.is_dir() else []


def test_file_size_limit_during_extraction(rel_server, rel_mirror: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    cache.mkdir()
    result = hubvendor("resolve", tfhub(BIG), env=environment(cache, rel_mirror), preexec_fn=_limit_file_size)
    _record(result, _cache_residue(cache))
    assert tfhub(BIG) in result.error


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    mountpoint = tmp_path / "tmpfs"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mountpoint)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def test_no_space_left_on_device(small_tmpfs: Path, rel_server, rel_mirror: Path):
    cache = small_tmpfs / "cache"
    result = hubvendor("resolve", tfhub(BIG), env=environment(cache, rel_mirror))
    _record(result, _cache_residue(cache))
    used = os.statvfs(small_tmpfs)
    assert used.f_bfree == used.f_blocks or _cache_residue(cache) == [], "space was not given back"


@pytest.fixture
def area(tmp_path: Path):
    """A directory tree made read-only per test; permissions are restored for cleanup."""
    root = tmp_path / f"area-{uuid.uuid4().hex[:8]}"
    root.mkdir()
    yield root
    for path in [root, *root.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


def test_unwritable_cache_directory(area: Path, rel_server, rel_mirror: Path):
    cache = area / "cache"
    cache.mkdir()
    cache.chmod(0o555)
    result = hubvendor("resolve", tfhub(SMALL), env=environment(cache, rel_mirror), preexec_fn=_obey_permission_bits)
    _record(result, _cache_residue(cache))


def test_cache_directory_that_cannot_be_created(area: Path, rel_server, rel_mirror: Path):
    area.chmod(0o555)
    cache = area / "cache"
    result = hubvendor("resolve", tfhub(SMALL), env=environment(cache, rel_mirror), preexec_fn=_obey_permission_bits)
    _record(result, [str(cache)] if cache.exists() else [])


def test_read_only_cache_with_the_entry_still_resolves(area: Path, rel_server, rel_mirror: Path):
    cache = area / "cache"
    env = environment(cache, rel_mirror)
    first = hubvendor("resolve", tfhub(SMALL), env=env)
    assert first.returncode == 0, first.stderr
    for path in [cache, *cache.rglob("*")]:
        if path.is_dir():
            path.chmod(0o555)
    again = hubvendor("resolve", tfhub(SMALL), env={**env, "HUBVENDOR_OFFLINE": "1"}, preexec_fn=_obey_permission_bits)
    figures.add("resource exhaustion", cases=1)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == first.stdout.strip()
    assert leftovers(cache) == []


def test_unwritable_vendor_output(area: Path, rel_server, rel_mirror: Path):
    cache = area / "cache"
    outputs = area / "outputs"
    outputs.mkdir()
    outputs.chmod(0o555)
    result = hubvendor("vendor", "--output", str(outputs / "vendored"), tfhub(SMALL), env=environment(cache, rel_mirror),
                       preexec_fn=_obey_permission_bits)
    _record(result, sorted(os.listdir(outputs)))
    assert str(outputs) in result.error
    assert (cache / parse(tfhub(SMALL)).cache_name).is_dir(), "the download itself should have succeeded"
