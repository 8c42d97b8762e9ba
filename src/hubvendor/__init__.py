"""hubvendor: TensorFlow Hub models as hermetic build inputs.

``import hubvendor`` stays cheap: it imports neither TensorFlow nor requests.
The public functions load their modules on first use.
"""

__version__ = "0.1.0"
__all__ = ["resolve", "explain", "load", "install", "HubVendorError"]

_LAZY = {
    "resolve": ("runtime", "resolve"),
    "explain": ("runtime", "explain"),
    "load": ("tf", "load"),
    "install": ("tf", "install"),
    "HubVendorError": ("errors", "HubVendorError"),
}


def __getattr__(name: str) -> object:  # no typing import: it runs at every start-up (autoload .pth)
    if name not in _LAZY:
        raise AttributeError(f"module 'hubvendor' has no attribute {name!r}")
    import importlib

    module_name, attribute = _LAZY[name]
    value = getattr(importlib.import_module(f"hubvendor.{module_name}"), attribute)
    globals()[name] = value
    return value
