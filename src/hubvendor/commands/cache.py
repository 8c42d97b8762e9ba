"""``hubvendor cache {list,verify,adopt,prune,rm,dir}``: operate the tensorflow_hub-compatible cache,
or with ``--kagglehub`` kagglehub's cache (``kaggle.cacheentries``).

Exit codes: 0 success; 1 a hubvendor error, or verify/adopt/rm left an entry bad or in place;
2 usage. See docs/operations.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cache", help="list, verify, adopt, prune and remove cache entries",
        description="Operate the tensorflow_hub-compatible cache (TFHUB_CACHE_DIR). See docs/operations.md.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="entries with size, last use, origin and integrity state")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.add_argument("--vendored", action="store_true", help="also list vendored copies this process sees")
    _kagglehub_options(listing)
    listing.set_defaults(func=run_list)

    verify = actions.add_parser("verify", help="re-hash entries against their recorded tree digests")
    verify.add_argument("handles", nargs="*", metavar="HANDLE", help="handles or entry names (default: all)")
    verify.add_argument("--repair", action="store_true", help="fetch corrupt or incomplete entries again")
    verify.add_argument("--json", action="store_true", help="print a JSON array")
    verify.add_argument("--vendored", action="store_true",
                        help="also hash the vendored copies this process sees (read-only: never repaired)")
    _kagglehub_options(verify)
    verify.set_defaults(func=run_verify)

    adopt = actions.add_parser("adopt", help="record tree digests for entries tensorflow_hub downloaded")
    adopt.add_argument("handles", nargs="*", metavar="HANDLE", help="handles or entry names")
    adopt.add_argument("--all", action="store_true", help="adopt every entry without a recorded digest")
    adopt.add_argument("--json", action="store_true", help="print a JSON array")
    adopt.set_defaults(func=run_adopt)

    prune = actions.add_parser("prune", help="remove least recently used entries and crash leftovers")
    prune.add_argument("--max-size", metavar="SIZE", help="shrink the cache to SIZE (1000, 512M, 20GiB)")
    prune.add_argument("--older-than", metavar="AGE", help="remove entries last used before AGE ago (90m, 12h, 30d)")
    prune.add_argument(
        "--keep-recent", metavar="AGE",
        help="never remove entries used within AGE (default HUBVENDOR_CACHE_KEEP_RECENT or 10m)",
    )
    prune.add_argument("--force", action="store_true", help="same as --keep-recent 0 (entries in use stay)")
    prune.add_argument("--dry-run", action="store_true", help="report what would be removed, remove nothing")
    prune.add_argument("--json", action="store_true", help="print a JSON object")
    _kagglehub_options(prune, lock=False)
    prune.set_defaults(func=run_prune)

    remove = actions.add_parser("rm", help="remove entries (never one a running process holds)")
    remove.add_argument("handles", nargs="+", metavar="HANDLE", help="handles or entry names")
    remove.add_argument("--json", action="store_true", help="print a JSON array")
    _kagglehub_options(remove, lock=False)
    remove.set_defaults(func=run_rm)

    where = actions.add_parser("dir", help="print the cache directory")
    _kagglehub_options(where, lock=False)
    where.set_defaults(func=run_dir)


def _kagglehub_options(parser: argparse.ArgumentParser, *, lock: bool = True) -> None:
    parser.add_argument("--kagglehub", action="store_true",
                        help="operate on kagglehub's cache (KAGGLEHUB_CACHE) instead of hubvendor's")
    if lock:
        parser.add_argument("--lock", metavar="FILE",
                            help="with --kagglehub: tree digests to verify against (default ./hubvendor.lock if present)")


def _known_digests(cache, lock: str | None) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Tree digests for Kaggle keys: the lock's pins, else what hubvendor's cache recorded for the version."""
    from pathlib import Path

    from .. import lockfile
    from ..cacheops import recorded_digests
    from ..handle import normalise

    known = {normalise(handle): (digest, f"hubvendor's cache {cache.root}")
             for handle, digest in recorded_digests(cache).items()
             if handle.lower().startswith(("kaggle://", "https://www.kaggle.com/"))}
    path = Path(lock) if lock else Path(lockfile.FILENAME)
    if lock or path.exists():
        known.update({m.key: (m.tree_digest, str(path)) for m in lockfile.load(path).models
                      if m.key.startswith("kaggle://")})
    return known


def _kagglehub_root() -> str:
    from ..kaggle import kagglecache

    return kagglecache.root()


