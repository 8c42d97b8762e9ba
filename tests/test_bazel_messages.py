"""One clear line, inside Bazel, for a bad lock or a failed fetch (the second Bazel attack's findings).

- ``hub_lock()`` of a lock file that does not exist fails naming the label and saying to run ``hubvendor lock``.
- A wrong sha256 in the lock, a 404 and a 500 fail with one ERROR line naming the handle, the lock and which
  of these it is (Bazel's own cause is only a WARNING); the success path downloads once.
- Two locked handles with one repository name: ``hub_lock(names = {...})`` renames one, as the error says.
- ``hub_model_label(handle)`` from ``@hub_lock//:models.bzl`` fails naming the lock for an unpinned handle.

Bazel runs offline as in test_bazel.py (shared output root), models from a loopback ``hubvendor serve``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from support.server import HubServer, write_mirror_config
from test_bazel import bazel_session  # noqa: F401 (fixture)
from test_bazel import (
    EXAMPLE_MODELS,
    HALF_PLUS_TWO,
    KERAS_DENSE,
    LOCK_WORKSPACE,
    REPO,
    Workspace,
    locked,
    make_bazelrc,
    requires_bazel,
)
from test_bazel_safety import fail_line

from hubvendor import lockfile

HALF_REPOSITORY = "tfhub_test_half_plus_two_1"


HUB_LOCK = 'hub_lock(name = "hub_lock", lock = "//:hubvendor.lock")\n'
SUB_LOCK = 'hub_lock(name = "sub_lock", lock = "//sub:hubvendor.lock")\n'


@pytest.mark.bazel
@requires_bazel
def test_missing_lock_says_to_run_hubvendor_lock(bazel_session, tmp_path: Path) -> None:
    """Finding "Suggestions 2": no hubvendor.lock gave only Bazel's `Not a regular file: .../hubvendor.lock`."""
    (tmp_path / "none.cfg").write_text("block *\n")
    ws = Workspace(
        tmp_path / "ws",
        make_bazelrc(bazel_session, repository_cache=tmp_path / "cache", downloader_config=tmp_path / "none.cfg"),
        {"WORKSPACE": LOCK_WORKSPACE.format(repo=str(REPO)).split(HUB_LOCK)[0] + HUB_LOCK + SUB_LOCK, "BUILD.bazel": ""},
    )
    (ws.root / "sub").mkdir()
    (ws.root / "sub" / "BUILD").write_text("")  # a package with BUILD, not BUILD.bazel
    try:
        for repository, label in (("hub_lock", "//:hubvendor.lock"), ("sub_lock", "//sub:hubvendor.lock")):
            result = ws.run("build", f"@{repository}//:models.bzl")
            assert result.returncode != 0
            assert fail_line(result.stderr) == (
                f'hub_lock(name = "{repository}"): the lock file {label} does not exist; run `hubvendor lock` '
                "(it reads the models from pyproject.toml's [tool.hubvendor])")
        # Once written, the next build reads it (a failed fetch is not cached).
        lockfile.write(ws.root / "hubvendor.lock", lockfile.Lock([locked(HALF_PLUS_TWO, tmp_path)]))
        (ws.root / "WORKSPACE").write_text(LOCK_WORKSPACE.format(repo=str(REPO)))
        ws.ok("build", "@hub_lock//:models.bzl")
    finally:
        ws.shutdown()


DASHED, UNDERSCORED = "https://tfhub.dev/test/half-plus-two/1", "https://tfhub.dev/test/half_plus_two/1"
ABSENT = "https://tfhub.dev/test/absent/1"

LABEL_BUILD = """\
load("@hub_lock//:models.bzl", "hub_model_label")
load("@hubvendor//bazel:defs.bzl", "hub_models")

hub_models(name = "models", models = [hub_model_label({handle!r})])
"""


@pytest.mark.bazel
@requires_bazel
def test_colliding_names_are_renamed_and_unpinned_handles_name_the_lock(bazel_session, tmp_path: Path) -> None:
    """Doc gap 4: the collision advice (declare one with hub_model() by hand) could not work while hub_lock()
    fails for the whole lock; `names` renames one. Suggestion 1: a handle the lock does not pin failed only with
    Bazel's `could not be resolved`; hub_model_label() names the lock. No download happens here."""
    entry = locked(HALF_PLUS_TWO, tmp_path)
    (tmp_path / "none.cfg").write_text("block *\n")
    ws = Workspace(
        tmp_path / "ws",
        make_bazelrc(bazel_session, repository_cache=tmp_path / "cache", downloader_config=tmp_path / "none.cfg"),
        {"WORKSPACE": LOCK_WORKSPACE.format(repo=str(REPO)), "BUILD.bazel": ""},
    )
    lockfile.write(ws.root / "hubvendor.lock", lockfile.Lock([
        replace(entry, handle=handle, key=handle, url=handle + "?tf-hub-format=compressed")
        for handle in (DASHED, UNDERSCORED)]))
    workspace = ws.root / "WORKSPACE"
    try:
        result = ws.run("build", "@hub_lock//:models.bzl")
        assert result.returncode != 0
        assert fail_line(result.stderr) == (
            f'//:hubvendor.lock: handles "{DASHED}" and "{UNDERSCORED}" both map to repository name '
            f'"{HALF_REPOSITORY}"; rename one: hub_lock(..., names = {{"{UNDERSCORED}": "<another name>"}})')

        # Following the advice (with another spelling of the handle) builds both.
        workspace.write_text(workspace.read_text().replace(
            'lock = "//:hubvendor.lock")', 'lock = "//:hubvendor.lock", names = {"HTTPS://tfhub.dev/test/half_plus_two/1/": "half"})'))
        ws.ok("build", "@hub_lock//:models.bzl")
        output_base = Path(ws.ok("info", "output_base").stdout.strip())
        models_bzl = (output_base / "external" / "hub_lock" / "models.bzl").read_text()
        assert f'"half": "{UNDERSCORED}"' in models_bzl and f'"{HALF_REPOSITORY}": "{DASHED}"' in models_bzl

        # hub_model_label() gives the (renamed) target of a locked handle, and names the lock for others.
        (ws.root / "BUILD.bazel").write_text(LABEL_BUILD.format(handle=UNDERSCORED))
        assert '"@half//:model"' in ws.ok("query", "--output=build", "//:models").stdout
        (ws.root / "BUILD.bazel").write_text(LABEL_BUILD.format(handle=ABSENT))
        result = ws.run("query", "//:models")
        assert result.returncode != 0
        assert fail_line(result.stderr) == (
            f'hub_model_label("{ABSENT}"): //:hubvendor.lock does not pin this model; add it to [tool.hubvendor] '
            "models in pyproject.toml and run `hubvendor lock`")

        # A rename of a handle the lock does not pin is stale: one line naming it.
        workspace.write_text(workspace.read_text().replace('"HTTPS://tfhub.dev/test/half_plus_two/1/"', f'"{ABSENT}"'))
        (ws.root / "BUILD.bazel").write_text("")
        result = ws.run("build", "@hub_lock//:models.bzl")
        assert result.returncode != 0
        assert fail_line(result.stderr) == (
            f'//:hubvendor.lock: hub_lock(names = ...) renames "{ABSENT}", which the lock does not pin')
    finally:
        ws.shutdown()


