"""Where vendored models come from: the ordered list of manifest sources (``SOURCES``).

Each :class:`Source` maps normalised handle keys to model directories (``find``) and says, from
the environment alone, whether it can hold anything at all (``present``). ``runtime.CHAIN`` tries
the sources in this order, right after a path given as is: ``HUBVENDOR_PATH`` (the user's explicit
choice), then Bazel runfiles (a Bazel-run binary or test uses the models its own build declared,
whatever wheel the interpreter happens to carry), then installed wheels. A new vendored source is
one entry in ``SOURCES``; ``hubvendor which``, ``doctor`` and ``cache list`` follow.

Imports only ``os`` and ``sys`` at the top: ``present`` runs in the start-up pass of every
``hubvendor.resolve``. A bad manifest an installed wheel left on ``sys.path`` is skipped with one
warning naming it (one broken package must not break every resolve); a bad manifest in
``HUBVENDOR_PATH`` or in the runfiles is the user's or the build's own input and fails with a
``ConfigError`` naming it.
"""

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Callable

SITE_DIR = "hubvendor.d"
SKIPPED: "dict[str, str]" = {}  # wheel manifest path -> why it was skipped (warned once per process)


class Source:
    """A named source of vendored models: ``find() -> {key: dir}``, ``present() -> bool`` (cheap)."""

    def __init__(self, name: str, find: "Callable[[], dict[str, str]]", present: "Callable[[], bool]",
                 *, replaced_while_read: bool = False) -> None:
        self.name = name
        self.find = find
        self.present = present
        # ``hubvendor vendor -o`` may replace its directories under a running reader, so readers hold
        # them (``entry.hold``) and vendor deletes a replaced tree only once no reader holds it
        self.replaced_while_read = replaced_while_read


def vendor_path_dirs() -> "list[str]":
    """The directories named in ``HUBVENDOR_PATH`` (``os.pathsep``-separated, empty items ignored)."""
    return [p for p in os.environ.get("HUBVENDOR_PATH", "").split(os.pathsep) if p]


def hubvendor_path() -> "dict[str, str]":
    """Vendored directories listed in HUBVENDOR_PATH (each with a hubvendor-manifest.json)."""
    from . import manifest

    found: dict[str, str] = {}
    for directory in vendor_path_dirs():
        path = os.path.join(directory, manifest.FILENAME)
        if os.path.isfile(path):
            for key, model_dir in _model_dirs(path).items():
                found.setdefault(key, model_dir)
    return found


def site_dirs() -> "list[str]":
    """The ``hubvendor.d`` directories on ``sys.path``, where installed wheels put their manifests."""
    candidates = (os.path.join(entry or ".", SITE_DIR) for entry in sys.path if isinstance(entry, str))
    return [directory for directory in candidates if os.path.isdir(directory)]


def installed_wheels() -> "dict[str, str]":
    """Manifests installed by wheels: ``<sys.path entry>/hubvendor.d/*.json``; bad ones skipped with a warning."""
    from .errors import HubVendorError

    found: dict[str, str] = {}
    for directory in site_dirs():
        try:
            names = sorted(name for name in os.listdir(directory) if name.endswith(".json"))
        except OSError as exc:
            _skip(directory, f"cannot be listed ({exc.strerror or exc})")
            continue
        for name in names:
            path = os.path.join(directory, name)
            try:
                models = _model_dirs(path)
            except HubVendorError as exc:
                _skip(path, str(exc))
                continue
            for key, model_dir in models.items():
                found.setdefault(key, model_dir)
    return found


def bazel_runfiles() -> "dict[str, str]":
    """Models a Bazel ``hub_models`` rule put in this program's runfiles."""
    from . import runfiles

    return runfiles.find_models()


def in_bazel_runfiles() -> bool:
    from . import runfiles

    return runfiles.present()


SOURCES: "list[Source]" = [
    Source("HUBVENDOR_PATH", hubvendor_path, lambda: bool(vendor_path_dirs()), replaced_while_read=True),
    Source("Bazel runfiles", bazel_runfiles, in_bazel_runfiles),
    Source("installed wheels", installed_wheels, lambda: bool(site_dirs())),
]


def _model_dirs(path: str) -> "dict[str, str]":
    """``manifest.model_dirs`` with every way a manifest can be unreadable turned into a ``ConfigError``."""
    from . import manifest
    from .errors import ConfigError

    try:
        return manifest.model_dirs(path)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (ValueError, OSError) as exc:  # e.g. a NUL in a recorded path; the file vanished
        raise ConfigError(f"{path}: cannot be read as a hubvendor manifest ({exc})") from None


def _skip(path: str, reason: str) -> None:
    """Remember and warn (once per path) that a wheel's manifest is ignored."""
    if path in SKIPPED:
        return
    SKIPPED[path] = reason
    import logging

    logging.getLogger("hubvendor").warning(
        "hubvendor: ignoring the installed manifest %s: %s (reinstall or remove the package that put it there)",
        path, reason.removeprefix(f"{path}: "),
    )
