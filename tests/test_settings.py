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
