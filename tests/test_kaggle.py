"""kagglehub and keras_hub, unchanged, against vendored models and kagglehub's own cache.

Real kagglehub and keras_hub in subprocesses (the autoload .pth arms the bridge as for users), a loopback
stand-in for Kaggle's API (``support.kaggle_api``) that records every request, a tiny Keras Hub preset
and a tiny TF SavedModel built by the tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hubvendor import manifest
from hubvendor.kaggle import kagglecache
from support.kaggle_api import KaggleApi, kagglehub_env
from support.kaggle_models import GPT2_PARAMS, build_gpt2_preset, build_saved_model

TF_SLUG = "testorg/half-plus-two/tensorFlow2/tiny"
TF_HANDLE = "https://www.kaggle.com/models/testorg/half-plus-two/tensorFlow2/tiny/3"
PRESET_SLUG = "keras/gpt2/keras/gpt2_tiny"
PRESET_HANDLE = "https://www.kaggle.com/models/keras/gpt2/keras/gpt2_tiny/2"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kaggle_models")
    return {"tf": build_saved_model(root / "tf"), "preset": build_gpt2_preset(root / "preset")}


@pytest.fixture(scope="module")
def vendored(models, tmp_path_factory) -> Path:
    """A HUBVENDOR_PATH directory holding both models and their manifest."""
    root = tmp_path_factory.mktemp("vendored")
    shutil.copytree(models["tf"], root / "models" / "tf")
    shutil.copytree(models["preset"], root / "models" / "preset")
    vendored_manifest = manifest.Manifest()
    vendored_manifest.add(manifest.ManifestEntry(handle=TF_HANDLE, path="models/tf"))
    vendored_manifest.add(manifest.ManifestEntry(handle=PRESET_HANDLE, path="models/preset"))
    manifest.write(str(root / manifest.FILENAME), vendored_manifest)
    return root


@pytest.fixture
def api(models):
    with KaggleApi() as server:
        server.add(TF_SLUG, 3, models["tf"])
        server.add(PRESET_SLUG, 2, models["preset"])
        yield server


def run_python(code: str, env: dict[str, str]) -> dict:
    """Run ``code`` (which prints one JSON line last) in a fresh interpreter; its parsed output."""
    full = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", **env)
    if "HUBVENDOR_OFFLINE" not in env:
        full.pop("HUBVENDOR_OFFLINE", None)
    result = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


VENDORED_PROGRAM = """
import json, os
import kagglehub
import keras_hub
out = {}
out["whole"] = kagglehub.model_download("testorg/half-plus-two/tensorFlow2/tiny/3")
out["file"] = kagglehub.model_download("testorg/half-plus-two/tensorFlow2/tiny/3", path="saved_model.pb")
out["versionless"] = kagglehub.model_download("testorg/half-plus-two/tensorflow2/tiny")
backbone = keras_hub.models.Backbone.from_preset("kaggle://keras/gpt2/keras/gpt2_tiny/2")
out["preset"] = [type(backbone).__name__, backbone.count_params()]
out["preset_versionless"] = keras_hub.models.Backbone.from_preset("kaggle://keras/gpt2/keras/gpt2_tiny").count_params()
try:
    kagglehub.model_download("keras/gpt2/keras/gpt2_tiny/2", path="no-such-file.json")
except FileNotFoundError as exc:
    out["missing"] = str(exc)
