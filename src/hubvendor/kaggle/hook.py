"""Start-up hook: register hubvendor with kagglehub when, and only if, the application imports kagglehub.

Armed by ``hubvendor._autoload.startup`` (the ``hubvendor-autoload.pth`` start-up hook). It puts a
finder at the front of ``sys.meta_path`` that answers nothing but ``kagglehub``, whose loader it wraps so
that :func:`hubvendor.kaggle.bridge.register` runs right after kagglehub's ``__init__`` has added its own
resolvers (hubvendor's, added last, is tried first). Keep this module free of imports: it runs at start-up.
"""

import sys

TARGET = "kagglehub"


class _KagglehubHook:
    """A ``sys.meta_path`` finder that wraps kagglehub's loader and otherwise finds nothing."""

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


def _register():
    try:
        from hubvendor.kaggle.bridge import register

        register()
    except Exception as exc:  # never break `import kagglehub`
        import warnings

        warnings.warn(f"hubvendor: could not register with kagglehub ({exc!r}); "
                      "models download with kagglehub alone", RuntimeWarning, stacklevel=3)


_HOOK = _KagglehubHook()


def arm():
    """Put the hook first in ``sys.meta_path`` (once) unless kagglehub is already imported."""
    if TARGET not in sys.modules and not any(isinstance(f, _KagglehubHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _HOOK)


def disarm():
    """Remove the hook from ``sys.meta_path``."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _KagglehubHook)]


def install():
    """Route ``kagglehub.model_download`` through hubvendor now, or when kagglehub is imported (idempotent)."""
    module = sys.modules.get(TARGET)
    if module is not None and not getattr(module.__spec__, "_initializing", False):
        _register()
    else:
        arm()
