"""Settings from the environment and tensorflow_hub's flags, read on every call.

tensorflow_hub's rule is kept: an environment variable wins over the absl flag.
hubvendor also reads ``--tfhub_cache_dir``/``--tfhub_model_load_format`` from
``sys.argv`` when absl has not parsed them, so plain scripts get the flags too.
"""

from __future__ import annotations

import math
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
_SIZE = re.compile(r"^\s*(\d{1,30}(?:\.\d{1,30})?)\s*(?:([kmgt])(i?)(b?)|(b?))\s*$", re.I)
MAX_SECONDS = 30 * 86400.0  # timeouts longer than a month are mistakes (and overflow some C APIs)


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


def env_number(name: str, default: float, *, positive: bool = False, maximum: float = MAX_SECONDS) -> float:
    """A finite number from the environment (``default`` when unset); ConfigError naming ``name`` otherwise."""
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r}: expected a number") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0) or number > maximum:
        bound = "greater than 0" if positive else "at least 0"
        raise ConfigError(f"environment variable {name}={value!r}: expected a number {bound} and at most {maximum:g}")
    return number


def env_int(name: str, default: int, *, maximum: int = 10**9) -> int:
    """A whole number 0..``maximum`` from the environment (``default`` when unset)."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or not value.isascii() or len(value) > 12 or int(value) > maximum:
        raise ConfigError(f"environment variable {name}={value!r}: expected a whole number from 0 to {maximum}")
    return int(value)


def parse_size(text: str, what: str) -> int:
    """``"1000"``, ``"500MB"``, ``"2GiB"`` -> bytes (kB/MB/GB/TB = 1000**n, KiB/MiB/GiB/TiB = 1024**n).

    A bare unit letter (``512M``) is decimal, as ``512MB``; ``what`` names the input in errors.
    """
    match = _SIZE.match(str(text))
    if not match:
        raise ConfigError(
            f"{what}={text!r}: expected a size such as 1000, 500MB or 2GiB "
            f"(kB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB powers of 1024)"
        )
    number, unit, binary = match.group(1, 2, 3)
    from fractions import Fraction

    power = " kmgt".index(unit.lower()) if unit else 0
    return int(Fraction(number) * (1024 if binary else 1000) ** power)  # exact: no float overflow


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
    """Seconds to wait for a connection (``HUBVENDOR_CONNECT_TIMEOUT``, default 10, > 0)."""
    return env_number("HUBVENDOR_CONNECT_TIMEOUT", 10.0, positive=True)


def read_timeout() -> float:
    """Seconds without a byte before a read is retried (``HUBVENDOR_READ_TIMEOUT``, default 60, > 0)."""
    return env_number("HUBVENDOR_READ_TIMEOUT", 60.0, positive=True)


def retries() -> int:
    """Retries of one download without progress (``HUBVENDOR_RETRIES``, default 5, at most 100)."""
    return env_int("HUBVENDOR_RETRIES", 5, maximum=100)


def min_speed() -> int:
    """Bytes per second below which a download fails (``HUBVENDOR_MIN_SPEED``, a size, default 10kB; 0: off)."""
    value = os.environ.get("HUBVENDOR_MIN_SPEED", "")
    return parse_size(value, "HUBVENDOR_MIN_SPEED") if value else 10_000


def min_speed_time() -> float:
    """Seconds over which HUBVENDOR_MIN_SPEED is measured (``HUBVENDOR_MIN_SPEED_TIME``, default 60)."""
    return env_number("HUBVENDOR_MIN_SPEED_TIME", 60.0, positive=True)


def connections() -> int:
    """Connections per download, and range connections per process (``HUBVENDOR_CONNECTIONS``, default 8; 1: one stream)."""
    return max(1, env_int("HUBVENDOR_CONNECTIONS", 8, maximum=64))


def ranged_min_size() -> int:
    """Archives at least this large are fetched in ranges (``HUBVENDOR_RANGED_MIN_SIZE``, a size, default 32MiB)."""
    value = os.environ.get("HUBVENDOR_RANGED_MIN_SIZE", "")
    return parse_size(value, "HUBVENDOR_RANGED_MIN_SIZE") if value else 32 << 20


def ranged_speed() -> float:
    """Bytes/s below which one connection gets help from ranges (``HUBVENDOR_RANGED_SPEED``, a size, default
    100MB; ``always``: ranges from the start)."""
    value = os.environ.get("HUBVENDOR_RANGED_SPEED", "").strip()
    if value.lower() == "always":
        return math.inf
    return parse_size(value, "HUBVENDOR_RANGED_SPEED") if value else 100_000_000


def max_members() -> int:
    return env_int("HUBVENDOR_MAX_MEMBERS", 200_000)


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


# Every setting that can be invalid: (what doctor calls it, the variable, its reader). doctor checks
# each; tests/test_settings.py fails when a reader that can raise ConfigError is missing here.
VALIDATED = (
    ("load format", "TFHUB_MODEL_LOAD_FORMAT", load_format),
    ("offline", "HUBVENDOR_OFFLINE", offline),
    ("locked", "HUBVENDOR_LOCKED", locked),
    ("cache max size", "HUBVENDOR_CACHE_MAX_SIZE", lambda: cache_max_size() or "unlimited (no automatic pruning)"),
    ("cache keep recent", "HUBVENDOR_CACHE_KEEP_RECENT", lambda: f"{cache_keep_recent():.0f}s"),
    ("inflate", "HUBVENDOR_INFLATE", inflate),
    ("source date epoch", "SOURCE_DATE_EPOCH", source_date_epoch),
    ("connect timeout", "HUBVENDOR_CONNECT_TIMEOUT", connect_timeout),
    ("read timeout", "HUBVENDOR_READ_TIMEOUT", read_timeout),
    ("retries", "HUBVENDOR_RETRIES", retries),
    ("min speed", "HUBVENDOR_MIN_SPEED", lambda: f"{min_speed()} bytes/s" if min_speed() else "off"),
    ("min speed time", "HUBVENDOR_MIN_SPEED_TIME", min_speed_time),
    ("max members", "HUBVENDOR_MAX_MEMBERS", max_members),
    ("max unpacked size", "HUBVENDOR_MAX_UNPACKED_SIZE", max_unpacked_bytes),
    ("lock timeout", "HUBVENDOR_LOCK_TIMEOUT", lock_timeout),
    ("connections", "HUBVENDOR_CONNECTIONS", connections),
    ("ranged min size", "HUBVENDOR_RANGED_MIN_SIZE", ranged_min_size),
    ("ranged speed", "HUBVENDOR_RANGED_SPEED", lambda: "always" if ranged_speed() == float("inf") else f"{ranged_speed():.0f} bytes/s"),
)
