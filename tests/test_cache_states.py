"""attack4 #5 and #13: what ``cache list``/``verify``/``rm`` and ``doctor`` say about a download whose holder
died and about an entry whose files changed size (an edited hard-linked vendored copy)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from support.commands import hubvendor
from support.server import HALF_PLUS_TWO_HANDLE, HubServer

from hubvendor.handle import parse

SHA1 = parse(HALF_PLUS_TWO_HANDLE).cache_name


def listing(env: dict[str, str]) -> dict[str, dict]:
    result = hubvendor("cache", "list", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return {e["name"]: e for e in json.loads(result.stdout)}


def doctor_checks(env: dict[str, str]) -> tuple[int, list[dict]]:
    result = hubvendor("doctor", "--json", env={**env, "HUBVENDOR_AUTOLOAD": "0"})
    return result.returncode, json.loads(result.stdout)["checks"]


def test_a_download_whose_holder_died_is_listed_as_abandoned_and_rm_removes_it(hub_server: HubServer, hub_env):
    cache = Path(hub_env["TFHUB_CACHE_DIR"])
    cache.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    task = "5" * 32
    (cache / f"{SHA1}.lock").write_text(f"{socket.gethostname()}.{dead.pid}.{task}")
    staging = cache / f"{SHA1}.{task}.tmp" / "variables"
    staging.mkdir(parents=True)
    (staging / "variables.data-00000-of-00001").write_bytes(b"w" * 5000)  # what the killed download wrote

    entry = listing(hub_env)[SHA1]
    assert entry["state"] == "abandoned" and entry["bytes"] == 5000 and entry["files"] == 1
    assert f"PID {dead.pid}" in entry["detail"] and "died" in entry["detail"]
    assert "cache prune" in entry["detail"] and f"cache rm {SHA1}" in entry["detail"]
    text = hubvendor("cache", "list", env=hub_env).stdout
    assert "abandoned" in text and "held" not in text

    code, checks = doctor_checks(hub_env)
    (warning,) = [c for c in checks if c["name"] == "cache entries"]
    assert code == 0 and warning["status"] == "warning" and "abandoned" in warning["detail"]
    assert f"hubvendor cache rm {SHA1}" in warning["fix"]

    removed = hubvendor("cache", "rm", HALF_PLUS_TWO_HANDLE, env=hub_env)
    assert removed.returncode == 0, removed.stderr
    assert list(cache.iterdir()) == []


def test_a_live_download_is_downloading_with_its_staged_bytes_and_rm_refuses_it(hub_env):
    cache = Path(hub_env["TFHUB_CACHE_DIR"])
    cache.mkdir(parents=True, exist_ok=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        task = "6" * 32
        (cache / f"{SHA1}.lock").write_text(f"{socket.gethostname()}.{live.pid}.{task}")
        (cache / f"{SHA1}.{task}.tmp").mkdir()
        (cache / f"{SHA1}.{task}.tmp" / "saved_model.pb").write_bytes(b"x" * 70)
        entry = listing(hub_env)[SHA1]
        assert entry["state"] == "downloading" and entry["bytes"] == 70 and f"PID {live.pid}" in entry["detail"]
        busy = hubvendor("cache", "rm", SHA1, env=hub_env)
        assert busy.returncode == 1 and "being downloaded" in busy.stderr and busy.stderr.count("\n") == 1
    finally:
        live.kill()
        live.wait()


def test_an_edited_hard_linked_vendored_file_is_reported_as_a_size_change(hub_server: HubServer, hub_env, tmp_path):
    out = tmp_path / "out"
    assert hubvendor("vendor", "-o", str(out), HALF_PLUS_TWO_HANDLE, env=hub_env).returncode == 0
    (graph,) = out.glob("models/*/saved_model.pb")
    assert graph.stat().st_nlink == 2
    with graph.open("ab") as f:
        f.write(b"x\n")  # `echo x >> saved_model.pb`: the cache entry's file grows too

    result = hubvendor("cache", "verify", "--json", env=hub_env)
    (entry,) = json.loads(result.stdout)
    assert result.returncode == 1 and entry["state"] == "corrupt"
    assert "a file changed size" in entry["detail"] and "missing files" not in entry["detail"]
    assert f"{entry['bytes']} bytes" in entry["detail"] and f"{entry['bytes'] - 2} bytes" in entry["detail"]
    assert "cache verify --repair" in entry["detail"]
    code, checks = doctor_checks(hub_env)
    assert code == 1 and any(c["name"] == "cache entries" and "corrupt" in c["detail"] for c in checks)

    repaired = hubvendor("cache", "verify", "--repair", env=hub_env)
    assert repaired.returncode == 0 and "1 checked, 0 bad" in repaired.stdout, repaired.stdout


def test_a_deleted_file_is_incomplete_naming_the_counts(hub_server: HubServer, hub_env):
    path = Path(hubvendor("resolve", HALF_PLUS_TWO_HANDLE, env=hub_env).stdout.split()[-1])
    (path / "variables" / "variables.index").unlink()
    entry = listing(hub_env)[SHA1]
    assert entry["state"] == "incomplete" and f"holds {entry['files']} files" in entry["detail"]
    assert f"records {entry['files'] + 1} files" in entry["detail"]
