"""kagglehub's cache as ``hubvendor cache list|verify|prune|rm --kagglehub`` operate it.

An entry is one version directory ``models/<owner>/<model>/<framework>/<variation>/<version>``:
``unverified`` when marked complete (``<version>.complete``) and no tree digest is known, ``complete`` when
one is (the lock's pin, else the digest hubvendor recorded when it copied the version into its own cache),
``partial`` when only single files were fetched (``model_download(h, path=...)``), ``incomplete`` without
markers. kagglehub records no use, so an entry's last use is when it was completed (the marker's mtime).

Removal deletes the whole-version marker first (kagglehub then fetches the version again instead of
trusting it), renames the directory aside, drops its per-file markers, then deletes the renamed tree. kagglehub
takes no locks: recency (``--keep-recent``) is the only guard for processes reading an entry. Prune first
sweeps the staging trees killed hubvendor runs left (``sweep``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Mapping

from .. import settings
from ..cacheops import Entry, EntryBusyError
from ..digest import tree_digest
from ..entry import irregular_files, tree_stats
from ..errors import CacheError, ConfigError, InvalidHandleError, NotFoundError
from . import kagglecache
from .ref import ModelRef

ORIGIN = "kagglehub"
_log = logging.getLogger("hubvendor")
Known = Mapping[str, "tuple[str, str]"]  # key -> (tree digest, where it was recorded)


def scan(known: Known, cache_root: str | None = None) -> list[Entry]:
    """Every version directory in kagglehub's cache, with the tree digests ``known`` for their keys.

    A directory whose names make no Kaggle handle (a space, a control character) is skipped with a warning.
    """
    models = os.path.join(_root(cache_root), "models")
    found = []
    for path, parts in _version_dirs(models):
        ref = ModelRef(*parts[:4], int(parts[4]))
        try:
            ref.key  # noqa: B018 (raises for names no handle can spell)
        except InvalidHandleError:
            _log.warning("hubvendor: kagglehub's cache: %r is not a Kaggle model version directory; skipped", path)
            continue
        found.append(_describe(path, ref, known))
    return sorted(found, key=lambda e: e.handle)


def select(handles: list[str], known: Known, cache_root: str | None = None) -> list[Entry]:
    """The entries of Kaggle handles; NotFoundError for a version kagglehub's cache does not hold."""
    where = _root(cache_root)
    chosen: dict[str, Entry] = {}
    for raw in handles:
        ref = ModelRef.from_key(raw).pinned()
        path = kagglecache.version_dir(ref.key, where)
        if path is None:
            raise NotFoundError(f"{raw}: not in kagglehub's cache {where}")
        chosen.setdefault(path, _describe(path, ref, known))  # two spellings of one version: one entry
    return list(chosen.values())


def verify(entry: Entry) -> Entry:
    """Re-hash a complete entry against its known tree digest: state becomes ok or corrupt."""
    irregular = irregular_files(entry.path)
    if irregular:
        entry.state = "corrupt"
        entry.detail = f"holds {', '.join(irregular[:3])}, not regular files; `hubvendor cache rm --kagglehub` it"
        return entry
    if entry.state != "complete":
        return entry
    actual = tree_digest(entry.path)
    if actual == entry.tree_digest:
        entry.state, entry.detail = "ok", ""
    else:
        entry.state = "corrupt"
        entry.detail = (f"tree digest {actual} differs from {entry.tree_digest} recorded in {entry.source}; "
                        "`hubvendor cache rm --kagglehub` it and download it again")
    return entry


def remove(entry: Entry, *, keep_recent: float = 0.0) -> None:
    """Remove one version (markers first, then the tree, renamed aside); EntryBusyError when recent."""
    now = time.time()
    if keep_recent and entry.last_used and now - entry.last_used < keep_recent:
        raise EntryBusyError(f"{entry.label}: completed {now - entry.last_used:.0f}s ago (kept for "
                             f"{keep_recent:.0f}s; --force overrides)")
    variation_dir, version = os.path.split(entry.path)
    aside = kagglecache.staging_path(entry.path)
    try:
        if os.path.lexists(entry.path + kagglecache.MARKERS):
            os.remove(entry.path + kagglecache.MARKERS)
        if os.path.isdir(entry.path):
            os.rename(entry.path, aside)
        shutil.rmtree(os.path.join(variation_dir, kagglecache.MARKERS, version), ignore_errors=True)
    except OSError as exc:
        raise CacheError(f"{entry.label}: cannot remove {entry.path} from kagglehub's cache: {exc}") from exc
    shutil.rmtree(aside, ignore_errors=True)