def error_line(stderr: str, message: str) -> None:
    """Bazel's last ERROR line (`ERROR: no such package '@x//': ...`) carries ``message`` itself."""
    errors = [line for line in stderr.splitlines() if line.startswith("ERROR: ") and message in line]
    assert errors, stderr[-4000:]


@pytest.mark.bazel
@requires_bazel
def test_failed_fetches_say_why_naming_the_lock(bazel_session, tmp_path: Path) -> None:
    """Doc gap 5: a wrong sha256, a 404 and a 500 each gave the same vague ERROR line ("the checksum, the URL or
    the downloader config is wrong") naming no lock; Bazel's cause was only a WARNING. The success path still
    downloads each archive once."""
    clean = locked(HALF_PLUS_TWO, tmp_path)
    dense = locked(KERAS_DENSE, tmp_path)
    absent = replace(clean, handle=ABSENT, key=ABSENT, url=ABSENT + "?tf-hub-format=compressed")
    with HubServer(EXAMPLE_MODELS) as server:
        config = write_mirror_config(tmp_path / "downloader.cfg", server.url)
        ws = Workspace(
            tmp_path / "ws",
            make_bazelrc(bazel_session, repository_cache=tmp_path / "cache", downloader_config=config),
            {"WORKSPACE": LOCK_WORKSPACE.format(repo=str(REPO)), "BUILD.bazel": ""},
        )
        lock = ws.root / "hubvendor.lock"
        prefix = "//:hubvendor.lock: hub_model(name = \"{name}\", handle = \"{handle}\"): "
        try:
            lockfile.write(lock, lockfile.Lock([clean]))
            ws.ok("build", f"@{HALF_REPOSITORY}//:model")
            assert server.downloads("test/half_plus_two/1") == 1
            # The runfiles manifest records the tree digest, which tells two copies of one handle apart.
            manifest = json.loads((ws.root / "bazel-bin" / "external" / HALF_REPOSITORY / "model.hubvendor.json").read_text())
            assert manifest["models"][HALF_PLUS_TWO]["tree_digest"] == clean.tree_digest

            edited = clean.sha256[:-1] + ("0" if clean.sha256[-1] != "0" else "1")  # one hex digit
            lockfile.write(lock, lockfile.Lock([replace(clean, sha256=edited)]))
            result = ws.run("build", f"@{HALF_REPOSITORY}//:model")
            assert result.returncode != 0
            message = prefix.format(name=HALF_REPOSITORY, handle=HALF_PLUS_TWO) + (
                f"the archive at {clean.url} has sha256 {clean.sha256}, but //:hubvendor.lock pins sha256 {edited}: "
                "the lock was edited, or the server now sends other bytes (`hubvendor lock --check --verify` compares "
                f"them; `hubvendor lock --upgrade {HALF_PLUS_TWO}` re-pins a model you trust)")
            assert fail_line(result.stderr) == message
            error_line(result.stderr, message)

            lockfile.write(lock, lockfile.Lock([absent]))
            result = ws.run("build", "@tfhub_test_absent_1//:model")
            assert result.returncode != 0
            message = prefix.format(name="tfhub_test_absent_1", handle=ABSENT) + (
                f"cannot download {absent.url}: an HTTP error, an unreachable host or a URL the downloader config "
                "blocks (Bazel's WARNING above has the cause)")
            assert fail_line(result.stderr) == message
            error_line(result.stderr, message)
            assert "404" in result.stderr  # Bazel's WARNING

            server.faults([{"kind": "status", "code": 500, "path": "test/keras_dense/1", "times": 50}])
            lockfile.write(lock, lockfile.Lock([dense]))
            result = ws.run("build", "@tfhub_test_keras_dense_1//:model")
            assert result.returncode != 0
            message = prefix.format(name="tfhub_test_keras_dense_1", handle=KERAS_DENSE) + (
                f"cannot download {dense.url}: an HTTP error")
            assert fail_line(result.stderr).startswith(message)
            error_line(result.stderr, message)
        finally:
            ws.shutdown()