def _refuse_an_implicit_kagglehub_root(action: str) -> None:
    """``prune``/``rm --kagglehub`` delete: not in whatever directory this is when KAGGLEHUB_CACHE is empty."""
    from ..errors import ConfigError
    from ..kaggle import kagglecache

    if os.environ.get(kagglecache.CACHE_VAR) == "":
        raise ConfigError(f"cache {action} --kagglehub: {kagglecache.CACHE_VAR} is set but empty, which kagglehub reads "
                          "as the current directory; set it to the cache's path to delete from it")


def _cache():  # type: ignore[no-untyped-def]
    from ..cache import Cache

    return Cache()


def _progress(items: list[T], description: str) -> Iterator[T]:
    """``items`` with a progress bar on terminals only."""
    if not sys.stderr.isatty() or len(items) < 2:
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, desc=description, unit="entry", leave=False)


def _age(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    seconds = max(0.0, time.time() - stamp)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _table(entries: Iterable, *, extra: str = "") -> None:  # type: ignore[type-arg]
    from ..cacheops import human_size

    rows = [("HANDLE", "SIZE", "LAST USED", "ORIGIN", "STATE")]
    notes = []
    for e in entries:
        rows.append((e.handle or f"? ({e.name})", human_size(e.bytes), _age(e.last_used), e.origin, e.state))
        if e.detail:
            notes.append(f"  {e.handle or e.path}: {e.detail}")
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4])
    for note in notes:
        print(note)
    if extra:
        print(extra)


