"""The cache's lock protocol, shared by downloads (``cache``) and cache operations (``cacheops``, ``cacheprune``).

* Download lock ``<sha1>.lock``: tensorflow_hub's contents ``hostname.pid.uuidhex``; the holder builds
  ``<sha1>.<uuidhex>.tmp`` and refreshes the lock's mtime every ``HEARTBEAT_SECONDS``.
* Stale rule: stale at once when the holder died on this host (local caches only: PIDs elsewhere
  cannot be checked), otherwise when nothing shows progress for ``HUBVENDOR_LOCK_TIMEOUT`` seconds.
* Reader holds: every hubvendor process that resolved a local entry holds ``LOCK_SH`` on its directory
  (``entry.hold``). A tree is deleted only when ``LOCK_EX | LOCK_NB`` on it succeeds (:func:`unheld`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator

from . import settings
from .entry import DamagedFileError
from .errors import CacheError
from .filesystems import FileSystem

POLL_SECONDS = 0.2
REMOTE_POLL_SECONDS = 1.0  # object stores: each poll costs requests
HEARTBEAT_SECONDS = 2.0
_MAX_PID_DIGITS = 10  # a longer "PID" is damage, read as no PID


def lock_contents(task_uid: str) -> str:
    """tensorflow_hub's lock file contents: ``hostname.pid.uuid``."""
    return f"{socket.gethostname()}.{os.getpid()}.{task_uid}"


def parse_lock_contents(text: str) -> tuple[str, int, str]:
    """``(hostname, pid, uuid)`` from lock contents (hostnames may contain dots; damage reads as pid 0)."""
    host, pid, task_uid = (text.strip().rsplit(".", 2) + ["", "", ""])[:3]
    valid = pid.isascii() and pid.isdigit() and len(pid) <= _MAX_PID_DIGITS
    return host, int(pid) if valid else 0, task_uid


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def staging_path(entry: str, task_uid: str) -> str:
    """Where the download holding the lock with ``task_uid`` builds ``entry`` (tensorflow_hub's name);
    also where a replaced or removed entry is moved aside before it is deleted."""
    return f"{entry}.{task_uid}.tmp"


def read_lock(fs: FileSystem, lock: str) -> str | None:
    """The lock's contents, None when absent; a lock that is not a file is a CacheError naming it."""
    try:
        return fs.read_text(lock)
    except FileNotFoundError:
        return None
    except DamagedFileError as exc:
        raise CacheError(f"lock file {lock} is damaged ({exc}); remove it") from None
    except (IsADirectoryError, NotADirectoryError, UnicodeError) as exc:
        raise CacheError(f"lock file {lock} is damaged ({exc.__class__.__name__}); remove it") from None


def is_stale(fs: FileSystem, lock: str, contents: str, *, seen_change: float | None = None) -> bool:
    """The stale-lock rule (module docstring). Progress is the lock's mtime (the heartbeat), its staging
    files' mtimes, or ``seen_change``: the ``time.time()`` a poller last saw the lock or staging change."""
    return bool(stale_reason(fs, lock, contents, seen_change=seen_change))


def stale_reason(fs: FileSystem, lock: str, contents: str, *, seen_change: float | None = None) -> str:
    """Why the lock is stale under :func:`is_stale`'s rule (``"its holder PID 12 on host died"``), "" when live."""
    host, pid, task_uid = parse_lock_contents(contents)
    if fs.local and host == socket.gethostname() and pid and not pid_alive(pid):
        return f"its holder PID {pid} on {host} died"
    staging = staging_path(lock[: -len(".lock")], task_uid)
    stamps = [fs.mtime(lock), _newest_mtime(fs, staging), seen_change]
    newest = max((s for s in stamps if s is not None), default=None)
    timeout = settings.lock_timeout()
    if newest is None or time.time() - newest > timeout:
        return f"its holder (PID {pid or '?'} on {host or '?'}) made no progress for over {timeout:g}s"
    return ""


def _newest_mtime(fs: FileSystem, path: str) -> float | None:
    """Newest mtime of ``path`` and, on local caches, the files below it (a file being written counts)."""
    newest = fs.mtime(path)
    if fs.local:
        for dirpath, _, filenames in os.walk(path):
            for name in filenames:
                with contextlib.suppress(OSError):
                    newest = max(newest or 0.0, os.lstat(os.path.join(dirpath, name)).st_mtime)
    return newest


def break_lock(fs: FileSystem, lock: str, contents: str) -> None:
    """Remove a stale lock (if it still holds ``contents``) and its holder's staging directory."""
    if read_lock(fs, lock) == contents:
        fs.remove(lock)
        fs.rmtree(staging_path(lock[: -len(".lock")], parse_lock_contents(contents)[2]))


def release(fs: FileSystem, lock: str, contents: str) -> None:
    """Remove our lock, unless someone broke it and took it meanwhile."""
    with contextlib.suppress(OSError, CacheError):
        if read_lock(fs, lock) == contents:
            fs.remove(lock)


@contextlib.contextmanager
def heartbeat(fs: FileSystem, lock: str) -> Iterator[None]:
    """Refresh ``lock``'s mtime while the block runs, so waiters see a live holder."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(OSError):
                fs.touch(lock)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def exclusive(path: str) -> Iterator[bool]:
    """Hold ``LOCK_EX`` on a local directory for the block: yields False when a reader holds it
    (``entry.hold``), True when no one does or there is no directory to hold."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        except OSError:  # no flock support: nothing can be held
            pass
        yield True
    finally:
        os.close(fd)


def unheld(fs: FileSystem, path: str) -> bool:
    """Whether no reader holds the tree at ``path`` now (object stores have no holds)."""
    if not fs.local:
        return True
    with exclusive(path) as free:
        return free


def reclaim(fs: FileSystem, path: str) -> bool:
    """Delete a tree moved aside unless a reader still holds it (a later sweep reclaims it then)."""
    if not fs.local:
        fs.rmtree(path)
        return True
    with exclusive(path) as free:
        if free:
            fs.rmtree(path)
    return free


def flock_holders(path: str) -> list[int]:
    """PIDs holding flocks on ``path`` according to ``/proc/locks`` (Linux; [] elsewhere)."""
    try:
        st = os.stat(path)
        with open("/proc/locks", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = set()
    for line in lines:
        fields = line.split()
        if "FLOCK" in fields and device in fields:
            pid = fields[fields.index(device) - 1]
            if pid.isdigit():
                pids.add(int(pid))
    return sorted(pids)
