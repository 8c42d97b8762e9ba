"""Reading the small files users hand hubvendor (pyproject.toml, hubvendor.lock, the downloader config,
manifests, WORKSPACE, Kaggle credentials): regular files only, at most :data:`MAX_BYTES`.

A FIFO, a device such as ``/dev/zero`` or a directory is refused before any read (opened with
``O_NONBLOCK``, so a FIFO without a writer cannot hang the open), and a file over the cap is refused
without reading it whole: one :class:`ConfigError` naming the file.
"""

from __future__ import annotations

import os
import stat

from .errors import ConfigError

MAX_BYTES = 16 << 20  # far above any real config, lock or manifest


def read_bytes(path: str | os.PathLike, *, what: str = "", limit: int = MAX_BYTES) -> bytes:
    """The contents of ``path`` (``what`` names it in errors: "cannot read manifest").

    FileNotFoundError passes through (callers differ on it); any other problem (not a regular file,
    over ``limit`` bytes, unreadable) is a ConfigError naming ``path``.
    """
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)
    cannot = f"cannot read {what}" if what else "cannot read"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, TypeError) as exc:  # ValueError: a NUL in the path
        raise ConfigError(f"{name!r}: {cannot} ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{name}: {cannot} (not a regular file)")
        if info.st_size > limit:
            raise ConfigError(f"{name}: {cannot} ({info.st_size} bytes; at most {limit} expected)")
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:  # the file grew while being read
            raise ConfigError(f"{name}: {cannot} (more than {limit} bytes)")
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigError(f"{name!r}: {cannot} ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike, *, what: str = "", limit: int = MAX_BYTES) -> str:
    """:func:`read_bytes` decoded as UTF-8; UnicodeDecodeError passes through (callers name the byte)."""
    return read_bytes(path, what=what, limit=limit).decode("utf-8")
