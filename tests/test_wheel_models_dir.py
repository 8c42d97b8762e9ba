"""``models-dir`` may not put models into a directory other distributions share (attack 4, item 14).

The rule (docs/wheels.md): models go under ``hubvendor.d/{dist}`` (the default; the wheel's own name) or
inside a package the wheel itself ships (a directory with ``__init__.py`` in the backend's wheel, such as
``my_app/models``). ``hubvendor``, ``hubvendor.d`` itself, another name under ``hubvendor.d`` or another
distribution's package would make two wheels own the same files, so uninstalling one breaks the other.
"""

from __future__ import annotations

import zipfile

import pytest

from hubvendor import config
from hubvendor.errors import ConfigError
from test_wheels import HALF, build_wheel, lock, wheelhouse, write_project  # noqa: F401 (fixture)


@pytest.mark.parametrize("value", ["hubvendor", "hubvendor/models", "HubVendor/x", "hubvendor.d", "hubvendor.d/",
                                   "hubvendor.d/other_app", "hubvendor.d/x{dist}", "hubvendor.d/{dist}x/m"])
def test_shared_namespaces_are_refused_in_one_line(value, tmp_path):
    with pytest.raises(ConfigError) as caught:
        config.parse({"models": [], "models-dir": value}, tmp_path)
    message = str(caught.value)
    assert "\n" not in message and f"models-dir = {value!r}" in message, message
    assert "hubvendor.d/{dist}" in message, message


@pytest.mark.parametrize("value", ["hubvendor.d/{dist}", "hubvendor.d/{dist}/models", "my_app/models", "{dist}/models",
                                   "my_app"])
def test_own_namespaces_parse(value, tmp_path):
    assert config.parse({"models": [], "models-dir": value}, tmp_path).models_dir == value.rstrip("/")


@pytest.mark.parametrize("backend", ["hatchling", "setuptools"])
def test_a_models_dir_in_another_distributions_package_fails_the_build(backend, tmp_path, hub_server, hub_env,
                                                                       wheelhouse):
    """``requests/models`` would put the models into requests' package directory: refused, no wheel."""
    project = write_project(tmp_path / "proj", "dir-app", backend, [HALF], keras=False,
                            extra='models-dir = "requests/models"\n')
    lock(project, hub_env)
    result = build_wheel(project, tmp_path / "out", hub_env, wheelhouse, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stdout, result.stdout[-3000:]
    (line,) = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("hubvendor: error: ")]
    assert "models-dir = 'requests/models'" in line and "dir_app" in line, line
    assert not list(tmp_path.glob("out/*.whl"))


def test_a_models_dir_inside_the_projects_own_package_builds(tmp_path, hub_server, hub_env, wheelhouse):
    project = write_project(tmp_path / "proj", "own-app", "hatchling", [HALF], keras=False,
                            extra='models-dir = "{dist}/models"\n')
    lock(project, hub_env)
    build_wheel(project, tmp_path / "out", hub_env, wheelhouse)
    (built,) = (tmp_path / "out").glob("*.whl")
    with zipfile.ZipFile(built) as whl:
        names = whl.namelist()
    assert any(n.startswith("own_app/models/") and n.endswith("saved_model.pb") for n in names), names
    assert "hubvendor.d/own_app.json" in names
