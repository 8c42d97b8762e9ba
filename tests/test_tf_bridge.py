"""hubvendor inside TensorFlow: the autoload bridge into tensorflow_hub, hubvendor.load, UNCOMPRESSED, Colab TPU.

Application code runs in fresh subprocesses of an interpreter where hubvendor is really installed
(its ``hubvendor-autoload.pth`` active) and never imports hubvendor itself. Real TensorFlow,
tensorflow_hub and ``hubvendor serve``; nothing of theirs is mocked.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from support.models import HALF_PLUS_TWO, KERAS_DENSE, TF1_MODULE, keras_dense_expected

PTH = "hubvendor-autoload.pth"
ROOT = Path(__file__).resolve().parent.parent
KERAS_HANDLE = f"https://tfhub.dev/{KERAS_DENSE}"
TF1_HANDLE = f"https://tfhub.dev/{TF1_MODULE}"
ROWS = [[1.0, 2.0, 3.0], [0.0, -1.0, 2.0]]

# Application code: plain tensorflow_hub, no hubvendor import. Prints one JSON line.
APP = f"""
import json, sys
import tensorflow as tf, tensorflow_hub as hub, tf_keras
layer = hub.KerasLayer({KERAS_HANDLE!r})
model = tf_keras.Sequential([tf_keras.Input((3,)), layer])
dense = model(tf.constant({ROWS!r})).numpy().tolist()
module = hub.load({TF1_HANDLE!r})
tf1 = module.signatures["default"](default=tf.constant([1.0, 2.0]))["default"].numpy().tolist()
print(json.dumps({{"dense": dense, "tf1": tf1, "v1": module._is_hub_module_v1,
                  "keras_dir": hub.resolve({KERAS_HANDLE!r}), "tf1_dir": hub.resolve({TF1_HANDLE!r}),
                  "hubvendor_imported": "hubvendor.tf" in sys.modules}}))
"""


def _hook_installed() -> bool:
    return any(os.path.isfile(os.path.join(d, PTH)) for d in site.getsitepackages())


@pytest.fixture(scope="session")
def autoload_python(tmp_path_factory) -> str:
    """An interpreter with hubvendor installed from its wheel, so the .pth start-up hook is active.

    The running interpreter when it already has the hook (``make test``); otherwise a session venv
    holding a freshly built wheel, seeing this interpreter's packages (TensorFlow...) through a path file.
    """
    if _hook_installed():
        return sys.executable
    tmp = tmp_path_factory.mktemp("autoload")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp), str(ROOT)],
        check=True,
    )
    venv = tmp / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], check=True,
        capture_output=True, text=True,
    ).stdout.strip()
    Path(purelib, "_parent_env.pth").write_text(sysconfig.get_path("purelib") + "\n")
    wheel = glob.glob(str(tmp / "hubvendor-*.whl"))[0]
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel], check=True
    )
    assert Path(purelib, PTH).is_file(), f"{wheel} did not install {PTH}"
    return python


def run_python(python: str, code: str, env: dict[str, str], *, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(env, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    result = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        pytest.fail(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}")
    return result


def last_json(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_outputs(out: dict) -> None:
    for got, expected in zip(out["dense"], keras_dense_expected(ROWS), strict=True):
        assert got == pytest.approx(expected)
    assert out["tf1"] == pytest.approx([4.0, 7.0])
    assert out["v1"] is True


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def test_vendored_models_load_through_unchanged_tensorflow_hub_code(autoload_python, hub_server, hub_env, tmp_path):
    vendored = tmp_path / "vendored"
    subprocess.run(
        [sys.executable, "-m", "hubvendor", "vendor", "--output", str(vendored), KERAS_HANDLE, TF1_HANDLE],
        env=hub_env, check=True, capture_output=True,
    )
    hub_server.stop()
    cache = Path(hub_env["TFHUB_CACHE_DIR"], "..", "app_cache").resolve()
    env = dict(hub_env, HUBVENDOR_PATH=str(vendored), TFHUB_CACHE_DIR=str(cache))

    out = last_json(run_python(autoload_python, APP, env))

    check_outputs(out)
    assert Path(out["keras_dir"]).is_relative_to(vendored) and Path(out["tf1_dir"]).is_relative_to(vendored)
    assert out["hubvendor_imported"], "the bridge was not installed on `import tensorflow_hub`"
    assert not cache.exists() or not os.listdir(cache)


def test_not_vendored_downloads_once_into_tensorflow_hub_cache_then_works_offline(
    autoload_python, hub_server, hub_env
):
    cache = Path(hub_env["TFHUB_CACHE_DIR"])

    first = last_json(run_python(autoload_python, APP, hub_env))
    check_outputs(first)
    assert hub_server.downloads(KERAS_DENSE) == 1 and hub_server.downloads(TF1_MODULE) == 1
    names = {sha1(KERAS_HANDLE), sha1(TF1_HANDLE)}
    assert sorted(os.listdir(cache)) == sorted(names | {f"{n}.descriptor.txt" for n in names})
    assert first["keras_dir"] == str(cache / sha1(KERAS_HANDLE))
    for name in names:
        assert (cache / f"{name}.descriptor.txt").read_text().startswith("Module: https://tfhub.dev/test/")

    hub_server.stop()
    second = last_json(run_python(autoload_python, APP, hub_env))
    check_outputs(second)
    assert second["keras_dir"] == first["keras_dir"] and second["tf1_dir"] == first["tf1_dir"]


def test_autoload_off_leaves_tensorflow_hub_alone_and_install_is_idempotent(
    autoload_python, hub_server, hub_env, tmp_path
):
    handle = f"{hub_server.url}/{HALF_PLUS_TWO}"
    plain_cache, hubvendor_cache = tmp_path / "plain", tmp_path / "hubvendor"
    code = f"""
