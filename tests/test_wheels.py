"""Vendoring into wheels, end to end: real pip, real build isolation, real TensorFlow.

hubvendor reaches the isolated build environments as a wheel built from this checkout, next to
hatchling/setuptools wheels downloaded once per session (``pip wheel --no-index --find-links``).
Installs go into fresh venvs that see the running environment's packages (TensorFlow) through a
``.pth`` file pointing at a copy of its site-packages made of symlinks, hubvendor itself left out.
"""

from __future__ import annotations

import json
import os
import subprocess
import shutil
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from hubvendor import lockfile
from support.models import keras_dense_expected
from support.server import HubServer, write_mirror_config
from support.venvs import site_without_hubvendor, venv_seeing

REPO = Path(__file__).resolve().parents[1]
HALF = "https://tfhub.dev/test/half_plus_two/1"
KERAS = "https://tfhub.dev/test/keras_dense/1"
BACKENDS = ("hatchling", "setuptools")

APP = '''\
import json


def main():
    import tensorflow as tf
    import tensorflow_hub as hub

    out = {"half_plus_two": hub.load("%s")(tf.constant([1.0, 2.0])).numpy().tolist()}
    if %r:
        layer = hub.KerasLayer("%s")
        out["keras_dense"] = layer(tf.constant([[1.0, 2.0, 3.0]])).numpy().tolist()
    print("RESULT " + json.dumps(out))
'''


def run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, check: bool = True):
    result = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n{result.stdout[-6000:]}")
    return result


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory) -> Path:
    """``make wheelhouse``, as docs/wheels.md tells users to run it (written here instead of the checkout)."""
    house = tmp_path_factory.mktemp("wheelhouse")
    run(["make", "-C", str(REPO), "wheelhouse", f"PYTHON={sys.executable}", f"WHEELHOUSE={house}"])
    return house


@pytest.fixture(scope="session")
def tf_base(tmp_path_factory) -> Path:
    """The running environment's site-packages as symlinks, minus hubvendor (installed from wheels instead)."""
    return site_without_hubvendor(tmp_path_factory.mktemp("tf-base"))


def pip_into(python: Path, *args: str, wheelhouse: Path) -> str:
    return run([sys.executable, "-m", "pip", "--python", str(python), *args,
                "--no-index", "--find-links", str(wheelhouse)]).stdout


def app_env(tmp_path: Path) -> dict[str, str]:
    """A run-time environment with no way to download: offline, empty cache, no mirrors."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_", "PYTHON"))}
    cache = tmp_path / "empty-cache"
    cache.mkdir(exist_ok=True)
    env.update(HUBVENDOR_OFFLINE="1", TFHUB_CACHE_DIR=str(cache), TF_CPP_MIN_LOG_LEVEL="3")
    return env


def write_project(
    path: Path, name: str, backend: str, models: list, *, keras: bool, extra: str = "", deps: str = '"tensorflow-hub"'
) -> Path:
    package = name.replace("-", "_")
    (path / "src" / package).mkdir(parents=True)
    (path / "src" / package / "__init__.py").write_text(APP % (HALF, keras, KERAS))
    entries = ",\n  ".join(m if m.startswith("{") else json.dumps(m) for m in models)
    if backend == "hatchling":
        build = f"""[build-system]
