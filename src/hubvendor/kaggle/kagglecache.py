"""kagglehub's cache, read and written in kagglehub's own layout (without importing kagglehub).

``<KAGGLEHUB_CACHE or ~/.cache/kagglehub>/models/<owner>/<model>/<framework>/<variation>/<version>/``
holds a model; ``.../<variation>/<version>.complete`` marks the whole version complete and
``.../<variation>/.complete/<version>/<path>.complete`` one file fetched with ``model_download(h, path=...)``.
kagglehub keeps the framework as the user spelled it, so lookups match owner, model and framework as
Kaggle does (``ref.match_name``: the exact spelling, else the one directory equal ignoring case); when
several directories differ from the name only in case, a warning names them and none is used. Only whole
versions count for hubvendor: per-file entries cannot show that nothing is missing. No symbolic link in
the cache is followed or written through (:func:`_first_link`): a link could make any directory the model.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid

from ..errors import CacheError
from .ref import AmbiguousNameError, ModelRef, match_name

CACHE_VAR = "KAGGLEHUB_CACHE"
MARKERS = ".complete"
_log = logging.getLogger("hubvendor")


def root() -> str:
    """kagglehub's cache root, by kagglehub's rule (``config.get_cache_folder``: set but empty means the current directory)."""
    return os.environ.get(CACHE_VAR, os.path.join(os.path.expanduser("~"), ".cache", "kagglehub"))


def locate(handle: object, cache_root: str | None = None) -> str | None:
    """The directory of a whole version kagglehub downloaded and marked complete, else None."""
    model_dir = version_dir(handle, cache_root)
    if model_dir and os.path.isfile(model_dir + MARKERS) and os.listdir(model_dir):
        return model_dir
    return None


def version_dir(handle: object, cache_root: str | None = None) -> str | None:
    """The directory kagglehub keeps ``handle``'s version in (complete or not), else None."""
    ref = ModelRef.from_key(handle)
    if ref.version is None:
        return None
    variation_dir = _variation_dir(cache_root or root(), ref)
    return _subdir(variation_dir, str(ref.version)) if variation_dir else None


def locate_file(ref: ModelRef, path: str, cache_root: str | None = None) -> str | None:
    """One file kagglehub has (alone or in a whole version), else None."""
    variation_dir = _variation_dir(cache_root or root(), ref.pinned())
    if variation_dir is None:
        return None
    target = os.path.join(variation_dir, str(ref.version), path)
    whole = os.path.isfile(os.path.join(variation_dir, f"{ref.version}{MARKERS}"))
    single = os.path.isfile(os.path.join(variation_dir, MARKERS, str(ref.version), f"{path}{MARKERS}"))
    return target if (whole or single) and os.path.exists(target) else None


def versions(ref: ModelRef, cache_root: str | None = None) -> list[int]:
    """Versions of ``ref``'s variation present as whole, complete entries, ascending."""
    variation_dir = _variation_dir(cache_root or root(), ref)
    if variation_dir is None:
        return []
    found = []
    for name in os.listdir(variation_dir):
        number = name[: -len(MARKERS)]
        if name.endswith(MARKERS) and number.isdigit() and os.path.isdir(os.path.join(variation_dir, number)):
            found.append(int(number))
    return sorted(found)


def export(handle: object, model_dir: str, cache_root: str | None = None) -> str:
    """Copy ``model_dir`` into kagglehub's cache as ``handle``'s version, with whole-model and per-file markers.

    The copy is staged next to its place and renamed; markers are written last, so kagglehub never
    sees a partial entry as complete. An entry kagglehub already completed is left as it is.
    """
    ref = ModelRef.from_key(handle).pinned()
    cache_root = cache_root or root()
    present = locate(ref.key, cache_root)
    if present:
        return present
    variation_dir = os.path.join(cache_root, "models", ref.owner, ref.model, ref.framework, ref.variation)
    target = os.path.join(variation_dir, str(ref.version))
    linked = _first_link(os.path.join(cache_root, "models"), target)
    if linked:
        raise CacheError(f"kaggle://{ref.slug}: {linked} in kagglehub's cache is a symbolic link; not writing through it")
    staging = staging_path(target)
    try:
        os.makedirs(variation_dir, exist_ok=True)
        shutil.copytree(model_dir, staging)
        if os.path.exists(target):  # an incomplete entry (no marker): replaced
            shutil.rmtree(target)
        os.rename(staging, target)
        for relative in _files(target):
            marker = os.path.join(variation_dir, MARKERS, str(ref.version), relative + MARKERS)
            os.makedirs(os.path.dirname(marker), exist_ok=True)
            open(marker, "w").close()
        open(target + MARKERS, "w").close()
    except OSError as exc:
        raise CacheError(f"kaggle://{ref.slug}: cannot export into kagglehub's cache {cache_root}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


STAGING_NAME = re.compile(r"^\d+\.hubvendor-[0-9a-f]{32}\.tmp$")  # what staging_path names


def staging_path(version_dir: str) -> str:
    """Where hubvendor builds a version before renaming it in, or moves one aside to delete it
    (``cacheentries.sweep`` deletes those a killed run left)."""
    return f"{version_dir}.hubvendor-{uuid.uuid4().hex}.tmp"


def _files(directory: str) -> list[str]:
    found = []
    for dirpath, _, filenames in os.walk(directory):
        for name in filenames:
            found.append(os.path.relpath(os.path.join(dirpath, name), directory).replace(os.sep, "/"))
    return sorted(found)


def _variation_dir(cache_root: str, ref: ModelRef) -> str | None:
    """``models/<owner>/<model>/<framework>/<variation>`` as kagglehub spelled it (module docstring)."""
    directory = os.path.join(cache_root, "models")
    for name in (ref.owner, ref.model, ref.framework):
        try:
            entries = os.listdir(directory)
        except OSError:
            return None
        try:
            match = match_name(name, entries, lambda entry: _subdir(directory, entry) is not None)
        except AmbiguousNameError as exc:
            _log.warning("hubvendor: kagglehub's cache has %s, differing only in case, for kaggle://%s; Kaggle names "
                         "ignore case, so neither is used (keep one)",
                         " and ".join(os.path.join(directory, m) for m in exc.matches), ref.slug)
            return None
        if match is None:
            return None
        directory = os.path.join(directory, match)
    return _subdir(directory, ref.variation)


def _subdir(directory: str, name: str) -> str | None:
    """``directory/name`` when it is a directory and not a link, else None."""
    path = os.path.join(directory, name)
    return path if os.path.isdir(path) and _first_link(directory, path) is None else None


def _first_link(base: str, path: str) -> str | None:
    """The first of ``path``'s components below ``base`` that is a symbolic link, else None: the cache's one
    link guard, for reading (each step of a lookup) and for writing (``export``)."""
    parts = os.path.relpath(path, base).split(os.sep)
    for depth in range(1, len(parts) + 1):
        component = os.path.join(base, *parts[:depth])
        if os.path.islink(component):
            return component
    return None
