"""[tool.hubvendor] validation: one ConfigError naming pyproject.toml, the key and the expectation."""

from __future__ import annotations

import pytest

from hubvendor import config
from hubvendor.errors import ConfigError

SHA = "c" * 64


def write(tmp_path, body: str):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n\n[tool.hubvendor]\n" + body)
    return tmp_path


def test_defaults_and_forms(tmp_path):
    cfg = config.load(write(tmp_path, f"""models = [
  "https://tfhub.dev/google/nnlm-en-dim50/2",
  {{ handle = "https://tfhub.dev/tensorflow/half_plus_two/1", sha256 = "{SHA}" }},
]
"""))
    assert [m.handle for m in cfg.models] == [
        "https://tfhub.dev/google/nnlm-en-dim50/2", "https://tfhub.dev/tensorflow/half_plus_two/1"]
    assert cfg.models[1].sha256 == SHA and cfg.models[0].sha256 is None
    assert not cfg.locked and cfg.jobs == 4 and cfg.max_total_size is None
    assert cfg.lock_path == tmp_path.resolve() / "hubvendor.lock"
    assert cfg.wheel_models_dir("My.App-x") == "hubvendor.d/my_app_x"


def test_options(tmp_path):
    cfg = config.load(write(tmp_path, """models = []
locked = true
lock-file = "locks/models.lock"
models-dir = "app/models"
max-model-size = "512MiB"
max-total-size = 1000
jobs = 2
"""))
    assert cfg.locked and cfg.lock_file == "locks/models.lock" and cfg.models_dir == "app/models"
    assert cfg.max_model_size == 512 * 1024**2 and cfg.max_total_size == 1000 and cfg.jobs == 2


def test_no_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert config.load(tmp_path) is None
    assert config.load(tmp_path / "missing") is None


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("models = []\nmodel = []\n", "unknown key 'model'"),
        ("locked = true\n", "missing key 'models'"),
        ("models = 'https://tfhub.dev/a/b/1'\n", "models: expected a list"),
        ("models = [1]\n", "models[0] = 1: expected a handle string"),
        ("models = ['https://tfhub.dev/a/b']\n", "models[0]: handle 'https://tfhub.dev/a/b'"),
        ("models = ['ftp://x/y']\n", "unsupported scheme"),
        ("models = ['https://tfhub.dev/a/b/1', 'https://TFHUB.dev/a/b/1/']\n", "models[1] = 'https://TFHUB.dev/a/b/1/': duplicate of models[0]"),
        ("models = [{ handle = 'https://tfhub.dev/a/b/1', sha = 'x' }]\n", "models[0]: unknown key 'sha'"),
        ("models = [{ sha256 = 'x' }]\n", "models[0]: missing key 'handle'"),
        ("models = [{ handle = 'https://tfhub.dev/a/b/1', sha256 = 'XYZ' }]\n", "models[0].sha256 = 'XYZ': expected 64"),
        ("models = []\nlocked = 'yes'\n", "locked = 'yes': expected true or false"),
        ("models = []\nmodels-dir = '../x'\n", "models-dir = '../x'"),
        ("models = []\nmodels-dir = 'x.dist-info/m'\n", "models-dir"),
        ("models = []\nmax-model-size = 'big'\n", "max-model-size = 'big'"),
        ("models = []\njobs = 0\n", "jobs = 0: expected a positive integer"),
        ("models = []\nlock-file = '/abs'\n", "lock-file = '/abs'"),
        # issue 12: one rule for lock-file and models-dir (relative, no '..', no control characters)
        ("models = []\nlock-file = '../../x.lock'\n", "lock-file = '../../x.lock'"),
        ("models = []\nlock-file = 'locks/../../x.lock'\n", "lock-file = 'locks/../../x.lock'"),
        ("models = []\nlock-file = \"x\\u0000.lock\"\n", "lock-file = 'x\\x00.lock'"),
        ("models = []\nlock-file = 'a\\b.lock'\n", "lock-file = 'a\\\\b.lock'"),
        ("models = []\nmodels-dir = \"m\\u0000\"\n", "models-dir = 'm\\x00'"),
        ("models = []\nlock-file = ''\n", "lock-file = ''"),
    ],
)
def test_invalid(tmp_path, body, fragment):
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path, body))
    message = str(info.value)
    assert "pyproject.toml: [tool.hubvendor]" in message and fragment in message
    assert "\n" not in message