print(json.dumps(out))
"""


def test_vendored_models_load_with_the_api_unreachable_and_kagglehub_cache_untouched(api, vendored, tmp_path):
    """Must-show 1/2 (HUBVENDOR_PATH): unchanged kagglehub and keras_hub code, no request, empty cache stays empty."""
    cache = tmp_path / "kagglehub"
    cache.mkdir()
    out = run_python(VENDORED_PROGRAM, {**kagglehub_env(api, cache), "HUBVENDOR_PATH": str(vendored)})
    assert out["whole"] == str(vendored / "models" / "tf")
    assert out["file"] == str(vendored / "models" / "tf" / "saved_model.pb")
    assert out["versionless"] == out["whole"]  # the vendored (pinned) version
    assert out["preset"] == ["GPT2Backbone", GPT2_PARAMS]
    assert out["preset_versionless"] == GPT2_PARAMS
    assert "'no-such-file.json' is not present in the model files" in out["missing"]
    assert api.requests == []
    assert files_under(cache) == []


def test_without_vendored_copy_kagglehub_downloads_as_before(api, tmp_path):
    """Not vendored: kagglehub's own resolver answers (and fills its cache), hubvendor installed or not."""
    cache = tmp_path / "kagglehub"
    out = run_python(
        "import json, kagglehub; print(json.dumps(kagglehub.model_download('testorg/half-plus-two/tensorFlow2/tiny/3')))",
        kagglehub_env(api, cache),
    )
    assert out == str(cache / "models" / "testorg" / "half-plus-two" / "tensorFlow2" / "tiny" / "3")
    assert (Path(out) / "saved_model.pb").is_file()
    assert api.downloads()


def test_force_download_keeps_kagglehub_meaning(api, vendored, tmp_path):
    """``force_download=True`` asks kagglehub for a download: hubvendor steps aside even for a vendored model."""
    cache = tmp_path / "kagglehub"
    out = run_python(
        "import json, kagglehub\n"
        "print(json.dumps(kagglehub.model_download('testorg/half-plus-two/tensorFlow2/tiny/3', force_download=True)))",
        {**kagglehub_env(api, cache), "HUBVENDOR_PATH": str(vendored)},
    )
    assert out.startswith(str(cache))
    assert api.downloads()


def test_output_dir_gets_the_vendored_files_without_network(api, vendored, tmp_path):
    """``output_dir=``: the vendored files are copied there with kagglehub's markers; no request."""
    cache, target = tmp_path / "kagglehub", tmp_path / "out"
    program = (
        "import json, kagglehub\n"
        "h = 'testorg/half-plus-two/tensorFlow2/tiny/3'\n"
        f"a = kagglehub.model_download(h, output_dir={str(target)!r})\n"
        f"b = kagglehub.model_download(h, output_dir={str(target)!r})\n"
        f"c = kagglehub.model_download(h, path='saved_model.pb', output_dir={str(tmp_path / 'one')!r})\n"
        "print(json.dumps([a, b, c]))"
    )
    out = run_python(program, {**kagglehub_env(api, cache), "HUBVENDOR_PATH": str(vendored)})
    assert out == [str(target), str(target), str(tmp_path / "one" / "saved_model.pb")]
    assert (target / "saved_model.pb").read_bytes() == (vendored / "models" / "tf" / "saved_model.pb").read_bytes()
    assert (target / ".complete" / "models" / "testorg" / "half-plus-two" / "tensorFlow2" / "tiny" / "3" /
            "bundle.complete").is_file()
    assert api.requests == []
    assert not cache.exists()


OFFLINE_PROGRAM = """
import json, kagglehub
from hubvendor.errors import OfflineError
try:
    kagglehub.model_download("testorg/half-plus-two/tensorFlow2/tiny/3")
    print(json.dumps("downloaded"))
except OfflineError as exc:
    print(json.dumps(str(exc)))
"""


def test_offline_switch_applies_to_kagglehub(api, tmp_path):
    """HUBVENDOR_OFFLINE: a model neither vendored nor in kagglehub's cache fails in one line, with no request."""
    cache = tmp_path / "kagglehub"
    message = run_python(OFFLINE_PROGRAM, {**kagglehub_env(api, cache), "HUBVENDOR_OFFLINE": "1"})
    assert message.startswith("kaggle://testorg/half-plus-two/tensorFlow2/tiny/3: not vendored")
    assert "HUBVENDOR_OFFLINE is set" in message and "\n" not in message
    assert api.requests == []


