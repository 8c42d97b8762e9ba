"""The storage seam under the cache: a small protocol, the local implementation, and what stores share.

Object stores implement the same protocol: fsspec in ``objectstore``, which also holds the one factory
(``objectstore.filesystem_for``), and TensorFlow's gfile in ``gfilestore``; this module imports neither.
Both join paths with :func:`join_url`, digest trees with :func:`streamed_tree_digest` and wait
``LOCK_SETTLE_SECONDS`` before reading a lock file back.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from . import entry as entry_files

LOCK_SETTLE_SECONDS = 0.5  # an object store's lock file is read back this long after its creation
_DIGEST_CHUNK_BYTES = 1 << 20


class FileSystem(Protocol):
    """What the cache needs from a store. Paths are strings in the store's syntax."""

    local: bool  # True when paths are local and lock holders' PIDs can be checked

    def join(self, *parts: str) -> str: ...
    def exists(self, path: str) -> bool: ...
    def listdir(self, path: str) -> list[str]: ...
    def makedirs(self, path: str) -> None: ...
    def read_text(self, path: str) -> str:
        """Raise FileNotFoundError when absent."""
    def write_text(self, path: str, text: str) -> None:
        """Replace ``path`` atomically: readers see the old or the new text, never a part."""
    def create_exclusive(self, path: str, text: str) -> bool:
        """Create ``path`` holding ``text`` unless it exists; True if this call created it."""
    def remove(self, path: str) -> None:
        """Remove a file; a missing file is fine."""
    def rmtree(self, path: str) -> None:
        """Remove a directory tree; a missing tree is fine."""
    def rename_dir(self, src: str, dst: str) -> bool:
        """Move a directory into place; False (``src`` untouched) when ``dst`` is already non-empty."""
    def mtime(self, path: str) -> float | None:
        """Modification time, None when absent."""
    def touch(self, path: str) -> None: ...
    def tree_stats(self, path: str) -> tuple[int, int]:
        """``(file count, total bytes)`` of the files below ``path`` (``(0, 0)`` when absent)."""
    def local_dir(self, path: str) -> contextlib.AbstractContextManager[str]:
        """A local directory whose contents end up at ``path`` when the context exits cleanly."""
    def tree_digest(self, path: str) -> str:
        """``sha256:<hex>`` of the files below ``path`` as ``digest.tree_digest`` computes it (DESIGN.md)."""


class LocalFileSystem:
    """POSIX filesystem: atomic renames and ``link(2)`` for create-if-absent."""

    local = True

    def join(self, *parts: str) -> str:
        return os.path.join(*parts)

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def listdir(self, path: str) -> list[str]:
        try:
            return os.listdir(path)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def read_text(self, path: str) -> str:
        """Only for the cache's small files: a FIFO, device or huge file is ``entry.DamagedFileError``."""
        return entry_files.read_small_file(path)

    def write_text(self, path: str, text: str) -> None:
        tmp = f"{path}.tmp{uuid.uuid4().hex}"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def create_exclusive(self, path: str, text: str) -> bool:
        tmp = f"{path}.tmp{uuid.uuid4().hex}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def rmtree(self, path: str) -> None:
        """A symlink (a damaged entry) is removed itself, never its target."""
        if os.path.islink(path):
            self.remove(path)
            return
        shutil.rmtree(path, ignore_errors=True)

    def rename_dir(self, src: str, dst: str) -> bool:
        try:
            os.rename(src, dst)
            return True
        except OSError:
            if os.path.isdir(dst) and os.listdir(dst):
                return False
            raise

    def mtime(self, path: str) -> float | None:
        try:
            return os.stat(path).st_mtime
        except FileNotFoundError:
            return None

    def touch(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)

    def tree_stats(self, path: str) -> tuple[int, int]:
        return entry_files.tree_stats(path)

    @contextlib.contextmanager
    def local_dir(self, path: str) -> Iterator[str]:
        os.makedirs(path, exist_ok=True)
        yield path

    def tree_digest(self, path: str) -> str:
        from .digest import tree_digest

        return tree_digest(path)


def is_remote(path: str) -> bool:
    """True for URLs of object stores (``gs://``, ``s3://``, ...), False for local paths and ``file://``."""
    return "://" in path and not path.lower().startswith("file://")


def local_path(root: str) -> str:
    """``root`` with a ``file://`` URL (as TensorFlow's filesystems take it) turned into the local path."""
    if not root.lower().startswith("file://"):
        return root
    parts = urllib.parse.urlsplit(root)
    return urllib.parse.unquote(parts.path) or "/"


def join_url(*parts: str) -> str:
    """An object-store path: ``parts`` joined by single slashes."""
    return "/".join([parts[0].rstrip("/"), *(p.strip("/") for p in parts[1:] if p)])


def streamed_tree_digest(files: list[tuple[str, str]], open_read: Callable[[str], Any]) -> str:
    """``digest.tree_digest`` of ``(relative POSIX path, store path)`` pairs, each file streamed from ``open_read``."""
    from .digest import TreeDigest

    digest = TreeDigest()
    for rel, path in files:
        file_hash = hashlib.sha256()
        size = 0
        with open_read(path) as f:
            while chunk := f.read(_DIGEST_CHUNK_BYTES):
                file_hash.update(chunk)
                size += len(chunk)
        digest.add(rel.encode("utf-8", "surrogateescape"), size, file_hash.hexdigest())
    return digest.hexdigest()