import json, os, sys
import tensorflow as tf, tensorflow_hub as hub
from tensorflow_hub import registry
names = lambda: [type(impl).__name__ for impl in registry.resolver._impls]
before = names()
hooks = [type(f).__name__ for f in sys.meta_path if getattr(f, "target", None) == "tensorflow_hub"]
os.environ["TFHUB_CACHE_DIR"] = {str(plain_cache)!r}
plain = hub.load({handle!r})(tf.constant([2.0])).numpy().tolist()
import hubvendor
hubvendor.install(); hubvendor.install()
after = names()
os.environ["TFHUB_CACHE_DIR"] = {str(hubvendor_cache)!r}
bridged = hub.load({handle!r})(tf.constant([2.0])).numpy().tolist()
print(json.dumps({{"before": before, "hooks": hooks, "after": after, "plain": plain, "bridged": bridged}}))
"""
    out = last_json(run_python(autoload_python, code, dict(hub_env, HUBVENDOR_AUTOLOAD="0")))

    defaults = ["PathResolver", "HttpUncompressedFileResolver", "GcsCompressedFileResolver", "HttpCompressedFileResolver"]
    assert out["before"] == defaults and out["hooks"] == []
    assert out["after"] == defaults + ["HubVendorResolver"]
    assert out["plain"] == out["bridged"] == [3.0]
    assert sorted(os.listdir(plain_cache)) == sorted(os.listdir(hubvendor_cache)) == [
        sha1(handle), f"{sha1(handle)}.descriptor.txt"
    ]
    plain_descriptor = (plain_cache / f"{sha1(handle)}.descriptor.txt").read_text()
    assert plain_descriptor.startswith(f"Module: {handle}\n") and "Hubvendor-" not in plain_descriptor
    assert "Hubvendor-Tree-Digest: sha256:" in (hubvendor_cache / f"{sha1(handle)}.descriptor.txt").read_text()
    assert hub_server.downloads(HALF_PLUS_TWO) == 2  # one by tensorflow_hub's code, one by hubvendor's


def test_uncompressed_returns_the_303_location_and_bad_formats_fail_clearly(
    autoload_python, hub_server, hub_env, model_root
):
    handle = f"https://tfhub.dev/{HALF_PLUS_TWO}"
    code = f"""
