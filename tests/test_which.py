"""``hubvendor which``: the chain's order, the URL after the downloader config, a broken config, the offline verdict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HANDLE = "https://tfhub.dev/test/which/1"
COMPRESSED = HANDLE + "?tf-hub-format=compressed"


def which(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hubvendor", "which", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def explained(env: dict[str, str], handle: str = HANDLE) -> dict:
    result = which(env, "--json", handle)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_", "RUNFILES_"))}
    env.update(TFHUB_CACHE_DIR=str(tmp_path / "cache"), **extra)
    return env


def test_url_after_rewrites_and_the_offline_verdict(tmp_path: Path) -> None:
    config = tmp_path / "downloader.cfg"
    config.write_text("rewrite tfhub.dev/(.*) http://127.0.0.1:9/mirror/$1\nrewrite tfhub.dev/(.*) https://tfhub.dev/$1\n")
    env = clean_env(tmp_path, HUBVENDOR_DOWNLOADER_CONFIG=str(config))
    out = explained(env)
    assert out["origin"] == "download" and out["url"] == COMPRESSED
    assert out["fetch_from"] == ["http://127.0.0.1:9/mirror/test/which/1?tf-hub-format=compressed", COMPRESSED]
    assert out["downloader_config"] == str(config) and out["offline_ok"] is False
    text = which(env, HANDLE).stdout
    assert "via:      http://127.0.0.1:9/mirror/test/which/1?tf-hub-format=compressed, then " in text
    assert "would fail with HUBVENDOR_OFFLINE=1" in text
    assert "order:    vendored models (HUBVENDOR_PATH) -> vendored models (Bazel runfiles) -> " \
           "vendored models (installed wheels) -> cache " in text

    unset = explained(clean_env(tmp_path))
    assert unset["fetch_from"] == [COMPRESSED] and "HUBVENDOR_DOWNLOADER_CONFIG is unset" in unset["downloader_config"]


def test_missing_broken_and_blocking_downloader_configs_are_shown(tmp_path: Path) -> None:
    missing = explained(clean_env(tmp_path, HUBVENDOR_DOWNLOADER_CONFIG=str(tmp_path / "absent.cfg")))
    assert missing["fetch_from"] == [] and "absent.cfg" in missing["downloader_config"]
    assert "cannot read it" in missing["downloader_config"]

    broken = tmp_path / "broken.cfg"
    broken.write_text("rewrite (unclosed $1\n")
    out = explained(clean_env(tmp_path, HUBVENDOR_DOWNLOADER_CONFIG=str(broken)))
    assert out["fetch_from"] == [] and str(broken) in out["downloader_config"]

    blocking = tmp_path / "block.cfg"
    blocking.write_text("block *\nall_blocked_message use the internal mirror\n")
    out = explained(clean_env(tmp_path, HUBVENDOR_DOWNLOADER_CONFIG=str(blocking)))
    assert out["fetch_from"] == [] and "use the internal mirror" in out["downloader_config"]
    assert "mirrors:  " in which(clean_env(tmp_path, HUBVENDOR_DOWNLOADER_CONFIG=str(blocking)), HANDLE).stdout


def test_local_answers_need_no_network(tmp_path: Path) -> None:
    out = explained(clean_env(tmp_path), str(tmp_path))
    assert out["origin"] == "path" and out["url"] == "" and out["offline_ok"] is True
    assert out["looked"] == ["path"]


def test_uncompressed_with_nothing_to_add_says_tensorflow_hub_answers(tmp_path: Path) -> None:
    env = clean_env(tmp_path, TFHUB_MODEL_LOAD_FORMAT="UNCOMPRESSED")
    out = explained(env)
    assert out["origin"] == "uncompressed" and out["url"] == HANDLE + "?tf-hub-format=uncompressed"
    assert out["tensorflow_hub_answers"] is True and out["looked"][-1] == "UNCOMPRESSED"
    assert "tensorflow_hub's own resolvers answer" in which(env, HANDLE).stdout
    assert explained(dict(env, HUBVENDOR_OFFLINE="1"))["tensorflow_hub_answers"] is False


def test_no_url_printed_carries_credentials_or_a_signed_query(tmp_path: Path) -> None:
    """which (text and --json), and the config errors of resolve, show mirror URLs through display_url."""
    cfg = tmp_path / "dl.cfg"
    cfg.write_text("rewrite tfhub.dev/(.*) http://alice:PASSW0RD@127.0.0.1:9/$1?token=TOKEN123\n"
                   "rewrite tfhub.dev/(.*) https://bob:S3CRET@mirror.example/$1&sig=SIGNED\n"
                   "block mirror.example\nblock 127.0.0.1\n")
    env = clean_env(tmp_path, HUBVENDOR_DOWNLOADER_CONFIG=str(cfg), HUBVENDOR_RETRIES="0")
    outputs = [which(env, HANDLE), which(env, "--json", HANDLE),
               subprocess.run([sys.executable, "-m", "hubvendor", "resolve", HANDLE], env=env,
                              capture_output=True, text=True, timeout=60)]
    for proc in outputs:
        text = proc.stdout + proc.stderr
        for secret in ("alice", "PASSW0RD", "TOKEN123", "bob", "S3CRET", "SIGNED"):
            assert secret not in text, text
    assert "127.0.0.1:9" in outputs[2].stderr
