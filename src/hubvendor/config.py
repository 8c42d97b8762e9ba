"""The ``[tool.hubvendor]`` table of a project's ``pyproject.toml``, validated strictly.

Every problem is one :class:`ConfigError` naming ``pyproject.toml``, the key and what was expected.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import tomlfile
from .errors import ConfigError, InvalidHandleError
from .handle import normalise
from .lockfile import FILENAME as LOCK_FILENAME
from .sources import SITE_DIR
from .settings import parse_size

PYPROJECT = "pyproject.toml"
TABLE = "[tool.hubvendor]"
DEFAULT_MODELS_DIR = SITE_DIR + "/{dist}"
_KEYS = ("models", "locked", "lock-file", "models-dir", "max-model-size", "max-total-size", "jobs")
_MODEL_KEYS = ("handle", "sha256")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelDecl:
    """One declared model: the handle as written, its normalised key and an optional pin."""

    handle: str
    key: str
    sha256: str | None = None


@dataclass(frozen=True)
class Config:
    """A validated ``[tool.hubvendor]`` table of the project at ``root``."""

    root: Path
    models: tuple[ModelDecl, ...]
    locked: bool = False
    lock_file: str = LOCK_FILENAME
    models_dir: str = DEFAULT_MODELS_DIR
    max_model_size: int | None = None
    max_total_size: int | None = None
    jobs: int = 4

    @property
    def lock_path(self) -> Path:
        return self.root / self.lock_file

    def wheel_models_dir(self, dist: str) -> str:
        """Where models go in the wheel, relative to the purelib root (``{dist}`` filled in)."""
        return self.models_dir.replace("{dist}", dist_key(dist))


def dist_key(name: str) -> str:
    """A distribution name as wheel file names spell it (``My.App-x`` -> ``my_app_x``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def load(project_dir: str | os.PathLike) -> Config | None:
    """The project's config, or None when its pyproject.toml has no ``[tool.hubvendor]`` table."""
    root = Path(project_dir).resolve()
    path = root / PYPROJECT
    try:
        data = tomlfile.read(path)
    except FileNotFoundError:
        return None
    tool = data.get("tool", {})
    if not isinstance(tool, dict) or "hubvendor" not in tool:
        return None
    return parse(tool["hubvendor"], root, str(path))


def parse(table: object, root: str | os.PathLike, where: str = PYPROJECT) -> Config:
    """Validate a decoded ``[tool.hubvendor]`` table; ``where`` names the file in errors."""
    prefix = f"{where}: {TABLE}"
    if not isinstance(table, dict):
        raise ConfigError(f"{prefix}: expected a table, got {type(table).__name__}")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{prefix}: unknown key {unknown[0]!r}; expected one of {', '.join(_KEYS)}")
    if "models" not in table:
        raise ConfigError(f"{prefix}: missing key 'models'; expected a list of handles")
    models = _models(table["models"], prefix)
    return Config(
        root=Path(root),
        models=models,
        locked=_bool(table, "locked", prefix),
        lock_file=_lock_file(table, prefix),
        models_dir=_models_dir(table, prefix),
        max_model_size=_size(table, "max-model-size", prefix),
        max_total_size=_size(table, "max-total-size", prefix),
        jobs=_jobs(table, prefix),
    )


def _models(value: object, prefix: str) -> tuple[ModelDecl, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{prefix} models: expected a list of handle strings or {{ handle, sha256 }} tables")
    decls: list[ModelDecl] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(value):
        where = f"{prefix} models[{index}]"
        if isinstance(item, str):
            handle, sha256 = item, None
        elif isinstance(item, dict):
            unknown = sorted(set(item) - set(_MODEL_KEYS))
            if unknown:
                raise ConfigError(f"{where}: unknown key {unknown[0]!r}; expected handle and optional sha256")
            if "handle" not in item:
                raise ConfigError(f"{where}: missing key 'handle'")
            handle, sha256 = item["handle"], item.get("sha256")
            if not isinstance(handle, str):
                raise ConfigError(f"{where}.handle = {handle!r}: expected a string")
            if sha256 is not None and not (isinstance(sha256, str) and _SHA256.match(sha256)):
                raise ConfigError(f"{where}.sha256 = {sha256!r}: expected 64 lowercase hex digits")
        else:
            raise ConfigError(f"{where} = {item!r}: expected a handle string or a {{ handle, sha256 }} table")
        try:
            key = normalise(handle)
        except InvalidHandleError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if key in seen:
            raise ConfigError(f"{where} = {handle!r}: duplicate of models[{seen[key]}] (same model {key!r})")
        seen[key] = index
        decls.append(ModelDecl(handle, key, sha256))
    return tuple(decls)


def _bool(table: dict, name: str, prefix: str) -> bool:
    value = table.get(name, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{prefix} {name} = {value!r}: expected true or false")
    return value


def _lock_file(table: dict, prefix: str) -> str:
    value = table.get("lock-file", LOCK_FILENAME)
    return _relative_path(value, f"{prefix} lock-file", "inside the project such as 'hubvendor.lock' or 'locks/models.lock'")


def _models_dir(table: dict, prefix: str) -> str:
    """Under ``hubvendor.d/{dist}`` or inside the project's own package (checked against the wheel when built).

    Never hubvendor's package, ``hubvendor.d`` itself or another name in it: directories other wheels share,
    so two wheels would own the same files and uninstalling one would break the other.
    """
    value = table.get("models-dir", DEFAULT_MODELS_DIR)
    path = _relative_path(value, f"{prefix} models-dir", "inside the wheel such as 'hubvendor.d/{dist}' or 'mypkg/models'")
    parts = path.split("/")
    if parts[0].endswith((".dist-info", ".data")):
        raise ConfigError(f"{prefix} models-dir = {value!r}: must not be inside the .dist-info or .data directory")
    top = parts[0].lower()
    if top == "hubvendor" or (top == SITE_DIR and parts[1:2] != ["{dist}"]):
        why = ("is hubvendor's own package" if top == "hubvendor" else
               f"is shared by every vendoring wheel and only {DEFAULT_MODELS_DIR!r} in it is this wheel's")
        raise ConfigError(
            f"{prefix} models-dir = {value!r}: {parts[0]!r} {why}; use {DEFAULT_MODELS_DIR!r} (the default) "
            "or a directory inside your own package such as 'my_app/models'"
        )
    return path


def _relative_path(value: object, where: str, example: str) -> str:
    """The one rule for paths in the table: relative POSIX paths that stay below their base (no ``..``)."""
    expected = f"expected a relative POSIX path {example} (no '..', no backslashes or control characters)"
    if not isinstance(value, str) or not value.strip("/"):
        raise ConfigError(f"{where} = {value!r}: {expected}")
    path = PurePosixPath(value)
    if (path.is_absolute() or "\\" in value or any(p in ("..", ".") for p in path.parts)
            or any(ord(c) < 32 or c == "\x7f" for c in value) or not path.parts):
        raise ConfigError(f"{where} = {value!r}: {expected}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{where} = {value!r}: {expected}") from None
    return str(path)


def _size(table: dict, name: str, prefix: str) -> int | None:
    value = table.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (isinstance(value, int) and value < 0):
        raise ConfigError(f"{prefix} {name} = {value!r}: expected a size in bytes or a string such as '2GiB'")
    if isinstance(value, int):
        return value
    try:
        return parse_size(value, name)
    except ConfigError:
        raise ConfigError(f"{prefix} {name} = {value!r}: expected a size such as 1000, '512M' or '2GiB'") from None


def _jobs(table: dict, prefix: str) -> int:
    value = table.get("jobs", 4)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{prefix} jobs = {value!r}: expected a positive integer")
    return value
