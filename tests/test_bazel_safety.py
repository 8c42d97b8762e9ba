"""Bazel's hub_model() under hostile archives and unusual locks (the attack on the Bazel integration).

- Every ``hub_model()``, with or without ``tree_digest``, extracts with hubvendor's archive policy:
  Bazel 4's own extraction follows ``../`` and wrote files anywhere the build user could.
- ``hubvendor bazel`` stanzas carry the lock's tree digest, so they get the digest check too.
- A Kaggle entry locked from kagglehub's cache (``sha256 = ""``, ``size = 0``), which lockfile.py
  accepts, builds through ``hub_lock()``, pinned by its tree digest.

Bazel runs offline as in test_bazel.py (shared output root), models from a loopback ``hubvendor serve``.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from support.server import HubServer, write_mirror_config
from test_bazel import bazel_session  # noqa: F401 (fixture)
from test_bazel import (
    ARCHIVES,
    EXAMPLE_MODELS,
    HALF_PLUS_TWO,
    LOCK_WORKSPACE,
    REPO,
    WORKSPACE_HEAD,
    Workspace,
    locked,
    make_bazelrc,
    requires_bazel,
    sha256_of,
)

from hubvendor import archive, lockfile

TRAVERSAL = "https://tfhub.dev/evil/traversal/1"
ABSOLUTE = "https://tfhub.dev/evil/absolute/1"
SPACED = "https://tfhub.dev/odd/spaced/1"
TFJS = "https://tfhub.dev/odd/tfjs/1"
KAGGLE = "kaggle://test/half_plus_two/tensorflow2/default/1"
KAGGLE_REPOSITORY = "kaggle_test_half_plus_two_tensorflow2_default_1"
KAGGLE_DOWNLOAD = "www.kaggle.com/api/v1/models/test/half_plus_two/tensorflow2/default/1/download"


def with_member(path: Path, member: str) -> Path:
    """half_plus_two's archive plus one regular file named ``member``, written to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(ARCHIVES[HALF_PLUS_TWO]) as source, tarfile.open(path, "w:gz") as out:
        for info in source.getmembers():
            out.addfile(info, source.extractfile(info) if info.isfile() else None)
        extra = tarfile.TarInfo(member)
        extra.size = len(b"escaped\n")
        out.addfile(extra, io.BytesIO(b"escaped\n"))
    return path


def fail_line(stderr: str) -> str:
    """The `Error in fail:` line of a failed repository fetch (Bazel prints it twice)."""
    lines = {line for line in stderr.splitlines() if line.startswith("Error in fail: ")}
    assert len(lines) == 1, stderr[-4000:]
    return lines.pop()[len("Error in fail: "):]


def assert_fetch_fails(ws: Workspace, name: str, handle: str, cause: str) -> None:
    """``bazel build @name//:model`` fails with the one line ``hub_model(...): cause``."""
    result = ws.run("build", f"@{name}//:model")
    assert result.returncode != 0
    assert fail_line(result.stderr) == f'hub_model(name = "{name}", handle = "{handle}"): {cause}'


def python_without_hubvendor(path: Path) -> Path:
    """An interpreter that cannot import hubvendor (this one without site-packages)."""
    path.write_text(f"#!/bin/sh\nexec {sys.executable} -I -S \"$@\"\n")
    path.chmod(0o755)
    return path


