"""What the hatchling and setuptools integrations share: plan, fetch, then add models to a built wheel.

Two phases, so that a failure leaves no wheel behind: :func:`prepare` (before the backend writes the
wheel) validates the config against the lock, fetches every model through the shared cache and checks
digests and size limits; :func:`finish` (after) streams the models into the wheel, re-verifying each
tree digest as the bytes are copied, and adds the manifest and the Requires-Dist on hubvendor.
In between, :func:`guard_output` keeps the output directory free of model-less wheels and stale
temporaries (``outputs``), and :func:`finish` refuses a ``models-dir`` outside the wheel's own namespace.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from .. import __version__, lockfile, manifest, settings
from ..digest import TreeDigest
from ..sources import SITE_DIR
from ..config import DEFAULT_MODELS_DIR, PYPROJECT, TABLE, Config, dist_key
from ..entry import tree_stats
from ..errors import ConfigError, HubVendorError, IntegrityError
from ..vendor import ModelSpec, fetch_to_vendor, model_dirname, vendor
from . import outputs, wheel

EDITABLE_DIR = os.path.join("build", "hubvendor")
REQUIREMENT = f"hubvendor>={__version__}"

Log = Callable[[str], None]


def log_stderr(message: str) -> None:
    """Build backends show stderr under ``pip wheel -v``."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Model:
    """A model ready to vendor: where its tree is now and what the lock (or fetch) says about it."""

    handle: str
    key: str
    name: str
    source_dir: str
    sha256: str
    size: int
    tree_digest: str
    url: str
    files: int | None = None  # the tree's regular files and bytes, recorded in the manifest (cheap checks)
    bytes: int | None = None


@dataclass
class Prepared:
    """The result of :func:`prepare`, consumed by :func:`finish`."""

    config: Config
    dist: str
    editable: bool
    models: list[Model]


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """hubvendor's own errors end the build like the CLI's: one line, no traceback (the front-end shows it)."""
    try:
        yield
    except HubVendorError as exc:
        raise SystemExit(f"hubvendor: error: {exc}") from None


def lock_in_sdist(config: Config) -> str | None:
    """The lock file's POSIX path relative to the project, if it exists inside the project (sdists carry it)."""
    if not config.lock_path.is_file():
        return None
    relative = os.path.relpath(config.lock_path, config.root)
    return None if relative.startswith(os.pardir) else relative.replace(os.sep, "/")


def editable_dir(root: str, dist_name: str) -> str:
    """Where editable builds stage the models of ``dist_name`` (``build/hubvendor/<dist>`` in the project)."""
    return os.path.join(root, EDITABLE_DIR, dist_key(dist_name))


def pinned_specs(config: Config) -> tuple[list[ModelSpec], dict[str, lockfile.LockedModel], set[str]]:
    """Specs to fetch (pins from the lock, else from pyproject), the lock entries used and the unpinned keys."""
    lock_path = config.lock_path
    lock = lockfile.load(lock_path) if lock_path.exists() else lockfile.Lock()
    required = config.locked or settings.locked()
    why = "locked = true in pyproject.toml" if config.locked else "HUBVENDOR_LOCKED=1"
    specs, used, unpinned = [], {}, set()
    for decl in config.models:
        entry = lock.entry_for(decl.key)  # a versionless Kaggle declaration: the pinned version's entry
        if entry and decl.sha256 and entry.sha256 != decl.sha256:
            raise ConfigError(
                f"{lock_path}: handle {decl.handle!r} is locked to sha256 {entry.sha256} but pyproject.toml pins "
                f"{decl.sha256}; run `hubvendor lock --upgrade {decl.handle}`"
            )
        if entry:
            handle = decl.handle if entry.key == decl.key else entry.handle
            archive = (entry.sha256, entry.size) if entry.archive_pinned else (None, None)  # tree-only: digest
            specs.append(ModelSpec(handle, *archive, entry.tree_digest, pinned_in=str(lock_path)))
            used[entry.key] = entry
        elif decl.sha256:
            specs.append(ModelSpec(decl.handle, decl.sha256, pinned_in=f"{config.root / PYPROJECT} [tool.hubvendor]"))
        elif required and not lock_path.exists():
            raise ConfigError(
                f"{lock_path}: missing, and locking is required ({why}) so {decl.handle!r} cannot be fetched "
                "unpinned; run `hubvendor lock` and commit the lock file (a wheel built from an sdist needs the "
                "sdist to carry it: build the sdist with hubvendor installed in its build environment)"
            )
        elif required:
            raise ConfigError(
                f"{lock_path}: handle {decl.handle!r} is not pinned and locking is required ({why}); "
                "run `hubvendor lock` and commit the lock file"
            )
        else:
            specs.append(ModelSpec(decl.handle))
            unpinned.add(decl.key)
    return specs, used, unpinned


