"""The vendored-models manifest: normalised handle key -> model directory plus digests.

The same JSON format is written by ``hubvendor vendor``, by the wheel build hooks
(``<purelib>/hubvendor.d/<dist>.json``) and by Bazel's ``hub_models`` rule (with
``runfiles_path`` instead of ``path``). Every problem reading one is a :class:`ConfigError`
naming the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from . import atomicfile, smallfile
from .errors import ConfigError, InvalidHandleError
from .handle import normalise

FORMAT = "hubvendor-manifest/1"
FILENAME = "hubvendor-manifest.json"
MODELS_DIR = "models"  # where `hubvendor vendor` puts the model trees, beside the manifest
_FIELDS = {"handle": str, "path": str, "sha256": str, "size": int, "tree_digest": str, "url": str,
           "files": int, "bytes": int}
_OPTIONAL = {"sha256", "size", "tree_digest", "url", "files", "bytes"}


@dataclass(frozen=True)
class ManifestEntry:
    handle: str
    path: str
    sha256: str = ""
    size: int = 0
    tree_digest: str = ""
    url: str = ""
    files: int | None = None  # the model directory's regular files and their bytes (the cheap completeness check)
    bytes: int | None = None


@dataclass
class Manifest:
    models: dict[str, ManifestEntry] = field(default_factory=dict)

    def add(self, entry: ManifestEntry) -> None:
        self.models[normalise(entry.handle)] = entry

    def to_json(self) -> str:
        models = {key: {k: v for k, v in asdict(self.models[key]).items() if v is not None} for key in sorted(self.models)}
        return json.dumps({"format": FORMAT, "models": models}, indent=2, sort_keys=True) + "\n"


def parse(text: str, source: str) -> Manifest:
    """Parse manifest JSON; ``source`` names the file in errors."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays/objects nested too deeply
        raise ConfigError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{source}: expected a JSON object with \"format\": \"{FORMAT}\"")
    models = data.get("models")
    if not isinstance(models, dict):
        raise ConfigError(f"{source}: key 'models': expected an object of handle key -> entry")
    manifest = Manifest()
    for key, raw in models.items():
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: models[{key!r}]: expected an object")
        values = dict(raw)
        if "runfiles_path" in values and "path" not in values:
            values["path"] = values.pop("runfiles_path")
        unknown = set(values) - set(_FIELDS)
        if unknown:
            raise ConfigError(f"{source}: models[{key!r}]: unknown keys {sorted(unknown)}")
        for name, kind in _FIELDS.items():
            if name not in values:
                if name not in _OPTIONAL:
                    wanted = "'path' (or 'runfiles_path')" if name == "path" else repr(name)
                    raise ConfigError(f"{source}: models[{key!r}]: missing key {wanted}")
            elif not isinstance(values[name], kind) or isinstance(values[name], bool):
                raise ConfigError(f"{source}: models[{key!r}].{name}: expected {kind.__name__}")
        if not values["path"] or any(ord(c) < 32 or c == "\x7f" for c in values["path"]):
            raise ConfigError(f"{source}: models[{key!r}].path = {values['path']!r}: expected a relative "
                              "directory path without control characters")
        try:
            manifest.add(ManifestEntry(**values))
        except InvalidHandleError as exc:
            raise ConfigError(f"{source}: models[{key!r}].handle: {exc}") from None
    return manifest


def read(path: str) -> Manifest:
    """The manifest at ``path``; unreadable, non-UTF-8 or malformed: ConfigError naming ``path``."""
    try:
        data = smallfile.read_bytes(path, what="manifest")
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError(f"{path!r}: cannot read manifest ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: manifest is not UTF-8 text (byte {exc.start})") from None
    return parse(text, path)


def write(path: str, manifest: Manifest) -> None:
    """Write atomically (a reader sees the old or the new manifest; no temp file is left behind)."""
    atomicfile.write(path, manifest.to_json())


def model_dirs(path: str) -> dict[str, str]:
    """Key -> absolute model directory for the manifest at ``path`` (relative paths from its dir)."""
    base = os.path.dirname(os.path.abspath(path))
    return {key: os.path.normpath(os.path.join(base, entry.path)) for key, entry in read(path).models.items()}
