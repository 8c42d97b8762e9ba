"""Operating a cache: list, verify, adopt, prune and remove entries, sweep crash leftovers.

Removal protocol (``remove``, used by prune, rm and verify --repair), for one entry ``<sha1>``:

1. take the cache's own download lock ``<sha1>.lock`` (as a download would; a live holder means
   the entry is being (re)downloaded, so it is skipped; a dead one is broken: ``locking.py``);
2. on local caches, take ``flock(LOCK_EX | LOCK_NB)`` on the entry directory: every hubvendor
   process that resolved the entry holds ``LOCK_SH`` on it until it exits (``Cache.use``), so an
   entry in use is skipped, naming the holders' PIDs;
3. re-check the last use under the locks (``keep_recent``: processes that do not take the shared
   lock, such as tensorflow_hub without hubvendor, are protected by recency only);
4. rename the directory aside to ``<sha1>.<uuid>.tmp`` (readers see the whole entry or none),
   delete the descriptor, release the locks, then delete the renamed tree.

Object-store caches get steps 1, 3 and 4 (no flock exists there): recency is their only guard.
Sweeping and LRU pruning, built on ``remove``, are ``cacheprune``.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from . import locking
from .cache import Cache, Descriptor
from .entry import SAVED_MODEL_FILES, DamagedFileError, irregular_files
from .errors import CacheError, NotFoundError
from .handle import parse

ENTRY_NAME = re.compile(r"^[0-9a-f]{40}$")
STAGING_NAME = re.compile(r"^([0-9a-f]{40})\.([0-9a-f]+)\.tmp$")
SMALL_TMP = re.compile(r"\.tmp[0-9a-f]{32}$")  # leftovers of write-then-rename of small files


class EntryBusyError(CacheError):
    """An entry cannot be removed now: being downloaded, read by a live process, or used recently."""


@dataclass
class Entry:
    """One cache entry as ``hubvendor cache list`` shows it."""

    name: str  # sha1 of the handle as written
    path: str
    handle: str  # "" when no descriptor names it
    origin: str  # "hubvendor", "tensorflow_hub", "tensorflow_hub (adopted)", "unknown" or "vendored (<source>)"
    state: str  # complete, incomplete, corrupt, unverified, downloading, abandoned; after verify: ok, corrupt
    files: int
    bytes: int
    last_used: float | None
    tree_digest: str = ""
    source: str = ""
    detail: str = ""
    archive_sha256: str = field(default="", repr=False)

    @property
    def label(self) -> str:
        return self.handle or self.path

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["last_used"] = iso_time(self.last_used)
        return data


# -- small parsers and formatters -------------------------------------------------------------
def human_size(size: int) -> str:
    """``512 B``, ``1.00 KiB``, ``3.21 GiB``: tqdm's ``format_sizeof`` in binary units."""
    if size < 1024:
        return f"{size} B"
    from tqdm import tqdm

    text = tqdm.format_sizeof(size, divisor=1024)  # "1.50k", "10.0M"
    return f"{text[:-1]} {text[-1].upper()}iB"


