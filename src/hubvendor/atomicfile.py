"""The one atomic file writer: a reader sees the old file or the new one, never a part.

Used for lock files, manifests and the cache's small files (descriptors). The temporary file
sits beside the target (same filesystem, so the rename is atomic) and is removed on any failure.
"""

from __future__ import annotations

import os
import tempfile


def write(path: str | os.PathLike, data: str | bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` (text as UTF-8, ``\\n`` kept as is): temp file, fsync, rename."""
    path = os.fspath(path)
    directory, name = os.path.split(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
