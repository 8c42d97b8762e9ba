"""The vendored sources in the resolution chain: their order (Bazel runfiles before installed wheels) and bad manifests.

Bazel runfiles here are fake trees laid out as Bazel lays them out (RUNFILES_DIR with symlinks, or a
manifest-only ``RUNFILES_MANIFEST_FILE``); an installed wheel is its ``hubvendor.d/<dist>.json`` on ``sys.path``.
The real Bazel runs are in test_bazel.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubvendor import manifest

HANDLE = "https://tfhub.dev/test/precedence/1"


def make_model(directory: Path, marker: bytes) -> Path:
    (directory / "variables").mkdir(parents=True)
    (directory / "saved_model.pb").write_bytes(marker)
    (directory / "variables" / "variables.index").write_bytes(b"ix")
    return directory


def manifest_json(models: dict[str, dict]) -> str:
    return json.dumps({"format": manifest.FORMAT, "models": models})


def wheel_site(root: Path, model_dir: Path, handle: str = HANDLE) -> Path:
    """A site directory as an installed wheel leaves it: ``hubvendor.d/<dist>.json`` next to the models."""
    (root / "hubvendor.d").mkdir(parents=True)
    (root / "hubvendor.d" / "otherdist.json").write_text(manifest_json({handle: {"handle": handle, "path": str(model_dir)}}))
    return root


def runfiles_tree(root: Path, model_dir: Path, *, manifest_only: bool) -> dict[str, str]:
    """Bazel's layout for a binary ``app``: ``app.runfiles/`` of symlinks, or only ``app.runfiles_manifest``."""
    real_manifest = root / "bin" / "models.hubvendor.json"
    real_manifest.parent.mkdir(parents=True)
    real_manifest.write_text(manifest_json({HANDLE: {"handle": HANDLE, "runfiles_path": "hub/model"}}))
    files = {"ws/models.hubvendor.json": real_manifest}
    files.update({f"hub/model/{p.relative_to(model_dir)}": p for p in model_dir.rglob("*") if p.is_file()})
    lines = "".join(f"{rlocation} {target}\n" for rlocation, target in sorted(files.items()))
    if manifest_only:
        (root / "app.runfiles_manifest").write_text(lines)
        return {"RUNFILES_MANIFEST_FILE": str(root / "app.runfiles_manifest")}
    tree = root / "app.runfiles"
    for rlocation, target in files.items():
        (tree / rlocation).parent.mkdir(parents=True, exist_ok=True)
        (tree / rlocation).symlink_to(target)
    (tree / "MANIFEST").write_text(lines)
    return {"RUNFILES_DIR": str(tree)}


