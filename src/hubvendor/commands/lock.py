"""``hubvendor lock``: pin the ``[tool.hubvendor]`` models in ``hubvendor.lock``.

Plain ``lock`` keeps entries that are still declared, adds new handles (fetched through the cache, so
a warm cache means no network, except for entries tensorflow_hub wrote: they record no digests, so
those models are downloaded afresh) and drops removed ones. A Kaggle handle without a version is pinned
to the variation's current version (one API call); a Kaggle version kagglehub already downloaded is
copied from kagglehub's cache and locked by its tree digest alone (no archive was seen).
``--upgrade HANDLE...`` downloads those models afresh (bypassing the cache) and re-pins them;
``--upgrade`` alone re-pins every model.
``--check`` writes nothing and exits 1 when the lock is stale; with ``--verify`` it also downloads
every locked model afresh and compares the bytes. Every stale report ends with the one command that
makes the lock current.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .. import config, inflight, lockfile, smallfile
from ..config import Config, ModelDecl
from ..errors import ConfigError, InvalidHandleError
from ..handle import normalise, parse
from ..lockfile import Lock, LockedModel
from ..provenance import recorded_url

if TYPE_CHECKING:
    from ..cache import Cache

EXIT_OK, EXIT_STALE = 0, 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("lock", help="pin [tool.hubvendor] models in hubvendor.lock")
    parser.add_argument("--project", "-p", default=".", metavar="DIR", help="project directory (default .)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the lock is stale")
    parser.add_argument("--verify", action="store_true", help="with --check: download locked models afresh and compare")
    parser.add_argument("--upgrade", nargs="*", action="extend", metavar="HANDLE",
                        help="re-pin HANDLE (default: every model) from a fresh download")
    parser.add_argument("--jobs", "-j", type=int, default=None, help="parallel downloads (default: [tool.hubvendor] jobs)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    pyproject = Path(args.project).resolve() / config.PYPROJECT
    if not pyproject.is_file():
        raise ConfigError(f"{pyproject}: file not found; `hubvendor lock` pins the models of a project's "
                          "[tool.hubvendor] table (run it in the project directory or pass --project DIR)")
    cfg = config.load(args.project)
    if cfg is None:
        raise ConfigError(f"{pyproject}: no [tool.hubvendor] table; expected one with a models list")
    if args.verify and not args.check:
        raise ConfigError("hubvendor lock: --verify needs --check")
    if args.check and args.upgrade is not None:
        raise ConfigError("hubvendor lock: --check writes nothing; it cannot be combined with --upgrade")
    jobs = args.jobs or cfg.jobs
    old = lockfile.load(cfg.lock_path, absent_ok=True)
    if old.models:
        from ..cache import Cache

        cache = Cache()
        for model in old.models:
            _warn_if_the_cache_disagrees(cache, model, cfg.lock_file, args.project)
    if args.check:
        problems = stale_reasons(cfg, old)
        changed = verify(old, jobs) if args.verify else []
        for problem in problems + [reason for _, reason in changed]:
            print(f"hubvendor: {cfg.lock_file} is stale: {problem}", file=sys.stderr)
        if problems or changed:
            print(f"hubvendor: run `{fix_command(args.project, [h for h, _ in changed])}` and commit the result",
                  file=sys.stderr)
        return EXIT_STALE if problems or changed else EXIT_OK
    new = relock(cfg, old, upgrade=args.upgrade, jobs=jobs)
    existing = smallfile.read_text(cfg.lock_path) if cfg.lock_path.is_file() else None
    if lockfile.dumps(new, f"{cfg.lock_path} (not written)") != existing:
        try:
            cfg.lock_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{cfg.lock_path}: cannot create its directory ({exc.strerror or exc})") from None
        lockfile.write(cfg.lock_path, new)
    _report(old, new)
    return EXIT_OK


def fix_command(project: str, upgrade: list[str]) -> str:
    """The command that makes the lock current: plain ``lock``, or ``--upgrade`` of what changed upstream."""
    words = ["hubvendor", "lock"]
    if project != ".":
        words += ["--project", project]
    if upgrade:
        words += ["--upgrade", *sorted(set(upgrade))]
    return shlex.join(words)


def stale_reasons(cfg: Config, lock: Lock) -> list[str]:
    """Why ``lock`` does not match the declared models (empty when it does); no network."""
    entries = lock.by_key()
    declared = {m.key: m for m in cfg.models}
    reasons = []
    used = set()
    for key, decl in declared.items():
        entry = lock.entry_for(key)
        if entry is None:
            reasons.append(f"{decl.handle} is declared in pyproject.toml but not locked")
            continue
        used.add(entry.key)  # a versionless Kaggle declaration's entry is the version it was pinned to
        if entry.key == key and entry.handle != decl.handle:
            reasons.append(f"{decl.handle} is locked as {entry.handle!r}")
        elif decl.sha256 and decl.sha256 != entry.sha256:
            reasons.append(f"{decl.handle} is pinned to sha256 {decl.sha256} in pyproject.toml, locked to {entry.sha256}")
    reasons += [f"{entries[key].handle} is locked but no longer declared" for key in sorted(set(entries) - used)]
    return reasons


def verify(lock: Lock, jobs: int) -> list[tuple[str, str]]:
    """Download every locked model afresh; (handle, reason) per model whose bytes differ from the lock."""
    fresh = _fresh_all([m.handle for m in lock.models], jobs)
    reasons = []
    for model, now in zip(lock.models, fresh):
        for name in ("sha256", "size", "tree_digest") if model.archive_pinned else ("tree_digest",):
            if getattr(model, name) != getattr(now, name):
                was, is_now = getattr(model, name), getattr(now, name)
                reasons.append((model.handle, f"{model.handle}: {name} changed upstream: locked {was}, now {is_now}"))
    return reasons


def relock(cfg: Config, old: Lock, *, upgrade: list[str] | None, jobs: int) -> Lock:
    """The lock for the declared models: kept, added (through the cache) or upgraded (fresh download;
    ``upgrade=[]`` upgrades every model, None none)."""
    from ..vendor import ModelSpec, fetch_all

    declared = {m.key: m for m in cfg.models}
    upgrade_keys = set(declared) if upgrade == [] else set()
    for handle in upgrade or []:
        try:
            key = normalise(handle)
        except InvalidHandleError as exc:
            raise ConfigError(f"hubvendor lock --upgrade: {exc}") from None
        if key not in declared:
            raise ConfigError(
                f"hubvendor lock --upgrade {handle!r}: not declared in [tool.hubvendor] models of "
                f"{cfg.root / config.PYPROJECT}"
            )
        upgrade_keys.add(key)
    kept: dict[str, LockedModel] = {}
    to_fetch: list[ModelDecl] = []
    for key, decl in declared.items():
        entry = old.entry_for(key)
        if key in upgrade_keys:
            continue
        if entry and (not decl.sha256 or decl.sha256 == entry.sha256):
            handle = decl.handle if entry.key == key else entry.handle  # versionless: the pinned version
            url = recorded_url(parse(handle))  # the spelling may have changed since: its own archive URL
            kept[key] = LockedModel(handle, entry.key, url, entry.sha256, entry.size, entry.tree_digest)
        else:
            to_fetch.append(decl)
    fresh = [declared[k] for k in sorted(upgrade_keys)]
    pinned = {d.key: pin(d.handle) for d in [*to_fetch, *fresh]}  # a versionless Kaggle handle: its current version
    by_pinned_key = {normalise(h): key for key, h in pinned.items()}
    for item in fetch_all([ModelSpec(pinned[d.key], d.sha256) for d in to_fetch], jobs=jobs):
        key = by_pinned_key[item.handle.key]
        if not item.tree_digest or not (item.sha256 or item.handle.kind == "kaggle"):
            # tensorflow_hub wrote the entry: nothing recorded to pin (a Kaggle entry copied from
            # kagglehub's cache has no archive: its tree digest alone is locked)
            fresh.append(declared[key])
            continue
        kept[key] = LockedModel(
            item.spec.handle, item.handle.key, recorded_url(item.handle),
            item.sha256, item.size, item.tree_digest,
        )
    for decl, now in zip(fresh, _fresh_all([pinned[d.key] for d in fresh], jobs)):
        if decl.sha256 and decl.sha256 != now.sha256:
            raise ConfigError(
                f"{cfg.root / config.PYPROJECT}: {decl.handle} is pinned to sha256 {decl.sha256} in [tool.hubvendor] "
                f"models but now downloads as {now.sha256}; update or drop the inline pin"
            )
        kept[decl.key] = now
        _drop_stale_cache_entry(now)
    return Lock(sorted(kept.values(), key=lambda m: m.key))


def pin(handle: str) -> str:
    """The handle to lock: a Kaggle handle without a version gets the variation's current one (one API call)."""
    parsed = parse(handle)
    if parsed.kind != "kaggle" or parsed.version is not None:
        return handle
    from ..kaggle import api

    return api.pin(parsed)