@pytest.mark.bazel
@requires_bazel
def test_hub_model_without_tree_digest_refuses_members_escaping_the_repository(bazel_session, tmp_path: Path) -> None:
    """Finding 1: unpinned hub_model()s serving a `../` member and an absolute-path member (both aimed at
    files in tmp_path) fail naming the member and write nothing there; a clean archive still builds
    unpinned and Bazel prints its sha256; without a usable interpreter the fetch says to set HUBVENDOR_PYTHON."""
    models = tmp_path / "models"
    shutil.copytree(EXAMPLE_MODELS, models)
    escaped = tmp_path / "escaped_traversal.txt"
    absolute = tmp_path / "escaped_absolute.txt"
    with_member(models / "evil" / "absolute" / "1.tar.gz", str(absolute))
    with_member(models / "odd" / "spaced" / "1.tar.gz", "assets/my vocab.txt")
    (models / "odd" / "tfjs").mkdir(parents=True)
    with tarfile.open(models / "odd" / "tfjs" / "1.tar.gz", "w:gz") as tfjs:  # a TF.js model: no saved_model.pb
        info = tarfile.TarInfo("model.json")
        info.size = 2
        tfjs.addfile(info, io.BytesIO(b"{}"))
    workspace = WORKSPACE_HEAD.format(name="safety", repo=str(REPO)) + "".join(
        f'\nhub_model(name = "{name}", handle = "{handle}")\n'
        for name, handle in (("clean", HALF_PLUS_TWO), ("traversal", TRAVERSAL), ("absolute", ABSOLUTE),
                             ("spaced", SPACED), ("tfjs", TFJS), ("gcs", "gs://bucket/model.tar.gz"))
    )
    with HubServer(models) as server:
        config = write_mirror_config(tmp_path / "downloader.cfg", server.url)
        ws = Workspace(
            tmp_path / "ws",
            make_bazelrc(bazel_session, repository_cache=tmp_path / "cache", downloader_config=config),
            {"WORKSPACE": workspace, "BUILD.bazel": ""},
        )
        try:
            # `../` up from the repository's model/ (where Bazel 4's own extraction wrote) to `escaped`.
            output_base = Path(ws.ok("info", "output_base").stdout.strip())
            traversal_member = os.path.relpath(escaped, output_base / "external" / "traversal" / "model")
            with_member(models / "evil" / "traversal" / "1.tar.gz", traversal_member)

            result = ws.ok("build", "@clean//:model")
            assert f'sha256 = "{sha256_of(ARCHIVES[HALF_PLUS_TWO])}"' in result.stderr

            assert_fetch_fails(ws, "traversal", TRAVERSAL, f"hubvendor: {TRAVERSAL}: archive member "
                               f"{traversal_member!r}: '..' in path (escapes the extraction directory)")
            assert not escaped.exists()
            assert_fetch_fails(ws, "absolute", ABSOLUTE, f"hubvendor: {ABSOLUTE}: archive member {str(absolute)!r}: "
                               "absolute path")
            assert not absolute.exists()
            assert_fetch_fails(ws, "spaced", SPACED, f"hubvendor: handle {SPACED!r}: member 'assets/my vocab.txt': "
                               "Bazel cannot carry this file name (no spaces, ':', '\\' or '`' in runfiles and labels); "
                               "vendor this model with pip instead")  # pip builds take it; Bazel's runfiles would not
            ws.ok("build", "@tfjs//:model")  # what tensorflow_hub takes, Bazel takes

            result = ws.run("build", "@gcs//:model")
            assert result.returncode != 0
            assert fail_line(result.stderr) == (
                'hub_model(name = "gcs"): handle "gs://bucket/model.tar.gz": Bazel fetches http(s) and kaggle:// '
                "handles only; vendor a local path or gs:// model another way (`hubvendor vendor -o DIR`, then "
                "HUBVENDOR_PATH)")

            no_hubvendor = python_without_hubvendor(tmp_path / "python-without-hubvendor")
            result = ws.run("build", "@clean//:model", f"--repo_env=HUBVENDOR_PYTHON={no_hubvendor}")
            assert result.returncode != 0
            line = fail_line(result.stderr)
            assert line.startswith(f'hub_model(name = "clean", handle = "{HALF_PLUS_TWO}"): {no_hubvendor} cannot run '
                                   "hubvendor's archive extractor (")
            assert "No module named" in line and line.endswith("(--repo_env=HUBVENDOR_PYTHON=/path/to/python)")
        finally:
            ws.shutdown()


@pytest.mark.bazel
@requires_bazel
def test_hub_lock_builds_a_kaggle_entry_pinned_by_its_tree_digest_alone(bazel_session, tmp_path: Path) -> None:
    """Finding 3: a tree-only Kaggle entry (as `hubvendor lock` writes from kagglehub's cache) builds through
    hub_lock(), downloaded without a sha256 and checked by its tree digest; another digest fails the fetch."""
    entry = replace(
        locked(HALF_PLUS_TWO, tmp_path), handle=KAGGLE, key=KAGGLE, url="https://" + KAGGLE_DOWNLOAD, sha256="", size=0,
    )
    with HubServer(EXAMPLE_MODELS) as server:
        config = write_mirror_config(tmp_path / "downloader.cfg", server.url)
        with config.open("a") as out:
            out.write(f"rewrite {KAGGLE_DOWNLOAD} {server.url}/test/half_plus_two/1?tf-hub-format=compressed\n")
        ws = Workspace(
            tmp_path / "ws",
            make_bazelrc(bazel_session, repository_cache=tmp_path / "cache", downloader_config=config),
            {"WORKSPACE": LOCK_WORKSPACE.format(repo=str(REPO)), "BUILD.bazel": ""},
        )
        lock = ws.root / "hubvendor.lock"
        lockfile.write(lock, lockfile.Lock([entry]))
        assert 'sha256 = ""\nsize = 0\n' in lock.read_text()
        try:
            result = ws.ok("build", f"@{KAGGLE_REPOSITORY}//:model")
            assert "canonical reproducible form" not in result.stderr  # the tree digest is the pin

            lockfile.write(lock, lockfile.Lock([replace(entry, tree_digest="sha256:" + "1" * 64)]))
            result = ws.run("build", f"@{KAGGLE_REPOSITORY}//:model")
            assert result.returncode != 0
            assert fail_line(result.stderr).startswith(
                f'//:hubvendor.lock: hub_model(name = "{KAGGLE_REPOSITORY}", handle = "{KAGGLE}"): hubvendor: handle {KAGGLE!r}: '
                "the extracted tree has digest "
            )
        finally:
            ws.shutdown()


def hubvendor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hubvendor", *args], capture_output=True, text=True, timeout=120)


