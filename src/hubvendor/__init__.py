"""hubvendor: TensorFlow Hub models as hermetic build inputs.

``import hubvendor`` stays cheap: it imports neither TensorFlow nor requests.
The public functions load their modules on first use.
"""

__version__ = "0.1.0"
__all__ = ["resolve", "explain", "load", "install", "HubVendorError"]

_LAZY = {
    "resolve": ("runtime", "resolve"),  # imports only os and sys until the chain needs more
    "explain": ("explanation", "explain"),
    "load": ("tf", "load"),
    "install": ("_autoload", "install"),
    "HubVendorError": ("errors", "HubVendorError"),
}


def __getattr__(name: str) -> object:  # no typing import: it runs at every start-up (autoload .pth)
    if name not in _LAZY:
        raise AttributeError(f"module 'hubvendor' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    value = getattr(__import__(f"{__name__}.{module_name}", fromlist=[attribute]), attribute)  # not importlib: ~0.5 ms
    globals()[name] = value
    return value
