"""hubvendor inside kagglehub: a model resolver answering vendored models with no network.

Imported only after the application imported kagglehub (see ``hook``). For a model found in a vendored
source (``HUBVENDOR_PATH``, Bazel runfiles, installed wheels: ``runtime.vendored_steps``),
``kagglehub.model_download(h)`` returns the vendored directory and ``model_download(h, path=p)`` the file
in it, writing nothing to kagglehub's cache; a versionless handle gets the vendored (pinned) version.
``output_dir=`` copies the vendored files there, as kagglehub would have downloaded them; ``force_download=True``
is left to kagglehub (it asked for a download). Anything else is kagglehub's, except that with
``HUBVENDOR_OFFLINE`` set nothing reaches the network: kagglehub's complete cache entries answer, or an
``OfflineError`` says what was looked at.
"""

from __future__ import annotations

import os
import shutil

from kagglehub import registry
from kagglehub.cache import Cache
from kagglehub.handle import ModelHandle
from kagglehub.resolver import Resolver

from .. import runtime, settings
from ..errors import InvalidHandleError, NotFoundError, OfflineError
from . import kagglecache
from .ref import ModelRef


class MissingFileError(NotFoundError, FileNotFoundError):
    """``path`` is not in the model (keras_hub probes optional preset files and expects FileNotFoundError)."""


class HubvendorModelResolver(Resolver[ModelHandle]):
    """Answers vendored models (and, offline, kagglehub's own cache); steps aside otherwise."""

    def is_supported(self, handle: object, path: str | None = None, **options: object) -> bool:
        if not isinstance(handle, ModelHandle):
            return False
        if settings.offline():
            return True
        try:
            return not options.get("force_download") and vendored(_ref(handle)) is not None
        except InvalidHandleError:  # not a model hubvendor can name: kagglehub's, with kagglehub's errors
            return False

    def _resolve(
        self, h: ModelHandle, path: str | None = None, *, force_download: bool | None = False,
        output_dir: str | None = None,
    ) -> tuple[str, int | None]:
        ref = _ref(h)
        found = None if force_download else vendored(ref)
        if found is None:
            return _offline(ref, path, force_download=bool(force_download))
        version, model_dir = found
        source = _inside(ref, model_dir, path) if path else model_dir
        if output_dir:
            return _copy_to_output_dir(h.with_version(version), source, path, output_dir), version
        return source, version


def register() -> None:
    """Add hubvendor's resolver to kagglehub's model registry, once (it is tried first)."""
    if not any(isinstance(impl, HubvendorModelResolver) for impl in registry.model_resolver._impls):
        registry.model_resolver.add_implementation(HubvendorModelResolver())


def vendored(ref: ModelRef) -> tuple[int, str] | None:
    """``(version, directory)`` of the vendored copy: ``ref``'s version, or the pinned one when it has none.

    The vendored steps of the resolution chain are asked in its order; the directory is held as ``resolve``
    holds it, so a ``vendor -o`` replacing it keeps the tree until this process exits.
    """
    for step in runtime.vendored_steps():
        if ref.version is not None:
            model_dir = step.directory(ref.key)
            if model_dir:
                return ref.version, model_dir
            continue
        candidates = []
        for key in step.source.find():
            try:
                other = ModelRef.from_key(key)
            except InvalidHandleError:
                continue
            if other.version is not None and other.same_model(ref):
                candidates.append((other.version, key))
        for version, key in sorted(candidates, reverse=True):
            model_dir = step.directory(key)
            if model_dir:
                return version, model_dir
    return None


def _ref(h: ModelHandle) -> ModelRef:
    return ModelRef(h.owner, h.model, h.framework, h.variation, h.version if h.is_versioned() else None)


def _inside(ref: ModelRef, model_dir: str, path: str) -> str:
    target = os.path.normpath(os.path.join(model_dir, path))
    if os.path.commonpath([target, os.path.normpath(model_dir)]) != os.path.normpath(model_dir) or not os.path.exists(target):
        raise MissingFileError(f"kaggle://{ref.slug}: {path!r} is not present in the model files ({model_dir})")
    return target


def _offline(ref: ModelRef, path: str | None, *, force_download: bool) -> tuple[str, int | None]:
    """HUBVENDOR_OFFLINE: kagglehub's complete cache entries, or one line saying why nothing is downloaded."""
    where = kagglecache.root()
    if not force_download:
        version = ref.version if ref.version is not None else max(kagglecache.versions(ref), default=None)
        if version is not None:
            pinned = ModelRef(ref.owner, ref.model, ref.framework, ref.variation, version)
            found = kagglecache.locate_file(pinned, path) if path else kagglecache.locate(pinned.key)
            if found:
                return found, version
    asked = "force_download=True asks for a download" if force_download else (
        f"not vendored ({', '.join(step.name for step in runtime.vendored_steps())}) and not complete in kagglehub's cache {where}")
    what = f"kaggle://{ref.slug}" + (f" file {path!r}" if path else "")
    raise OfflineError(f"{what}: {asked}, and HUBVENDOR_OFFLINE is set, so nothing is downloaded")


def _copy_to_output_dir(h: ModelHandle, source: str, path: str | None, output_dir: str) -> str:
    """kagglehub's ``output_dir=`` result, from the vendored files: the same paths and completion markers."""
    cache = Cache(override_dir=output_dir)
    present = cache.load_from_cache(h, path)
    if present:
        return present
    target = cache.get_path(h, path)
    if path:
        if os.path.exists(target):
            raise FileExistsError(f"File already exists at output_dir: {target}. Set force_download=True to replace it.")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)
    else:
        if os.path.isfile(output_dir) or (os.path.isdir(output_dir) and os.listdir(output_dir)):
            raise FileExistsError(f"output_dir is not empty: {output_dir}. Set force_download=True to replace it.")
        shutil.copytree(source, output_dir, dirs_exist_ok=True)
    cache.mark_as_complete(h, path)
    return target
