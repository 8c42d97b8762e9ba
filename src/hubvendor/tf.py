"""The TensorFlow side: hubvendor's resolver inside tensorflow_hub, and ``load`` without tensorflow_hub.

``install()`` (run automatically by the ``hubvendor-autoload.pth`` start-up hook when tensorflow_hub is
imported) adds :class:`HubVendorResolver` to ``tensorflow_hub.registry.resolver``; being added last it
is tried first, so ``hub.load``/``hub.KerasLayer``/``hub.resolve`` go through ``runtime.resolve``.
Nothing here imports TensorFlow at module level.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from . import settings
from .errors import IncompatibleModelError, InvalidHandleError
from .filesystems import is_remote
from .entry import SAVED_MODEL_FILES
from .handle import parse

TPU_HOST_IO_DEVICE = "/job:localhost"
MODULE_PROTO = "tfhub_module.pb"


class HubVendorResolver:
    """A tensorflow_hub resolver (``is_supported``/``__call__``) backed by ``runtime.resolve``.

    It claims the handles that ``runtime.resolve`` looks up in vendored manifests and the cache:
    http(s) URLs and ``gs://`` archives that hubvendor can parse. Local paths and ``gs://``
    directories (used as given by both libraries) and strings hubvendor cannot parse stay with
    tensorflow_hub's own resolvers, so their results and errors are tensorflow_hub's.
    """

    def is_supported(self, handle: object) -> bool:
        if not isinstance(handle, str):
            return False
        try:
            return parse(handle).is_archive
        except InvalidHandleError:
            return False

    def __call__(self, handle: str) -> str:
        from .runtime import resolve

        return resolve(handle)


def registered(registry: Any) -> bool:
    """True when ``registry.resolver`` already holds a :class:`HubVendorResolver`."""
    return any(isinstance(impl, HubVendorResolver) for impl in getattr(registry.resolver, "_impls", ()))


def register_resolver() -> None:
    """Add hubvendor's resolver to the imported tensorflow_hub's registry, once."""
    from tensorflow_hub import registry

    if not registered(registry):
        registry.resolver.add_implementation(HubVendorResolver())


def install() -> None:
    """Route tensorflow_hub's handle resolution through hubvendor (idempotent).

    Registers now when tensorflow_hub is imported, otherwise when it is (without importing it here).
    Works with ``HUBVENDOR_AUTOLOAD=0`` too: that variable only turns off the start-up hook.
    """
    module = sys.modules.get("tensorflow_hub")
    if module is not None and not getattr(module.__spec__, "_initializing", False):
        register_resolver()
    else:
        from . import _autoload

        _autoload.arm()


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
