"""The one rule for outputs hubvendor replaces: only what is absent, empty, or hubvendor's own.

``hubvendor vendor -o DIR`` swaps a new tree in place of ``DIR``; ``hubvendor bazel -o FILE``
overwrites ``FILE``. Before either, the target must be nothing, an empty directory (or file), or a
previous hubvendor output, a file starting with hubvendor's header. Anything else (a project, a
user's file) is refused and left untouched, and so is a directory holding the current directory
(``-o .``): replacing it would leave the caller in a deleted directory.

A directory is a previous output only when it holds exactly what ``vendor`` writes: a manifest that
parses, whose every model has a tree digest and a path ``models/<name>``, and beside it nothing but
``models/`` holding only those ``<name>`` directories. A file merely named like the manifest (empty,
not JSON, hand-written for a user's own models) next to a user's files is not one.
"""

from __future__ import annotations

import os

from . import manifest
from .errors import ConfigError
from .manifest import FILENAME as MANIFEST
from .manifest import MODELS_DIR


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
    why = _not_an_output(path, names, marker) if names else ""
    if why:
        raise ConfigError(f"{where}: not empty and not a previous hubvendor output ({why}); refusing to "
                          "replace it: choose a new or empty directory")
    if holds(os.path.realpath(absolute), os.path.realpath(os.getcwd())):
        raise ConfigError(f"{where}: is or holds the current directory, which replacing it would delete "
                          "under you; run from outside it or choose another directory")


def holds(directory: str, path: str) -> bool:
    """Whether real path ``path`` is ``directory`` or below it."""
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _not_an_output(path: str, names: list[str], marker: str) -> str:
    """Why directory ``path`` (listing ``names``) is not what ``vendor`` wrote; "" when it is."""
    marker_path = os.path.join(path, marker)
    if marker not in names:
        return f"no {marker}"
    if os.path.islink(marker_path) or not os.path.isfile(marker_path):
        return f"{marker} is not a regular file"
    try:
        written = manifest.read(marker_path)
    except ConfigError as exc:
        return f"{marker} is not a hubvendor manifest: {str(exc).removeprefix(marker_path + ': ')}"
    model_dirs = set()
    for entry in written.models.values():
        top, _, name = entry.path.partition("/")
        if top != MODELS_DIR or not name or "/" in name or not entry.tree_digest:
            return f"{marker} lists {entry.path!r}, which `hubvendor vendor` does not write"
        model_dirs.add(name)
    others = sorted(set(names) - {marker, MODELS_DIR})
    if others:
        return f"it also holds {others[0]!r}"
    if MODELS_DIR in names:
        models = os.path.join(path, MODELS_DIR)
        if os.path.islink(models) or not os.path.isdir(models):
            return f"{MODELS_DIR} is not a directory"
        try:
            unlisted = sorted(set(os.listdir(models)) - model_dirs)
        except OSError as exc:
            return f"cannot list {MODELS_DIR}/ ({exc.strerror or exc})"
        if unlisted:
            return f"{MODELS_DIR}/{unlisted[0]} is not in its {marker}"
    return ""


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
