"""Pins for handles named on the command line (``hubvendor fetch`` and ``vendor``), from the project's lock.

A handle ``hubvendor.lock`` pins is fetched and verified against that pin (archive sha256 and size, tree
digest), as a wheel build would. A Kaggle handle without a version (``kaggle://o/m/f/v``) gets the version
the lock pinned or, when the lock has no entry for it, Kaggle's current version (one API call, which the
offline switch refuses), said on stderr. With ``HUBVENDOR_LOCKED=1`` a handle the lock does not pin is an
error, as in a wheel build.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import lockfile, settings
from .errors import ConfigError
from .handle import parse
from .vendor import ModelSpec


def specs_for(handles: list[str], lock: str | None) -> list[ModelSpec]:
    """One spec per handle; ``lock`` names the lock file (default ``./hubvendor.lock`` when present)."""
    path = Path(lock) if lock else Path(lockfile.FILENAME)
    pins = lockfile.load(path) if lock or path.exists() else lockfile.Lock()
    return [_spec(raw, pins, path) for raw in handles]


def _spec(raw: str, pins: lockfile.Lock, path: Path) -> ModelSpec:
    handle = parse(raw)
    entry = pins.entry_for(handle.key)
    if entry is not None:
        archive = (entry.sha256, entry.size) if entry.archive_pinned else (None, None)  # tree-only: the digest
        return ModelSpec(raw if entry.key == handle.key else entry.handle, *archive, entry.tree_digest,
                         pinned_in=str(path))
    if settings.locked():
        raise ConfigError(f"{raw}: not pinned in {path}, and HUBVENDOR_LOCKED is set (`hubvendor lock` pins it)")
    if handle.kind == "kaggle" and handle.version is None:
        from .kaggle import api

        pinned = api.pin(handle)
        print(f"hubvendor: {raw}: not pinned in {path}; using Kaggle's current version {pinned} "
              "(`hubvendor lock` pins it)", file=sys.stderr)
        return ModelSpec(pinned)
    return ModelSpec(raw)
