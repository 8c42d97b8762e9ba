"""TOML files read with one clear error per problem (tomllib; tomli before Python 3.11); only regular
files of bounded size (``smallfile``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from . import smallfile
from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


def read(path: Path) -> dict[str, Any]:
    """``path`` parsed. FileNotFoundError passes through (callers differ on it); any other
    problem is a :class:`ConfigError` naming ``path``."""
    try:
        return tomllib.loads(smallfile.read_text(path))
    except (FileNotFoundError, ConfigError):
        raise
    except UnicodeDecodeError as exc:  # before ValueError: both it and TOMLDecodeError are ValueErrors
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError(f"{str(path)!r}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ConfigError(f"{path}: not valid TOML (values nested too deeply)") from None
