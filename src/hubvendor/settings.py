"""Settings from the environment and tensorflow_hub's flags, read on every call.

tensorflow_hub's rule is kept: an environment variable wins over the absl flag.
hubvendor also reads ``--tfhub_cache_dir``/``--tfhub_model_load_format`` from
``sys.argv`` when absl has not parsed them, so plain scripts get the flags too.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

from .errors import ConfigError

LOAD_FORMATS = ("COMPRESSED", "UNCOMPRESSED", "AUTO")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.I)
_AGE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.I)


def _flag(name: str) -> str:
    """An absl flag's value if absl has it, else ``--name=value`` / ``--name value`` from argv."""
    absl_flags = sys.modules.get("absl.flags")
    if absl_flags is not None:
        flags = absl_flags.FLAGS
        if name in flags and flags[name].present:
            return str(flags[name].value or "")
    argv = sys.argv or []
    for i, arg in enumerate(argv):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and i + 1 < len(argv):
            return argv[i + 1]
    return ""


def env_or_flag(env_var: str, flag_name: str) -> str:
    return os.environ.get(env_var, "") or _flag(flag_name)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ConfigError(f"environment variable {name}={value!r}: expected one of 1/0, true/false, yes/no, on/off")


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r}: expected a number") from None
    if number < 0:
        raise ConfigError(f"environment variable {name}={value!r}: expected a non-negative number")
    return number


def parse_size(text: str, what: str) -> int:
    """``"512M"``, ``"2GiB"``, ``"1000"`` -> bytes; ``what`` names the input in errors."""
    match = _SIZE.match(str(text))
    if not match:
        raise ConfigError(f"{what}={text!r}: expected a size such as 1000, 512M or 2GiB")
    number, unit, _ = match.groups()
    from fractions import Fraction

    return int(Fraction(number) * 1024 ** " kmgt".index(unit.lower() or " "))  # exact: no float overflow


def parse_age(text: str, what: str = "AGE") -> float:
    """``"90"``/``"90s"``, ``"15m"``, ``"12h"``, ``"30d"``, ``"2w"`` -> seconds; ``what`` names the input in errors."""
    match = _AGE.match(str(text))
    if not match:
        raise ConfigError(f"{what}={text!r}: expected an age such as 3600, 90m, 12h, 30d or 2w")
    return float(match.group(1)) * _AGE_UNITS[match.group(2).lower()]


def cache_dir() -> str:
    """tensorflow_hub's cache dir: TFHUB_CACHE_DIR, --tfhub_cache_dir, else <tmp>/tfhub_modules."""
    return env_or_flag("TFHUB_CACHE_DIR", "tfhub_cache_dir") or os.path.join(
        tempfile.gettempdir(), "tfhub_modules"
    )


def load_format() -> str:
    """TFHUB_MODEL_LOAD_FORMAT / --tfhub_model_load_format, validated; default AUTO."""
    value = env_or_flag("TFHUB_MODEL_LOAD_FORMAT", "tfhub_model_load_format") or "AUTO"
    if value not in LOAD_FORMATS:
        raise ConfigError(
            f"TFHUB_MODEL_LOAD_FORMAT / --tfhub_model_load_format={value!r}: expected one of {', '.join(LOAD_FORMATS)}"
        )
    return value


def offline() -> bool:
    return env_bool("HUBVENDOR_OFFLINE")


def download_progress() -> bool:
    """Progress bars when TFHUB_DOWNLOAD_PROGRESS is set or stderr is a terminal."""
    return bool(os.environ.get("TFHUB_DOWNLOAD_PROGRESS")) or sys.stderr.isatty()


def disable_cert_validation() -> bool:
    return os.environ.get("TFHUB_DISABLE_CERT_VALIDATION") == "true"


def downloader_config_path() -> str:
    return os.environ.get("HUBVENDOR_DOWNLOADER_CONFIG", "")


def locked() -> bool:
    return env_bool("HUBVENDOR_LOCKED")


def io_device() -> str:
    return os.environ.get("HUBVENDOR_IO_DEVICE", "")


def connect_timeout() -> float:
    return env_number("HUBVENDOR_CONNECT_TIMEOUT", 10.0)


def read_timeout() -> float:
    return env_number("HUBVENDOR_READ_TIMEOUT", 60.0)


def retries() -> int:
    return int(env_number("HUBVENDOR_RETRIES", 5))


def max_members() -> int:
    return int(env_number("HUBVENDOR_MAX_MEMBERS", 200_000))


def max_unpacked_bytes() -> int:
    value = os.environ.get("HUBVENDOR_MAX_UNPACKED_SIZE", "")
    return parse_size(value, "HUBVENDOR_MAX_UNPACKED_SIZE") if value else 64 * 1024**3


ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z: the earliest time a zip (hence a wheel) stores


def source_date_epoch() -> int:
    """Timestamp for reproducible output: SOURCE_DATE_EPOCH (not before 1980), else 1980-01-01."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return ZIP_EPOCH
    try:
        return max(ZIP_EPOCH, int(value))
    except ValueError:
        raise ConfigError(f"environment variable SOURCE_DATE_EPOCH={value!r}: expected an integer") from None


INFLATE_MODES = ("auto", "stream", "parallel")


def inflate() -> str:
    """HUBVENDOR_INFLATE: ``auto`` (default: parallel for big archives on enough CPUs), ``stream`` or ``parallel``."""
    value = os.environ.get("HUBVENDOR_INFLATE", "").strip().lower() or "auto"
    if value not in INFLATE_MODES:
        raise ConfigError(f"environment variable HUBVENDOR_INFLATE={value!r}: expected one of {', '.join(INFLATE_MODES)}")
    return value


def cache_max_size() -> int | None:
    value = os.environ.get("HUBVENDOR_CACHE_MAX_SIZE", "")
    return parse_size(value, "HUBVENDOR_CACHE_MAX_SIZE") if value else None


def lock_timeout() -> float:
    """Seconds without progress after which a download lock is broken (``HUBVENDOR_LOCK_TIMEOUT``, default 60)."""
    return env_number("HUBVENDOR_LOCK_TIMEOUT", 60.0)


def cache_keep_recent() -> float:
    """Seconds after a use during which prune leaves an entry alone (``HUBVENDOR_CACHE_KEEP_RECENT``, default 10m)."""
    value = os.environ.get("HUBVENDOR_CACHE_KEEP_RECENT", "")
    if not value:
        return 600.0
    return parse_age(value, "HUBVENDOR_CACHE_KEEP_RECENT")


def colab_tpu() -> bool:
    """A Colab TPU runtime: Colab's markers plus a TPU address (see docs/tensorflow.md)."""
    in_colab = bool(os.environ.get("COLAB_RELEASE_TAG")) or "google.colab" in sys.modules
    return in_colab and bool(os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME"))
