"""Start-up hook: register hubvendor with tensorflow_hub when, and only if, tensorflow_hub is imported.

``hubvendor-autoload.pth`` imports this module at interpreter start-up. It only puts a finder at the
front of ``sys.meta_path``; that finder answers nothing except ``tensorflow_hub``, whose loader it wraps
so that :func:`hubvendor.tf.install` runs right after tensorflow_hub's ``__init__`` (which registers
tensorflow_hub's own resolvers, so hubvendor's is added after them and tried first). The finder then
removes itself. Keep this module free of imports: it runs in every Python process of the environment.
"""

import sys

TARGET = "tensorflow_hub"
OFF = ("0", "false", "no", "off")  # settings.autoload() reads the same values


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
            try:
                from hubvendor.tf import register_resolver

                register_resolver()
            except Exception as exc:  # never break `import tensorflow_hub`
                import warnings

                warnings.warn(f"hubvendor: could not register with tensorflow_hub ({exc!r}); "
                              "handles resolve with tensorflow_hub alone", RuntimeWarning, stacklevel=2)

        loader.exec_module = exec_module
        return spec


_HOOK = _TensorflowHubHook()


def arm():
    """Put the hook first in ``sys.meta_path`` (once) so the next ``import tensorflow_hub`` installs."""
    if not any(isinstance(finder, _TensorflowHubHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _HOOK)


def disarm():
    """Remove the hook from ``sys.meta_path``."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _TensorflowHubHook)]


def startup():
    """Run by ``hubvendor-autoload.pth``: arm the hook unless HUBVENDOR_AUTOLOAD is 0/false/no/off."""
    # settings.autoload()'s rule, inlined: importing hubvendor.settings here would cost milliseconds.
    import os

    if os.environ.get("HUBVENDOR_AUTOLOAD", "1").strip().lower() not in OFF:
        if TARGET not in sys.modules:
            arm()
        from hubvendor.kaggle import hook  # the same for kagglehub (import-free, like this module)

        hook.arm()
