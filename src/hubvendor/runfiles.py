"""Models vendored into Bazel runfiles by ``hub_models()`` / ``hub_model()`` (see docs/bazel.md).

Bazel rules write vendored manifests named ``*.hubvendor.json`` into the runfiles, in the format of
:mod:`hubvendor.manifest` with ``"runfiles_path"`` in place of ``"path"``. :func:`find_models` finds
them through the runfiles, with a runfiles directory (``RUNFILES_DIR``) or manifest-only runfiles
(``RUNFILES_MANIFEST_FILE``), and maps each normalised handle to the model's local directory.
No Bazel library is needed. Imports only ``os`` and ``sys`` at the top: :func:`present` runs in
the start-up pass of every ``hubvendor.resolve`` and costs a few stats outside Bazel.
"""

import os
import sys

MANIFEST_SUFFIX = ".hubvendor.json"


class Runfiles:
    """Where a process's runfiles are: a directory, a runfiles MANIFEST, or both."""

    def __init__(self, directory: "str | None", manifest: "str | None") -> None:
        self.directory = directory
        self.manifest = manifest


def locate() -> "Runfiles | None":
    """The runfiles of this process, as Bazel's runfiles libraries find them, or None."""
    manifest = os.environ.get("RUNFILES_MANIFEST_FILE", "")
    if manifest and os.path.isfile(manifest):
        return Runfiles(None, manifest)
    directory = os.environ.get("RUNFILES_DIR", "")
    if not (directory and os.path.isdir(directory)):
        directory = ""
        argv0 = sys.argv[0] if getattr(sys, "argv", None) and isinstance(sys.argv[0], str) else ""
        if argv0 and os.path.isfile(argv0 + ".runfiles_manifest"):
            return Runfiles(None, argv0 + ".runfiles_manifest")
        if argv0 and os.path.isdir(argv0 + ".runfiles"):
            directory = argv0 + ".runfiles"
    if not directory:
        return None
    inner = os.path.join(directory, "MANIFEST")
    return Runfiles(directory, inner if os.path.isfile(inner) else None)


def present() -> bool:
    """Whether this process has runfiles (it runs under ``bazel run``/``bazel test`` or from bazel-bin)."""
    return locate() is not None


def read_runfiles_manifest(path: str) -> "dict[str, str]":
    """A runfiles MANIFEST (``<runfiles path> <real path>`` lines) as a dict."""
    from .errors import ConfigError

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


def find_models() -> "dict[str, str]":
    """Normalised handle key -> absolute directory of each model vendored into this process's runfiles.

    Empty (without touching the file system beyond a few stats) when not running under Bazel.
    Raises :class:`ConfigError` for a malformed hubvendor manifest in the runfiles, and for a handle two
    manifests pin to different copies (two repositories of one model in one binary: neither may win silently).
    A manifest inside a model's tree (an archive's file, not one ``hub_models()`` wrote) is ignored.
    """
    from . import manifest
    from .errors import ConfigError

    runfiles = locate()
    if runfiles is None:
        return {}
    entries = read_runfiles_manifest(runfiles.manifest) if runfiles.manifest else None
    models: dict[str, str] = {}
    first: "dict[str, tuple[manifest.ManifestEntry, str]]" = {}  # key -> (the entry, the manifest that first named it)
    found = [(rlocation, path, _read(path)) for rlocation, path in _hubvendor_manifests(runfiles, entries)]
    model_paths = {entry.path.rstrip("/") + "/" for *_, read in found if not isinstance(read, ConfigError)
                   for entry in read.models.values()}
    for rlocation, manifest_path, read in found:
        if any(rlocation.startswith(model_path) for model_path in model_paths):
            continue  # a file inside a model's tree is model data: it may not vouch for any handle
        if isinstance(read, ConfigError):
            raise read
        for key, entry in read.models.items():
            other, other_path = first.setdefault(key, (entry, manifest_path))
            conflict = _different_copies(other, entry)
            if conflict:
                raise ConfigError(
                    f"{entry.handle}: vendored twice in this binary's runfiles, as {conflict[0]} ({other_path}) and "
                    f"{conflict[1]} ({manifest_path}); depend on one of the two repositories")
            directory = _model_directory(runfiles, entries, entry.path)
            if directory and key not in models:
                models[key] = directory
    return models


def _read(path: str) -> "manifest.Manifest | ConfigError":
    """The manifest at ``path``, or the error reading it (raised only if it is not model data)."""
    from . import manifest
    from .errors import ConfigError

    try:
        return manifest.read(path)
    except ConfigError as exc:
        return exc


def _different_copies(one: "manifest.ManifestEntry", other: "manifest.ManifestEntry") -> "tuple[str, str] | None":
    """How two manifest entries of one handle differ (e.g. ``("sha256 ab..", "sha256 cd..")``), or None.

    The tree digest identifies a copy (a Kaggle model locked from kagglehub's cache has no archive sha256);
    the archive sha256 only when either lacks it. What neither records cannot be told apart: None.
    """
    for name in ("tree_digest", "sha256"):
        mine, theirs = getattr(one, name), getattr(other, name)
        if mine and theirs:
            return None if mine == theirs else (f"{name.replace('_', ' ')} {mine}", f"{name.replace('_', ' ')} {theirs}")
    return None


def _hubvendor_manifests(runfiles: Runfiles, entries: "dict[str, str] | None") -> "list[tuple[str, str]]":
    """(runfiles path, path) of the hubvendor manifests in the runfiles, each file once, in a stable order."""
    if entries is not None:
        found = [(rlocation, real) for rlocation, real in sorted(entries.items()) if rlocation.endswith(MANIFEST_SUFFIX)]
    else:
        found = []
        for parent, dirs, files in os.walk(runfiles.directory):
            dirs.sort()
            found.extend((os.path.relpath(os.path.join(parent, f), runfiles.directory).replace(os.sep, "/"),
                          os.path.join(parent, f)) for f in sorted(files) if f.endswith(MANIFEST_SUFFIX))
    unique: "dict[str, tuple[str, str]]" = {}
    for rlocation, path in found:
        unique.setdefault(os.path.realpath(path), (rlocation, path))
    return list(unique.values())


def _model_directory(runfiles: Runfiles, entries: "dict[str, str] | None", runfiles_path: str) -> "str | None":
    """The model's directory: in the runfiles tree, else the real directory the MANIFEST maps its files into
    (found from its SavedModel file, or, for a model without one such as a Keras Hub preset, any of its files)."""
    from .entry import SAVED_MODEL_FILES

    if runfiles.directory:
        candidate = os.path.join(runfiles.directory, *runfiles_path.split("/"))
        if os.path.isdir(candidate):
            return os.path.abspath(candidate)
    for name in SAVED_MODEL_FILES:
        real = (entries or {}).get(f"{runfiles_path}/{name}")
        if real:
            return os.path.dirname(os.path.abspath(real))
    prefix = runfiles_path + "/"
    for rlocation, real in sorted((entries or {}).items()):
        relative = rlocation[len(prefix):]
        if rlocation.startswith(prefix) and real.replace(os.sep, "/").endswith("/" + relative):
            return os.path.abspath(real[: len(real) - len(relative) - 1])
    return None