def test_hubvendor_bazel_stanzas_carry_the_tree_digest(tmp_path: Path) -> None:
    """Finding 2: printed stanzas pin the lock's tree digest, and `--check` reports a stanza without it."""
    entry = locked(HALF_PLUS_TWO, tmp_path)
    lock = tmp_path / "hubvendor.lock"
    lockfile.write(lock, lockfile.Lock([entry]))
    printed = hubvendor("bazel", "--lock", str(lock))
    assert printed.returncode == 0, printed.stderr
    assert f'    sha256 = "{entry.sha256}",\n    tree_digest = "{entry.tree_digest}",\n)' in printed.stdout

    workspace = tmp_path / "WORKSPACE"
    workspace.write_text(printed.stdout.replace(f'    tree_digest = "{entry.tree_digest}",\n', ""))
    drift = hubvendor("bazel", "--lock", str(lock), "--check", "--workspace", str(workspace))
    assert drift.returncode == 1
    assert drift.stdout.splitlines()[0] == (
        f"{workspace}: hub_model(name = 'tfhub_test_half_plus_two_1') pins {HALF_PLUS_TWO!r} to tree_digest '', "
        f"hubvendor.lock to {entry.tree_digest!r}"
    )


def test_extract_without_tree_digest_applies_the_archive_policy(tmp_path: Path) -> None:
    """`python -m hubvendor.bazel extract` without --tree-digest (what an unpinned hub_model() runs): a clean
    archive extracts; a `../` member is one line naming it, and nothing is left of the destination."""
    clean = subprocess.run(
        [sys.executable, "-m", "hubvendor.bazel", "extract", str(ARCHIVES[HALF_PLUS_TWO]), str(tmp_path / "clean"),
         "--handle", HALF_PLUS_TWO], capture_output=True, text=True,
    )
    assert clean.returncode == 0, clean.stderr
    assert (tmp_path / "clean" / "saved_model.pb").is_file()
    assert clean.stdout == archive.tree_digest(tmp_path / "clean") + "\n"  # hub_model() records it in the manifest

    hostile = with_member(tmp_path / "hostile.tar.gz", "../outside.txt")
    (tmp_path / "dest").mkdir()
    refused = subprocess.run(
        [sys.executable, "-m", "hubvendor.bazel", "extract", str(hostile), str(tmp_path / "dest" / "model"),
         "--handle", TRAVERSAL], capture_output=True, text=True,
    )
    assert refused.returncode == 1
    assert refused.stderr == (f"hubvendor: {TRAVERSAL}: archive member '../outside.txt': "
                              "'..' in path (escapes the extraction directory)\n")
    assert not (tmp_path / "dest" / "model").exists() and not (tmp_path / "dest" / "outside.txt").exists()


def test_extract_refuses_what_would_leave_files_out_of_runfiles(tmp_path: Path) -> None:
    """A BUILD file in the model starts a package its glob stops at (files below it never reach runfiles);
    an archive of directories alone holds no model: both fail naming the handle, and nothing is left."""
    cases = {"variables/BUILD": "a BUILD file would cut the files below it out of the model's runfiles",
             "BUILD.bazel": "a BUILD file would cut the files below it out of the model's runfiles"}
    for member, cause in cases.items():
        archive = with_member(tmp_path / f"{member.replace('/', '_')}.tar.gz", member)
        refused = subprocess.run(
            [sys.executable, "-m", "hubvendor.bazel", "extract", str(archive), str(tmp_path / "model"), "--handle",
             SPACED], capture_output=True, text=True)
        assert refused.returncode == 1 and refused.stderr == (
            f"hubvendor: handle {SPACED!r}: member {member!r}: {cause}; vendor this model with pip instead\n")
        assert not (tmp_path / "model").exists()
    only_dirs = tmp_path / "only-dirs.tar.gz"
    with tarfile.open(only_dirs, "w:gz") as out:
        for name in ("a", "a/b"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            out.addfile(info)
    refused = subprocess.run(
        [sys.executable, "-m", "hubvendor.bazel", "extract", str(only_dirs), str(tmp_path / "model"), "--handle", TFJS],
        capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr == f"hubvendor: handle {TFJS!r}: the archive holds no file\n"
    assert not (tmp_path / "model").exists()


def test_extract_refuses_a_member_that_would_read_as_a_runfiles_manifest(tmp_path: Path) -> None:
    """Runfiles manifests are found by their name: an archive carrying one could map another handle (one
    the binary never pinned) to its own files (attack 5). Refused naming the member; nothing is left."""
    member = "fake/hijack.hubvendor.json"
    archive = with_member(tmp_path / "inject.tar.gz", member)
    refused = subprocess.run(
        [sys.executable, "-m", "hubvendor.bazel", "extract", str(archive), str(tmp_path / "model"), "--handle",
         SPACED], capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr.startswith(
        f"hubvendor: handle {SPACED!r}: member {member!r}: a file named *.hubvendor.json would be read as a runfiles manifest")
    assert len(refused.stderr.splitlines()) == 1 and not (tmp_path / "model").exists()
