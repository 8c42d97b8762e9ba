"""Settings precedence as tensorflow_hub 0.16: environment, then --tfhub_* flags (absl or argv), then defaults."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from hubvendor import settings
from hubvendor.errors import ConfigError


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("TFHUB_CACHE_DIR", "TFHUB_MODEL_LOAD_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "argv", ["app"])
    return monkeypatch


def test_cache_dir_default_is_tensorflow_hubs(clean_env):
    assert settings.cache_dir() == os.path.join(tempfile.gettempdir(), "tfhub_modules")


def test_cache_dir_from_argv_in_both_spellings_and_env_wins(clean_env):
    clean_env.setattr(sys, "argv", ["app", "--tfhub_cache_dir=/flag/cache"])
    assert settings.cache_dir() == "/flag/cache"
    clean_env.setattr(sys, "argv", ["app", "--tfhub_cache_dir", "/flag/two"])
    assert settings.cache_dir() == "/flag/two"
    clean_env.setenv("TFHUB_CACHE_DIR", "/env/cache")
    assert settings.cache_dir() == "/env/cache"


def test_load_format_from_argv_and_invalid_values_name_the_setting(clean_env):
    assert settings.load_format() == "AUTO"
    clean_env.setattr(sys, "argv", ["app", "--tfhub_model_load_format=UNCOMPRESSED"])
    assert settings.load_format() == "UNCOMPRESSED"
    clean_env.setenv("TFHUB_MODEL_LOAD_FORMAT", "compressed")  # tensorflow_hub compares exact upper case
    with pytest.raises(ConfigError, match="TFHUB_MODEL_LOAD_FORMAT.*'compressed'.*COMPRESSED, UNCOMPRESSED, AUTO"):
        settings.load_format()


def test_parsed_absl_flag_is_read_and_env_still_wins(tmp_path):
    code = (
        "import sys\n"
        "from absl import flags\n"
        "flags.DEFINE_string('tfhub_cache_dir', None, 'as tensorflow_hub defines it')\n"
        "flags.FLAGS(['app', '--tfhub_cache_dir=/absl/cache'])\n"
        "sys.argv = ['app']\n"
        "from hubvendor import settings\n"
        "print(settings.cache_dir())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TFHUB_CACHE_DIR"}
    run = lambda extra: subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True,
                                       text=True, check=True).stdout.strip()
    assert run({}) == "/absl/cache"
    assert run({"TFHUB_CACHE_DIR": str(tmp_path)}) == str(tmp_path)


def test_sizes_are_decimal_for_kb_mb_gb_and_binary_for_kib_mib_gib():
    assert settings.parse_size("1000", "X") == 1000
    assert settings.parse_size("500MB", "X") == settings.parse_size("500M", "X") == 500_000_000
    assert settings.parse_size("2GB", "X") == 2 * 10**9
    assert settings.parse_size("2GiB", "X") == 2 * 1024**3
    assert settings.parse_size("1.5KiB", "X") == 1536
    with pytest.raises(ConfigError, match=r"X='1e400'.*kB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB powers of 1024"):
        settings.parse_size("1e400", "X")


def test_error_types_have_the_builtin_bases_callers_expect():
    from hubvendor import errors

    assert issubclass(errors.OfflineError, ConnectionError) and issubclass(errors.IntegrityError, ValueError)
    assert issubclass(errors.ArchiveError, ValueError) and issubclass(errors.SourceChangedError, errors.FetchError)
    assert all(issubclass(c, errors.HubVendorError) for c in (errors.OfflineError, errors.IntegrityError, errors.ArchiveError))


def test_every_setting_that_can_be_invalid_is_in_the_list_doctor_checks(monkeypatch):
    """A reader of settings.py that raises ConfigError for some value of a variable it reads must be
    in settings.VALIDATED under that variable: so doctor cannot forget a new setting."""
    import inspect
    import re

    import pytest

    from hubvendor import settings
    from hubvendor.errors import ConfigError

    listed = {variable for _, variable, _ in settings.VALIDATED}
    names = set(re.findall(r'"((?:HUBVENDOR|TFHUB)_[A-Z_]+|SOURCE_DATE_EPOCH)"', inspect.getsource(settings)))
    readers = [f for name, f in vars(settings).items() if inspect.isfunction(f) and not name.startswith("_")
               and f.__module__ == settings.__name__ and not inspect.signature(f).parameters]
    for variable in sorted(names):
        for bad in ("abc", "-1", "1e999"):
            monkeypatch.setenv(variable, bad)
            for read in readers:
                try:
                    read()
                except ConfigError:
                    assert variable in listed, f"{read.__name__} rejects {variable}={bad!r}, not in settings.VALIDATED"
            monkeypatch.delenv(variable)
    for name, variable, read in settings.VALIDATED:
        monkeypatch.setenv(variable, "abc")
        with pytest.raises(ConfigError):
            read()
        monkeypatch.delenv(variable)


@pytest.mark.parametrize("variable", ["HUBVENDOR_CACHE_MAX_SIZE", "HUBVENDOR_CACHE_KEEP_RECENT"])
def test_an_invalid_prune_setting_fails_before_the_download(variable, hub_server, hub_env, tmp_path):
    """The prune after a download reads these; a bad value used to fail the command after the model was
    downloaded and committed. Now: one line naming the variable, nothing downloaded or left in the cache."""
    from support.commands import hubvendor
    from support.server import HALF_PLUS_TWO_HANDLE

    env = dict(hub_env, TFHUB_CACHE_DIR=str(tmp_path / "cache"), **{variable: "lots"})
    result = hubvendor("fetch", HALF_PLUS_TWO_HANDLE, env=env)
    assert result.returncode == 1 and f"{variable}='lots'" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert hub_server.downloads() == 0
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []
