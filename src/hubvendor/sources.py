"""Where vendored models come from: a small registry of manifest sources, tried in order.

Each source returns ``{normalised handle key: model directory}`` and must be cheap:
a fresh process resolves a vendored handle without TensorFlow in a few milliseconds.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Callable

from . import manifest, settings

SITE_DIR = "hubvendor.d"

Source = Callable[[], dict[str, str]]


def hubvendor_path() -> dict[str, str]:
    """Vendored directories listed in HUBVENDOR_PATH (each with a hubvendor-manifest.json)."""
    found: dict[str, str] = {}
    for directory in settings.vendor_path():
        path = os.path.join(directory, manifest.FILENAME)
        if os.path.isfile(path):
            for key, model_dir in manifest.model_dirs(path).items():
                found.setdefault(key, model_dir)
    return found


def installed_wheels() -> dict[str, str]:
    """Manifests installed by wheels: ``<sys.path entry>/hubvendor.d/*.json``."""
    found: dict[str, str] = {}
    for entry in sys.path:
        directory = os.path.join(entry or ".", SITE_DIR)
        if os.path.isdir(directory):
            for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
                for key, model_dir in manifest.model_dirs(path).items():
                    found.setdefault(key, model_dir)
    return found


def bazel_runfiles() -> dict[str, str]:
    """Models a Bazel ``hub_models`` rule put in this program's runfiles."""
    from . import runfiles

    return runfiles.find_models()


SOURCES: list[tuple[str, Source]] = [
    ("HUBVENDOR_PATH", hubvendor_path),
    ("installed wheels", installed_wheels),
    ("Bazel runfiles", bazel_runfiles),
]


def register(name: str, source: Source) -> None:
    """Add a manifest source, tried after the built-in ones."""
    SOURCES.append((name, source))