def hubvendor(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hubvendor", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def base_env(tmp_path: Path, site: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "RUNFILES_", "TFHUB_"))}
    env.update(HUBVENDOR_OFFLINE="1", TFHUB_CACHE_DIR=str(tmp_path / "cache"), **extra)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")]))
    return env


@pytest.mark.parametrize("manifest_only", [False, True], ids=["RUNFILES_DIR", "manifest-only"])
def test_bazel_runfiles_win_over_an_installed_wheel_for_the_same_handle(tmp_path: Path, manifest_only: bool) -> None:
    ours = make_model(tmp_path / "external" / "hub_model", b"runfiles copy")
    theirs = make_model(tmp_path / "wheel" / "models" / "precedence", b"wheel copy")
    site = wheel_site(tmp_path / "wheel", theirs)
    runfiles_env = runfiles_tree(tmp_path, ours, manifest_only=manifest_only)

    outside = hubvendor("resolve", HANDLE, env=base_env(tmp_path, site))
    assert outside.returncode == 0, outside.stderr
    assert Path(outside.stdout.strip(), "saved_model.pb").read_bytes() == b"wheel copy"

    env = base_env(tmp_path, site, **runfiles_env)
    inside = hubvendor("resolve", HANDLE, env=env)
    assert inside.returncode == 0, inside.stderr
    assert Path(inside.stdout.strip(), "saved_model.pb").read_bytes() == b"runfiles copy"

    which = json.loads(hubvendor("which", "--json", HANDLE, env=env).stdout)
    assert which["origin"] == "vendored" and which["reason"] == "vendored via Bazel runfiles"
    assert which["looked"] == ["vendored models (HUBVENDOR_PATH)", "vendored models (Bazel runfiles)"]
    assert which["shadows"] == [f"installed wheels: {theirs}"]
    assert f"shadows:  installed wheels: {theirs}" in hubvendor("which", HANDLE, env=env).stdout
    assert json.loads(hubvendor("which", "--json", HANDLE, env=base_env(tmp_path, site)).stdout)["shadows"] == []
    text = hubvendor("which", HANDLE, env=base_env(tmp_path, site)).stdout
    order = next(line for line in text.splitlines() if line.strip().startswith("order:"))
    assert order.index("Bazel runfiles") < order.index("installed wheels")


BAD_MANIFESTS = {
    "not UTF-8": b'{"format": "hubvendor-manifest/1", "models": {"\xff": {}}}',
    "not JSON": b"{not json",
    "wrong format": json.dumps({"format": "other/9", "models": {}}).encode(),
    "bad entry": json.dumps({"format": manifest.FORMAT, "models": {"x": {"handle": "::", "path": 3}}}).encode(),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_a_bad_installed_manifest_is_skipped_with_one_warning_naming_it(tmp_path: Path, case: str) -> None:
    good = make_model(tmp_path / "wheel" / "models" / "good", b"good")
    site = wheel_site(tmp_path / "wheel", good)
    bad = site / "hubvendor.d" / "broken.json"
    bad.write_bytes(BAD_MANIFESTS[case])
    env = base_env(tmp_path, site)
    code = ("import sys, hubvendor\nfor _ in range(3):\n    print(hubvendor.resolve(sys.argv[1]))\n"
            "print(hubvendor.explain(sys.argv[1]).location)")
    result = subprocess.run([sys.executable, "-c", code, HANDLE], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {str(good)}
    warnings = [line for line in result.stderr.splitlines() if line]
    assert len(warnings) == 1 and str(bad) in warnings[0] and "Traceback" not in result.stderr, result.stderr

    doctor = json.loads(hubvendor("doctor", "--json", env=env).stdout)
    skipped = [c for c in doctor["checks"] if c["status"] == "warning" and str(bad) in c["detail"]]
    assert skipped and skipped[0]["fix"]


def test_a_bad_manifest_in_hubvendor_path_fails_naming_it(tmp_path: Path) -> None:
    vendored = tmp_path / "vendored"
    vendored.mkdir()
    (vendored / manifest.FILENAME).write_bytes(BAD_MANIFESTS["not UTF-8"])
    result = hubvendor("resolve", HANDLE, env=base_env(tmp_path, HUBVENDOR_PATH=str(vendored)))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and str(vendored / manifest.FILENAME) in result.stderr
    assert "UTF-8" in result.stderr


def test_one_handle_from_two_repositories_with_other_bytes_in_one_binary_fails_naming_both(tmp_path: Path) -> None:
    """Two Bazel repositories vendoring one handle as different archives: no silent winner."""
    tree = tmp_path / "app.runfiles"
    for repo, sha in (("a", "1" * 64), ("b", "2" * 64)):
        make_model(tree / repo / "model", repo.encode())
        (tree / "ws" / f"{repo}.hubvendor.json").parent.mkdir(parents=True, exist_ok=True)
        (tree / "ws" / f"{repo}.hubvendor.json").write_text(
            manifest_json({HANDLE: {"handle": HANDLE, "runfiles_path": f"{repo}/model", "sha256": sha}}))
    result = hubvendor("resolve", HANDLE, env=base_env(tmp_path, RUNFILES_DIR=str(tree)))
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "vendored twice" in result.stderr and "1" * 64 in result.stderr and "2" * 64 in result.stderr
    (tree / "ws" / "b.hubvendor.json").write_text(
        manifest_json({HANDLE: {"handle": HANDLE, "runfiles_path": "b/model", "sha256": "1" * 64}}))
    same = hubvendor("resolve", HANDLE, env=base_env(tmp_path, RUNFILES_DIR=str(tree)))
    assert same.returncode == 0 and same.stdout.strip().endswith("a/model"), same.stderr  # the same bytes: first