def _warn_if_the_cache_disagrees(cache: Cache, model: LockedModel, lock_file: str, project: str) -> None:
    """Warn when the cache holds other bytes for a locked handle: the pin was edited, or upstream changed
    since this copy was downloaded. No network: only ``--check --verify`` can tell which."""
    descriptor = cache.read_descriptor(model.handle)
    if descriptor is None:
        return
    if model.sha256 and descriptor.archive_sha256 and descriptor.archive_sha256 != model.sha256:
        what = f"sha256 {model.sha256}, but the cache's copy has sha256 {descriptor.archive_sha256}"
    elif model.tree_digest and descriptor.tree_digest and descriptor.tree_digest != model.tree_digest:
        what = f"tree_digest {model.tree_digest}, but the cache's copy has {descriptor.tree_digest}"
    else:
        return
    when = f" (downloaded {descriptor.download_time})" if descriptor.download_time else ""
    print(f"hubvendor: warning: {model.handle}: {lock_file} pins {what}{when}; "
          f"`{fix_command(project, [])} --check --verify` tells which matches the server", file=sys.stderr)


def _drop_stale_cache_entry(model: LockedModel) -> None:
    """After an upgrade, remove a cache entry holding other bytes, so the next build downloads the new ones."""
    from .. import cacheops
    from ..cache import Cache

    cache = Cache()
    descriptor = cache.read_descriptor(model.handle)
    if not descriptor or not descriptor.archive_sha256 or descriptor.archive_sha256 == model.sha256:
        return
    try:
        cacheops.remove(cache, cacheops.describe(cache, parse(model.handle).cache_name))
    except cacheops.EntryBusyError as exc:
        print(f"hubvendor: warning: {model.handle}: the cache still holds the old bytes ({exc}); "
              "builds fail until `hubvendor cache rm` removes them", file=sys.stderr)


