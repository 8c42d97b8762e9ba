"""The TensorFlow side: hubvendor's resolver inside tensorflow_hub, and ``load`` without tensorflow_hub.

:func:`register_resolver` (called by :mod:`hubvendor._autoload` once tensorflow_hub is imported, or by
``hubvendor.install()``) adds :class:`HubVendorResolver` to ``tensorflow_hub.registry.resolver``; being
added last it is tried first, so ``hub.load``/``hub.KerasLayer``/``hub.resolve`` go through
``runtime.resolve`` wherever hubvendor has something to add. Nothing here imports TensorFlow at module level.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from . import settings
from .errors import HubVendorError, IncompatibleModelError, InvalidHandleError
from .filesystems import is_remote
from .entry import SAVED_MODEL_FILES
from .handle import parse

TPU_HOST_IO_DEVICE = "/job:localhost"
MODULE_PROTO = "tfhub_module.pb"


class HubVendorResolver:
    """A tensorflow_hub resolver (``is_supported``/``__call__``) backed by ``runtime.resolve``.

    It claims every handle where hubvendor adds something: a vendored copy, the cache with its
    integrity checks, offline mode, a downloader config that rewrites or blocks the URL. It leaves
    to tensorflow_hub's own resolvers (so their results, errors, and any patch a program or test
    applies to them, stay tensorflow_hub's) the handles where ``runtime.steps_aside`` says hubvendor
    would add nothing (local paths, ``gs://`` directories, UNCOMPRESSED loads with nothing vendored,
    no rule and not offline) and strings hubvendor cannot parse.
    """

    def is_supported(self, handle: object) -> bool:
        if handle is _PROBE:
            return True
        if not isinstance(handle, str):
            return False
        from .runtime import steps_aside

        try:
            return not steps_aside(handle)
        except InvalidHandleError:
            return False
        except HubVendorError:
            return True  # a bad setting: resolving says which, on one line

    def __call__(self, handle: str) -> str:
        if handle is _PROBE:
            return _PROBE
        from .runtime import resolve

        return resolve(handle)


_PROBE = object()  # a handle only HubVendorResolver claims: asking the registry shows whether it is in


def registered(registry: Any) -> bool:
    """Whether ``registry.resolver`` answers through a :class:`HubVendorResolver` (asked through its public call)."""
    try:
        return registry.resolver(_PROBE) is _PROBE
    except Exception:  # tensorflow_hub's resolvers fail on a non-string handle: hubvendor's did not answer
        return False


def register_resolver() -> None:
    """Add hubvendor's resolver to the imported tensorflow_hub's registry, unless it already answers there."""
    from tensorflow_hub import registry

    if not registered(registry):
        registry.resolver.add_implementation(HubVendorResolver())


def default_load_options(path: str) -> Any:
    """The ``tf.saved_model.LoadOptions`` hubvendor uses for ``path`` when the caller passes none.

    ``HUBVENDOR_IO_DEVICE`` wins; on a Colab TPU runtime a local path is read through the host
    (``/job:localhost``) because TPU workers cannot see the VM's disk. Otherwise None.
    """
    device = settings.io_device() or (TPU_HOST_IO_DEVICE if settings.colab_tpu() and not is_remote(path) else "")
    if not device:
        return None
    import tensorflow as tf

    return tf.saved_model.LoadOptions(experimental_io_device=device)


def _load_v2(path: str, tags: list[str] | None, options: Any) -> Any:
    """The one call into TensorFlow's loader (tests wrap it to see what TensorFlow received)."""
    import tensorflow as tf

    return tf.compat.v1.saved_model.load_v2(path, tags=tags, options=options)


def load(handle: str, tags: list[str] | None = None, options: Any = None) -> Any:
    """``hub.load`` without tensorflow_hub: resolve ``handle`` with hubvendor and load the SavedModel.

    TF1 Hub-format modules (with ``tfhub_module.pb``) default to ``tags=[]``. Without ``options``,
    :func:`default_load_options` applies (Colab TPU host IO, ``HUBVENDOR_IO_DEVICE``).
    """
    if not isinstance(handle, str):
        raise InvalidHandleError(f"handle {handle!r}: expected a string")
    import tensorflow as tf

    from .runtime import resolve

    path = resolve(handle)
    is_hub_module_v1 = tf.io.gfile.exists(os.path.join(path, MODULE_PROTO))
    if tags is None and is_hub_module_v1:
        tags = []
    if not any(tf.io.gfile.exists(os.path.join(path, name)) for name in SAVED_MODEL_FILES):
        raise IncompatibleModelError(
            f"{handle}: resolved to {path}, which contains neither {' nor '.join(SAVED_MODEL_FILES)} "
            "(not a SavedModel or TF1 Hub module)"
        )
    obj = _load_v2(path, tags, options if options is not None else default_load_options(path))
    obj._is_hub_module_v1 = is_hub_module_v1  # as hub.load sets it; hub.KerasLayer reads it
    return obj
