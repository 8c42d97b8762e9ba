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


class ImportHook:
    """A ``sys.meta_path`` finder that finds nothing itself; for its one ``target`` module it wraps the real
    loader so that ``action`` ("module:function", imported only then) runs right after the target's own
    ``__init__``, and then removes itself. An ``action`` that fails never breaks the import: it warns."""

    def __init__(self, target: str, action: str, library: str) -> None:
        self.target, self.action, self.library = target, action, library

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.target:
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
            if module.__name__ != self.target:  # a loader shared with other modules
                return original(module)
            try:
                original(module)
            finally:
                loader.__dict__.pop("exec_module", None)
            self.disarm()
            self.register()

        loader.exec_module = exec_module
        return spec

    def armed(self) -> bool:
        """Whether the next import of the target registers hubvendor."""
        return self in sys.meta_path

    def arm(self) -> None:
        """Put the hook first in ``sys.meta_path`` (once) unless the target is already imported."""
        if self.target not in sys.modules and not self.armed():
            sys.meta_path.insert(0, self)

    def disarm(self) -> None:
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]

    def install(self) -> None:
        """Register now when the target is imported, otherwise when it is (never importing it here)."""
        module = sys.modules.get(self.target)
        if module is not None and not getattr(module.__spec__, "_initializing", False):
            self.register()
        else:
            self.arm()

    def register(self) -> None:
        try:
            module, _, function = self.action.partition(":")
            getattr(__import__(module, fromlist=[function]), function)()
        except Exception as exc:
            import warnings

            warnings.warn(f"hubvendor: could not register with {self.target} ({exc!r}); "
                          f"{self.library} works alone", RuntimeWarning, stacklevel=2)


TENSORFLOW_HUB = ImportHook(TARGET, "hubvendor.tf:register_resolver", "handles resolve with tensorflow_hub")
KAGGLEHUB = ImportHook("kagglehub", "hubvendor.kaggle.bridge:register", "models download with kagglehub")
HOOKS = (TENSORFLOW_HUB, KAGGLEHUB)


def arm():
    """Arm the tensorflow_hub hook: the next ``import tensorflow_hub`` registers hubvendor."""
    TENSORFLOW_HUB.arm()


def armed():
    """Whether the next ``import tensorflow_hub`` registers hubvendor."""
    return TENSORFLOW_HUB.armed()


def disarm():
    """Remove the tensorflow_hub hook from ``sys.meta_path``."""
    TENSORFLOW_HUB.disarm()


def startup():
    """Run by ``hubvendor-autoload.pth``: arm both hooks unless ``HUBVENDOR_AUTOLOAD`` is off."""
    import os  # already imported by site.py: free

    if setting(os.environ.get(VARIABLE)) is not False:
        for hook in HOOKS:
            hook.arm()


def install():
    """Route tensorflow_hub's handle resolution through hubvendor (idempotent), whatever ``HUBVENDOR_AUTOLOAD`` says.

    Registers now when tensorflow_hub is imported, otherwise when it is (without importing it here).
    """
    TENSORFLOW_HUB.install()
