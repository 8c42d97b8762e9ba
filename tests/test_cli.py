"""The CLI: help, exit codes, one-line errors, which/vendor/fetch behaviour (issue 2)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from support.commands import hubvendor
from support.server import HALF_PLUS_TWO_HANDLE, HubServer

from hubvendor import manifest
from hubvendor.cli import COMMANDS
from hubvendor.handle import parse


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = hubvendor(command, "--help")
    assert result.returncode == 0 and "usage: hubvendor" in result.stdout


def test_usage_errors_exit_2_and_failures_exit_1_on_one_line():
    assert hubvendor("resolve").returncode == 2
    result = hubvendor("resolve", "https://tfhub.dev/google/nnlm")
    assert result.returncode == 1
    assert result.stderr.startswith("hubvendor: error: handle 'https://tfhub.dev/google/nnlm'")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    debug = hubvendor("--debug", "resolve", "https://tfhub.dev/google/nnlm")
    assert "Traceback" in debug.stderr


def test_which_explains_without_downloading(hub_server: HubServer, hub_env):
    before = json.loads(hubvendor("which", "--json", HALF_PLUS_TWO_HANDLE, env=hub_env).stdout)
    assert before["origin"] == "download" and "tf-hub-format=compressed" in before["reason"]
    assert hub_server.stats()["requests"] == 0
    assert hubvendor("fetch", "--jobs", "2", HALF_PLUS_TWO_HANDLE, env=hub_env).returncode == 0
    after = json.loads(hubvendor("which", "--json", HALF_PLUS_TWO_HANDLE, env=hub_env).stdout)
    assert after["origin"] == "cache" and after["location"].endswith(parse(HALF_PLUS_TWO_HANDLE).cache_name)


def test_vendor_writes_a_self_contained_directory_idempotently(hub_server: HubServer, hub_env, tmp_path: Path):
    out = tmp_path / "vendored"
    first = hubvendor("vendor", "--output", str(out), HALF_PLUS_TWO_HANDLE, env=hub_env)
    assert first.returncode == 0, first.stderr
    vendored = manifest.read(str(out / manifest.FILENAME))
    entry = vendored.models["https://tfhub.dev/test/half_plus_two/1"]
    assert entry.tree_digest.startswith("sha256:") and len(entry.sha256) == 64 and entry.size > 0
    assert (out / entry.path / "saved_model.pb").is_file()
    snapshot = sorted(str(p.relative_to(out)) for p in out.rglob("*"))

    again = hubvendor("vendor", "--output", str(out), HALF_PLUS_TWO_HANDLE, env=hub_env)
    assert again.returncode == 0 and sorted(str(p.relative_to(out)) for p in out.rglob("*")) == snapshot
    assert hub_server.downloads() == 1

    failed = hubvendor("vendor", "--output", str(out), HALF_PLUS_TWO_HANDLE, "https://tfhub.dev/test/missing/1",
                       env=hub_env)
    assert failed.returncode == 1 and "https://tfhub.dev/test/missing/1" in failed.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == snapshot
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".vendored")]

    resolved = hubvendor("resolve", HALF_PLUS_TWO_HANDLE,
                         env={**hub_env, "HUBVENDOR_PATH": str(out), "HUBVENDOR_OFFLINE": "1"})
    assert resolved.stdout.strip() == str(out / entry.path)


def test_vendor_rejects_two_spellings_of_one_model(hub_env, tmp_path: Path):
    result = hubvendor("vendor", "--output", str(tmp_path / "v"), HALF_PLUS_TWO_HANDLE, HALF_PLUS_TWO_HANDLE + "/",
                       env=hub_env)
    assert result.returncode == 1 and "names the same model" in result.stderr
    assert not (tmp_path / "v").exists()


def test_vendor_restores_the_output_a_killed_run_had_moved_aside(hub_server: HubServer, hub_env, tmp_path: Path):
    out = tmp_path / "vendored"
    assert hubvendor("vendor", "--output", str(out), HALF_PLUS_TWO_HANDLE, env=hub_env).returncode == 0
    snapshot = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    # A run killed between the swap's two renames: the output moved aside, its new tree still staged.
    out.rename(tmp_path / f".vendored.{dead.pid}.{'a' * 32}.old")
    (tmp_path / f".vendored.{dead.pid}.{'a' * 32}.tmp" / "models").mkdir(parents=True)

    failed = hubvendor("vendor", "--output", str(out), "https://tfhub.dev/test/missing/1", env=hub_env)
    assert failed.returncode == 1
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == snapshot
    assert sorted(os.listdir(tmp_path)) == sorted(["vendored", "downloader.cfg", "tfhub_cache"])


@pytest.mark.parametrize("handle", ["/models/local_dir", "gs://bucket/model_dir"])
def test_vendor_and_fetch_reject_handles_that_are_read_in_place(handle, tmp_path: Path):
    for args in (("vendor", "--output", str(tmp_path / "v")), ("fetch",)):
        result = hubvendor(*args, handle)
        assert result.returncode == 1 and repr(handle) in result.stderr and "only archive handles" in result.stderr
    assert not (tmp_path / "v").exists()


def test_data_commands_print_json(hub_server: HubServer, hub_env, tmp_path: Path):
    fetched = json.loads(hubvendor("fetch", "--json", HALF_PLUS_TWO_HANDLE, env=hub_env).stdout)
    assert fetched[0]["handle"] == HALF_PLUS_TWO_HANDLE and len(fetched[0]["sha256"]) == 64
    resolved = json.loads(hubvendor("resolve", "--json", HALF_PLUS_TWO_HANDLE, env=hub_env).stdout)
    assert resolved == {HALF_PLUS_TWO_HANDLE: fetched[0]["path"]}
    written = json.loads(hubvendor("vendor", "--json", "-o", str(tmp_path / "v"), HALF_PLUS_TWO_HANDLE, env=hub_env).stdout)
    assert written["format"] == manifest.FORMAT and list(written["models"]) == [HALF_PLUS_TWO_HANDLE]


# -- issue 12: an output is replaced only if absent, empty or hubvendor's own --------------------

def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(path.rglob("*"))}


def _one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.mark.parametrize("target", [".", "..", "project", "notes.txt", "link"])
def test_vendor_refuses_to_replace_what_it_did_not_write(target, hub_server: HubServer, hub_env, tmp_path: Path):
    work = tmp_path / "work"
    (work / "project" / "src").mkdir(parents=True)
    (work / "project" / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
    (work / "project" / "src" / "app.py").write_text("print('precious')\n")
    (work / "notes.txt").write_text("do not lose me\n")
    (work / "link").symlink_to(work / "project")
    before = _tree(tmp_path)
    result = subprocess.run([sys.executable, "-m", "hubvendor", "vendor", "-o", target, HALF_PLUS_TWO_HANDLE],
                            cwd=work / "project" if target in (".", "..") else work, env=hub_env,
                            capture_output=True, text=True, timeout=120)
    _one_line_error(result, "refusing to replace" if target != "link" else "symbolic link")
    assert _tree(tmp_path) == before  # nothing moved aside, nothing staged, nothing downloaded into the cache
    assert hub_server.downloads() == 0


@pytest.mark.parametrize("inside", ["", "models"])
def test_vendor_refuses_an_output_holding_the_current_directory(inside, hub_server: HubServer, hub_env, tmp_path: Path):
    """`-o .` in an empty directory, or from inside a previous output: replacing it would delete the caller's
    working directory (it used to, leaving the shell in a deleted directory)."""
    out = tmp_path / "out"
    out.mkdir()
    if inside:
        assert hubvendor("vendor", "-o", str(out), HALF_PLUS_TWO_HANDLE, env=hub_env).returncode == 0
    before = _tree(tmp_path)
    cwd = out / inside
    result = subprocess.run([sys.executable, "-m", "hubvendor", "vendor", "-o", os.path.relpath(out, cwd),
                             HALF_PLUS_TWO_HANDLE], cwd=cwd, env=hub_env, capture_output=True, text=True, timeout=120)
    _one_line_error(result, "is or holds the current directory")
    assert _tree(tmp_path) == before and cwd.is_dir()


def test_vendor_refuses_an_output_that_would_hold_the_cache(hub_server: HubServer, hub_env, tmp_path: Path):
    out = tmp_path / "out"
    env = dict(hub_env, TFHUB_CACHE_DIR=str(out / "cache"))
    result = hubvendor("vendor", "-o", str(out), HALF_PLUS_TWO_HANDLE, env=env)
    _one_line_error(result, "holds the cache")
    assert not out.exists() and hub_server.downloads() == 0


@pytest.fixture
def immutable():
    """``chattr +i`` on the paths given (undone afterwards); skips where the filesystem has no such flag."""
    marked: list[Path] = []

    def mark(path: Path) -> None:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not supported here")
        marked.append(path)

    yield mark
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def test_vendor_says_what_it_could_not_replace_or_delete(immutable, hub_server: HubServer, hub_env, tmp_path: Path):
    """An output that cannot be moved names itself, not its (writable) parent; a replaced tree that cannot
    be deleted is a warning naming it (it used to be left behind silently)."""
    out = tmp_path / "out"
    assert hubvendor("vendor", "-o", str(out), HALF_PLUS_TWO_HANDLE, env=hub_env).returncode == 0
    immutable(out)
    result = hubvendor("vendor", "-o", str(out), HALF_PLUS_TWO_HANDLE, env=hub_env)
    _one_line_error(result, f"make {out} writable")
    subprocess.run(["chattr", "-i", str(out)], check=True)
    [model] = (out / "models").iterdir()
    immutable(model)
    result = hubvendor("vendor", "-o", str(out), HALF_PLUS_TWO_HANDLE, env=hub_env)
    assert result.returncode == 0, result.stderr
    [old] = [p for p in tmp_path.iterdir() if p.name.endswith(".old")]
    immutable(old / "models" / model.name)  # where the flagged directory went: unflagged at teardown
    assert f"warning: {out}: the replaced tree {old} could not be deleted" in result.stderr


def test_a_deleted_working_directory_is_one_line(hub_env, tmp_path: Path):
    gone = tmp_path / "gone"
    gone.mkdir()
    script = f"cd {shlex.quote(str(gone))} && rmdir {shlex.quote(str(gone))} && exec {shlex.quote(sys.executable)} " \
             f"-m hubvendor vendor -o out {HALF_PLUS_TWO_HANDLE}"
    result = subprocess.run(["bash", "-c", script], env=hub_env, capture_output=True, text=True, timeout=120)
    _one_line_error(result, "the current directory no longer exists")


def test_vendor_replaces_an_empty_directory_and_its_own_output(hub_server: HubServer, hub_env, tmp_path: Path):
    out = tmp_path / "empty"
    out.mkdir()
    assert hubvendor("vendor", "-o", str(out), HALF_PLUS_TWO_HANDLE, env=hub_env).returncode == 0
    assert (out / manifest.FILENAME).is_file()
    [model] = (out / "models").iterdir()
    (model / "extra-file").write_text("x")  # still hubvendor's output: its model directories are its own
    assert hubvendor("vendor", "-o", str(out), HALF_PLUS_TWO_HANDLE, env=hub_env).returncode == 0
    assert not (model / "extra-file").exists()
    (out / "models" / "extra-user-file").write_text("x")  # beside them, not: refused (tests/attack/test_vendor.py)
    assert hubvendor("vendor", "-o", str(out), HALF_PLUS_TWO_HANDLE, env=hub_env).returncode == 1
    assert (out / "models" / "extra-user-file").exists()


def test_bazel_output_replaces_only_its_own_file(tmp_path: Path):
    from hubvendor import lockfile
    from hubvendor.commands.bazel import HEADER

    lock = tmp_path / "hubvendor.lock"
    lockfile.write(lock, lockfile.Lock([lockfile.LockedModel(
        HALF_PLUS_TWO_HANDLE, HALF_PLUS_TWO_HANDLE, HALF_PLUS_TWO_HANDLE + "?tf-hub-format=compressed",
        "a" * 64, 1, "sha256:" + "b" * 64)]))
    workspace = tmp_path / "WORKSPACE"
    workspace.write_text('workspace(name = "mine")\n')
    result = hubvendor("bazel", "--lock", str(lock), "-o", str(workspace))
    _one_line_error(result, str(workspace), "not written by hubvendor")
    assert workspace.read_text() == 'workspace(name = "mine")\n'
    generated = tmp_path / "models.bzl"
    for _ in range(2):  # absent, then its own output
        assert hubvendor("bazel", "--lock", str(lock), "-o", str(generated)).returncode == 0
    assert generated.read_text().startswith(HEADER)
    assert sorted(os.listdir(tmp_path)) == ["WORKSPACE", "hubvendor.lock", "models.bzl"]



def test_bazel_check_compares_workspace_stanzas_with_the_lock(tmp_path: Path):
    """`hubvendor bazel --check`: the stanzas it printed match; an edited sha256 is named; hub_lock() cannot drift."""
    from hubvendor import lockfile

    lock = tmp_path / "hubvendor.lock"
    lockfile.write(lock, lockfile.Lock([lockfile.LockedModel(
        HALF_PLUS_TWO_HANDLE, HALF_PLUS_TWO_HANDLE, HALF_PLUS_TWO_HANDLE + "?tf-hub-format=compressed",
        "a" * 64, 1, "sha256:" + "b" * 64)]))
    workspace = tmp_path / "WORKSPACE"
    assert hubvendor("bazel", "--lock", str(lock), "-o", str(workspace)).returncode == 0
    ok = hubvendor("bazel", "--lock", str(lock), "--check", "--workspace", str(workspace))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    workspace.write_text(workspace.read_text().replace("a" * 64, "c" * 64))
    drift = hubvendor("bazel", "--lock", str(lock), "--check", "--workspace", str(workspace))
    assert drift.returncode == 1 and "c" * 64 in drift.stdout and HALF_PLUS_TWO_HANDLE in drift.stdout
    assert "paste the output of `hubvendor bazel --lock" in drift.stdout  # a file of stanzas cannot be load()ed
    workspace.write_text('load("@hubvendor//bazel:repositories.bzl", "hub_lock")\nhub_lock(name = "hub_lock", lock = "//:hubvendor.lock")\n')
    assert hubvendor("bazel", "--lock", str(lock), "--check", "--workspace", str(workspace)).returncode == 0

# -- issue 12 / 13: arguments ---------------------------------------------------------------------

def test_non_utf8_arguments_are_one_line_errors(tmp_path: Path):
    bad = os.fsdecode(b"http://h/\xff")
    for args in (("resolve", bad), ("which", bad), ("fetch", bad), ("vendor", "-o", str(tmp_path / "v"), bad),
                 ("cache", "rm", bad), ("lock", "--project", bad), ("bazel", "--lock", bad)):
        result = subprocess.run([os.fsencode(sys.executable), b"-m", b"hubvendor", *map(os.fsencode, args)],
                                capture_output=True, text=True, timeout=120)
        _one_line_error(result, "http://h/\\xff", "not valid UTF-8")
    assert not (tmp_path / "v").exists()


@pytest.mark.parametrize("option", ["--debug", "--version"])
def test_global_options_after_the_command(option):
    for args in ((option, "cache", "dir"), ("cache", option, "dir"), ("cache", "dir", option)):
        result = hubvendor(*args)
        assert result.returncode == 0, (args, result.stderr)
        if option == "--version":
            assert result.stdout.startswith("hubvendor "), args
    failing = hubvendor("resolve", "https://tfhub.dev/google/nnlm", "--debug")
    assert failing.returncode == 1 and "Traceback" in failing.stderr


@pytest.mark.parametrize("written, meant", [
    ("tfhub.dev/google/nnlm-en-dim50/2", "https://tfhub.dev/google/nnlm-en-dim50/2"),
    ("www.kaggle.com/models/google/nnlm/tensorFlow2/en-dim50/1", "https://www.kaggle.com/models/google/nnlm/tensorFlow2/en-dim50/1"),
    ("google/nnlm/tensorFlow2/en-dim50/1", "kaggle://google/nnlm/tensorFlow2/en-dim50/1"),
    ("keras/bert/keras/bert_base_en", "kaggle://keras/bert/keras/bert_base_en"),
])
def test_handles_without_a_scheme_get_a_hint(written, meant, tmp_path: Path):
    for args in (("resolve", written), ("which", written), ("fetch", written), ("vendor", "-o", "out", written)):
        result = subprocess.run([sys.executable, "-m", "hubvendor", *args], cwd=tmp_path, capture_output=True,
                                text=True, timeout=120)
        _one_line_error(result, repr(written), f"write {meant!r}")
    (tmp_path / "tfhub.dev" / "google" / "nnlm-en-dim50" / "2").mkdir(parents=True)  # a real path stays a path
    assert "write" not in hubvendor("which", str(tmp_path / "tfhub.dev/google/nnlm-en-dim50/2")).stderr


# -- issue 13: one rule for recorded URLs ----------------------------------------------------------

def test_recorded_urls_are_canonical_never_the_mirror_or_the_storage_redirect(model_root, tmp_path: Path):
    from support.server import write_mirror_config

    from hubvendor import lockfile

    canonical = HALF_PLUS_TWO_HANDLE + "?tf-hub-format=compressed"
    with HubServer(model_root, redirect=True) as server:
        cache = tmp_path / "cache"
        env = {k: v for k, v in os.environ.items() if k != "HUBVENDOR_PATH"}
        env.update(TFHUB_CACHE_DIR=str(cache),
                   HUBVENDOR_DOWNLOADER_CONFIG=str(write_mirror_config(tmp_path / "m.cfg", server.url)))
        out = tmp_path / "v"
        assert hubvendor("vendor", "-o", str(out), HALF_PLUS_TWO_HANDLE, env=env).returncode == 0
        assert manifest.read(str(out / manifest.FILENAME)).models[HALF_PLUS_TWO_HANDLE].url == canonical
        fetched = json.loads(hubvendor("fetch", "--json", HALF_PLUS_TWO_HANDLE, env=env).stdout)
        assert fetched[0]["url"] == canonical

        direct = f"{server.url}/test/half_plus_two/1"  # no mirror: the download ends at the storage redirect
        (tmp_path / "pyproject.toml").write_text(f"[tool.hubvendor]\nmodels = [{direct!r}]\n")
        assert hubvendor("lock", "--project", str(tmp_path), env=env).returncode == 0
        assert lockfile.load(tmp_path / "hubvendor.lock").models[0].url == direct + "?tf-hub-format=compressed"
        assert server.stats()["redirects"] >= 2


def test_the_doctor_sample_in_docs_is_real_output(tmp_path: Path):
    """docs/operations.md shows `hubvendor doctor` as it prints: same checks, statuses and order."""
    text = (Path(__file__).parent.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    sample = text.split("$ hubvendor doctor\n", 1)[1].split("```", 1)[0].splitlines()
    (tmp_path / "dl.cfg").write_text("rewrite tfhub.dev/(.*) 127.0.0.1:8000/$1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_"))}
    env.update(TFHUB_CACHE_DIR=str(tmp_path / "cache"), HUBVENDOR_DOWNLOADER_CONFIG=str(tmp_path / "dl.cfg"))
    result = hubvendor("doctor", env=env)
    shown = [line.split(":", 1)[0] for line in sample if line.startswith("[") and not line.startswith("[exit")]
    real = [line.split(":", 1)[0] for line in result.stdout.splitlines() if line.startswith("[")]
    assert real == shown, result.stdout
    assert sample[-2:] == [result.stdout.splitlines()[-1], f"[exit {result.returncode}]"]