def test_offline_uses_kagglehub_cache(api, tmp_path):
    """HUBVENDOR_OFFLINE with kagglehub's cache complete: kagglehub's entry answers (versionless too), no request."""
    cache = tmp_path / "kagglehub"
    env = kagglehub_env(api, cache)
    run_python("import json, kagglehub; print(json.dumps(kagglehub.model_download('"
               + TF_SLUG + "/3')))", {**env, "HUBVENDOR_AUTOLOAD": "0"})
    api.requests.clear()
    out = run_python(
        "import json, kagglehub; print(json.dumps([kagglehub.model_download('" + TF_SLUG + "'), "
        "kagglehub.model_download('" + TF_SLUG + "/3', path='saved_model.pb')]))",
        {**env, "HUBVENDOR_OFFLINE": "1"},
    )
    entry = cache / "models" / "testorg" / "half-plus-two" / "tensorFlow2" / "tiny" / "3"
    assert out == [str(entry), str(entry / "saved_model.pb")]
    assert api.requests == []


def test_kagglehub_cache_filled_by_kagglehub_is_located_without_download(api, tmp_path):
    """Must-show 4 (hubvendor's side): kagglehub's complete entry is found for the normalised handle."""
    cache = tmp_path / "kagglehub"
    run_python("import json, kagglehub; print(json.dumps(kagglehub.model_download('" + TF_SLUG + "/3')))",
               {**kagglehub_env(api, cache), "HUBVENDOR_AUTOLOAD": "0"})
    downloads = list(api.requests)
    entry = cache / "models" / "testorg" / "half-plus-two" / "tensorFlow2" / "tiny" / "3"
    for spelling in ("kaggle://testorg/half-plus-two/tensorflow2/tiny/3", TF_HANDLE,
                     "https://www.kaggle.com/models/testorg/half-plus-two/frameworks/TensorFlow2/variations/tiny/versions/3"):
        assert kagglecache.locate(spelling, str(cache)) == str(entry)
    assert kagglecache.locate("kaggle://testorg/half-plus-two/tensorflow2/tiny/4", str(cache)) is None
    assert api.requests == downloads


def test_kagglehub_cache_without_marker_is_not_used(api, tmp_path):
    """An entry kagglehub did not finish (no ``<version>.complete``), or only single files, is not a whole model."""
    cache = tmp_path / "kagglehub"
    run_python("import json, kagglehub; print(json.dumps(kagglehub.model_download('" + TF_SLUG
               + "/3', path='saved_model.pb')))", {**kagglehub_env(api, cache), "HUBVENDOR_AUTOLOAD": "0"})
    assert kagglecache.locate(TF_HANDLE, str(cache)) is None


def test_export_writes_kagglehub_layout_that_kagglehub_and_keras_hub_use(api, models, tmp_path):
    """``export``: kagglehub (without hubvendor) then answers whole model, single files and presets from its cache."""
    cache = tmp_path / "kagglehub"
    assert kagglecache.export(TF_HANDLE, str(models["tf"]), str(cache)).endswith("tensorFlow2/tiny/3")
    kagglecache.export("kaggle://keras/gpt2/keras/gpt2_tiny/2", str(models["preset"]), str(cache))
    program = (
        "import json, kagglehub, keras_hub\n"
        "out = [kagglehub.model_download('" + TF_SLUG + "/3'),\n"
        "       kagglehub.model_download('" + TF_SLUG + "/3', path='saved_model.pb'),\n"
        "       keras_hub.models.Backbone.from_preset('kaggle://keras/gpt2/keras/gpt2_tiny/2').count_params()]\n"
        "print(json.dumps(out))"
    )
    out = run_python(program, {**kagglehub_env(api, cache), "HUBVENDOR_AUTOLOAD": "0"})
    entry = cache / "models" / "testorg" / "half-plus-two" / "tensorFlow2" / "tiny" / "3"
    assert out == [str(entry), str(entry / "saved_model.pb"), GPT2_PARAMS]
    assert api.requests == []
    assert not [p for p in cache.rglob("*.tmp")]


