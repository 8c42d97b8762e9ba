"""A model directory on local disk: what makes it complete, its size, the reader lock.

Imports only ``os`` (``fcntl`` when locking) so the warm resolve path can use it at
start-up cost; ``cache``, ``archive``, the build hooks and runfiles share it.
"""

import os
from _thread import allocate_lock  # threading costs an import at start-up

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
_READERS: dict[str, int] = {}  # entry path -> fd holding LOCK_SH until the process exits
_READERS_LOCK = allocate_lock()


def has_saved_model(names: "list[str]") -> bool:
    """Whether a directory listing holds a SavedModel graph."""
    return any(name in names for name in SAVED_MODEL_FILES)


def looks_complete(names: "list[str]", *, tree_recorded: bool) -> bool:
    """The listing test of a complete entry: non-empty, and a SavedModel graph unless hubvendor recorded
    the tree's stats (they are then the rule: a Keras Hub preset is config.json + weights, no graph)."""
    return bool(names) and (tree_recorded or has_saved_model(names))


def tree_stats(path: str) -> "tuple[int, int]":
    """``(file count, total bytes)`` of the regular files below ``path`` (``(0, 0)`` when absent)."""
    files = total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                status = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            if status.st_mode & 0o170000 == 0o100000:  # regular files only, as extraction writes
                files += 1
                total += status.st_size
    return files, total


SMALL_FILE_LIMIT = 1 << 16  # descriptors and locks are a few hundred bytes


class DamagedFileError(OSError):
    """A cache's small file (descriptor, lock) that is not a regular file or is far too large."""


def read_small_file(path: str, limit: int = SMALL_FILE_LIMIT) -> str:
    """The text of a small regular file; DamagedFileError naming it when it is a FIFO, a device or
    larger than ``limit`` (opened non-blocking, so a FIFO never hangs; links to files are followed)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        status = os.fstat(fd)
        if status.st_mode & 0o170000 != 0o100000:
            raise DamagedFileError(f"{path} is not a regular file")
        if status.st_size > limit:
            raise DamagedFileError(f"{path} holds {status.st_size} bytes, over {limit}")
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    return data[:limit].decode("utf-8", errors="replace")


def irregular_files(path: str) -> "list[str]":
    """Relative paths below ``path`` that are neither directories nor regular files (symlinks, FIFOs,
    devices): what extraction never writes, so another writer planted them. Links are not followed."""
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            try:
                mode = os.lstat(full).st_mode & 0o170000
            except FileNotFoundError:
                continue
            if mode not in (0o040000, 0o100000):
                found.append(os.path.relpath(full, path))
    return sorted(found)


def descriptor_fields(text: str) -> "dict[str, str]":
    """``Label: value`` lines of a ``<sha1>.descriptor.txt`` file."""
    fields = {}
    for line in text.splitlines():
        label, _, value = line.partition(": ")
        fields[label.strip()] = value.strip()
    return fields


def descriptor_number(raw: str) -> "int | None":
    """A count from a descriptor line; None when it is not one (damage: no digits, or over 20 of them)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 20 else None


def hold(entry: str) -> bool:
    """Take (once per process) a shared flock on ``entry`` and mark it used (its mtime).

    ``hubvendor cache prune``/``rm`` skip entries a live process holds. False when the
    entry vanished before the lock was held; True, unprotected, where flock is unsupported.
    """
    import fcntl

    with _READERS_LOCK:
        held = _READERS.get(entry)
        if held is not None:
            try:
                if os.path.samestat(os.fstat(held), os.stat(entry)):
                    return True
            except FileNotFoundError:
                pass
            os.close(_READERS.pop(entry))
        try:
            fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        except OSError:
            return True  # unreadable as a directory: nothing to protect, the load will say why
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits out a prune holding LOCK_EX while moving it aside
            if not os.path.samestat(os.fstat(fd), os.stat(entry)):
                raise FileNotFoundError(entry)
        except FileNotFoundError:
            os.close(fd)
            return False
        except OSError:  # no flock support (some network filesystems): read unprotected
            os.close(fd)
            return True
        _READERS[entry] = fd
    try:
        os.utime(entry)
    except OSError:
        pass  # read-only cache: no use mark
    return True
