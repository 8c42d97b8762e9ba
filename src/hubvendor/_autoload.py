"""Getting hubvendor's resolver into tensorflow_hub: the ``HUBVENDOR_AUTOLOAD`` rule, the import hook, ``install()``.

``hubvendor-autoload.pth`` calls :func:`startup` in every interpreter start-up of the environment. Unless
``HUBVENDOR_AUTOLOAD`` turns it off (:func:`setting`: the one reading of that variable, which ``doctor``
reports too), it puts a finder at the front of ``sys.meta_path``; that finder answers nothing except
``tensorflow_hub``, whose loader it wraps so that hubvendor's resolver is registered right after
tensorflow_hub's ``__init__`` has registered its own (being added last, hubvendor's is tried first). The
finder then removes itself. :func:`install` does the same on request, for interpreters that never process
``.pth`` files (rules_python's ``py_binary``, ``python -S``, ``HUBVENDOR_AUTOLOAD=0``).

Imports nothing at the top but ``sys`` (it runs in every Python process of the environment); the resolver
itself is in :mod:`hubvendor.tf`, imported only once tensorflow_hub is.
"""

import sys

TARGET = "tensorflow_hub"
VARIABLE = "HUBVENDOR_AUTOLOAD"
ON = ("1", "true", "yes", "on", "")  # "" (set but empty) means unset: the default, on
OFF = ("0", "false", "no", "off")


def setting(value: "str | None") -> "bool | None":
    """What a ``HUBVENDOR_AUTOLOAD`` value means: True (on; also unset or empty), False (off), None (invalid).

    Case and surrounding whitespace do not matter. The start-up hook treats an invalid value as on
    (the default); ``hubvendor doctor`` reports it as a problem.
    """
    word = (value or "").strip().lower()
    return True if word in ON else False if word in OFF else None


class _TensorflowHubHook:
    """A ``sys.meta_path`` finder that wraps tensorflow_hub's loader and otherwise finds nothing."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TARGET:
            return None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        original = getattr(loader, "exec_module", None)
        if original is None:
            return spec

        def exec_module(module):
            if module.__name__ != TARGET:  # a loader shared with other modules
                return original(module)
            try:
                original(module)
            finally:
                loader.__dict__.pop("exec_module", None)
            disarm()
            _register()

        loader.exec_module = exec_module
        return spec


_HOOK = _TensorflowHubHook()


def arm():
    """Put the hook first in ``sys.meta_path`` (once) so that the next ``import tensorflow_hub`` registers hubvendor."""
    if not armed():
        sys.meta_path.insert(0, _HOOK)


def armed():
    """Whether the next ``import tensorflow_hub`` registers hubvendor."""
    return any(isinstance(finder, _TensorflowHubHook) for finder in sys.meta_path)


def disarm():
    """Remove the hook from ``sys.meta_path``."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _TensorflowHubHook)]


def startup():
    """Run by ``hubvendor-autoload.pth``: arm the hook unless ``HUBVENDOR_AUTOLOAD`` is off."""
    import os  # already imported by site.py: free

    if setting(os.environ.get(VARIABLE)) is not False:
        if TARGET not in sys.modules:
            arm()
        from hubvendor.kaggle import hook  # the same for kagglehub (import-free, like this module)

        hook.arm()


def install():
    """Route tensorflow_hub's handle resolution through hubvendor (idempotent), whatever ``HUBVENDOR_AUTOLOAD`` says.

    Registers now when tensorflow_hub is imported, otherwise when it is (without importing it here).
    """
    module = sys.modules.get(TARGET)
    if module is not None and not getattr(module.__spec__, "_initializing", False):
        from .tf import register_resolver

        register_resolver()
    else:
        arm()


def _register():
    """The hook's action: add hubvendor's resolver to tensorflow_hub's registry, never breaking the import."""
    try:
        from .tf import register_resolver

        register_resolver()
    except Exception as exc:
        import warnings

        warnings.warn(f"hubvendor: could not register with tensorflow_hub ({exc!r}); "
                      "handles resolve with tensorflow_hub alone", RuntimeWarning, stacklevel=2)