def test_startup_imports_no_kagglehub_and_registers_once_it_is_imported(tmp_path):
    """The .pth hook imports neither kagglehub nor the bridge; importing kagglehub registers hubvendor's resolver."""
    program = (
        "import json, sys\n"
        "before = [m for m in ('kagglehub', 'keras_hub', 'hubvendor.kaggle.bridge') if m in sys.modules]\n"
        "import kagglehub\n"
        "names = [type(i).__name__ for i in kagglehub.registry.model_resolver._impls]\n"
        "print(json.dumps([before, names]))"
    )
    before, names = run_python(program, {})
    assert before == []
    assert names[-1] == "HubvendorModelResolver" and names.count("HubvendorModelResolver") == 1
    _, names = run_python(program, {"HUBVENDOR_AUTOLOAD": "0"})
    assert "HubvendorModelResolver" not in names


DOCS = Path(__file__).resolve().parent.parent / "docs" / "kaggle.md"


def doc_block(name: str) -> str:
    """The ```python block after ``<!-- kaggle-doc-test: name -->`` in docs/kaggle.md, as printed."""
    text = DOCS.read_text()
    start = text.index(f"<!-- kaggle-doc-test: {name} -->")
    body = text[text.index("```python\n", start) + len("```python\n"):]
    return body[: body.index("```")]


def test_docs_app_runs_as_printed_from_hubvendor_path(api, vendored, tmp_path):
    cache = tmp_path / "kagglehub"
    result = subprocess.run(
        [sys.executable, "-c", doc_block("app.py")], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, KERAS_BACKEND="tensorflow", HUBVENDOR_PATH=str(vendored), **kagglehub_env(api, cache)),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    tf_dir = vendored / "models" / "tf"
    assert result.stdout.split() == [str(tf_dir), str(tf_dir / "saved_model.pb"), str(GPT2_PARAMS)]
    assert api.requests == [] and not cache.exists()


def test_docs_export_runs_as_printed(api, vendored, tmp_path):
    cache = tmp_path / "kagglehub"
    env = {**kagglehub_env(api, cache), "HUBVENDOR_PATH": str(vendored)}
    result = subprocess.run([sys.executable, "-c", doc_block("export.py")], capture_output=True, text=True,
                            env=dict(os.environ, **env), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(cache / "models" / "keras" / "gpt2" / "keras" / "gpt2_tiny" / "2")
    out = run_python("import json, keras_hub; print(json.dumps(keras_hub.models.Backbone.from_preset("
                     "'kaggle://keras/gpt2/keras/gpt2_tiny/2').count_params()))",
                     {**env, "HUBVENDOR_AUTOLOAD": "0", "HUBVENDOR_PATH": ""})
    assert out == GPT2_PARAMS and api.requests == []


def test_credentials_never_reach_files_or_output(api, vendored, tmp_path):
    """Must-show 5 (run time): with every kind of Kaggle credential set, nothing hubvendor writes or prints has it."""
    secret = "kaggle-secret-" + os.urandom(6).hex()
    home = tmp_path / "home"
    (home / ".kaggle").mkdir(parents=True)
    (home / ".kaggle" / "kaggle.json").write_text(json.dumps({"username": "someone", "key": secret}))
    cache, out_dir = tmp_path / "kagglehub", tmp_path / "out"
    env = {**kagglehub_env(api, cache), "HOME": str(home), "KAGGLE_USERNAME": "someone", "KAGGLE_KEY": secret,
           "HUBVENDOR_PATH": str(vendored)}
    program = VENDORED_PROGRAM.replace(
        'print(json.dumps(out))',
        f'kagglehub.model_download("{TF_SLUG}/3", output_dir={str(out_dir)!r})\n'
        'print(json.dumps(out))')
    full = dict(os.environ, KERAS_BACKEND="tensorflow", **env)
    runs = [subprocess.run([sys.executable, "-c", program], env=full, capture_output=True, text=True, timeout=300),
            subprocess.run([sys.executable, "-c", OFFLINE_PROGRAM], env=dict(full, HUBVENDOR_OFFLINE="1",
                           HUBVENDOR_PATH=""), capture_output=True, text=True, timeout=300)]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr[-3000:]
    kagglecache.export(TF_HANDLE, str(vendored / "models" / "tf"), str(tmp_path / "exported"))
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != home / ".kaggle"]
    assert written
    leaks = [str(p) for p in written if secret.encode() in p.read_bytes()]
    assert leaks == []
    assert all(secret not in run.stdout + run.stderr for run in runs)


