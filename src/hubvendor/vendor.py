"""Build-time vendoring: fetch models through the cache and stage a self-contained directory.

The output directory holds ``models/<name>/`` trees and ``hubvendor-manifest.json``.
It is replaced atomically: a failed run leaves the previous directory as it was. Only an absent
or empty directory or a previous output (:func:`hubvendor.outdir.ensure_replaceable`) is replaced.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from . import download, inflight, locking, manifest, outdir
from .cache import Cache, Descriptor
from .errors import CacheError, ConfigError, HubVendorError, IntegrityError, storage_advice
from .handle import Handle, parse
from .hints import hint
from .provenance import recorded_url

MODELS_DIR = manifest.MODELS_DIR


@dataclass(frozen=True)
class ModelSpec:
    """A model to vendor: its handle and, when pinned, the archive's sha256 and size and its tree digest."""

    handle: str
    sha256: str | None = None
    size: int | None = None
    tree_digest: str | None = None
    pinned_in: str = ""  # the file the pins come from (a lock, pyproject.toml), named when they are not met


@dataclass(frozen=True)
class Fetched:
    """A model present in the cache, verified against its spec's pins, with what they and its descriptor say."""

    spec: ModelSpec
    handle: Handle
    path: str
    sha256: str
    size: int
    tree_digest: str
    url: str