def run_list(args: argparse.Namespace) -> int:
    from .. import vendoredcopies
    from ..cacheops import human_size, scan

    cache = _cache()
    if args.kagglehub:
        from ..kaggle import cacheentries

        root, entries = _kagglehub_root(), cacheentries.scan(_known_digests(cache, args.lock))
    else:
        root, entries = cache.root, scan(cache)
    entries += vendoredcopies.entries() if args.vendored else []
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
        return 0
    if not entries:
        print(f"no entries in {root}")
        return 0
    total = sum(e.bytes for e in entries if not e.origin.startswith("vendored"))
    count = f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}"
    _table(entries, extra=f"{count}, {human_size(total)} in {root}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from ..cacheops import ENTRY_NAME, EntryBusyError, repair, scan, verify
    from ..download import ensure

    from .. import vendoredcopies
    from ..handle import normalise

    cache = _cache()
    if args.kagglehub:
        root, checked = _kagglehub_root(), _verify_kagglehub(cache, args)
    else:
        entries = _select_allowing_vendored(cache, args.handles, args.vendored) if args.handles else scan(cache)
        root, checked = cache.root, [verify(cache, e) for e in _progress(entries, "verifying")]
    if args.repair:
        for i, entry in enumerate(checked):
            if entry.state in ("corrupt", "incomplete"):
                try:
                    checked[i] = repair(cache, entry, ensure=ensure)
                except EntryBusyError as exc:
                    entry.detail = f"not repaired: {exc}"
    if args.vendored:  # after --repair: vendored copies are only reported
        keys = {normalise(h) for h in args.handles if not ENTRY_NAME.match(h)} if args.handles else None
        checked += vendoredcopies.entries(hashed=True, keys=keys)
    return _report_verified(checked, root, args.json)


def _select_allowing_vendored(cache, handles: list[str], vendored: bool) -> list:  # type: ignore[no-untyped-def,type-arg]
    """``cacheops.select``; with ``--vendored`` a handle that is only vendored is not an error."""
    from .. import vendoredcopies
    from ..cacheops import ENTRY_NAME, select
    from ..errors import NotFoundError
    from ..handle import normalise

    if not vendored:
        return select(cache, handles)
    chosen, keys = [], {copy.key for copy in vendoredcopies.copies()}
    for handle in handles:
        try:
            chosen += select(cache, [handle])
        except NotFoundError:
            if ENTRY_NAME.match(handle) or normalise(handle) not in keys:
                raise
    return chosen


def _verify_kagglehub(cache, args: argparse.Namespace) -> list:  # type: ignore[no-untyped-def,type-arg]
    from ..errors import ConfigError
    from ..kaggle import cacheentries

    if args.repair:
        raise ConfigError("cache verify --kagglehub: --repair is not offered; `hubvendor cache rm --kagglehub` "
                          "a bad version and let kagglehub download it again")
    known = _known_digests(cache, args.lock)
    entries = cacheentries.select(args.handles, known) if args.handles else cacheentries.scan(known)
    return [cacheentries.verify(e) for e in _progress(entries, "verifying")]


def _report_verified(checked: list, root: str, as_json: bool) -> int:  # type: ignore[type-arg]
    bad = [e for e in checked if e.state in ("corrupt", "incomplete")]
    if as_json:
        print(json.dumps([e.to_json() for e in checked], indent=2))
    else:
        _table(checked, extra=f"{len(checked)} checked, {len(bad)} bad" if checked else f"no entries in {root}")
    return 1 if bad else 0


def run_adopt(args: argparse.Namespace) -> int:
    from ..cacheops import adopt, scan, select
    from ..errors import ConfigError, HubVendorError

    if bool(args.handles) == args.all:
        raise ConfigError("cache adopt: name HANDLEs or pass --all (not both)")
    cache = _cache()
    if args.all:
        entries = [e for e in scan(cache) if e.state == "unverified"]
    else:
        entries = select(cache, args.handles)
    adopted, failed = [], []
    for entry in _progress(entries, "adopting"):
        try:
            adopted.append(adopt(cache, entry))
        except HubVendorError as exc:
            entry.detail = str(exc)
            failed.append(entry)
    if args.json:
        print(json.dumps([e.to_json() for e in adopted + failed], indent=2))
    elif adopted or failed:
        _table(adopted + failed, extra=f"{len(adopted)} adopted, {len(failed)} failed")
    else:
        print(f"nothing to adopt in {cache.root}")
    return 1 if failed else 0


def run_prune(args: argparse.Namespace) -> int:
    from .. import settings
    from ..cacheops import human_size
    from ..cacheprune import prune
    from ..settings import parse_age
    from ..errors import ConfigError

    if args.max_size is None and args.older_than is None:
        raise ConfigError("cache prune: give --max-size SIZE and/or --older-than AGE")
    keep_recent = 0.0 if args.force else (parse_age(args.keep_recent, "--keep-recent") if args.keep_recent else None)
    limits = {
        "max_size": settings.parse_size(args.max_size, "--max-size") if args.max_size is not None else None,
        "older_than": parse_age(args.older_than, "--older-than") if args.older_than is not None else None,
        "dry_run": args.dry_run,
    }
    if args.kagglehub:
        from ..cacheprune import PruneResult, prune_entries
        from ..kaggle import cacheentries

        _refuse_an_implicit_kagglehub_root("prune")

        recent = settings.cache_keep_recent() if keep_recent is None else keep_recent
        swept = PruneResult(swept=cacheentries.sweep(dry_run=args.dry_run))
        result = prune_entries(cacheentries.scan({}), swept, keep_recent=recent, **limits,
                               remove=lambda entry: cacheentries.remove(entry, keep_recent=recent))
    else:
        result = prune(_cache(), keep_recent=keep_recent, **limits)
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, **result.to_json()}, indent=2))
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for path in result.swept:
        print(f"{'would sweep' if args.dry_run else 'swept'} {path}")
    for entry in result.removed:
        print(f"{verb} {entry.handle or entry.path} ({human_size(entry.bytes)}, last used {_age(entry.last_used)})")
    for entry, reason in result.skipped:
        print(f"kept {entry.handle or entry.path}: {reason}")
    print(f"cache: {human_size(result.bytes_before)} -> {human_size(result.bytes_after)}")
    return 0


def run_rm(args: argparse.Namespace) -> int:
    from ..cacheops import remove, select
    from ..errors import CacheError

    cache = _cache()
    if args.kagglehub:
        from ..kaggle import cacheentries

        _refuse_an_implicit_kagglehub_root("rm")
        entries, drop = cacheentries.select(args.handles, {}), cacheentries.remove
    else:
        entries, drop = select(cache, args.handles), lambda entry: remove(cache, entry)
    results = []
    for entry in entries:  # each one tried; one that cannot go is reported and the rest still are
        try:
            drop(entry)
            results.append((entry, "removed", ""))
        except CacheError as exc:  # busy (EntryBusyError), or a file in the way
            results.append((entry, "kept", str(exc)))
            if not args.json:
                print(f"hubvendor: error: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps([{**e.to_json(), "result": r, "reason": why} for e, r, why in results], indent=2))
    else:
        for entry, result, _ in results:
            if result == "removed":
                print(f"removed {entry.handle or entry.path}")
    return 1 if any(r == "kept" for _, r, _ in results) else 0


def run_dir(args: argparse.Namespace) -> int:
    print(_kagglehub_root() if args.kagglehub else _cache().root)
    return 0