import json, os
import tensorflow as tf, tensorflow_hub as hub
location = hub.resolve({handle!r})
value = hub.load({handle!r})(tf.constant([4.0])).numpy().tolist()
os.environ["TFHUB_MODEL_LOAD_FORMAT"] = "ZIPPED"
try:
    hub.resolve({handle!r})
    error = None
except Exception as exc:
    error = [type(exc).__name__, str(exc)]
print(json.dumps({{"location": location, "value": value, "error": error}}))
"""
    out = last_json(run_python(autoload_python, code, dict(hub_env, TFHUB_MODEL_LOAD_FORMAT="UNCOMPRESSED")))

    assert Path(out["location"]).resolve() == (model_root / HALF_PLUS_TWO).resolve()
    assert out["value"] == [4.0]
    assert hub_server.stats()["uncompressed_requests"] == 2
    assert hub_server.downloads(HALF_PLUS_TWO) == 0
    assert not os.listdir(hub_env["TFHUB_CACHE_DIR"])
    kind, message = out["error"]
    assert kind == "ConfigError" and "'ZIPPED'" in message and "COMPRESSED, UNCOMPRESSED, AUTO" in message


def test_startup_hook_imports_nothing_until_tensorflow_hub(autoload_python):
    code = "import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
           "('hubvendor', 'tensorflow', 'tensorflow_hub', 'typing', 'requests')))"
    off = run_python(autoload_python, code, dict(os.environ, HUBVENDOR_AUTOLOAD="0"))
    on = run_python(autoload_python, code, dict(os.environ, HUBVENDOR_AUTOLOAD="1"))
    assert json.loads(off.stdout.replace("'", '"')) == ["hubvendor", "hubvendor._autoload"]
    # on: the same two modules arm the tensorflow_hub and kagglehub hooks, nothing heavier
    assert json.loads(on.stdout.replace("'", '"')) == ["hubvendor", "hubvendor._autoload"]


# -- hubvendor.load, in this process (no tensorflow_hub involved) -----------------------------------


@pytest.fixture
def seen_by_tensorflow(monkeypatch):
    """Records what ``hubvendor.tf._load_v2`` hands to TensorFlow (the real loader still runs)."""
    from hubvendor import tf as hubvendor_tf

    calls: list[tuple] = []
    real = hubvendor_tf._load_v2

    def recording(path, tags, options):
        calls.append((path, tags, options))
        return real(path, tags, options)

    monkeypatch.setattr(hubvendor_tf, "_load_v2", recording)
    return calls


COLAB_TPU_ENV = {"COLAB_RELEASE_TAG": "release-colab_20240101-060000_RC00", "COLAB_TPU_ADDR": "10.0.0.2:8470"}


def test_colab_tpu_local_loads_read_through_the_host(model_root, seen_by_tensorflow, monkeypatch):
    import tensorflow as tf

    import hubvendor
    from hubvendor import settings

    monkeypatch.delenv("HUBVENDOR_IO_DEVICE", raising=False)
    for name, value in COLAB_TPU_ENV.items():
        monkeypatch.setenv(name, value)
    assert settings.colab_tpu()

    module = hubvendor.load(str(model_root / TF1_MODULE))
    assert module.signatures["default"](default=tf.constant([2.0]))["default"].numpy().tolist() == [7.0]
    path, tags, options = seen_by_tensorflow[-1]
    assert tags == [] and module._is_hub_module_v1 is True
    assert isinstance(options, tf.saved_model.LoadOptions)
    assert options.experimental_io_device == "/job:localhost"

    monkeypatch.setenv("HUBVENDOR_IO_DEVICE", "/job:localhost/replica:0/task:0/device:CPU:0")
    assert hubvendor.load(str(model_root / HALF_PLUS_TWO))(tf.constant([2.0])).numpy().tolist() == [3.0]
    assert seen_by_tensorflow[-1][2].experimental_io_device == "/job:localhost/replica:0/task:0/device:CPU:0"
    assert seen_by_tensorflow[-1][1] is None

    explicit = tf.saved_model.LoadOptions()
    hubvendor.load(str(model_root / HALF_PLUS_TWO), options=explicit)
    assert seen_by_tensorflow[-1][2] is explicit


def test_load_without_colab_passes_no_options_and_rejects_non_models(model_root, seen_by_tensorflow, tmp_path, monkeypatch):
    import hubvendor
    from hubvendor.errors import HubVendorError

    for name in (*COLAB_TPU_ENV, "TPU_NAME", "HUBVENDOR_IO_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    hubvendor.load(str(model_root / HALF_PLUS_TWO))
    assert seen_by_tensorflow[-1][1:] == (None, None)

    (tmp_path / "variables.txt").write_text("not a model")
    with pytest.raises(HubVendorError, match="contains neither saved_model.pb nor saved_model.pbtxt") as caught:
        hubvendor.load(str(tmp_path))
    assert isinstance(caught.value, ValueError) and str(tmp_path) in str(caught.value)
    with pytest.raises(ValueError, match="expected a string"):
        hubvendor.load(42)


# -- one HUBVENDOR_AUTOLOAD rule; stepping aside; interpreters that skip .pth files ---------------------

AUTOLOAD_VALUES = [None, "", "0", "1", "false", "no", "off", "true", " OFF ", "Yes", "maybe"]
AGREE = """
import json, os, sys
armed = any(getattr(f, "target", None) == "tensorflow_hub" for f in sys.meta_path)
from hubvendor import _autoload
from hubvendor.commands import doctor
(check,) = doctor.check_autoload()
print(json.dumps({"armed": armed, "setting": _autoload.setting(os.environ.get("HUBVENDOR_AUTOLOAD")),
                  "doctor": [check.status, check.detail]}))
