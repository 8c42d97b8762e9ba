"""A cache store on TensorFlow's filesystems (``tf.io.gfile``), as tensorflow_hub uses them.

``objectstore.filesystem_for`` picks it for a URL when fsspec has no implementation of the scheme and
TensorFlow is installed; TensorFlow is imported only when such a store is made. Locks are
tensorflow_hub's create-if-absent (a temp file renamed without overwrite), read back after
``filesystems.LOCK_SETTLE_SECONDS`` (the guarantee is in ``objectstore``'s docstring); ``tf.errors.OpError``
surfaces as the matching OSError subclass, so callers handle gfile stores as they handle the others.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator

from . import filesystems
from .filesystems import join_url, streamed_tree_digest


class GFileFileSystem:
    """A cache store on TensorFlow's filesystems (``tf.io.gfile``), as tensorflow_hub uses them.

    TensorFlow's ``OpError`` surfaces as the matching OSError subclass (not found, exists, permission,
    timeout; OSError otherwise), so callers handle gfile stores as they handle the others.
    """

    local = False

    def __init__(self) -> None:
        import tensorflow as tf

        self.gfile = tf.io.gfile
        self.errors = tf.errors
        self._os_types: tuple[tuple[type[Exception], type[OSError]], ...] = (
            (tf.errors.NotFoundError, FileNotFoundError),
            (tf.errors.AlreadyExistsError, FileExistsError),
            (tf.errors.PermissionDeniedError, PermissionError),
            (tf.errors.UnauthenticatedError, PermissionError),
            (tf.errors.DeadlineExceededError, TimeoutError),
        )

    @contextlib.contextmanager
    def os_errors(self, path: str) -> Iterator[None]:
        """Raise ``tf.errors.OpError`` from the block as the matching OSError subclass, naming ``path``."""
        try:
            yield
        except self.errors.OpError as exc:
            os_type = next((os_type for tf_type, os_type in self._os_types if isinstance(exc, tf_type)), OSError)
            raise os_type(f"{path}: {exc.message}") from exc

    def join(self, *parts: str) -> str:
        return join_url(*parts)

    def exists(self, path: str) -> bool:
        with self.os_errors(path):
            return self.gfile.exists(path)

    def listdir(self, path: str) -> list[str]:
        try:
            with self.os_errors(path):
                return sorted(name.rstrip("/") for name in self.gfile.listdir(path))
        except FileNotFoundError:
            return []

    def makedirs(self, path: str) -> None:
        with self.os_errors(path):
            self.gfile.makedirs(path)

    def read_text(self, path: str) -> str:
        with self.os_errors(path), self.gfile.GFile(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")

    def write_text(self, path: str, text: str) -> None:
        tmp = f"{path}.tmp{uuid.uuid4().hex}"
        with self.os_errors(path):
            with self.gfile.GFile(tmp, "wb") as f:
                f.write(text.encode("utf-8"))
            self.gfile.rename(tmp, path, overwrite=True)

    def create_exclusive(self, path: str, text: str) -> bool:
        """tensorflow_hub's create-if-absent (write a temp file, rename without overwrite), then read back."""
        tmp = f"{path}.tmp{uuid.uuid4().hex}"
        try:
            with self.os_errors(path):
                with self.gfile.GFile(tmp, "wb") as f:
                    f.write(text.encode("utf-8"))
                self.gfile.rename(tmp, path, overwrite=False)
        except FileExistsError:
            return False
        finally:
            self.remove(tmp)
        time.sleep(filesystems.LOCK_SETTLE_SECONDS)
        try:
            return self.read_text(path) == text
        except FileNotFoundError:
            return False

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError), self.os_errors(path):
            self.gfile.remove(path)

    def rmtree(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError), self.os_errors(path):
            self.gfile.rmtree(path)

    def rename_dir(self, src: str, dst: str) -> bool:
        if self.listdir(dst):
            return False
        with self.os_errors(src):
            self.gfile.rename(src, dst, overwrite=True)
        return True

    def mtime(self, path: str) -> float | None:
        try:
            with self.os_errors(path):
                return self.gfile.stat(path).mtime_nsec / 1e9
        except FileNotFoundError:
            return None

    def touch(self, path: str) -> None:
        """gfile cannot set times: rewrite the same contents (one request on object stores)."""
        with contextlib.suppress(FileNotFoundError):
            self.write_text(path, self.read_text(path))

    def tree_stats(self, path: str) -> tuple[int, int]:
        files = total = 0
        with self.os_errors(path):
            if not self.gfile.isdir(path):
                return 0, 0
            for dirpath, _, filenames in self.gfile.walk(path):
                for name in filenames:
                    with contextlib.suppress(self.errors.NotFoundError):
                        total += self.gfile.stat(join_url(dirpath, name)).length
                        files += 1
        return files, total

    def tree_digest(self, path: str) -> str:
        files = []
        with self.os_errors(path):
            for dirpath, _, filenames in self.gfile.walk(path):
                relative = dirpath[len(path.rstrip("/")):].strip("/")
                files.extend((f"{relative}/{name}" if relative else name, join_url(dirpath, name)) for name in filenames)
        return streamed_tree_digest(files, self.open_read)

    @contextlib.contextmanager
    def local_dir(self, path: str) -> Iterator[str]:
        with tempfile.TemporaryDirectory(prefix="hubvendor-staging-") as local:
            yield local
            with self.os_errors(path):
                for dirpath, _, filenames in os.walk(local):
                    relative = os.path.relpath(dirpath, local).replace(os.sep, "/")
                    target_dir = path if relative == "." else join_url(path, relative)
                    self.gfile.makedirs(target_dir)
                    for name in filenames:
                        self.gfile.copy(os.path.join(dirpath, name), join_url(target_dir, name), overwrite=True)

    def open_read(self, path: str) -> _GFileReader:
        return _GFileReader(self, path)

    def size(self, path: str) -> int | None:
        with self.os_errors(path):
            return self.gfile.stat(path).length


class _GFileReader:
    """A ``GFile`` opened for reading whose TensorFlow errors surface as OSError."""

    def __init__(self, fs: GFileFileSystem, path: str) -> None:
        self._fs = fs
        self._path = path
        self._file = fs.gfile.GFile(path, "rb")

    def read(self, size: int = -1) -> bytes:
        with self._fs.os_errors(self._path):
            return self._file.read(size)

    def close(self) -> None:
        with self._fs.os_errors(self._path):
            self._file.close()

    def __enter__(self) -> _GFileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
