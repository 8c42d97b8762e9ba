"""Neighbours of the outside-attack findings on outputs and cache entries (real CLI subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from attack.helpers import base_env, cli, entry_name, make_model, one_error_line, serve

HANDLE = "https://tfhub.dev/test/m/1"


def _served_env(tmp_path: Path, port: int, env: dict[str, str]) -> dict[str, str]:
    cfg = tmp_path / "dl.cfg"
    cfg.write_text(f"rewrite tfhub.dev/(.*) http://127.0.0.1:{port}/$1\n")
    return {**env, "HUBVENDOR_DOWNLOADER_CONFIG": str(cfg)}


def test_a_previous_output_is_replaced_and_an_extra_file_in_it_is_refused(tmp_path):
    make_model(tmp_path / "root")
    out = tmp_path / "out"
    env = base_env(tmp_path)
    with serve(tmp_path / "root", env) as port:
        env = _served_env(tmp_path, port, env)
        first = cli("vendor", "-o", str(out), HANDLE, env=env)
        assert first.returncode == 0, first.stderr
        again = cli("vendor", "-o", str(out), HANDLE, env=env)
        assert again.returncode == 0, again.stderr  # hubvendor's own output is still replaced
        (out / "models" / "mine").mkdir()
        refused = cli("vendor", "-o", str(out), HANDLE, env=env)
    assert one_error_line(refused) and "models/mine" in refused.stderr, refused.stderr
    assert (out / "models" / "mine").is_dir()


def test_vendor_refuses_an_output_that_holds_the_cache(tmp_path):
    make_model(tmp_path / "root")
    out = tmp_path / "out"
    env = base_env(tmp_path, TFHUB_CACHE_DIR=str(tmp_path / "out" / "cache"))
    with serve(tmp_path / "root", env) as port:
        proc = cli("vendor", "-o", str(out), HANDLE, env=_served_env(tmp_path, port, env))
    assert one_error_line(proc) and "TFHUB_CACHE_DIR" in proc.stderr, proc.stderr
    assert not (out / "models").exists()


def test_a_reader_through_hubvendor_path_keeps_its_tree_while_vendor_replaces_it(tmp_path):
    """A process that resolved a model through HUBVENDOR_PATH holds it: `vendor -o` swapping the output
    in place keeps the old tree (renamed aside) until that process exits, then a later run deletes it."""
    make_model(tmp_path / "root")
    out = tmp_path / "out"
    env = base_env(tmp_path, HUBVENDOR_PATH=str(out))
    with serve(tmp_path / "root", env) as port:
        env = _served_env(tmp_path, port, env)
        assert cli("vendor", "-o", str(out), HANDLE, env=env).returncode == 0
        reader = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(f"""
                import os, sys, hubvendor
                path = hubvendor.resolve({HANDLE!r})
                fd = os.open(path, os.O_RDONLY)
                print(path, flush=True)
                sys.stdin.readline()
                print(sorted(os.listdir(fd)), flush=True)
            """)],
            env={**env, "HUBVENDOR_OFFLINE": "1"}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        try:
            held = reader.stdout.readline().strip()
            assert held.startswith(str(out)), held
            swap = cli("vendor", "-o", str(out), HANDLE, env=env)
            assert swap.returncode == 0, swap.stderr
            assert os.path.isfile(os.path.join(held, "saved_model.pb"))  # the path never vanished
            aside = [p for p in tmp_path.iterdir() if p.name.startswith(".out.") and p.name.endswith(".old")]
            assert len(aside) == 1, sorted(p.name for p in tmp_path.iterdir())
            reader.stdin.write("\n")
            reader.stdin.flush()
            assert "saved_model.pb" in reader.stdout.readline()  # the old tree is still whole
        finally:
            reader.communicate(timeout=30)
        assert cli("vendor", "-o", str(out), HANDLE, env=env).returncode == 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".old", ".tmp"))]


def _planted_entry(cache: Path, victim: Path) -> None:
    entry = cache / entry_name(HANDLE)
    entry.mkdir(parents=True)
    (entry / "saved_model.pb").write_bytes(b"pb")
    os.symlink(victim, entry / "variables")
    (cache / f"{entry.name}.descriptor.txt").write_text(f"Module: {HANDLE}\nDownload Time: x\nDownloader Hostname: vm (PID:1)\n")


def test_verify_and_adopt_see_symlinks_in_an_entry(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("precious")
    _planted_entry(tmp_path / "cache", victim)
    env = base_env(tmp_path, HUBVENDOR_OFFLINE="1")
    adopt = cli("cache", "adopt", HANDLE, env=env)
    assert adopt.returncode != 0 and "symbolic link" in adopt.stderr + adopt.stdout, adopt.stdout + adopt.stderr
    verify = cli("cache", "verify", "--json", env=env)
    assert verify.returncode == 1, verify.stderr
    [entry] = json.loads(verify.stdout)
    assert entry["state"] == "corrupt" and "variables" in entry["detail"], entry


def test_a_damaged_descriptor_is_named_in_cache_list(tmp_path):
    cache = tmp_path / "cache"
    entry = cache / entry_name(HANDLE)
    entry.mkdir(parents=True)
    (entry / "saved_model.pb").write_bytes(b"pb")
    os.mkfifo(cache / f"{entry.name}.descriptor.txt")
    proc = cli("cache", "list", "--json", env=base_env(tmp_path, HUBVENDOR_OFFLINE="1"), timeout=15)
    assert proc.returncode == 0, proc.stderr
    [listed] = json.loads(proc.stdout)
    assert "descriptor.txt is not a regular file" in listed["detail"], listed


def test_a_lock_that_is_a_fifo_is_named(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    os.mkfifo(cache / f"{entry_name(HANDLE)}.lock")
    make_model(tmp_path / "root")
    env = base_env(tmp_path)
    with serve(tmp_path / "root", env) as port:
        proc = cli("resolve", HANDLE, env=_served_env(tmp_path, port, env), timeout=15)
    assert one_error_line(proc) and f"{entry_name(HANDLE)}.lock" in proc.stderr, proc.stderr
