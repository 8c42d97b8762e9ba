"""hubvendor.runfiles on synthetic runfiles trees and manifests (the real Bazel runs are in test_bazel.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hubvendor import manifest, runfiles
from hubvendor.errors import ConfigError

HANDLE = "https://tfhub.dev/test/half_plus_two/1"
RUNFILES_PATH = "tfhub_test_half_plus_two_1/model"


@pytest.fixture(autouse=True)
def no_bazel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RUNFILES_DIR", raising=False)
    monkeypatch.delenv("RUNFILES_MANIFEST_FILE", raising=False)
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "not_a_bazel_binary")])


def manifest_json(models: dict[str, dict]) -> str:
    return json.dumps({"format": manifest.FORMAT, "models": models})


def make_model(directory: Path) -> Path:
    (directory / "variables").mkdir(parents=True)
    (directory / "saved_model.pb").write_bytes(b"pb")
    (directory / "variables" / "variables.index").write_bytes(b"ix")
    return directory


def runfiles_tree(root: Path, *, with_manifest: bool) -> Path:
    """A runfiles directory as Bazel lays it out: symlinks to the real files, MANIFEST optional."""
    real = make_model(root / "external" / "tfhub_test_half_plus_two_1" / "model")
    real_manifest = root / "bin" / "models.hubvendor.json"
    real_manifest.parent.mkdir(parents=True)
    real_manifest.write_text(manifest_json({HANDLE: {"handle": HANDLE, "runfiles_path": RUNFILES_PATH}}))
    tree = root / "app.runfiles"
    files = {
        "ws/models.hubvendor.json": real_manifest,
        f"{RUNFILES_PATH}/saved_model.pb": real / "saved_model.pb",
        f"{RUNFILES_PATH}/variables/variables.index": real / "variables" / "variables.index",
    }
    for rlocation, target in files.items():
        link = tree / rlocation
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    if with_manifest:
        (tree / "MANIFEST").write_text("".join(f"{r} {t}\n" for r, t in sorted(files.items())))
    return tree


def test_not_under_bazel_is_empty() -> None:
    assert runfiles.locate() is None
    assert runfiles.find_models() == {}


@pytest.mark.parametrize("with_manifest", [True, False], ids=["MANIFEST", "walk"])
def test_runfiles_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_manifest: bool) -> None:
    tree = runfiles_tree(tmp_path, with_manifest=with_manifest)
    monkeypatch.setenv("RUNFILES_DIR", str(tree))
    assert runfiles.find_models() == {HANDLE: str(tree / RUNFILES_PATH)}


def test_manifest_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = runfiles_tree(tmp_path, with_manifest=True)
    manifest = tmp_path / "app.runfiles_manifest"
    manifest.write_text((tree / "MANIFEST").read_text())
    monkeypatch.setenv("RUNFILES_MANIFEST_FILE", str(manifest))
    monkeypatch.setenv("RUNFILES_DIR", str(tmp_path / "missing"))
    assert runfiles.find_models() == {HANDLE: str(tmp_path / "external" / "tfhub_test_half_plus_two_1" / "model")}


def test_argv0_runfiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = runfiles_tree(tmp_path, with_manifest=True)
    monkeypatch.setattr(sys, "argv", [str(tree)[: -len(".runfiles")]])
    assert runfiles.find_models() == {HANDLE: str(tree / RUNFILES_PATH)}


def test_keys_are_normalised_in_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_model(tmp_path / "m")
    written = "HTTPS://TFHub.dev//test/half_plus_two/1/?tf-hub-format=compressed"
    (tmp_path / "x.hubvendor.json").write_text(
        manifest_json({"whatever": {"handle": written, "runfiles_path": "m"}})
    )
    monkeypatch.setenv("RUNFILES_DIR", str(tmp_path))
    assert runfiles.find_models() == {HANDLE: str(tmp_path / "m")}


def test_model_missing_from_runfiles_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "x.hubvendor.json").write_text(manifest_json({HANDLE: {"handle": HANDLE, "runfiles_path": "gone"}}))
    monkeypatch.setenv("RUNFILES_DIR", str(tmp_path))
    assert runfiles.find_models() == {}


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"format": "other/1", "models": {}}), "expected"),
        (manifest_json({HANDLE: {"handle": HANDLE}}), "runfiles_path"),
    ],
)
def test_malformed_manifest_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str) -> None:
    bad = tmp_path / "bad.hubvendor.json"
    bad.write_text(text)
    monkeypatch.setenv("RUNFILES_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=message) as info:
        runfiles.find_models()
    assert str(bad) in str(info.value)


def two_copies(root: Path, first: dict, second: dict) -> None:
    """Two hub_models manifests naming HANDLE in one runfiles tree, each with its own model directory."""
    for name, extra in (("a", first), ("b", second)):
        make_model(root / name / "model")
        (root / f"{name}.hubvendor.json").write_text(
            manifest_json({HANDLE: {"handle": HANDLE, "runfiles_path": f"{name}/model", **extra}}))


TREE_1, TREE_2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


@pytest.mark.parametrize(
    "first, second, differ",
    [
        ({"sha256": "", "tree_digest": TREE_1}, {"sha256": "", "tree_digest": TREE_2}, ("tree digest", TREE_1, TREE_2)),
        ({"sha256": "a" * 64, "tree_digest": TREE_1}, {"sha256": "a" * 64, "tree_digest": TREE_2},
         ("tree digest", TREE_1, TREE_2)),
        ({"sha256": "a" * 64}, {"sha256": "b" * 64}, ("sha256", "a" * 64, "b" * 64)),
    ],
    ids=["tree-only Kaggle copies", "same archive sha256, other trees", "archives without tree digests"],
)
def test_two_different_copies_of_one_handle_name_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     first: dict, second: dict, differ: tuple) -> None:
    """Finding 5 of the Bazel attack, for copies told apart by their tree digest (sha256 "" for a Kaggle model
    locked from kagglehub's cache), not only by their archive's sha256."""
    two_copies(tmp_path, first, second)
    monkeypatch.setenv("RUNFILES_DIR", str(tmp_path))
    with pytest.raises(ConfigError) as info:
        runfiles.find_models()
    what, one, other = differ
    assert str(info.value) == (
        f"{HANDLE}: vendored twice in this binary's runfiles, as {what} {one} ({tmp_path / 'a.hubvendor.json'}) "
        f"and {what} {other} ({tmp_path / 'b.hubvendor.json'}); depend on one of the two repositories")


@pytest.mark.parametrize(
    "first, second",
    [
        ({"sha256": "", "tree_digest": TREE_1}, {"sha256": "", "tree_digest": TREE_1}),
        ({"sha256": "a" * 64, "tree_digest": TREE_1}, {"sha256": "b" * 64, "tree_digest": TREE_1}),
        ({"sha256": "", "tree_digest": TREE_1}, {"sha256": "a" * 64}),
    ],
    ids=["identical tree-only copies", "one tree from two archives", "nothing in common to compare"],
)
def test_identical_or_incomparable_copies_resolve_to_the_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               first: dict, second: dict) -> None:
    two_copies(tmp_path, first, second)
    monkeypatch.setenv("RUNFILES_DIR", str(tmp_path))
    assert runfiles.find_models() == {HANDLE: str(tmp_path / "a" / "model")}


@pytest.mark.parametrize("with_manifest", [True, False], ids=["MANIFEST", "walk"])
def test_a_manifest_inside_a_model_tree_vouches_for_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            with_manifest: bool) -> None:
    """A model's archive carrying ``fake.hubvendor.json`` (an attack mapped another handle to its own files)
    is model data, not a manifest; a malformed one there is not an error either."""
    tree = runfiles_tree(tmp_path, with_manifest=with_manifest)
    other = "https://tfhub.dev/test/other/1"
    planted = tmp_path / "planted.hubvendor.json"
    planted.write_text(manifest_json({other: {"handle": other, "runfiles_path": RUNFILES_PATH}}))
    broken = tmp_path / "broken.hubvendor.json"
    broken.write_text("{")
    inside = {f"{RUNFILES_PATH}/fake.hubvendor.json": planted, f"{RUNFILES_PATH}/variables/x.hubvendor.json": broken}
    for rlocation, target in inside.items():
        (tree / rlocation).symlink_to(target)
    if with_manifest:
        with open(tree / "MANIFEST", "a") as f:
            f.writelines(f"{r} {t}\n" for r, t in sorted(inside.items()))
    monkeypatch.setenv("RUNFILES_DIR", str(tree))
    assert runfiles.find_models() == {HANDLE: str(tree / RUNFILES_PATH)}
