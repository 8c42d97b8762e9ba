"""tensorflow_hub-compatible model cache with crash-proof locking.

Layout (shared with tensorflow_hub 0.16, so either library reads the other's cache)::

    <root>/<sha1(handle)>/                  the extracted model
    <root>/<sha1(handle)>.descriptor.txt    who/when/what (hubvendor adds digests)
    <root>/<sha1(handle)>.lock              "host.pid.uuid" while downloading
    <root>/<sha1(handle)>.<uuid>.tmp/       staging, renamed into place when complete

Unlike tensorflow_hub, a lock whose holder died on this host is broken at once, a
lock that shows no progress for ``HUBVENDOR_LOCK_TIMEOUT`` seconds (default 60) is
broken elsewhere, and entries missing files are fetched again.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import entry as entry_files
from . import settings
from .errors import CacheError, HubVendorError, IntegrityError, OfflineError, storage_advice
from .filesystems import FileSystem, filesystem_for
from .handle import Handle, parse

POLL_SECONDS = 0.2
REMOTE_POLL_SECONDS = 1.0  # object stores: each poll costs requests
HEARTBEAT_SECONDS = 2.0
_log = logging.getLogger("hubvendor")
# Entry directories this process reads: path -> fd holding a shared flock until the process exits.


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
            pid=int(pid.rstrip(")")) if pid.rstrip(")").isdigit() else 0,
        )
        for label, attribute in cls._EXTRA.items():
            raw = values.get(label)
            if raw is None:
                continue
            if attribute in cls._NUMBERS:
                setattr(descriptor, attribute, int(raw) if raw.isdigit() else None)
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


def fetch_archive(
    handle: Handle, dest: str, *, expected_sha256: str | None = None, expected_size: int | None = None
) -> FillResult:
    """Download ``handle``'s archive and extract it into the local directory ``dest``."""
    from . import archive

    if handle.kind in ("http", "kaggle"):
        from . import fetch

        download = fetch.open_download(handle.compressed_url(), name=handle.raw)
    else:
        from . import objectstore

        download = objectstore.open_download(handle.raw, name=handle.raw)
    with download:
        size: int | None = getattr(download, "size", None)
        limits = archive.Limits.from_settings()
        if size is not None and archive.parallel_inflate(size):
            extracted = archive.extract_spooled(download, size, dest, name=handle.raw, expected_sha256=expected_sha256,
                                                expected_size=expected_size, limits=limits)
        else:
            extracted = archive.extract(download, dest, name=handle.raw, expected_sha256=expected_sha256,
                                        expected_size=expected_size, limits=limits)
    return FillResult(
        url=download.url,
        sha256=extracted.sha256,
        size=extracted.size,
        tree_digest=extracted.tree_digest,
        files=extracted.files,
        unpacked_bytes=extracted.unpacked_bytes,
    )


def lock_contents(task_uid: str) -> str:
    """tensorflow_hub's lock file contents: ``hostname.pid.uuid``."""
    return f"{socket.gethostname()}.{os.getpid()}.{task_uid}"


