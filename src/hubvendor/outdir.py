"""The one rule for outputs hubvendor replaces: only what is absent, empty, or hubvendor's own.

``hubvendor vendor -o DIR`` swaps a new tree in place of ``DIR``; ``hubvendor bazel -o FILE``
overwrites ``FILE``. Before either, the target must be nothing, an empty directory (or file), or a
previous hubvendor output: a directory holding hubvendor's manifest, a file starting with
hubvendor's header. Anything else (``.``, a project, a user's file) is refused and left untouched.
"""

from __future__ import annotations

import os

from .errors import ConfigError
from .manifest import FILENAME as MANIFEST


def ensure_replaceable(path: str | os.PathLike, *, marker: str = MANIFEST) -> None:
    """Raise :class:`ConfigError` unless directory ``path`` may be replaced as a whole."""
    path = os.fspath(path)
    where = f"output directory {path}"
    if not os.path.lexists(path):
        return
    absolute = os.path.abspath(path)
    if os.path.islink(path):
        raise ConfigError(f"{where}: is a symbolic link; hubvendor replaces only directories it wrote, "
                          "so name the real directory or a new one")
    if not os.path.isdir(path):
        raise ConfigError(f"{where}: exists and is not a directory; refusing to replace it "
                          "(remove it or choose another output directory)")
    if os.path.dirname(absolute) == absolute or os.path.ismount(absolute):
        raise ConfigError(f"{where}: is a filesystem root or mount point; choose a directory below it")
    try:
        names = os.listdir(path)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot list it ({exc.strerror or exc})") from None
    if not names:
        return
    if marker in names and os.path.isfile(os.path.join(path, marker)) \
            and not os.path.islink(os.path.join(path, marker)):
        return
    raise ConfigError(f"{where}: not empty and not a previous hubvendor output (no {marker}); refusing to "
                      "replace it: choose a new or empty directory")


def ensure_overwritable(path: str | os.PathLike, *, header: str) -> None:
    """Raise :class:`ConfigError` unless file ``path`` is absent, empty, or starts with ``header``."""
    path = os.fspath(path)
    where = f"output file {path}"
    if not os.path.lexists(path):
        return
    if os.path.islink(path) or not os.path.isfile(path):
        raise ConfigError(f"{where}: exists and is not a regular file; refusing to replace it")
    try:
        with open(path, "rb") as f:
            start = f.read(len(header.encode("utf-8")))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    if start and start != header.encode("utf-8"):
        raise ConfigError(f"{where}: exists and was not written by hubvendor (it does not start with "
                          f"{header!r}); refusing to overwrite it: remove it or choose another file")