def _fresh_all(handles: list[str], jobs: int) -> list[LockedModel]:
    return inflight.run_all(_fresh, handles, jobs)


def _fresh(handle: str) -> LockedModel:
    """Download and extract ``handle`` into a temporary directory (not the cache) and describe it."""
    from ..download import fetch_archive

    parsed = parse(handle)
    with tempfile.TemporaryDirectory(prefix="hubvendor-lock-") as tmp:
        result = fetch_archive(parsed, tmp)
    return LockedModel(handle, parsed.key, recorded_url(parsed), result.sha256, result.size, result.tree_digest)


def _pin(model: LockedModel) -> str:
    """What pins ``model``: its archive sha256, or its tree digest alone (a copy from kagglehub's cache)."""
    return f"sha256 {model.sha256}" if model.sha256 else f"tree_digest {model.tree_digest}"


def _report(old: Lock, new: Lock) -> None:
    before, after = old.by_key(), new.by_key()
    for key, model in after.items():
        if key not in before:
            print(f"added    {model.handle}  {_pin(model)}")
        elif before[key] != model:
            print(f"updated  {model.handle}  {_pin(model)}")
    for key in sorted(set(before) - set(after)):
        print(f"removed  {before[key].handle}")
    print(f"{len(new.models)} model(s) locked")