def parse_lock_contents(text: str) -> tuple[str, int, str]:
    """``(hostname, pid, uuid)`` from lock contents (hostnames may contain dots)."""
    host, pid, task_uid = (text.strip().rsplit(".", 2) + ["", "", ""])[:3]
    return host, int(pid) if pid.isdigit() else 0, task_uid


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Cache:
    """A tensorflow_hub-compatible cache rooted at ``root`` (default: tensorflow_hub's rules)."""

    def __init__(self, root: str | None = None, fs: FileSystem | None = None) -> None:
        self.root = root or settings.cache_dir()
        self.fs = fs or filesystem_for(self.root)

    # -- paths ---------------------------------------------------------------------------
    def entry_path(self, handle: object) -> str:
        return self.fs.join(self.root, parse(handle).cache_name)

    def descriptor_path(self, handle: object) -> str:
        return self.entry_path(handle) + ".descriptor.txt"

    def lock_path(self, handle: object) -> str:
        return self.entry_path(handle) + ".lock"

    @staticmethod
    def staging_path(entry: str, task_uid: str) -> str:
        """Where the download holding the lock with ``task_uid`` builds ``entry`` (tensorflow_hub's name)."""
        return f"{entry}.{task_uid}.tmp"

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
        """Non-empty, holds a SavedModel, and matches the recorded file count and bytes."""
        names = self.fs.listdir(entry)
        if not names or not entry_files.has_saved_model(names):
            return False
        if descriptor is None or descriptor.tree_files is None:
            return True
        return self.fs.tree_stats(entry) == (descriptor.tree_files, descriptor.tree_bytes)

    # -- filling -------------------------------------------------------------------------
    def ensure(
        self,
        handle: object,
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
        expected_tree_digest: str | None = None,
        fill: Filler | None = None,
    ) -> str:
        """The entry's path, downloading it under the cache lock when missing or incomplete.

        Concurrent callers for one handle cause one download. With ``expected_sha256`` or
        ``expected_tree_digest``, a present entry must match (see :meth:`_verified`): a mismatch raises
        IntegrityError, and an entry that records no archive sha256 when only that is expected is
        downloaded again and replaced.
        """
        handle = parse(handle)
        entry = self.entry_path(handle)
        present = self.lookup(handle)
        if present and self._verified(handle, expected_sha256, expected_tree_digest):
            return present
        if present and settings.offline():
            raise IntegrityError(
                f"{handle.raw}: cache entry {entry} records no archive sha256 (tensorflow_hub wrote it), so it cannot "
                f"be verified offline against sha256 {expected_sha256}; run once without HUBVENDOR_OFFLINE to replace "
                "it with a verified download, or pin its tree_digest with `hubvendor lock`"
            )
        if settings.offline():
            raise OfflineError(
                f"{handle.raw}: not in the cache ({entry}) and HUBVENDOR_OFFLINE is set, so nothing is downloaded"
            )
        fill = fill or (
            lambda h, dest: fetch_archive(h, dest, expected_sha256=expected_sha256, expected_size=expected_size)
        )
        try:
            self.fs.makedirs(self.root)
        except OSError as exc:
            raise self._write_error(handle, f"cannot create cache directory {self.root}", exc) from exc
        task_uid = uuid.uuid4().hex
        while True:  # until this call fills the entry or finds it complete (and verified)
            with self._locked(handle, task_uid) as got_lock:
                if self.lookup(handle) and self._verified(handle, expected_sha256, expected_tree_digest):
                    return entry
                if got_lock:
                    self._fill(handle, entry, task_uid, fill)
                    break
        self._verified(handle, expected_sha256, expected_tree_digest)
        self._after_fill(entry)
        return entry

    def use(self, handle: object) -> str:
        """``ensure`` for a reader: hold a shared lock on the entry for this process's lifetime.

        The first use in a process also marks the entry used (its directory's mtime), which
        ``hubvendor cache prune`` orders by; prune and rm skip entries a live process holds.
        """
        for _ in range(5):  # retried only when the entry was removed between ensure and the lock
            entry = self.ensure(handle)
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

    def _after_fill(self, entry: str) -> None:
        """Automatic LRU pruning to ``HUBVENDOR_CACHE_MAX_SIZE`` after a download; never fails the download."""
        limit = settings.cache_max_size()
        if limit is None:
            return
        from . import cacheops

        try:
            cacheops.prune(self, max_size=limit, protect=(entry,))
        except (HubVendorError, OSError) as exc:
            _log.warning("hubvendor: automatic pruning of %s to HUBVENDOR_CACHE_MAX_SIZE failed: %s", self.root, exc)

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
        # Decided now, under the lock: what is there is incomplete or unverifiable. An entry that appears
        # while we download was written by someone else (possible on object stores) and is kept.
        replace = self.fs.exists(entry)
        try:
            with self.fs.local_dir(staging) as local:
                result = fill(handle, local)
            if replace:
                self.fs.rmtree(entry)
                self.fs.remove(entry + ".descriptor.txt")  # it describes the tree just removed
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

    @contextlib.contextmanager
    def _locked(self, handle: Handle, task_uid: str) -> Iterator[bool]:
        """Hold ``<sha1>.lock``; yields False when the entry was completed by someone else meanwhile."""
        lock = self.lock_path(handle)
        contents = lock_contents(task_uid)
        while True:
            try:
                acquired = self.fs.create_exclusive(lock, contents)
            except OSError as exc:
                raise self._write_error(handle, f"cannot create lock file {lock}", exc) from exc
            if acquired:
                break
            self._wait_for_lock(handle, lock)
            if self.lookup(handle):
                yield False
                return
        stop = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(lock, stop), daemon=True)
        heartbeat.start()
        try:
            yield True
        finally:
            stop.set()
            heartbeat.join()
            with contextlib.suppress(OSError):
                if self.fs.read_text(lock) == contents:
                    self.fs.remove(lock)

    def _heartbeat(self, lock: str, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(OSError):
                self.fs.touch(lock)

    def _wait_for_lock(self, handle: Handle, lock: str) -> None:
        """Wait until ``lock`` is gone or the entry is complete, breaking it once stale."""
        poll = POLL_SECONDS if self.fs.local else REMOTE_POLL_SECONDS
        last_change, last_state = time.time(), None
        while True:
            try:
                contents = self.fs.read_text(lock)
            except FileNotFoundError:
                return
            if self.lookup(handle):
                return
            staging = self.staging_path(self.entry_path(handle), parse_lock_contents(contents)[2])
            state = (contents, self.fs.mtime(lock), self.fs.tree_stats(staging))
            if state != last_state:
                last_change, last_state = time.time(), state
            if self.lock_is_stale(lock, contents, seen_change=last_change):
                self._break_lock(lock, contents, staging)
                return
            time.sleep(poll)

    def lock_is_stale(self, lock: str, contents: str, *, seen_change: float | None = None) -> bool:
        """The stale-lock rule, for downloads waiting on ``lock`` and for cache operations.

        Stale at once when the holder died on this host (local caches: PIDs elsewhere cannot be
        checked); otherwise when nothing shows progress for ``settings.lock_timeout()`` seconds. Progress
        is the modification time of the lock (the holder's heartbeat) or of its staging files, or
        ``seen_change``: the ``time.time()`` a caller polling the lock last saw it or its staging change.
        """
        host, pid, task_uid = parse_lock_contents(contents)
        if self.fs.local and host == socket.gethostname() and pid and not pid_alive(pid):
            return True
        staging = self.staging_path(lock[: -len(".lock")], task_uid)
        stamps = [self.fs.mtime(lock), self._newest_mtime(staging), seen_change]
        newest = max((s for s in stamps if s is not None), default=None)
        return newest is None or time.time() - newest > settings.lock_timeout()

    def _newest_mtime(self, path: str) -> float | None:
        """Newest mtime of ``path`` and, on local caches, the files below it (a file being written counts)."""
        newest = self.fs.mtime(path)
        if self.fs.local:
            for dirpath, _, filenames in os.walk(path):
                for name in filenames:
                    with contextlib.suppress(OSError):
                        newest = max(newest or 0.0, os.lstat(os.path.join(dirpath, name)).st_mtime)
        return newest

    def _break_lock(self, lock: str, contents: str, staging: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self.fs.read_text(lock) == contents:
                self.fs.remove(lock)
                self.fs.rmtree(staging)

