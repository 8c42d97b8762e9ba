"""Filling the cache from the network: download and extract an archive, then prune.

The layer above the cache (resolution, vendoring, locking) calls :func:`ensure`; it gives
``Cache.ensure`` a filler that streams the handle's archive (``fetch`` for http(s), ``kaggle.api``
for Kaggle, with its credentials, ``objectstore`` for gs:// and other stores) through ``archive`` into the
staging directory (a Kaggle version kagglehub already downloaded is copied from kagglehub's cache instead,
under the same member policy, when no archive sha256 is pinned or a tree digest is), and
an after-fill step that prunes to ``HUBVENDOR_CACHE_MAX_SIZE`` (``cacheprune``). The cache imports
none of these; they are imported on a miss only, so a warm resolve stays cheap.
"""

from __future__ import annotations

import logging

from . import inflight, settings
from .cache import Cache, FillResult
from .errors import HubVendorError, IntegrityError
from .handle import Handle, parse
from .provenance import recorded_url

_log = logging.getLogger("hubvendor")


def fetch_archive(
    handle: Handle, dest: str, *, expected_sha256: str | None = None, expected_size: int | None = None
) -> FillResult:
    """Download ``handle``'s archive and extract it into the local directory ``dest``."""
    from . import archive, fetch, objectstore  # imported on a cache miss only (requests, threads)

    if handle.kind == "kaggle":
        from .kaggle import api  # credentials, and 401/403 explained in one line
        from .kaggle.ref import ModelRef

        download = api.open_download(ModelRef.from_key(handle), name=handle.raw)
    elif handle.kind == "http":
        download = fetch.open_download(handle.compressed_url(), name=handle.raw)
    else:
        download = objectstore.open_download(handle.raw, name=handle.raw)
    with download, inflight.tracked(download):  # Ctrl-C closes it from the main thread
        size: int | None = getattr(download, "size", None)
        limits = archive.Limits.from_settings()
        if size is not None and archive.parallel_inflate(size):
            extracted = archive.extract_spooled(download, size, dest, name=handle.raw, expected_sha256=expected_sha256,
                                                expected_size=expected_size, limits=limits)
        else:
            extracted = archive.extract(download, dest, name=handle.raw, expected_sha256=expected_sha256,
                                        expected_size=expected_size, limits=limits)
    return FillResult(
        url=recorded_url(handle),  # the canonical URL: never a mirror's or a signed storage address
        sha256=extracted.sha256,
        size=extracted.size,
        tree_digest=extracted.tree_digest,
        files=extracted.files,
        unpacked_bytes=extracted.unpacked_bytes,
    )


def in_kagglehub(handle: Handle) -> str | None:
    """The whole version of a Kaggle handle kagglehub downloaded and marked complete, else None."""
    if handle.kind != "kaggle" or handle.version is None:
        return None
    from .kaggle import kagglecache

    return kagglecache.locate(handle)


def from_kagglehub(
    handle: Handle, source: str, dest: str, *, expected_tree_digest: str | None = None
) -> FillResult | None:
    """Fill ``dest`` from ``source``, a whole version kagglehub downloaded (``in_kagglehub``), without network.

    The copy goes through the archive's member policy and limits (``archive.copy_tree``); a version it
    refuses, or whose tree is not ``expected_tree_digest``, is downloaded instead, with a warning naming
    the entry (None). There is no archive, so the result records no archive sha256 (``""``) and size 0; the
    tree digest is what locks and builds pin and verify.
    """
    import os
    import shutil

    from . import archive

    where = f"{handle.raw} (kagglehub's cache {source})"
    try:
        tree = archive.copy_tree(source, dest, name=where, limits=archive.Limits.from_settings())
        if expected_tree_digest and tree.digest() != expected_tree_digest:
            raise IntegrityError(f"{where}: tree digest {tree.digest()} differs from {expected_tree_digest} pinned")
    except (HubVendorError, OSError) as exc:
        _log.warning("hubvendor: %s; downloading instead", exc)
        shutil.rmtree(dest)  # the download gets dest empty again
        os.mkdir(dest)
        return None
    _log.info("hubvendor: %s: copied from kagglehub's cache %s (no download)", handle.raw, source)
    return FillResult(url=recorded_url(handle), sha256="", size=0, tree_digest=tree.digest(), files=tree.files,
                      unpacked_bytes=tree.unpacked_bytes)


def ensure(
    handle: object,
    *,
    cache: Cache | None = None,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    expected_tree_digest: str | None = None,
    use: bool = False,
) -> str:
    """The cache entry for ``handle``, downloaded when missing, incomplete or unverifiable.

    ``use=True`` is ``Cache.use``: the entry is also held (shared lock) for this process's lifetime.
    """
    cache = cache or Cache()
    parsed = parse(handle)
    reuse = expected_sha256 is None or bool(expected_tree_digest)  # kagglehub's copy has no archive to hash
    kagglehub_copy = in_kagglehub(parsed) if reuse else None  # filled with no network: allowed offline

    def fill(h: Handle, dest: str) -> FillResult:
        settings.cache_max_size(), settings.cache_keep_recent()  # the after-fill prune's: bad values fail first
        if kagglehub_copy is not None:
            reused = from_kagglehub(h, kagglehub_copy, dest, expected_tree_digest=expected_tree_digest)
            if reused is not None:
                return reused
        return fetch_archive(h, dest, expected_sha256=expected_sha256, expected_size=expected_size)

    local = kagglehub_copy is not None
    if use:
        return cache.use(parsed, fill=fill, after_fill=prune_after_fill, fills_offline=local)
    return cache.ensure(parsed, fill=fill, expected_sha256=expected_sha256, expected_size=expected_size,
                        expected_tree_digest=expected_tree_digest, after_fill=prune_after_fill, fills_offline=local)


def prune_after_fill(cache: Cache, entry: str) -> None:
    """Automatic LRU pruning to ``HUBVENDOR_CACHE_MAX_SIZE`` after a download; never fails the download."""
    limit = settings.cache_max_size()
    if limit is None:
        return
    from . import cacheprune

    try:
        cacheprune.prune(cache, max_size=limit, protect=(entry,))
    except (HubVendorError, OSError) as exc:
        _log.warning("hubvendor: automatic pruning of %s to HUBVENDOR_CACHE_MAX_SIZE failed: %s", cache.root, exc)
