"""The CLI: help, exit codes, one-line errors, which/vendor/fetch behaviour (issue 2)."""

from __future__ import annotations

import json
import os
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