def test_export_replaces_an_unmarked_entry_and_keeps_a_complete_one(models, tmp_path):
    cache = tmp_path / "kagglehub"
    entry = cache / "models" / "testorg" / "half-plus-two" / "tensorFlow2" / "tiny" / "3"
    entry.mkdir(parents=True)
    (entry / "partial").write_bytes(b"half")  # kagglehub was killed: no 3.complete
    assert kagglecache.locate(TF_HANDLE, str(cache)) is None
    assert kagglecache.export(TF_HANDLE, str(models["tf"]), str(cache)) == str(entry)
    assert not (entry / "partial").exists() and (entry / "saved_model.pb").is_file()
    assert (entry.parent / ".complete" / "3" / "saved_model.pb.complete").is_file()
    (entry / "kept").write_bytes(b"")
    assert kagglecache.export(TF_HANDLE, str(models["preset"]), str(cache)) == str(entry)
    assert (entry / "kept").exists()  # complete entries are kagglehub's: left alone
    assert sorted(p.name for p in entry.parent.iterdir()) == [".complete", "3", "3.complete"]


def test_path_outside_the_vendored_model_is_not_served(vendored, monkeypatch):
    """``path=`` is confined to the vendored model: ``..`` is a missing file, never a file elsewhere."""
    import kagglehub

    from hubvendor.kaggle import hook

    hook.install()
    monkeypatch.setenv("HUBVENDOR_PATH", str(vendored))
    monkeypatch.delenv("HUBVENDOR_OFFLINE", raising=False)
    handle = TF_SLUG + "/3"
    assert kagglehub.model_download(handle, path="variables/variables.index").endswith("variables.index")
    for escape in ("../preset/config.json", "../../hubvendor-manifest.json", str(vendored / "models" / "preset")):
        with pytest.raises(FileNotFoundError, match="is not present in the model files"):
            kagglehub.model_download(handle, path=escape)


def test_resolution_chain_answers_from_kagglehubs_cache(api, tmp_path):
    """Hook 1: after the vendored sources, the chain looks in kagglehub's cache: no download, no hubvendor entry."""
    cache = tmp_path / "kagglehub"
    env = kagglehub_env(api, cache)
    run_python("import json, kagglehub; print(json.dumps(kagglehub.model_download('" + TF_SLUG + "/3')))",
               {**env, "HUBVENDOR_AUTOLOAD": "0"})
    api.requests.clear()
    program = (
        "import json, hubvendor\n"
        "h = 'kaggle://testorg/half-plus-two/tensorflow2/tiny/3'\n"
        "e = hubvendor.explain(h)\n"
        "print(json.dumps([hubvendor.resolve(h), e.origin, e.looked]))"
    )
    hub_cache = tmp_path / "tfhub"
    path, origin, looked = run_python(program, {**env, "TFHUB_CACHE_DIR": str(hub_cache), "HUBVENDOR_OFFLINE": "1"})
    assert path == str(cache / "models" / "testorg" / "half-plus-two" / "tensorFlow2" / "tiny" / "3")
    assert origin == "kagglehub" and looked[-1] == f"kagglehub's cache {cache}"
    assert api.requests == [] and not hub_cache.exists()
