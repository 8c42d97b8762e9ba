"""``hubvendor serve`` over a ROOT spelled as Kaggle spells it (``tensorFlow2``, as kagglehub's cache keeps it).

hubvendor asks for the lowercased framework (``.../tensorflow2/tiny/get``, ``.../tensorflow2/tiny/3/download``);
the server matches owner, model and framework to ROOT's directories ignoring case, as Kaggle does (a directory
spelled as asked first), keeps the variation exact, never counts a link out of ROOT, and answers 409 when two
directories differ from the name asked only in case.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import requests

from support.commands import hubvendor
from support.kaggle_models import build_saved_model
from support.server import HubServer

VARIATION = Path("testorg", "half-plus-two", "tensorFlow2", "tiny")


def tree_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    """A real TF2 SavedModel (``0.5 * x + 2``), built once for this module."""
    return build_saved_model(tmp_path_factory.mktemp("model") / "half_plus_two")


@pytest.fixture
def kaggle_root(tmp_path, saved_model) -> Path:
    """A ROOT laid out as kagglehub's cache: ``testorg/half-plus-two/tensorFlow2/tiny/3/``."""
    root = tmp_path / "root"
    shutil.copytree(saved_model, root / VARIATION / "3")
    return root


def test_fetch_of_a_versionless_handle_in_any_case_is_served_from_kaggles_spelling(kaggle_root, saved_model, tmp_path):
    """The old server tried ``tensorflow2`` as given, then lowercased: neither is ``tensorFlow2``, so 404."""
    with HubServer(kaggle_root, test_controls=False) as server:
        config = tmp_path / "mirror.cfg"
        config.write_text(f"rewrite www.kaggle.com/(.*) {server.url}/$1\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_", "KAGGLE"))}
        env.update(HUBVENDOR_DOWNLOADER_CONFIG=str(config), TFHUB_CACHE_DIR=str(tmp_path / "cache"),
                   KAGGLEHUB_CACHE=str(tmp_path / "kagglehub"), HOME=str(tmp_path / "home"))
        result = hubvendor("fetch", "--json", "kaggle://testorg/half-plus-two/TENSORFLOW2/tiny", env=env)
    assert result.returncode == 0, result.stderr
    [fetched] = json.loads(result.stdout)
    assert fetched["url"] == "https://www.kaggle.com/api/v1/models/testorg/half-plus-two/tensorflow2/tiny/3/download"
    assert tree_files(Path(fetched["path"])) == tree_files(saved_model)


def test_owner_model_and_framework_ignore_case_and_the_variation_does_not(kaggle_root, saved_model):
    with HubServer(kaggle_root, test_controls=False) as server:
        for spelled in ("testorg/half-plus-two/tensorflow2", "TestOrg/Half-Plus-Two/TENSORFLOW2",
                        "testorg/half-plus-two/tensorFlow2"):
            base = f"{server.url}/api/v1/models/{spelled}/tiny"
            assert requests.get(f"{base}/get", timeout=30).json() == {"versionNumber": 3}
            one = requests.get(f"{base}/3/download/saved_model.pb", timeout=30)
            assert one.status_code == 200 and one.content == (saved_model / "saved_model.pb").read_bytes()
        archive = requests.get(f"{server.url}/api/v1/models/testorg/half-plus-two/tensorflow2/tiny/3/download", timeout=30)
        long_form = requests.get(f"{server.url}/models/testorg/half-plus-two/frameworks/tensorflow2/variations/tiny/"
                                 "versions/3?tf-hub-format=compressed", timeout=30)
        assert archive.status_code == 200 and long_form.content == archive.content
        for missing in ["/api/v1/models/testorg/half-plus-two/tensorflow2/TINY/get",
                        "/api/v1/models/testorg/half-plus-two/tensorflow2/Tiny/3/download",
                        "/api/v1/models/testorg/half-plus-two/jax/tiny/get"]:
            assert requests.get(server.url + missing, timeout=30).status_code == 404, missing


def test_names_differing_only_in_case_are_refused_with_409_naming_both(kaggle_root):
    """Unless one is spelled as asked: that one is meant (``kaggle.ref.match_name``, kagglehub's cache reader's rule too)."""
    twin = kaggle_root / "testorg" / "half-plus-two" / "TensorFlow2" / "tiny"
    shutil.copytree(kaggle_root / VARIATION / "3", twin / "4")
    with HubServer(kaggle_root, test_controls=False) as server:
        for path in ["/api/v1/models/testorg/half-plus-two/tensorflow2/tiny/get",
                     "/api/v1/models/testorg/half-plus-two/TENSORFLOW2/tiny/3/download"]:
            answer = requests.get(server.url + path, timeout=30)
            assert answer.status_code == 409, path
            assert answer.text == (f"cannot serve {path}: testorg/half-plus-two/TensorFlow2, "
                                   "testorg/half-plus-two/tensorFlow2 under ROOT differ only in case; "
                                   "Kaggle names ignore case, so keep one\n")
        base = f"{server.url}/api/v1/models/testorg/half-plus-two"
        assert requests.get(f"{base}/tensorFlow2/tiny/get", timeout=30).json() == {"versionNumber": 3}
        assert requests.get(f"{base}/TensorFlow2/tiny/get", timeout=30).json() == {"versionNumber": 4}


def test_a_link_out_of_root_is_never_matched(kaggle_root, tmp_path, saved_model):
    outside = tmp_path / "outside" / "tiny" / "7"
    shutil.copytree(saved_model, outside)
    os.symlink(outside.parent.parent, kaggle_root / "testorg" / "half-plus-two" / "TENSORFLOW2")
    os.symlink(outside.parent.parent, kaggle_root / "testorg" / "half-plus-two" / "jax")
    with HubServer(kaggle_root, test_controls=False) as server:
        base = f"{server.url}/api/v1/models/testorg/half-plus-two"
        assert requests.get(f"{base}/tensorflow2/tiny/get", timeout=30).json() == {"versionNumber": 3}
        assert requests.get(f"{base}/TENSORFLOW2/tiny/7/download", timeout=30).status_code == 404
        assert requests.get(f"{base}/JAX/tiny/get", timeout=30).status_code == 404