def sweep(cache_root: str | None = None, *, dry_run: bool = False) -> list[str]:
    """Delete what killed hubvendor runs left (``kagglecache.staging_path``): trees with no change for
    ``HUBVENDOR_LOCK_TIMEOUT`` seconds, the rule that breaks a silent download lock."""
    swept = []
    for variation_dir in _variation_dirs(os.path.join(_root(cache_root), "models")):
        for name in sorted(os.listdir(variation_dir)):
            path = os.path.join(variation_dir, name)
            if kagglecache.STAGING_NAME.match(name) and time.time() - _newest_change(path) > settings.lock_timeout():
                swept.append(path)
                if not dry_run:
                    shutil.rmtree(path, ignore_errors=True)
    return swept


def _root(cache_root: str | None) -> str:
    """``cache_root`` or kagglehub's; ConfigError when it exists and is not a directory."""
    where = kagglecache.root() if cache_root is None else cache_root
    if os.path.exists(where) and not os.path.isdir(where):
        raise ConfigError(f"kagglehub's cache {where} ({kagglecache.CACHE_VAR}) is not a directory")
    return where


def _describe(path: str, ref: ModelRef, known: Known) -> Entry:
    variation_dir, version = os.path.split(path)
    marker = path + kagglecache.MARKERS
    files, size = tree_stats(path)
    digest, recorded_in = known.get(ref.key, ("", ""))
    if os.path.isfile(marker):
        state = "complete" if digest else "unverified"
        detail = "" if digest else "no tree digest known: pin it in hubvendor.lock (`--lock FILE`)"
        last_used = os.path.getmtime(marker)
    elif os.path.isdir(os.path.join(variation_dir, kagglecache.MARKERS, version)):
        state, detail = "partial", "single files fetched with model_download(path=...); hubvendor uses whole versions"
        last_used = _newest_change(os.path.join(variation_dir, kagglecache.MARKERS, version))
    else:
        state, detail = "incomplete", "no .complete marker: kagglehub downloads it again"
        last_used = _newest_change(path)  # kagglehub may still be writing it: its files say so, not the directory
    return Entry(
        name="", path=path, handle=f"kaggle://{ref.slug}", origin=ORIGIN, state=state, files=files, bytes=size,
        last_used=last_used, tree_digest=digest if state == "complete" else "",
        source=recorded_in if state == "complete" else "", detail=detail,
    )


def _version_dirs(models: str) -> list[tuple[str, list[str]]]:
    """(path, [owner, model, framework, variation, version]) of each version directory under ``models``."""
    found: list[tuple[str, list[str]]] = []
    for base in _variation_dirs(models):
        for version in _dirs(base):
            if version.isascii() and version.isdigit() and not version.startswith("0"):  # kagglehub's str(n)
                found.append((os.path.join(base, version), [*os.path.relpath(base, models).split(os.sep), version]))
    return found


def _variation_dirs(models: str) -> list[str]:
    """``models/<owner>/<model>/<framework>/<variation>`` directories (real ones, never links)."""
    found = [models] if os.path.isdir(models) else []
    for _ in range(4):
        found = [os.path.join(parent, name) for parent in found for name in _dirs(parent)]
    return found


def _dirs(path: str) -> list[str]:
    """Real subdirectories (never links), without kagglehub's marker tree and hubvendor's staging."""
    try:
        with os.scandir(path) as entries:
            return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False)
                          and e.name != kagglecache.MARKERS and not e.name.endswith(".tmp"))
    except OSError:
        return []


def _newest_change(path: str) -> float:
    """Newest mtime of ``path`` and everything below it (a tree being copied counts as changing)."""
    stamps = [os.lstat(path).st_mtime]
    for directory, subdirs, names in os.walk(path):
        for name in subdirs + names:
            with contextlib.suppress(OSError):
                stamps.append(os.lstat(os.path.join(directory, name)).st_mtime)
    return max(stamps)