requires = ["hatchling", "hubvendor"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/{package}"]

[tool.hatch.build.hooks.hubvendor]
"""
    else:
        build = f"""[build-system]
requires = ["setuptools>=64", "hubvendor"]
build-backend = "setuptools.build_meta"

[tool.setuptools]
package-dir = {{"" = "src"}}
packages = ["{package}"]
"""
    (path / "pyproject.toml").write_text(f"""{build}
[project]
name = "{name}"
version = "1.0"
dependencies = [{deps}]

[tool.hubvendor]
models = [
  {entries},
]
{extra}""")
    return path


def lock(project: Path, env: dict[str, str]) -> None:
    run([sys.executable, "-m", "hubvendor", "lock", "--project", str(project)], env=env)


def build_wheel(project: Path, out: Path, env: dict[str, str], wheelhouse: Path, *, check: bool = True):
    return run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-index", "--find-links", str(wheelhouse),
                "--no-cache-dir", "-w", str(out), str(project)], env=env, check=check)


def result_of(output: str) -> dict:
    (line,) = [line for line in output.splitlines() if line.startswith("RESULT ")]
    return json.loads(line[len("RESULT "):])


def check_wheel(path: Path, dist: str) -> None:
    """Models stored, manifest at hubvendor.d/<dist>.json, Requires-Dist on hubvendor, RECORD complete."""
    with zipfile.ZipFile(path) as whl:
        infos = {i.filename: i for i in whl.infolist()}
        models = [i for n, i in infos.items() if n.startswith(f"hubvendor.d/{dist}/")]
        assert len(models) == 8 and all(i.compress_type == zipfile.ZIP_STORED for i in models)
        manifest = json.loads(whl.read(f"hubvendor.d/{dist}.json"))
        assert sorted(manifest["models"]) == [HALF, KERAS]
        assert all(e["path"].startswith(f"{dist}/") for e in manifest["models"].values())
        for entry in manifest["models"].values():  # what `cache list --vendored` and doctor check installed copies by
            below = f"hubvendor.d/{entry['path']}/"
            copied = [i for n, i in infos.items() if n.startswith(below)]
            assert (entry["files"], entry["bytes"]) == (len(copied), sum(i.file_size for i in copied))
        (metadata,) = [n for n in infos if n.endswith(".dist-info/METADATA")]
        assert "Requires-Dist: hubvendor>=" in whl.read(metadata).decode()
        (record,) = [n for n in infos if n.endswith(".dist-info/RECORD")]
        recorded = {line.split(",")[0] for line in whl.read(record).decode().splitlines()}
        assert recorded == set(infos)
        assert names_sorted(list(infos))


def names_sorted(names: list[str]) -> bool:
    payload = [n for n in names if ".dist-info/" not in n]
    return payload == sorted(payload) and names[-1].endswith(".dist-info/RECORD")


@pytest.mark.parametrize("backend", BACKENDS)
def test_wheel_vendors_models_and_runs_offline(backend, tmp_path, model_root, hub_server, hub_env, wheelhouse, tf_base):
    """Must-show 1 and 2: pip wheel under build isolation; the wheel runs hub.load offline; rebuilds are identical."""
    project = write_project(tmp_path / "proj", "demo-app", backend, [HALF, KERAS], keras=True)
    lock(project, hub_env)
    first = build_wheel(project, tmp_path / "out1", hub_env, wheelhouse)
    assert f"hubvendor: {HALF}: sha256" in first.stdout  # progress visible under pip wheel -v
    downloads = hub_server.downloads()
    second = build_wheel(project, tmp_path / "out2", hub_env, wheelhouse)
    assert hub_server.downloads() == downloads, "a warm cache must mean no network"
    assert "hubvendor: warning" not in first.stdout + second.stdout
    # A third build through another mirror (another port) into an empty cache: still the same bytes.
    with HubServer(model_root) as other:
        env = dict(hub_env, HUBVENDOR_DOWNLOADER_CONFIG=str(write_mirror_config(tmp_path / "other.cfg", other.url)),
                   TFHUB_CACHE_DIR=str(tmp_path / "other-cache"))
        build_wheel(project, tmp_path / "out3", env, wheelhouse)
    wheel1, wheel2, wheel3 = (next((tmp_path / f"out{i}").glob("*.whl")) for i in (1, 2, 3))
    assert wheel1.read_bytes() == wheel2.read_bytes() == wheel3.read_bytes()
    check_wheel(wheel1, "demo_app")

    hub_server.stop()
    python = venv_seeing(tmp_path / "venv", tf_base)
    pip_into(python, "install", str(wheel1), wheelhouse=wheelhouse)
    out = run([str(python), "-c", "import demo_app; demo_app.main()"], env=app_env(tmp_path), cwd=tmp_path).stdout
    assert result_of(out) == {"half_plus_two": [2.5, 3.0], "keras_dense": keras_dense_expected([[1.0, 2.0, 3.0]])}


def test_unlocked_handle_warns_with_digest(tmp_path, hub_server, hub_env, wheelhouse):
    project = write_project(tmp_path / "proj", "loose-app", "hatchling", [HALF], keras=False)
    result = build_wheel(project, tmp_path / "out", hub_env, wheelhouse)
    warning = f"hubvendor: warning: {HALF} is not in hubvendor.lock; pin it with `hubvendor lock` (archive sha256 "
    assert warning in result.stdout
    # docs/wheels.md: pip hides a backend's output unless -v, or PIP_VERBOSE=1, asks for it (attack 4, item 14)
    plain = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--find-links", str(wheelhouse),
             "--no-cache-dir", "-w", str(tmp_path / "plain"), str(project)]
    assert warning not in run(plain, env=hub_env).stdout
    assert warning in run(plain, env=dict(hub_env, PIP_VERBOSE="1")).stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_lock_mismatch_fails_and_leaves_no_wheel(backend, tmp_path, hub_server, hub_env, wheelhouse):
    """Must-show 3: a lock whose sha256 differs from the served bytes fails the build, naming both digests."""
    project = write_project(tmp_path / "proj", "bad-app", backend, [HALF], keras=False)
    lock(project, hub_env)
    real = lockfile.load(project / "hubvendor.lock").models[0]
    wrong = "0" * 64
    text = (project / "hubvendor.lock").read_text()
    (project / "hubvendor.lock").write_text(text.replace(real.sha256, wrong))
    (Path(hub_env["TFHUB_CACHE_DIR"])).rename(tmp_path / "old-cache")  # force a real download too
    result = build_wheel(project, tmp_path / "out", hub_env, wheelhouse, check=False)
    assert result.returncode != 0
    error = next(line for line in result.stdout.splitlines() if line.strip().startswith("hubvendor: error: "))
    assert HALF in error and wrong in error and real.sha256 in error, error
    assert f"the pin is in {project / 'hubvendor.lock'}" in error, error  # the lock may be what is wrong
    assert "Traceback" not in result.stdout, "hubvendor's own errors end the build in one line"
    assert not list(tmp_path.glob("out/*.whl"))


@pytest.mark.parametrize("how", ["pyproject", "environment"])
def test_locked_requires_every_handle_pinned(how, tmp_path, hub_server, hub_env, wheelhouse):
    """Must-show 3: ``locked = true`` (or HUBVENDOR_LOCKED=1) with an unpinned handle fails before any download."""
    extra = "locked = true\n" if how == "pyproject" else ""
    env = dict(hub_env, HUBVENDOR_LOCKED="1") if how == "environment" else hub_env
    project = write_project(tmp_path / "proj", "strict-app", "hatchling", [HALF], keras=False, extra=extra)
    result = build_wheel(project, tmp_path / "out", env, wheelhouse, check=False)
    assert result.returncode != 0
    assert f"{project / 'hubvendor.lock'}: missing, and locking is required" in result.stdout
    assert hub_server.downloads() == 0
    assert not list(tmp_path.glob("out/*.whl"))


def test_locked_with_a_handle_missing_from_the_lock(tmp_path, hub_server, hub_env, wheelhouse):
    project = write_project(tmp_path / "proj", "strict-app", "setuptools", [HALF], keras=False)
    lock(project, hub_env)
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(text.replace(f'"{HALF}",', f'"{HALF}",\n  "{KERAS}",') + "locked = true\n")
    downloads = hub_server.downloads("test/keras_dense/1")
    result = build_wheel(project, tmp_path / "out", hub_env, wheelhouse, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stdout
    assert f"handle {KERAS!r} is not pinned and locking is required" in result.stdout
    assert hub_server.downloads("test/keras_dense/1") == downloads
    assert not list(tmp_path.glob("out/*.whl"))


def front_end_env(env: dict[str, str], wheelhouse: Path) -> dict[str, str]:
    """``env`` with pip (and uv) taking build requirements from the local wheelhouse only."""
    return dict(env, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse), UV_NO_INDEX="1", UV_FIND_LINKS=str(wheelhouse),
                UV_CACHE_DIR=str(wheelhouse.parent / "uv-cache"), PIP_NO_CACHE_DIR="1")


@pytest.mark.parametrize("backend", BACKENDS)
def test_python_m_build_sdist_then_wheel_vendors_the_locked_models(backend, tmp_path, hub_server, hub_env, wheelhouse):
    """Issue 13: the sdist carries hubvendor.lock, so ``locked = true`` wheels built from it vendor the pins."""
    project = write_project(tmp_path / "proj", "sdist-app", backend, [HALF, KERAS], keras=True, extra="locked = true\n")
    if backend == "hatchling":  # a usual narrowing of hatchling's sdist, which then leaves the lock out
        with open(project / "pyproject.toml", "a") as f:
            f.write('\n[tool.hatch.build.targets.sdist]\ninclude = ["src"]\n')
    lock(project, hub_env)
    env = front_end_env(hub_env, wheelhouse)
    run([sys.executable, "-m", "build", "--outdir", str(tmp_path / "dist"), str(project)], env=env)
    (sdist,) = (tmp_path / "dist").glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        assert any(name.endswith("/hubvendor.lock") and name.count("/") == 1 for name in tar.getnames())
    (built,) = (tmp_path / "dist").glob("*.whl")
    check_wheel(built, "sdist_app")
    build_wheel(sdist, tmp_path / "pip", hub_env, wheelhouse)
    (piped,) = (tmp_path / "pip").glob("*.whl")
    assert built.read_bytes() == piped.read_bytes()
    uv = shutil.which("uv") or shutil.which("uv", path=os.path.dirname(sys.executable))
    if uv:
        run([uv, "build", "--out-dir", str(tmp_path / "uv"), str(project)], env=env)
        (uv_wheel,) = (tmp_path / "uv").glob("*.whl")
        check_wheel(uv_wheel, "sdist_app")
        assert uv_wheel.read_bytes() == piped.read_bytes(), "uv build and pip wheel --no-deps of the sdist differ"


@pytest.mark.parametrize("front_end", ["pip", "build", "uv"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_build_without_the_lock_says_it_is_missing_in_one_line(backend, front_end, tmp_path, hub_server, hub_env,
                                                                 wheelhouse):
    """The error reads like the CLI's under every front-end: one ``hubvendor: error:`` line, no traceback."""
    project = write_project(tmp_path / "proj", "nolock-app", backend, [HALF], keras=False, extra="locked = true\n")
    env = front_end_env(hub_env, wheelhouse)
    out = str(tmp_path / "out")
    uv = shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv")
    if front_end == "uv" and uv is None:
        pytest.skip("uv is not installed")
    command = {
        "pip": [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", out, str(project)],
        "build": [sys.executable, "-m", "build", "--wheel", "--outdir", out, str(project)],
        "uv": [uv, "build", "--wheel", "--out-dir", out, str(project)],
    }[front_end]
    result = run(command, env=env, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stdout, result.stdout
    (line,) = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("hubvendor: error: ")]
    assert line.startswith(f"hubvendor: error: {project / 'hubvendor.lock'}: missing, and locking is required"), line
    assert hub_server.downloads() == 0
    assert not list(tmp_path.glob("out/*.whl"))


def test_hatch_clean_removes_the_editable_staging_dir(tmp_path):
    project = write_project(tmp_path / "proj", "clean-app", "hatchling", [HALF], keras=False)
    staged = project / "build" / "hubvendor" / "clean_app" / "models"
    staged.mkdir(parents=True)
    (staged / "x").write_text("x")
    code = "from hatchling.builders.wheel import WheelBuilder; list(WheelBuilder('.').build(directory='dist', clean_only=True))"
    run([sys.executable, "-c", code], cwd=project)
    assert not (project / "build" / "hubvendor" / "clean_app").exists()


def test_two_wheels_side_by_side_then_uninstall_one(tmp_path, hub_server, hub_env, wheelhouse, tf_base):
    """Must-show 4: two wheels vendoring overlapping models coexist; removing one leaves the other working."""
    one = write_project(tmp_path / "one", "app-one", "hatchling", [HALF], keras=False)
    two = write_project(tmp_path / "two", "app-two", "setuptools", [HALF, KERAS], keras=True)
    for project in (one, two):
        lock(project, hub_env)
        build_wheel(project, tmp_path / "out", hub_env, wheelhouse)
    hub_server.stop()
    python = venv_seeing(tmp_path / "venv", tf_base)
    pip_into(python, "install", *map(str, sorted((tmp_path / "out").glob("*.whl"))), wheelhouse=wheelhouse)
    env = app_env(tmp_path)
    probe = "import hubvendor, sys; print('PATH', hubvendor.resolve(sys.argv[1]))"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    assert sorted(p.name for p in Path(site, "hubvendor.d").glob("*.json")) == ["app_one.json", "app_two.json"]
    assert result_of(run([str(python), "-c", "import app_one; app_one.main()"], env=env, cwd=tmp_path).stdout)[
        "half_plus_two"] == [2.5, 3.0]
    run([sys.executable, "-m", "pip", "--python", str(python), "uninstall", "-y", "app-one"])
    assert not Path(site, "hubvendor.d", "app_one.json").exists()
    assert not [p for p in Path(site, "hubvendor.d").rglob("*") if p.is_file() and "app_one" in str(p)]
    for handle in (HALF, KERAS):
        out = run([str(python), "-c", probe, handle], env=env, cwd=tmp_path).stdout
        assert str(Path(site, "hubvendor.d", "app_two")) in out
    out = run([str(python), "-c", "import app_two; app_two.main()"], env=env, cwd=tmp_path).stdout
    assert result_of(out) == {"half_plus_two": [2.5, 3.0], "keras_dense": keras_dense_expected([[1.0, 2.0, 3.0]])}


@pytest.mark.parametrize("backend", BACKENDS)
def test_editable_install_resolves_vendored_models(backend, tmp_path, hub_server, hub_env, wheelhouse, tf_base):
    """Must-show 5: ``pip install -e`` writes a manifest pointing at models staged in <project>/build/hubvendor."""
    # From source, pip takes dependencies from the backend's prepared metadata, which build hooks cannot
    # change (docs/wheels.md): projects installed from source declare hubvendor themselves.
    project = write_project(tmp_path / "proj", "edit-app", backend, [HALF], keras=False,
                            deps='"tensorflow-hub", "hubvendor"')
    lock(project, hub_env)
    python = venv_seeing(tmp_path / "venv", tf_base)
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "-e", str(project),
         "--no-index", "--find-links", str(wheelhouse)], env=hub_env)
    hub_server.stop()
    staged = project / "build" / "hubvendor" / "edit_app"
    out = run([str(python), "-c", f"import hubvendor; print('PATH', hubvendor.resolve({HALF!r}))"],
              env=app_env(tmp_path), cwd=tmp_path).stdout
    assert str(staged / "models") in out
    out = run([str(python), "-c", "import edit_app; edit_app.main()"], env=app_env(tmp_path), cwd=tmp_path).stdout
    assert result_of(out) == {"half_plus_two": [2.5, 3.0]}


