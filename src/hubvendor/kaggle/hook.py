"""Registering hubvendor with kagglehub when, and only if, the application imports kagglehub.

The finder is ``hubvendor._autoload.KAGGLEHUB``, the same import hook that serves tensorflow_hub, armed by the
``hubvendor-autoload.pth`` start-up hook: right after kagglehub's ``__init__`` has added its own resolvers,
:func:`hubvendor.kaggle.bridge.register` adds hubvendor's (added last, it is tried first).
"""

from .._autoload import KAGGLEHUB


def arm() -> None:
    """The next ``import kagglehub`` registers hubvendor (unless kagglehub is already imported)."""
    KAGGLEHUB.arm()


def disarm() -> None:
    KAGGLEHUB.disarm()


def install() -> None:
    """Route ``kagglehub.model_download`` through hubvendor now, or when kagglehub is imported (idempotent)."""
    KAGGLEHUB.install()