"""


@pytest.mark.parametrize("value", AUTOLOAD_VALUES, ids=lambda v: "unset" if v is None else repr(v))
def test_autoload_values_mean_the_same_to_the_hook_and_doctor(autoload_python, value):
    env = {k: v for k, v in os.environ.items() if k != "HUBVENDOR_AUTOLOAD"}
    if value is not None:
        env["HUBVENDOR_AUTOLOAD"] = value
    out = last_json(run_python(autoload_python, AGREE, env))
    status, detail = out["doctor"]
    off = value is not None and value.strip().lower() in ("0", "false", "no", "off")
    assert out["setting"] is (False if off else None if value == "maybe" else True)
    assert out["armed"] is not off  # an invalid value keeps the default (on); doctor flags it
    if off:
        assert status == "ok" and ": off" in detail
    elif value == "maybe":
        assert status == "problem" and "'maybe'" in detail and "treats it as on" in detail
    else:
        assert status == "ok" and detail.startswith("on: ")


def test_empty_autoload_value_registers_as_doctor_says(autoload_python, hub_env):
    code = "import json, tensorflow_hub\nfrom hubvendor import tf\nprint(json.dumps(tf.registered(tensorflow_hub.registry)))"
    assert last_json(run_python(autoload_python, code, dict(hub_env, HUBVENDOR_AUTOLOAD=""))) is True
    assert last_json(run_python(autoload_python, code, dict(hub_env, HUBVENDOR_AUTOLOAD="off"))) is False


STEP_ASIDE = """
import json, os
import tensorflow as tf, tensorflow_hub as hub
from tensorflow_hub import uncompressed_module_resolver as theirs
asked = []
def request_gcs_location(self, url):  # as tensorflow_hub's own tests patch it
    asked.append(url)
    return {model!r}
theirs.HttpUncompressedFileResolver._request_gcs_location = request_gcs_location
out = {{}}
def attempt(name, **env):
    os.environ.update(env)
    before = len(asked)
    try:
        out[name] = [hub.resolve({handle!r}), len(asked) > before]
    except Exception as exc:
        out[name] = [type(exc).__name__ + ": " + str(exc), len(asked) > before]
    for key in env:
        del os.environ[key]
