"""Sweeping crash leftovers and pruning a cache by size and age (least recently used first).

Sweeping deletes a ``<sha1>.<uuid>.tmp`` tree no live lock owns only once no reader holds it (a
replaced entry a process still reads is moved aside under that name and reclaimed here later).
Pruning removes entries through ``cacheops.remove`` (its lock and reader checks); the LRU rule,
``prune_entries``, also serves kagglehub's cache (``kaggle.cacheentries``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from . import locking, settings
from .cache import Cache
from .cacheops import ENTRY_NAME, SMALL_TMP, STAGING_NAME, Entry, remove, scan
from .errors import CacheError


@dataclass
class PruneResult:
    """What a prune removed (or would remove), skipped and swept."""

    removed: list[Entry] = field(default_factory=list)
    skipped: list[tuple[Entry, str]] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)
    bytes_before: int = 0
    bytes_after: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "removed": [e.to_json() for e in self.removed],
            "skipped": [{**e.to_json(), "reason": reason} for e, reason in self.skipped],
            "swept": self.swept,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
        }


def sweep(cache: Cache, *, dry_run: bool = False) -> list[str]:
    """Break dead locks and delete staging directories and temp files no live lock owns."""
    fs, swept = cache.fs, []
    for name in sorted(fs.listdir(cache.root)):
        if name.endswith(".lock") and ENTRY_NAME.match(name[: -len(".lock")]):
            lock = fs.join(cache.root, name)
            contents = locking.read_lock(fs, lock)
            if contents is not None and locking.is_stale(fs, lock, contents):
                staging = cache.staging_path(lock[: -len(".lock")], locking.parse_lock_contents(contents)[2])
                swept += [lock, staging] if fs.exists(staging) else [lock]
                if not dry_run:
                    locking.break_lock(fs, lock, contents)
    timeout = settings.lock_timeout()
    for name in sorted(fs.listdir(cache.root)):
        path = fs.join(cache.root, name)
        staging = STAGING_NAME.match(name)
        if staging:
            owner = locking.read_lock(fs, fs.join(cache.root, staging.group(1) + ".lock"))
            owned = owner is not None and locking.parse_lock_contents(owner)[2] == staging.group(2)
            if not owned and path not in swept and locking.unheld(fs, path):  # a reader may hold a replaced tree
                swept.append(path)
                if not dry_run:
                    locking.reclaim(fs, path)
        elif SMALL_TMP.search(name) and time.time() - (fs.mtime(path) or time.time()) > timeout:
            swept.append(path)
            if not dry_run:
                fs.remove(path)
    return swept


def prune(
    cache: Cache,
    *,
    max_size: int | None = None,
    older_than: float | None = None,
    keep_recent: float | None = None,
    dry_run: bool = False,
    protect: Iterable[str] = (),
    on_remove: Callable[[Entry], None] | None = None,
) -> PruneResult:
    """Sweep leftovers, then remove least recently used entries until under ``max_size`` bytes
    and every entry last used more than ``older_than`` seconds ago. Incomplete entries go first.
    """
    keep_recent = settings.cache_keep_recent() if keep_recent is None else keep_recent
    result = PruneResult(swept=sweep(cache, dry_run=dry_run))
    entries = [e for e in scan(cache) if e.state not in ("downloading", "abandoned")]  # swept, or in flight

    def remove_entry(entry: Entry) -> None:
        remove(cache, entry, keep_recent=keep_recent)
        if on_remove:
            on_remove(entry)

    return prune_entries(entries, result, remove=remove_entry, max_size=max_size, older_than=older_than,
                         keep_recent=keep_recent, dry_run=dry_run, protect=protect)


def prune_entries(
    entries: list[Entry],
    result: PruneResult,
    *,
    remove: Callable[[Entry], None],
    max_size: int | None,
    older_than: float | None,
    keep_recent: float,
    dry_run: bool,
    protect: Iterable[str] = (),
) -> PruneResult:
    """The LRU rule over any cache's ``entries``: ``remove`` each one to drop (a CacheError keeps it)."""
    protected = set(protect)
    total = result.bytes_before = sum(e.bytes for e in entries)
    now = time.time()
    for entry in sorted(entries, key=lambda e: (e.state != "incomplete", e.last_used or 0.0)):
        over = max_size is not None and total > max_size
        old = older_than is not None and (entry.last_used or 0.0) < now - older_than
        if not (over or old):
            continue
        if entry.path in protected:
            result.skipped.append((entry, "just downloaded"))
            continue
        if keep_recent and entry.last_used and now - entry.last_used < keep_recent:
            result.skipped.append((entry, f"used {now - entry.last_used:.0f}s ago (kept for {keep_recent:.0f}s; --force overrides)"))
            continue
        if not dry_run:
            try:
                remove(entry)
            except CacheError as exc:  # busy, or damaged (the reason names the file)
                result.skipped.append((entry, str(exc).removeprefix(f"{entry.label}: ")))
                continue
        result.removed.append(entry)
        total -= entry.bytes
    result.bytes_after = total
    return result