def test_setuptools_plugin_ignores_projects_without_table(tmp_path, wheelhouse):
    """The setuptools entry point is harmless for projects that do not declare [tool.hubvendor]."""
    project = tmp_path / "plain"
    (project / "src" / "plain").mkdir(parents=True)
    (project / "src" / "plain" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=64", "hubvendor"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "plain"
        version = "1.0"
        """))
    build_wheel(project, tmp_path / "out", dict(os.environ), wheelhouse)
    (wheel,) = (tmp_path / "out").glob("*.whl")
    with zipfile.ZipFile(wheel) as whl:
        assert not [n for n in whl.namelist() if n.startswith("hubvendor.d")]
        assert "hubvendor" not in whl.read("plain-1.0.dist-info/METADATA").decode()


# -- the wheel rewriter on its own (fast) ---------------------------------------------------------


def small_wheel(path: Path, metadata: str = "Metadata-Version: 2.1\nName: w\nVersion: 1\n") -> Path:
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr("w/__init__.py", "")
        whl.writestr("w-1.dist-info/METADATA", metadata)
        whl.writestr("w-1.dist-info/RECORD", "")
    return path


@pytest.mark.parametrize(
    "metadata, added",
    [
        ("Metadata-Version: 2.1\nName: w\n", True),
        ("Metadata-Version: 2.1\nName: w\nRequires-Dist: HubVendor>=0.1\n\nbody\n", False),
        ("Metadata-Version: 2.1\nName: w\nRequires-Dist: hubvendor; extra == 'x'\n\nbody\n", True),
    ],
)
def test_add_requirement(metadata, added):
    from hubvendor.integrations.wheel import add_requirement

    out = add_requirement(metadata.encode(), "hubvendor>=0.1.0", "hubvendor").decode()
    assert ("Requires-Dist: hubvendor>=0.1.0" in out) is added
    assert out.partition("\n\n")[2] == metadata.partition("\n\n")[2]  # the description is untouched


def test_rewrite_is_reproducible_and_honours_source_date_epoch(tmp_path, monkeypatch):
    from hubvendor.integrations.wheel import ExtraFile, rewrite, tree_files

    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"pb")
    (model / "variables" / "v.data").write_bytes(os.urandom(3 << 20))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    outputs = []
    for name in ("a", "b"):
        path = small_wheel(tmp_path / f"{name}.whl")
        extra = tree_files(str(model), "hubvendor.d/w/m") + [ExtraFile("hubvendor.d/w.json", data=b"{}")]
        seen = []
        rewrite(str(path), extra, requirement=("hubvendor>=1", "hubvendor"), check=seen.extend)
        assert sorted(h.arcname for h in seen) == ["hubvendor.d/w/m/saved_model.pb", "hubvendor.d/w/m/variables/v.data"]
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1]
    with zipfile.ZipFile(tmp_path / "a.whl") as whl:
        assert {i.date_time for i in whl.infolist()} == {(2023, 11, 14, 22, 13, 20)}
        assert whl.getinfo("hubvendor.d/w/m/variables/v.data").compress_type == zipfile.ZIP_STORED
        assert whl.namelist()[-1] == "w-1.dist-info/RECORD"


def test_rewrite_failure_leaves_neither_wheel(tmp_path):
    """A failed rewrite removes the backend's wheel and its own temporaries: the builds then fail with no wheel."""
    from hubvendor.integrations.wheel import ExtraFile, rewrite
    from hubvendor.errors import ConfigError

    path = small_wheel(tmp_path / "w.whl")
    with pytest.raises(ConfigError, match="clashes"):
        rewrite(str(path), [ExtraFile("w/__init__.py", data=b"x")])
    assert list(tmp_path.iterdir()) == []

    def refuse(_hashes):
        raise ValueError("no")

    small_wheel(path)
    with pytest.raises(ValueError):
        rewrite(str(path), [ExtraFile("hubvendor.d/w.json", data=b"{}")], check=refuse)
    assert list(tmp_path.iterdir()) == []


def test_size_limit_fails_the_build(tmp_path, hub_server, hub_env, wheelhouse):
    project = write_project(tmp_path / "proj", "big-app", "hatchling", [HALF], keras=False,
                            extra='max-model-size = "1KiB"\n')
    result = build_wheel(project, tmp_path / "out", hub_env, wheelhouse, check=False)
    assert result.returncode != 0
    assert f"[tool.hubvendor] max-model-size = 1024: {HALF} unpacks to " in result.stdout
    assert not list(tmp_path.glob("out/*.whl"))


def test_the_front_end_recipe_in_docs_wheels_md_runs_as_printed(tmp_path, hub_server, hub_env, wheelhouse):
    """docs/wheels.md's tested block, run by bash exactly as printed in a fresh hatchling project."""
    text = (REPO / "docs" / "wheels.md").read_text()
    marker = text.index("<!-- doc-test: elsewhere tests/test_wheels.py::test_the_front_end_recipe")
    block = text[text.index("```sh\n", marker) + len("```sh\n"):]
    block = block[: block.index("```")]
    project = write_project(tmp_path / "proj", "recipe-app", "hatchling", [HALF, KERAS], keras=True,
                            extra="locked = true\n")
    lock(project, hub_env)
    (tmp_path / "wheelhouse").symlink_to(wheelhouse)  # where the doc says: next to the project directory
    env = {k: v for k, v in hub_env.items() if not k.startswith(("PIP_", "UV_"))}
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}"
    env["UV_CACHE_DIR"] = str(tmp_path / "uv-cache")  # keep uv's cache out of the user's home
    run(["bash", "-euo", "pipefail", "-c", block], env=env, cwd=project)
    for directory in ("build", "uv"):  # the wheelhouse's wheels stay out of the sdists (attack 4, item 9)
        (sdist,) = (project / "dist" / directory).glob("*.tar.gz")
        with tarfile.open(sdist) as tar:
            packed = [n for n in tar.getnames() if "wheelhouse" in n or n.endswith(".whl")]
        assert not packed, f"{sdist.name} packs the wheelhouse: {packed[:3]}"
    wheels = [next((project / "dist" / d).glob("*.whl")) for d in ("pip", "build", "uv")]
    for built in wheels:
        check_wheel(built, "recipe_app")
    assert wheels[0].read_bytes() == wheels[1].read_bytes() == wheels[2].read_bytes()


def test_the_example_lock_matches_the_models_the_repo_serves(tmp_path):
    """examples/pip_app/hubvendor.lock pins the committed archives of examples/bazel_app/models/."""
    example = REPO / "examples" / "pip_app"
    project = tmp_path / "pip_app"
    shutil.copytree(example, project, ignore=shutil.ignore_patterns("dist", "build"))
    with HubServer(REPO / "examples" / "bazel_app" / "models", test_controls=False) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_"))}
        env.update(HUBVENDOR_DOWNLOADER_CONFIG=str(write_mirror_config(tmp_path / "mirror.cfg", server.url)),
                   TFHUB_CACHE_DIR=str(tmp_path / "cache"))
        result = run([sys.executable, "-m", "hubvendor", "lock", "--check", "--verify", "--project", str(project)],
                     env=env, check=False)
    assert result.returncode == 0, result.stdout