attempt("nothing to add")
attempt("offline", HUBVENDOR_OFFLINE="1")
attempt("rewritten", HUBVENDOR_DOWNLOADER_CONFIG={config!r})
attempt("vendored", HUBVENDOR_PATH={vendored!r})
out["value"] = hub.load({handle!r})(tf.constant([2.0])).numpy().tolist()
print(json.dumps(out))
"""


def test_uncompressed_with_nothing_to_add_is_left_to_tensorflow_hub(autoload_python, hub_server, hub_env, model_root, tmp_path):
    handle = f"https://tfhub.dev/{HALF_PLUS_TWO}"
    model = str(model_root / HALF_PLUS_TWO)
    vendored = tmp_path / "vendored"
    subprocess.run([sys.executable, "-m", "hubvendor", "vendor", "--output", str(vendored), handle], env=hub_env,
                   check=True, capture_output=True)
    hub_server.reset()
    env = {k: v for k, v in hub_env.items() if k not in ("HUBVENDOR_DOWNLOADER_CONFIG", "HUBVENDOR_OFFLINE")}
    env["TFHUB_MODEL_LOAD_FORMAT"] = "UNCOMPRESSED"
    code = STEP_ASIDE.format(model=model, handle=handle, config=hub_env["HUBVENDOR_DOWNLOADER_CONFIG"], vendored=str(vendored))

    out = last_json(run_python(autoload_python, code, env))

    assert out["nothing to add"] == [model, True]  # tensorflow_hub's resolver (as patched) answered
    assert out["value"] == [3.0]
    location, asked = out["offline"]
    assert not asked and location.startswith("OfflineError: ") and "HUBVENDOR_OFFLINE" in location
    assert out["rewritten"][1] is False and Path(out["rewritten"][0]).resolve() == (model_root / HALF_PLUS_TWO).resolve()
    assert out["vendored"][1] is False and Path(out["vendored"][0]).is_relative_to(vendored)
    assert hub_server.stats()["uncompressed_requests"] == 1  # only the rewritten attempt asked hubvendor's way


def test_without_pth_processing_install_finds_runfiles_models_first(tmp_path, model_root):
    """As under rules_python: hubvendor importable, its .pth never processed; hubvendor.install() bridges.

    Bazel runfiles (a fake tree laid out as Bazel does) carry one model for the handle, an installed
    wheel's manifest on sys.path another: the program's own runfiles win.
    """
    from support.venvs import venv_seeing

    python = venv_seeing(tmp_path / "venv", Path(sysconfig.get_paths()["purelib"]))
    handle = "https://tfhub.dev/test/bazel_precedence/1"
    runfiles = tmp_path / "app.runfiles"
    (runfiles / "ws").mkdir(parents=True)
    (runfiles / "hub_model").symlink_to(model_root / HALF_PLUS_TWO)
    runfiles_manifest = {"format": "hubvendor-manifest/1", "models": {handle: {"handle": handle, "runfiles_path": "hub_model"}}}
    (runfiles / "ws" / "models.hubvendor.json").write_text(json.dumps(runfiles_manifest))
    wheel_site = tmp_path / "site"
    (wheel_site / "hubvendor.d").mkdir(parents=True)
    wheel_manifest = {"format": "hubvendor-manifest/1", "models": {handle: {"handle": handle, "path": str(model_root / TF1_MODULE)}}}
    (wheel_site / "hubvendor.d" / "other.json").write_text(json.dumps(wheel_manifest))
    code = f"""
import json, sys
hook_ran = "hubvendor._autoload" in sys.modules
sys.path.append({str(wheel_site)!r})
import hubvendor
hubvendor.install()  # before tensorflow_hub: arms the import hook
import tensorflow as tf, tensorflow_hub as hub
print(json.dumps([hub.resolve({handle!r}), hub.load({handle!r})(tf.constant([2.0])).numpy().tolist(), hook_ran]))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "RUNFILES_", "TFHUB_"))}
    env.update(RUNFILES_DIR=str(runfiles), HUBVENDOR_OFFLINE="1", TFHUB_CACHE_DIR=str(tmp_path / "cache"))
    location, value, hook_ran = last_json(run_python(str(python), code, env))
    assert not hook_ran and location == str(runfiles / "hub_model") and value == [3.0]
