"""Models vendored into Bazel runfiles by ``hub_models()`` / ``hub_model()`` (see docs/bazel.md).

Bazel rules write vendored manifests named ``*.hubvendor.json`` into the runfiles, in the format of
:mod:`hubvendor.manifest` with ``"runfiles_path"`` in place of ``"path"``. :func:`find_models` finds
them through the runfiles, with a runfiles directory (``RUNFILES_DIR``) or manifest-only runfiles
(``RUNFILES_MANIFEST_FILE``), and maps each normalised handle to the model's local directory.
No Bazel library is needed, and outside Bazel it returns at once.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

from .errors import ConfigError, InvalidHandleError
from .entry import SAVED_MODEL_FILES
from .handle import normalise

MANIFEST_SUFFIX = ".hubvendor.json"
MANIFEST_FORMAT = "hubvendor-manifest/1"


@dataclass(frozen=True)
class Runfiles:
    """Where a process's runfiles are: a directory, a runfiles MANIFEST, or both."""

    directory: str | None
    manifest: str | None


def locate() -> Runfiles | None:
    """The runfiles of this process, as Bazel's runfiles libraries find them, or None."""
    manifest = os.environ.get("RUNFILES_MANIFEST_FILE", "")
    if manifest and os.path.isfile(manifest):
        return Runfiles(None, manifest)
    directory = os.environ.get("RUNFILES_DIR", "")
    if not (directory and os.path.isdir(directory)):
        directory = ""
        argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
        if argv0 and os.path.isfile(argv0 + ".runfiles_manifest"):
            return Runfiles(None, argv0 + ".runfiles_manifest")
        if argv0 and os.path.isdir(argv0 + ".runfiles"):
            directory = argv0 + ".runfiles"
    if not directory:
        return None
    inner = os.path.join(directory, "MANIFEST")
    return Runfiles(directory, inner if os.path.isfile(inner) else None)


def read_runfiles_manifest(path: str) -> dict[str, str]:
    """A runfiles MANIFEST (``<runfiles path> <real path>`` lines) as a dict."""
    entries: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                rlocation, _, real = line.rstrip("\n").partition(" ")
                if rlocation:
                    entries[rlocation] = real
    except OSError as exc:
        raise ConfigError(f"runfiles manifest {path}: cannot be read ({exc.strerror or exc})") from None
    return entries


def find_models() -> dict[str, str]:
    """Normalised handle key -> absolute directory of each model vendored into this process's runfiles.

    Empty (without touching the file system beyond a few stats) when not running under Bazel.
    Raises :class:`ConfigError` for a malformed hubvendor manifest in the runfiles.
    """
    runfiles = locate()
    if runfiles is None:
        return {}
    entries = read_runfiles_manifest(runfiles.manifest) if runfiles.manifest else None
    models: dict[str, str] = {}
    for manifest_path in _hubvendor_manifests(runfiles, entries):
        for key, runfiles_path in _read_manifest(manifest_path).items():
            directory = _model_directory(runfiles, entries, runfiles_path)
            if directory and key not in models:
                models[key] = directory
    return models


def _hubvendor_manifests(runfiles: Runfiles, entries: dict[str, str] | None) -> list[str]:
    """Real paths of the hubvendor manifests in the runfiles, each once, in a stable order."""
    if entries is not None:
        found = [real for rlocation, real in sorted(entries.items()) if rlocation.endswith(MANIFEST_SUFFIX)]
    else:
        found = []
        for parent, dirs, files in os.walk(runfiles.directory):
            dirs.sort()
            found.extend(os.path.join(parent, f) for f in sorted(files) if f.endswith(MANIFEST_SUFFIX))
    unique: dict[str, str] = {}
    for path in found:
        unique.setdefault(os.path.realpath(path), path)
    return list(unique.values())


def _read_manifest(path: str) -> dict[str, str]:
    """Normalised key -> runfiles_path for one Bazel-written hubvendor manifest."""
    try:
        with open(path, encoding="utf-8") as stream:
            data = json.load(stream)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"hubvendor manifest {path} in the Bazel runfiles: cannot be read ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("models"), dict):
        raise ConfigError(
            f"hubvendor manifest {path} in the Bazel runfiles: expected {{\"format\": \"{MANIFEST_FORMAT}\", \"models\": {{...}}}}"
        )
    models: dict[str, str] = {}
    for key, entry in data["models"].items():
        runfiles_path = entry.get("runfiles_path") if isinstance(entry, dict) else None
        if not isinstance(runfiles_path, str) or not runfiles_path:
            raise ConfigError(f"hubvendor manifest {path}: model {key!r} has no \"runfiles_path\"")
        models[_normalised(entry.get("handle") or key)] = runfiles_path
    return models


def _normalised(handle: str) -> str:
    """The manifest's handle normalised in Python, so keys never depend on Starlark's normalisation."""
    try:
        return normalise(handle)
    except InvalidHandleError:
        return handle


def _model_directory(runfiles: Runfiles, entries: dict[str, str] | None, runfiles_path: str) -> str | None:
    """The model's directory: in the runfiles tree, else the directory holding its SavedModel file."""
    if runfiles.directory:
        candidate = os.path.join(runfiles.directory, *runfiles_path.split("/"))
        if os.path.isdir(candidate):
            return os.path.abspath(candidate)
    for name in SAVED_MODEL_FILES:
        real = (entries or {}).get(f"{runfiles_path}/{name}")
        if real:
            return os.path.dirname(os.path.abspath(real))
    return None