def iso_time(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.datetime.fromtimestamp(stamp).astimezone().isoformat(timespec="seconds")


# -- listing ----------------------------------------------------------------------------------
def origin_of(descriptor: Descriptor | None) -> str:
    """Who wrote an entry, from its descriptor (tensorflow_hub writes no ``Hubvendor-`` lines)."""
    if descriptor is None:
        return "unknown"
    if descriptor.archive_sha256 or descriptor.source:
        return "hubvendor"
    return "tensorflow_hub (adopted)" if descriptor.tree_digest else "tensorflow_hub"


def scan(cache: Cache) -> list[Entry]:
    """Every entry of ``cache`` (directories, orphan descriptors, downloads in flight), by handle."""
    names = set(cache.fs.listdir(cache.root))
    shas = {n for n in names if ENTRY_NAME.match(n)}
    shas |= {n[: -len(".descriptor.txt")] for n in names if n.endswith(".descriptor.txt")}
    shas |= {n[: -len(".lock")] for n in names if n.endswith(".lock")}
    entries = [describe(cache, sha) for sha in shas if ENTRY_NAME.match(sha)]
    return sorted(entries, key=lambda e: (e.handle or "~", e.name))


def describe(cache: Cache, name: str) -> Entry:
    """The current state of the entry ``<root>/<name>`` (cheap: metadata only)."""
    fs = cache.fs
    path = fs.join(cache.root, name)
    descriptor, damage = _read_descriptor_or_damage(cache, name)
    files, size = fs.tree_stats(path)
    last_used = fs.mtime(path) or fs.mtime(path + ".descriptor.txt")
    if cache.is_complete(path, descriptor):
        state = "complete" if descriptor and descriptor.tree_digest else "unverified"
        detail = "" if state == "complete" else "no recorded tree digest: `hubvendor cache adopt` records one"
    elif fs.exists(path + ".lock"):
        state, detail, files, size = _in_flight(cache, name)
        last_used = last_used or fs.mtime(path + ".lock")
    else:
        state, detail = _what_differs(cache, path, descriptor, files, size)
    if damage:
        detail = f"{damage}; `hubvendor cache rm {name}` removes it" + (f" ({detail})" if detail else "")
    return Entry(
        name=name, path=path, handle=descriptor.handle if descriptor else "", origin=origin_of(descriptor),
        state=state, files=files, bytes=size, last_used=last_used,
        tree_digest=descriptor.tree_digest if descriptor else "", source=descriptor.source if descriptor else "",
        detail=detail, archive_sha256=descriptor.archive_sha256 if descriptor else "",
    )


def _in_flight(cache: Cache, name: str) -> tuple[str, str, int, int]:
    """State, detail, files and bytes of a download under ``<name>.lock`` (its staging tree's stats):
    ``downloading`` while the lock is live, ``abandoned`` when the lock protocol calls it stale."""
    fs = cache.fs
    path = fs.join(cache.root, name)
    lock = path + ".lock"
    removal = f"`hubvendor cache rm {name}` (or any `hubvendor cache prune`) removes it; fetching it again restarts it"
    try:
        contents = locking.read_lock(fs, lock)
    except CacheError as exc:
        return "abandoned", f"{exc}; {removal}", 0, 0
    if contents is None:  # released between the listing and now
        return "downloading", f"lock {lock} was just released", 0, 0
    host, pid, task_uid = locking.parse_lock_contents(contents)
    files, size = fs.tree_stats(cache.staging_path(path, task_uid))
    why = locking.stale_reason(fs, lock, contents)
    if why:
        return "abandoned", f"download abandoned: {why} (lock {lock}); {removal}", files, size
    return "downloading", f"being downloaded by PID {pid} on {host} (lock {lock})", files, size


def _what_differs(cache: Cache, path: str, descriptor: Descriptor | None, files: int, size: int) -> tuple[str, str]:
    """``incomplete`` (files missing) or ``corrupt`` (files changed or added), saying what the cheap check saw."""
    repair = "`hubvendor cache verify --repair` fetches it again"
    if not cache.fs.exists(path):
        return "incomplete", f"no entry directory, only its descriptor: {repair}"
    if descriptor is None or descriptor.tree_files is None or descriptor.tree_bytes is None:
        return "incomplete", f"holds no SavedModel graph ({' or '.join(SAVED_MODEL_FILES)}; {files} files): {repair}"
    recorded = f"its descriptor records {descriptor.tree_files} files of {descriptor.tree_bytes} bytes"
    if files < descriptor.tree_files:
        return "incomplete", f"holds {files} files of {size} bytes, {recorded}: {repair}"
    changed = ("a file changed size" if files == descriptor.tree_files
               else f"{files - descriptor.tree_files} files added")
    return "corrupt", (f"holds {files} files of {size} bytes, {recorded} ({changed}; editing a hard-linked vendored "
                       f"copy changes its cache entry too): {repair}")


def select(cache: Cache, handles: Iterable[str]) -> list[Entry]:
    """Entries for handles (as written) or 40-hex entry names; unknown ones raise NotFoundError."""
    chosen = []
    for raw in handles:
        name = raw if ENTRY_NAME.match(raw) else parse(raw).cache_name
        path = cache.fs.join(cache.root, name)
        if not any(cache.fs.exists(path + suffix) for suffix in ("", ".descriptor.txt", ".lock")):
            raise NotFoundError(f"{raw}: not in the cache {cache.root} (no entry {name})")
        chosen.append(describe(cache, name))
    return chosen


def recorded_digests(cache: Cache) -> dict[str, str]:
    """Handle (as written) -> recorded tree digest, from the descriptors alone (no tree is walked)."""
    found = {}
    for name in cache.fs.listdir(cache.root):
        if name.endswith(".descriptor.txt") and ENTRY_NAME.match(name[: -len(".descriptor.txt")]):
            descriptor = _read_descriptor(cache, name[: -len(".descriptor.txt")])
            if descriptor and descriptor.tree_digest:
                found[descriptor.handle] = descriptor.tree_digest
    return found


def _read_descriptor(cache: Cache, name: str) -> Descriptor | None:
    return _read_descriptor_or_damage(cache, name)[0]


def _read_descriptor_or_damage(cache: Cache, name: str) -> tuple[Descriptor | None, str]:
    """The entry's descriptor (None when absent or unreadable) and, when it is damaged, what is wrong."""
    path = cache.fs.join(cache.root, name + ".descriptor.txt")
    try:
        return Descriptor.parse(cache.fs.read_text(path)), ""
    except DamagedFileError as exc:
        return None, f"descriptor damaged: {exc}"
    except OSError:
        return None, ""


def _planted(cache: Cache, entry: Entry) -> str:
    """Why a local entry holds what extraction never writes (symbolic links, FIFOs, devices), or ""."""
    if not cache.fs.local:
        return ""
    if os.path.islink(entry.path):
        return f"entry {entry.path} is a symbolic link"
    found = irregular_files(entry.path)
    if not found:
        return ""
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return f"holds {', '.join(found[:3])}{more}, not regular files (symbolic links or special files)"


# -- integrity ----------------------------------------------------------------------------------
def verify(cache: Cache, entry: Entry) -> Entry:
    """Re-hash ``entry`` against its recorded tree digest: state becomes ok or corrupt."""
    planted = _planted(cache, entry) if entry.state not in ("downloading", "abandoned") else ""
    if planted:
        entry.state, entry.detail = "corrupt", f"{planted}; `hubvendor cache verify --repair` fetches it again"
        return entry
    if entry.state in ("incomplete", "downloading", "abandoned", "unverified", "corrupt"):  # corrupt: the cheap check said why
        return entry
    actual = cache.fs.tree_digest(entry.path)
    if actual == entry.tree_digest:
        entry.state, entry.detail = "ok", ""
    else:
        entry.state = "corrupt"
        entry.detail = f"tree digest {actual} differs from the recorded {entry.tree_digest}"
    return entry


def repair(cache: Cache, entry: Entry, *, ensure: Callable[..., str]) -> Entry:
    """Remove a bad entry under the locks and fetch it again with ``ensure`` (``download.ensure``)."""
    remove(cache, entry, keep_recent=0)
    if not entry.handle:
        entry.state, entry.detail = "removed", "no descriptor names its handle, so it cannot be fetched again"
        return entry
    ensure(entry.handle, cache=cache, expected_sha256=entry.archive_sha256 or None)
    fresh = describe(cache, entry.name)
    fresh.detail = f"fetched again from {fresh.source}" if fresh.source else "fetched again"
    return verify(cache, fresh)


def adopt(cache: Cache, entry: Entry) -> Entry:
    """Record the tree digest and file stats of an entry tensorflow_hub wrote (trust on first use)."""
    if entry.state in ("incomplete", "corrupt"):
        raise CacheError(f"{entry.label}: entry {entry.path} is {entry.state}; `hubvendor cache verify --repair` fetches it again")
    if entry.state in ("downloading", "abandoned") or entry.tree_digest:
        return entry
    if not entry.handle:
        raise CacheError(f"{entry.path}: no descriptor names its handle, so it cannot be adopted; `hubvendor cache rm` it")
    planted = _planted(cache, entry)
    if planted:
        raise CacheError(f"{entry.label}: entry {entry.path} {planted}; not adopted: `hubvendor cache verify --repair` "
                         "fetches it again")
    stats = cache.fs.tree_stats(entry.path)
    digest = cache.fs.tree_digest(entry.path)  # hashed outside the lock: it may outlast HUBVENDOR_LOCK_TIMEOUT
    with _download_lock(cache, entry):
        if cache.fs.tree_stats(entry.path) != stats:
            raise CacheError(f"{entry.label}: entry {entry.path} changed while it was hashed; run adopt again")
        descriptor = _read_descriptor(cache, entry.name) or Descriptor(entry.handle)
        descriptor.tree_digest, (descriptor.tree_files, descriptor.tree_bytes) = digest, stats
        cache.fs.write_text(entry.path + ".descriptor.txt", descriptor.render())
    return describe(cache, entry.name)


# -- removal ----------------------------------------------------------------------------------
def remove(cache: Cache, entry: Entry, *, keep_recent: float = 0.0) -> None:
    """Remove ``entry`` atomically for readers; EntryBusyError when it is locked, held or recent."""
    with _download_lock(cache, entry) as task_uid, _no_readers(cache, entry):
        last_used = cache.fs.mtime(entry.path)
        if keep_recent and last_used and time.time() - last_used < keep_recent:
            raise EntryBusyError(
                f"{entry.label}: used {time.time() - last_used:.0f}s ago (kept for {keep_recent:.0f}s; "
                "--force overrides)"
            )
        aside = cache.staging_path(entry.path, task_uid)
        try:
            moved = cache.fs.exists(entry.path) and cache.fs.rename_dir(entry.path, aside)
            cache.fs.remove(entry.path + ".descriptor.txt")
        except OSError as exc:
            raise CacheError(f"{entry.label}: cannot remove cache entry {entry.path}: {exc}") from exc
    if moved:
        cache.fs.rmtree(aside)


@contextlib.contextmanager
def _download_lock(cache: Cache, entry: Entry):  # type: ignore[no-untyped-def]
    """Hold ``<sha1>.lock`` as a download would; yields the lock's uuid."""
    lock = entry.path + ".lock"
    task_uid = uuid.uuid4().hex
    contents = locking.lock_contents(task_uid)
    for _ in range(2):
        if cache.fs.create_exclusive(lock, contents):
            break
        held = locking.read_lock(cache.fs, lock)
        if held is None:
            continue
        host, pid, _ = locking.parse_lock_contents(held)
        if not locking.is_stale(cache.fs, lock, held):
            raise EntryBusyError(f"{entry.label}: being downloaded by PID {pid} on {host} (lock {lock})")
        locking.break_lock(cache.fs, lock, held)
    else:
        raise EntryBusyError(f"{entry.label}: lock {lock} keeps being taken by other processes")
    try:
        yield task_uid
    finally:
        locking.release(cache.fs, lock, contents)


@contextlib.contextmanager
def _no_readers(cache: Cache, entry: Entry):  # type: ignore[no-untyped-def]
    """Hold ``LOCK_EX`` on a local entry directory, or raise EntryBusyError naming its readers."""
    if not cache.fs.local:
        yield
        return
    with locking.exclusive(entry.path) as free:
        if not free:
            pids = ", ".join(map(str, locking.flock_holders(entry.path))) or "unknown"
            raise EntryBusyError(f"{entry.label}: in use by a running process (PID {pids}); retry when it exits")
        yield
