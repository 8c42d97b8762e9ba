"""tensorflow_hub-compatible model cache with crash-proof locking.

Layout (shared with tensorflow_hub 0.16, so either library reads the other's cache)::

    <root>/<sha1(handle)>/                  the extracted model
    <root>/<sha1(handle)>.descriptor.txt    who/when/what (hubvendor adds digests)
    <root>/<sha1(handle)>.lock              "host.pid.uuid" while downloading
    <root>/<sha1(handle)>.<uuid>.tmp/       staging, renamed into place when complete

Unlike tensorflow_hub, a lock whose holder died on this host is broken at once, a
lock that shows no progress for ``HUBVENDOR_LOCK_TIMEOUT`` seconds (default 60) is
broken elsewhere (the lock protocol is ``locking.py``), and entries missing files are filled again.
An entry being replaced (incomplete, or written by tensorflow_hub and pinned by sha256) is renamed
aside to a ``<sha1>.<uuid>.tmp`` name before the new tree is renamed into place, so readers see the
old tree or the new one, never a part; the old tree is deleted once no reader holds it (at once, or
by the next sweep). The cache fills entries through a ``Filler`` it is given (``download.py`` passes
"download and extract"); it imports neither fetch nor archive.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import entry as entry_files
from . import locking, settings
from .errors import CacheError, HubVendorError, IntegrityError, OfflineError, storage_advice
from .filesystems import FileSystem, local_path
from .handle import Handle, parse
from .objectstore import filesystem_for

@dataclass
class Descriptor:
    """The ``<sha1>.descriptor.txt`` file: tensorflow_hub's lines plus hubvendor's."""

    handle: str
    download_time: str = ""
    hostname: str = ""
    pid: int = 0
    source: str = ""
    archive_sha256: str = ""
    archive_size: int | None = None
    tree_digest: str = ""
    tree_files: int | None = None
    tree_bytes: int | None = None

    _EXTRA = {
        "Hubvendor-Source": "source",
        "Hubvendor-Archive-SHA256": "archive_sha256",
        "Hubvendor-Archive-Size": "archive_size",
        "Hubvendor-Tree-Digest": "tree_digest",
        "Hubvendor-Tree-Files": "tree_files",
        "Hubvendor-Tree-Bytes": "tree_bytes",
    }
    _NUMBERS = ("archive_size", "tree_files", "tree_bytes")

    def render(self) -> str:
        lines = [
            f"Module: {self.handle}",
            f"Download Time: {self.download_time}",
            f"Downloader Hostname: {self.hostname} (PID:{self.pid})",
        ]
        for label, attribute in self._EXTRA.items():
            value = getattr(self, attribute)
            if value not in ("", None):
                lines.append(f"{label}: {value}")
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Descriptor:
        values = entry_files.descriptor_fields(text)
        host, _, pid = values.get("Downloader Hostname", "").rpartition(" (PID:")
        descriptor = cls(
            handle=values.get("Module", ""),
            download_time=values.get("Download Time", ""),
            hostname=host,
            pid=entry_files.descriptor_number(pid.rstrip(")")) or 0,
        )
        for label, attribute in cls._EXTRA.items():
            raw = values.get(label)
            if raw is None:
                continue
            if attribute in cls._NUMBERS:
                setattr(descriptor, attribute, entry_files.descriptor_number(raw))
            else:
                setattr(descriptor, attribute, raw)
        return descriptor

    @property
    def written_by_hubvendor(self) -> bool:
        return bool(self.tree_digest)


@dataclass(frozen=True)
class FillResult:
    """What filling a staging directory produced (recorded in the descriptor)."""

    url: str
    sha256: str
    size: int
    tree_digest: str
    files: int
    unpacked_bytes: int


Filler = Callable[[Handle, str], FillResult]


class Cache:
    """A tensorflow_hub-compatible cache rooted at ``root`` (default: tensorflow_hub's rules)."""

    def __init__(self, root: str | None = None, fs: FileSystem | None = None) -> None:
        self.root = local_path(root or settings.cache_dir())  # file:///x is the local /x, as in TensorFlow
        self.fs = fs or filesystem_for(self.root, name=f"cache {self.root}" if root else f"TFHUB_CACHE_DIR={self.root}")

    # -- paths ---------------------------------------------------------------------------
    def entry_path(self, handle: object) -> str:
        return self.fs.join(self.root, parse(handle).cache_name)

    def descriptor_path(self, handle: object) -> str:
        return self.entry_path(handle) + ".descriptor.txt"

    def lock_path(self, handle: object) -> str:
        return self.entry_path(handle) + ".lock"

    staging_path = staticmethod(locking.staging_path)

    # -- reading -------------------------------------------------------------------------
    def read_descriptor(self, handle: object) -> Descriptor | None:
        try:
            return Descriptor.parse(self.fs.read_text(self.descriptor_path(handle)))
        except (FileNotFoundError, OSError):
            return None

    def lookup(self, handle: object) -> str | None:
        """The entry's path when it is present and complete, else None. No network, no lock."""
        entry = self.entry_path(handle)
        return entry if self.is_complete(entry, self.read_descriptor(handle)) else None

    def is_complete(self, entry: str, descriptor: Descriptor | None) -> bool:
        """Matches the file count and bytes the descriptor records; an entry recording none (tensorflow_hub
        wrote it) must be non-empty and hold a SavedModel graph."""
        names = self.fs.listdir(entry)
        recorded = descriptor is not None and descriptor.tree_files is not None and descriptor.tree_bytes is not None
        if not entry_files.looks_complete(names, tree_recorded=recorded):
            return False
        if not recorded:
            return True
        return self.fs.tree_stats(entry) == (descriptor.tree_files, descriptor.tree_bytes)

    # -- filling -------------------------------------------------------------------------
    def ensure(
        self,
        handle: object,
        *,
        fill: Filler,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
        expected_tree_digest: str | None = None,
        after_fill: Callable[[Cache, str], None] | None = None,
        fills_offline: bool = False,
    ) -> str:
        """The entry's path, filled by ``fill`` under the cache lock when missing, incomplete or unverifiable.

        Concurrent callers for one handle cause one fill. With ``expected_sha256`` or
        ``expected_tree_digest``, a present entry must match (see :meth:`_verified`): a mismatch raises
        IntegrityError, and an entry that records no archive sha256 when only that is expected is
        filled again and replaced (moved aside first: readers see the old tree or the new one).
        ``after_fill(cache, entry)`` runs after a fill (automatic pruning); ``expected_size`` is the
        filler's business and only named here for the contract's symmetry. With ``HUBVENDOR_OFFLINE`` a
        missing entry is an OfflineError unless ``fills_offline`` (the filler copies a local tree; any
        download it falls back to is refused by ``fetch`` itself).
        """
        del expected_size
        handle = parse(handle)
        entry = self.entry_path(handle)

        def acceptable() -> bool:
            return bool(self.lookup(handle)) and self._verified(handle, expected_sha256, expected_tree_digest)

        present = self.lookup(handle)
        if present and self._verified(handle, expected_sha256, expected_tree_digest):
            return present
        if present and settings.offline():
            raise IntegrityError(
                f"{handle.raw}: cache entry {entry} records no archive sha256 (tensorflow_hub wrote it), so it cannot "
                f"be verified offline against sha256 {expected_sha256}; run once without HUBVENDOR_OFFLINE to replace "
                "it with a verified download, or pin its tree_digest with `hubvendor lock`"
            )
        if settings.offline() and not fills_offline:
            raise OfflineError(
                f"{handle.raw}: not in the cache ({entry}) and HUBVENDOR_OFFLINE is set, so nothing is downloaded"
            )
        try:
            self.fs.makedirs(self.root)
        except OSError as exc:
            raise self._write_error(handle, f"cannot create cache directory {self.root}", exc) from exc
        task_uid = uuid.uuid4().hex
        while True:  # until this call fills the entry or finds it complete (and verified)
            with self._locked(handle, task_uid, acceptable) as got_lock:
                if acceptable():
                    return entry
                if got_lock:
                    self._fill(handle, entry, task_uid, fill)
                    break
        self._verified(handle, expected_sha256, expected_tree_digest)
        if after_fill is not None:
            after_fill(self, entry)
        return entry

    def use(self, handle: object, *, fill: Filler, after_fill: Callable[[Cache, str], None] | None = None,
            fills_offline: bool = False) -> str:
        """``ensure`` for a reader: hold a shared lock on the entry for this process's lifetime.

        The first use in a process also marks the entry used (its directory's mtime), which
        ``hubvendor cache prune`` orders by; prune and rm skip entries a live process holds.
        """
        for _ in range(5):  # retried only when the entry was removed between ensure and the lock
            entry = self.ensure(handle, fill=fill, after_fill=after_fill, fills_offline=fills_offline)
            if self._hold(entry):
                return entry
        return entry

    def _hold(self, entry: str) -> bool:
        """Hold a shared read lock on a local entry (``entry.hold``); remote entries are only marked used."""
        if self.fs.local:
            return entry_files.hold(entry)
        self.mark_used(entry)
        return True

    def mark_used(self, entry: str) -> None:
        """Record a use (the entry directory's mtime); silently skipped on read-only caches."""
        with contextlib.suppress(OSError):
            self.fs.touch(entry)

    def _write_error(self, handle: Handle, what: str, exc: OSError) -> CacheError:
        """A CacheError that says what to do when the cache is full or unwritable."""
        advice = storage_advice(exc, self.root)
        hint = f"; {advice}, or set TFHUB_CACHE_DIR to another directory" if advice else ""
        return CacheError(f"{handle.raw}: {what}: {exc}{hint}")

    def _verified(self, handle: Handle, expected_sha256: str | None, expected_tree_digest: str | None) -> bool:
        """Whether the present entry matches; False when only a download can tell (no recorded sha256).

        True at once when nothing is expected (the warm path reads no descriptor). A recorded archive
        sha256 (and tree digest) is compared; without one, the expected tree digest is compared with the
        entry's files, re-hashed (no network). A mismatch raises IntegrityError.
        """
        if not (expected_sha256 or expected_tree_digest):
            return True
        entry = self.entry_path(handle)
        descriptor = self.read_descriptor(handle) or Descriptor(handle.raw)
        recorded = descriptor.archive_sha256
        if expected_sha256 and recorded and recorded != expected_sha256:
            raise IntegrityError(
                f"{handle.raw}: cache entry {entry} holds archive sha256 {recorded}, expected {expected_sha256}; "
                f"remove it with `hubvendor cache rm {handle.raw}` or update the pin"
            )
        if expected_tree_digest:
            actual = descriptor.tree_digest if recorded and descriptor.tree_digest else self.fs.tree_digest(entry)
            if actual != expected_tree_digest:
                raise IntegrityError(
                    f"{handle.raw}: cache entry {entry} has tree digest {actual}, expected {expected_tree_digest}; "
                    f"remove it with `hubvendor cache rm {handle.raw}` so it is downloaded again, or update the pin"
                )
            return True
        return bool(recorded)

    def _fill(self, handle: Handle, entry: str, task_uid: str, fill: Filler) -> None:
        staging = self.staging_path(entry, task_uid)
        aside = None
        # Decided now, under the lock: what is there is incomplete or unverifiable, and is retired whole
        # once the new tree is ready. An entry that appears while we download was written by someone else
        # (possible on object stores) and is kept.
        replace = self.fs.exists(entry)
        try:
            with self.fs.local_dir(staging) as local:
                result = fill(handle, local)
            descriptor = Descriptor(
                handle=handle.raw,
                download_time=str(datetime.datetime.today()),
                hostname=socket.gethostname(),
                pid=os.getpid(),
                source=result.url,
                archive_sha256=result.sha256,
                archive_size=result.size,
                tree_digest=result.tree_digest,
                tree_files=result.files,
                tree_bytes=result.unpacked_bytes,
            )
            if replace:
                aside = self._retire(entry)
            # Descriptor after the rename, and only by the writer whose tree is in place: a writer that lost
            # the race (possible on object stores) must not describe the winner's files.
            if self.fs.rename_dir(staging, entry):
                self.fs.write_text(entry + ".descriptor.txt", descriptor.render())
        except HubVendorError:
            raise
        except OSError as exc:
            raise self._write_error(handle, f"cannot write cache entry {entry}", exc) from exc
        finally:
            self.fs.rmtree(staging)
        if aside is not None:
            with contextlib.suppress(OSError):
                locking.reclaim(self.fs, aside)  # held by a reader: left for a sweep (``cache prune``)

    def _retire(self, entry: str) -> str | None:
        """Take an entry out of readers' sight in one step; the tree moved aside, to reclaim, if any.

        Local caches rename it aside (a reader holding it keeps its files until it exits). Object stores
        cannot rename: the SavedModel graph goes first (the entry is then incomplete to every reader),
        then the rest.
        """
        descriptor = entry + ".descriptor.txt"
        if self.fs.local:
            aside = self.staging_path(entry, uuid.uuid4().hex)
            self.fs.rename_dir(entry, aside)
            self.fs.remove(descriptor)
            return aside
        for name in entry_files.SAVED_MODEL_FILES:
            self.fs.remove(self.fs.join(entry, name))
        self.fs.remove(descriptor)
        self.fs.rmtree(entry)
        return None

    @contextlib.contextmanager
    def _locked(self, handle: Handle, task_uid: str, done: Callable[[], bool]) -> Iterator[bool]:
        """Hold ``<sha1>.lock``; yields False when ``done()`` became true (someone else filled the entry)."""
        lock = self.lock_path(handle)
        contents = locking.lock_contents(task_uid)
        while True:
            try:
                acquired = self.fs.create_exclusive(lock, contents)
            except OSError as exc:
                raise self._write_error(handle, f"cannot create lock file {lock}", exc) from exc
            if acquired:
                break
            self._wait_for_lock(handle, lock, done)
            if done():
                yield False
                return
        try:
            with locking.heartbeat(self.fs, lock):
                yield True
        finally:
            locking.release(self.fs, lock, contents)

    def _wait_for_lock(self, handle: Handle, lock: str, done: Callable[[], bool]) -> None:
        """Wait, sleeping between looks, until ``lock`` is gone or ``done()``, breaking the lock once stale."""
        poll = locking.REMOTE_POLL_SECONDS if not self.fs.local else locking.POLL_SECONDS
        last_change, last_state = time.time(), None
        while True:
            contents = locking.read_lock(self.fs, lock)
            if contents is None or done():
                return
            staging = self.staging_path(self.entry_path(handle), locking.parse_lock_contents(contents)[2])
            state = (contents, self.fs.mtime(lock), self.fs.tree_stats(staging))
            if state != last_state:
                last_change, last_state = time.time(), state
            if locking.is_stale(self.fs, lock, contents, seen_change=last_change):
                locking.break_lock(self.fs, lock, contents)
                return
            time.sleep(poll)

    def lock_is_stale(self, lock: str, contents: str, *, seen_change: float | None = None) -> bool:
        """:func:`locking.is_stale` on this cache's store."""
        return locking.is_stale(self.fs, lock, contents, seen_change=seen_change)