def prepare(config: Config, dist_name: str, *, editable: bool, log: Log = log_stderr) -> Prepared:
    """Fetch and verify every declared model (a warm cache means no network)."""
    dist = dist_key(dist_name)
    specs, used, unpinned = pinned_specs(config)
    if specs:
        log(f"hubvendor: {len(specs)} model(s) for {dist}, {min(config.jobs, len(specs))} download(s) at a time")
    if editable:
        staged = editable_dir(config.root, dist)
        result = vendor(specs, staged, jobs=config.jobs)
        models = [
            Model(e.handle, key, os.path.basename(e.path), os.path.join(staged, e.path), e.sha256, e.size,
                  e.tree_digest, e.url)
            for key, e in sorted(result.models.items())
        ]
    else:
        models = [
            Model(f.spec.handle, f.handle.key, model_dirname(f.handle), f.path, f.sha256, f.size, f.tree_digest,
                  f.url)
            for f in fetch_to_vendor(specs, jobs=config.jobs)
        ]
    total = 0
    for index, model in enumerate(models):
        entry = used.get(model.key)
        if entry and model.tree_digest != entry.tree_digest:
            raise IntegrityError(
                f"{model.handle}: extracted tree digest {model.tree_digest} does not match {config.lock_path} "
                f"(expected {entry.tree_digest})"
            )
        files, unpacked = tree_stats(model.source_dir)
        models[index] = replace(model, files=files, bytes=unpacked)
        total += unpacked
        if config.max_model_size is not None and unpacked > config.max_model_size:
            raise ConfigError(
                f"pyproject.toml: [tool.hubvendor] max-model-size = {config.max_model_size}: "
                f"{model.handle} unpacks to {unpacked} bytes"
            )
        log(f"hubvendor: {model.handle}: sha256 {model.sha256}, {files} files, {unpacked} bytes")
        if model.key in unpinned:
            log(
                f"hubvendor: warning: {model.handle} is not in {config.lock_path.name}; pin it with `hubvendor lock` "
                f"(archive sha256 {model.sha256})"
            )
    if config.max_total_size is not None and total > config.max_total_size:
        raise ConfigError(
            f"pyproject.toml: [tool.hubvendor] max-total-size = {config.max_total_size}: "
            f"the models unpack to {total} bytes"
        )
    return Prepared(config, dist, editable, models)


def guard_output(prepared: Prepared, directory: str) -> outputs.Guard:
    """Before the backend writes into ``directory``: sweep dead builds' temporaries, take over SIGTERM/SIGHUP."""
    outputs.sweep(directory, prepared.dist)
    return outputs.Guard(directory, prepared.dist).install()


def finish(prepared: Prepared, wheel_path: str, *, log: Log = log_stderr) -> None:
    """Add the models (unless editable), the manifest and the hubvendor requirement to ``wheel_path``."""
    models_dir = prepared.config.wheel_models_dir(prepared.dist)
    if not prepared.editable:
        _check_models_dir(prepared, models_dir, wheel.package_dirs(wheel_path))
    result = manifest.Manifest()
    extra: list[wheel.ExtraFile] = []
    for model in prepared.models:
        if prepared.editable:
            path = model.source_dir
        else:
            arc_dir = f"{models_dir}/{model.name}"
            extra.extend(wheel.tree_files(model.source_dir, arc_dir))
            path = posixpath.relpath(arc_dir, SITE_DIR)
        result.add(manifest.ManifestEntry(model.handle, path, model.sha256, model.size, model.tree_digest, model.url,
                                          model.files, model.bytes))
    extra.append(wheel.ExtraFile(f"{SITE_DIR}/{prepared.dist}.json", data=result.to_json().encode()))

    def check(hashes: list[wheel.FileHash]) -> None:
        if not prepared.editable:
            _verify_trees(prepared.models, models_dir, hashes)

    wheel.rewrite(wheel_path, extra, requirement=(REQUIREMENT, "hubvendor"), check=check)
    name = os.path.basename(wheel_path)
    log(f"hubvendor: added {len(prepared.models)} model(s) and {SITE_DIR}/{prepared.dist}.json to {name}")


def _check_models_dir(prepared: Prepared, models_dir: str, packages: set[str]) -> None:
    """Models go under ``hubvendor.d/<dist>`` or inside a package this wheel ships, never into a shared directory."""
    parts = models_dir.split("/")
    if parts[0] == SITE_DIR or any("/".join(parts[:n]) in packages for n in range(1, len(parts) + 1)):
        return
    shipped = ", ".join(sorted(p for p in packages if "/" not in p)) or "none"
    raise ConfigError(
        f"{prepared.config.root / PYPROJECT}: {TABLE} models-dir = {prepared.config.models_dir!r}: {models_dir!r} is "
        f"not inside a package the {prepared.dist} wheel ships (a directory with __init__.py; top-level: {shipped}), "
        f"so other distributions may own it; use {DEFAULT_MODELS_DIR!r} (the default) or e.g. '<your package>/models'"
    )


def _verify_trees(models: list[Model], models_dir: str, hashes: list[wheel.FileHash]) -> None:
    """Recompute each model's tree digest from the bytes just written into the wheel."""
    for model in models:
        prefix = f"{models_dir}/{model.name}/"
        digest = TreeDigest()
        for h in hashes:
            if h.arcname.startswith(prefix):
                digest.add(h.arcname[len(prefix):].encode(), h.size, h.sha256)
        actual = digest.hexdigest()
        if actual != model.tree_digest:
            raise IntegrityError(
                f"{model.handle}: files copied into the wheel have tree digest {actual}, expected {model.tree_digest} "
                f"(cache entry {model.source_dir} changed?)"
            )


