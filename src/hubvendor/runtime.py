"""The resolution chain: handle -> local directory (or a location TensorFlow reads directly).

Order: a local or ``gs://`` path as given -> vendored copies (``sources``) ->
UNCOMPRESSED storage location when asked for -> the tensorflow_hub-compatible cache,
downloading on a miss unless ``HUBVENDOR_OFFLINE`` is set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from . import download, settings, sources
from .cache import Cache
from .errors import NotFoundError, OfflineError
from .handle import Handle, parse


@dataclass
class Explanation:
    """Where a handle resolves from and why (computed without downloading)."""

    handle: str
    key: str
    origin: str  # "path", "vendored", "uncompressed", "cache" or "download"
    location: str
    reason: str
    looked: list[str] = field(default_factory=list)


def uncompressed_requested(handle: Handle) -> bool:
    """UNCOMPRESSED asked for, or AUTO on a Colab TPU runtime (see ``settings.colab_tpu``)."""
    if handle.kind != "http":
        return False
    load_format = settings.load_format()
    return load_format == "UNCOMPRESSED" or (load_format == "AUTO" and settings.colab_tpu())


def explain(handle: object) -> Explanation:
    """Explain how ``resolve`` would answer, without touching the network."""
    handle = parse(handle)
    if not handle.is_archive:
        reason = "a local path is used as given" if handle.kind == "path" else "a gs:// directory is read directly"
        return Explanation(handle.raw, handle.key, "path", handle.raw, reason)
    looked = [f"vendored models ({name})" for name, _ in sources.SOURCES]
    vendored = _vendored(handle)
    if vendored:
        name, model_dir = vendored
        return Explanation(handle.raw, handle.key, "vendored", model_dir, f"vendored via {name}", looked)
    if uncompressed_requested(handle):
        return Explanation(
            handle.raw, handle.key, "uncompressed", handle.uncompressed_url(),
            f"load format {settings.load_format()}: the storage location is asked from the server", looked,
        )
    cache = Cache()
    entry = cache.entry_path(handle)
    looked.append(f"cache {entry}")
    if cache.lookup(handle):
        return Explanation(handle.raw, handle.key, "cache", entry, "complete entry in the cache", looked)
    if settings.offline():
        return Explanation(handle.raw, handle.key, "download", entry, "missing, and HUBVENDOR_OFFLINE forbids a download", looked)
    return Explanation(handle.raw, handle.key, "download", entry, f"would download {handle.compressed_url()}", looked)


def resolve(handle: object) -> str:
    """A local directory (or gs:// location) holding the model for ``handle``."""
    handle = parse(handle)
    if not handle.is_archive:
        return _existing_path(handle)
    vendored = _vendored(handle)
    if vendored:
        return vendored[1]
    if uncompressed_requested(handle):
        return _uncompressed_location(handle)
    cache = Cache()
    try:
        return download.ensure(handle, cache=cache, use=True)
    except OfflineError:
        places = [name for name, _ in sources.SOURCES] + [f"cache {cache.entry_path(handle)}"]
        raise OfflineError(
            f"{handle.raw}: not available offline (HUBVENDOR_OFFLINE is set); looked in: " + ", ".join(places)
        ) from None


def _vendored(handle: Handle) -> tuple[str, str] | None:
    """``(source name, model directory)`` of the first vendored copy of ``handle``."""
    for name, source in sources.SOURCES:
        model_dir = source().get(handle.key)
        if model_dir and os.path.isdir(model_dir):
            return name, model_dir
    return None


def _existing_path(handle: Handle) -> str:
    if handle.kind == "gcs":
        return handle.raw
    if not os.path.exists(handle.key):
        raise NotFoundError(f"{handle.raw}: local path does not exist")
    return handle.raw


def _uncompressed_location(handle: Handle) -> str:
    if settings.offline():
        raise OfflineError(
            f"{handle.raw}: load format UNCOMPRESSED needs the server's answer, and HUBVENDOR_OFFLINE is set"
        )
    from . import fetch

    return fetch.request_uncompressed_location(handle)