def model_dirname(handle: Handle) -> str:
    """A readable, collision-free directory name for a handle's key."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", handle.key.split("://", 1)[-1]).strip("_.")[:80]
    return f"{slug}-{hashlib.sha1(handle.key.encode()).hexdigest()[:10]}"


def check_unique(specs: Sequence[ModelSpec]) -> list[Handle]:
    """Parse every handle; two specs naming the same model (same key) are an error."""
    handles, seen = [], {}
    for spec in specs:
        handle = parse(spec.handle)
        if not handle.is_archive:
            advice = hint(spec.handle)
            raise ConfigError(
                f"handle {spec.handle!r}: local paths and gs:// directories are read where they are; only "
                "archive handles (http(s) URLs, gs://...tar.gz) can be fetched or vendored"
                + (f"; {advice}" if advice else "")
            )
        if handle.key in seen:
            raise ConfigError(f"handle {spec.handle!r} names the same model as {seen[handle.key]!r}")
        seen[handle.key] = spec.handle
        handles.append(handle)
    return handles


def fetch_all(specs: Sequence[ModelSpec], *, jobs: int = 4, cache: Cache | None = None) -> list[Fetched]:
    """Bring every model into the cache, ``jobs`` downloads at a time, verifying pins."""
    cache = cache or Cache()
    handles = check_unique(specs)

    def one(spec: ModelSpec, handle: Handle) -> Fetched:
        try:
            path = download.ensure(handle, cache=cache, expected_sha256=spec.sha256, expected_size=spec.size,
                                   expected_tree_digest=spec.tree_digest)
        except IntegrityError as exc:
            if not spec.pinned_in:
                raise
            raise IntegrityError(f"{exc} (the pin is in {spec.pinned_in}: if it is the pin that is wrong, "
                                 f"`hubvendor lock --upgrade {spec.handle}`)") from None
        descriptor = cache.read_descriptor(handle) or Descriptor(handle.raw)
        return Fetched(  # ensure checked the entry against the pins, so they describe it where it records nothing
            spec, handle, path,
            sha256=descriptor.archive_sha256 or spec.sha256 or "",
            size=descriptor.archive_size or spec.size or 0,
            tree_digest=spec.tree_digest or descriptor.tree_digest,
            url=recorded_url(handle),
        )

    return inflight.run_all(lambda pair: one(*pair), list(zip(specs, handles)), jobs)


def fetch_to_vendor(specs: Sequence[ModelSpec], *, jobs: int = 4, cache: Cache | None = None) -> list[Fetched]:
    """:func:`fetch_all` for vendoring: every model gets a tree digest, hashed from the entry's files when
    neither its pin nor its descriptor has one (an unpinned entry tensorflow_hub wrote).

    Vendoring copies and hashes the entries' files where they are, so the cache must be a local directory.
    """
    cache = cache or Cache()
    if not cache.fs.local:
        raise ConfigError(
            f"TFHUB_CACHE_DIR={cache.root}: vendoring models (hubvendor vendor, wheel builds) needs a local cache "
            "directory, not an object store; set TFHUB_CACHE_DIR to a local directory for the build"
        )
    fetched = fetch_all(specs, jobs=jobs, cache=cache)
    return [f if f.tree_digest else replace(f, tree_digest=cache.fs.tree_digest(f.path)) for f in fetched]


def vendor(specs: Iterable[ModelSpec], output_dir: str, *, jobs: int = 4, cache: Cache | None = None) -> manifest.Manifest:
    """Fetch ``specs`` and make ``output_dir`` a vendored directory holding exactly them."""
    output_dir = os.path.abspath(output_dir)
    parent = os.path.dirname(output_dir)
    if os.path.isdir(parent):
        _recover_from_killed_runs(output_dir)
    outdir.ensure_replaceable(output_dir)
    cache = cache or Cache()
    _ensure_outside(cache, output_dir)
    fetched = fetch_to_vendor(list(specs), jobs=jobs, cache=cache)
    staging = os.path.join(parent, f".{os.path.basename(output_dir)}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        os.makedirs(parent, exist_ok=True)
        result = manifest.Manifest()
        for item in fetched:
            relative = f"{MODELS_DIR}/{model_dirname(item.handle)}"
            files, size = _copy_entry(item, os.path.join(staging, relative))
            result.add(manifest.ManifestEntry(
                handle=item.spec.handle, path=relative, sha256=item.sha256, size=item.size,
                tree_digest=item.tree_digest, url=item.url, files=files, bytes=size,
            ))
        manifest.write(os.path.join(staging, manifest.FILENAME), result)
        outdir.ensure_replaceable(output_dir)  # again: the fetch may have taken minutes
        _swap_into_place(staging, output_dir)
    except HubVendorError:
        raise
    except OSError as exc:  # full disk, permissions: a clean error, the previous output left as it was
        where = _refused_at(exc) or parent
        advice = storage_advice(exc, where) or f"check {where}"
        raise CacheError(f"{output_dir}: cannot write the vendored directory ({exc.strerror or exc}); {advice} "
                         "or choose another output directory") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _refused_at(exc: OSError) -> str | None:
    """The existing path an OSError is about: its file, or the directory a missing file was to go in."""
    name = os.fsdecode(exc.filename) if isinstance(exc.filename, (str, bytes)) else None
    return name if name is None or os.path.lexists(name) else os.path.dirname(name)


def _ensure_outside(cache: Cache, output_dir: str) -> None:
    """Refuse an output directory that holds the cache: replacing the output would delete the cache."""
    if not cache.fs.local:
        return
    if outdir.holds(os.path.realpath(output_dir), os.path.realpath(cache.root)):
        raise ConfigError(
            f"output directory {output_dir}: holds the cache (TFHUB_CACHE_DIR={cache.root}), which replacing "
            "it would delete; choose an output directory outside the cache"
        )


def _copy_entry(item: Fetched, target: str) -> tuple[int, int]:
    """Copy a cache entry's directories and regular files, hard-linking files when possible (same
    filesystem); the files and bytes copied. Extraction writes nothing else, so a symbolic link or special
    file in the entry (or an entry that is a link) was planted by another writer of the cache: refused,
    never followed or copied."""
    files = size = 0
    if os.path.islink(item.path):
        _refuse_planted(item, item.path)
    for dirpath, dirnames, filenames in os.walk(item.path):
        here = os.path.join(target, os.path.relpath(dirpath, item.path))
        os.makedirs(here, exist_ok=True)
        for name in dirnames:
            if not stat.S_ISDIR(os.lstat(os.path.join(dirpath, name)).st_mode):
                _refuse_planted(item, os.path.join(dirpath, name))
        for name in filenames:
            src, dst = os.path.join(dirpath, name), os.path.join(here, name)
            if not stat.S_ISREG(os.lstat(src).st_mode):
                _refuse_planted(item, src)
            try:
                os.link(src, dst, follow_symlinks=False)
            except OSError:
                shutil.copyfile(src, dst, follow_symlinks=False)
                shutil.copystat(src, dst, follow_symlinks=False)
            copied = os.lstat(dst)
            if not stat.S_ISREG(copied.st_mode):  # replaced by a link between the look and the link
                _refuse_planted(item, src)
            files, size = files + 1, size + copied.st_size
    return files, size


def _refuse_planted(item: Fetched, path: str) -> None:
    raise CacheError(
        f"{item.spec.handle}: cache entry {item.path} holds {path}, a symbolic link or special file that "
        "hubvendor never writes; not vendored: run `hubvendor cache verify --repair` to fetch it again"
    )


def _recover_from_killed_runs(output_dir: str) -> None:
    """Undo what a killed run left beside ``output_dir``: restore the previous output, drop staging."""
    parent, base = os.path.split(output_dir)
    leftovers = re.compile(rf"^\.{re.escape(base)}\.(\d+)\.[0-9a-f]{{32}}\.(tmp|old)$")
    for name in sorted(os.listdir(parent), key=lambda n: not n.endswith(".old")):
        match = leftovers.match(name)
        if not match or locking.pid_alive(int(match.group(1))):
            continue
        path = os.path.join(parent, name)
        if match.group(2) == "old" and not os.path.exists(output_dir):
            os.rename(path, output_dir)  # killed between the two renames of the swap
        elif match.group(2) == "old":
            with contextlib.suppress(OSError):
                _remove_unheld(path)  # kept while a reader holds it
        else:
            shutil.rmtree(path, ignore_errors=True)


def _swap_into_place(staging: str, output_dir: str) -> None:
    """Put ``staging`` at ``output_dir``: one atomic exchange where Linux has it (the path never vanishes),
    else two renames. The previous tree, moved to ``.<name>.<pid>.<uuid>.old``, is deleted once no reader
    holds one of its model directories (``entry.hold``), else by a later run's recovery."""
    if not os.path.exists(output_dir):
        os.rename(staging, output_dir)
        return
    old = staging[: -len(".tmp")] + ".old"
    if _exchange(staging, output_dir):
        os.rename(staging, old)
    else:
        os.rename(output_dir, old)
        try:
            os.rename(staging, output_dir)
        except OSError:
            os.rename(old, output_dir)
            raise
    try:
        _remove_unheld(old)
    except OSError as exc:
        print(f"hubvendor: warning: {output_dir}: the replaced tree {old} could not be deleted "
              f"({exc.strerror or exc}); delete it by hand", file=sys.stderr)


def _exchange(a: str, b: str) -> bool:
    """``renameat2(RENAME_EXCHANGE)``: swap two paths atomically; False where unsupported."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), b)


def _remove_unheld(old: str) -> bool:
    """Delete a replaced output unless a reader (``HUBVENDOR_PATH``) still holds one of its models."""
    models = os.path.join(old, MODELS_DIR)
    with contextlib.ExitStack() as stack:
        for name in sorted(os.listdir(models)) if os.path.isdir(models) else []:
            if not stack.enter_context(locking.exclusive(os.path.join(models, name))):
                return False
        shutil.rmtree(old)  # under the exclusive locks: no reader takes one meanwhile
    return True
