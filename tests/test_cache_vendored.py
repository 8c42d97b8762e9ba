"""attack4 #7: damaged vendored copies are not `complete`; `cache verify --vendored` hashes them (read-only)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from support.commands import hubvendor
from support.server import HALF_PLUS_TWO_HANDLE, HubServer


def vendored(hub_env: dict[str, str], out: Path) -> tuple[dict[str, str], Path]:
    result = hubvendor("vendor", "-o", str(out), HALF_PLUS_TWO_HANDLE, env=hub_env)
    assert result.returncode == 0, result.stderr
    recorded = json.loads((out / "hubvendor-manifest.json").read_text())["models"][HALF_PLUS_TWO_HANDLE]
    assert recorded["files"] >= 2 and recorded["bytes"] > 0  # vendor records the cheap check's numbers
    (model,) = out.glob("models/*")
    return {**hub_env, "HUBVENDOR_PATH": str(out), "HUBVENDOR_AUTOLOAD": "0"}, model


def rows(*args: str, env: dict[str, str]) -> tuple[int, list[dict]]:
    result = hubvendor("cache", *args, "--json", env=env)
    return result.returncode, [e for e in json.loads(result.stdout) if e["origin"].startswith("vendored")]


def test_deleted_files_are_incomplete_in_list_doctor_which_and_verify(hub_server: HubServer, hub_env, tmp_path):
    env, model = vendored(hub_env, tmp_path / "out")
    assert rows("list", "--vendored", env=env)[1][0]["state"] == "complete"
    shutil.rmtree(model / "variables")

    code, (row,) = rows("list", "--vendored", env=env)
    assert code == 0 and row["state"] == "incomplete" and "manifest records" in row["detail"]
    doctor = json.loads(hubvendor("doctor", "--json", env=env).stdout)
    (check,) = [c for c in doctor["checks"] if c["name"] == "vendored (HUBVENDOR_PATH)"]
    assert check["status"] == "problem" and HALF_PLUS_TWO_HANDLE in check["detail"]
    which = hubvendor("which", HALF_PLUS_TWO_HANDLE, env=env).stdout
    assert "damaged:  incomplete" in which
    result = hubvendor("cache", "verify", "--vendored", env=env)
    assert result.returncode == 1 and "1 bad" in result.stdout
    assert [line for line in result.stdout.splitlines() if line.startswith("  ")] == [
        f"  {HALF_PLUS_TWO_HANDLE}: {row['detail']}"]


def test_verify_vendored_hashes_a_same_size_change_and_never_repairs(hub_server: HubServer, hub_env, tmp_path):
    env, model = vendored(hub_env, tmp_path / "out")
    code, (row,) = rows("verify", "--vendored", env=env)
    assert code == 0 and row["state"] == "ok"

    data_file = next((model / "variables").glob("variables.data-*"))
    data = bytearray(data_file.read_bytes())
    data[-1] ^= 0xFF
    data_file.unlink()  # the copy only: the cache entry's hard link keeps the good bytes
    data_file.write_bytes(bytes(data))
    assert rows("list", "--vendored", env=env)[1][0]["state"] == "complete"  # same size: only hashing tells

    result = hubvendor("cache", "verify", "--vendored", "--repair", "--json", env=env)
    states = {e["origin"]: e for e in json.loads(result.stdout)}
    assert result.returncode == 1 and states["hubvendor"]["state"] == "ok"
    bad = states["vendored (HUBVENDOR_PATH)"]
    assert bad["state"] == "corrupt" and "differs from the recorded" in bad["detail"] and str(model) in bad["detail"]
    assert data_file.read_bytes() == bytes(data)  # read-only: a vendored directory is never repaired

    only = hubvendor("cache", "verify", "--vendored", HALF_PLUS_TWO_HANDLE, env=env)
    assert only.returncode == 1 and "2 checked, 1 bad" in only.stdout


def test_appended_bytes_make_the_vendored_copy_corrupt(hub_server: HubServer, hub_env, tmp_path):
    env, model = vendored(hub_env, tmp_path / "out")
    with (model / "saved_model.pb").open("ab") as f:
        f.write(b"x\n")
    code, (row,) = rows("list", "--vendored", env=env)
    assert row["state"] == "corrupt" and "manifest records" in row["detail"]
