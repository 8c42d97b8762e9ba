"""Outside attack: `hubvendor vendor -o DIR` must not replace a directory hubvendor did not write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attack.helpers import base_env, cli, make_model, serve

HANDLE = "https://tfhub.dev/test/m/1"


@pytest.mark.parametrize(
    "manifest",
    [
        b"",  # an empty file
        b"not json\n",
        b"{}\n",
        # a valid, hand-written manifest for a user's own models (docs: HUBVENDOR_PATH dirs hold one)
        json.dumps({"format": "hubvendor-manifest/1", "models": {}}).encode(),
    ],
    ids=["empty", "garbage", "empty-object", "hand-written"],
)
def test_vendor_keeps_user_files_next_to_a_file_named_like_the_manifest(tmp_path, manifest):
    """A directory holding a user's files and a file merely named `hubvendor-manifest.json` (empty,
    not JSON, `{}`, or a hand-written manifest listing none of those files) was taken for a previous
    output: `vendor -o DIR` exited 0 and the user's files were gone. Expected: refused with one line,
    DIR untouched (docs/operations.md: only an absent or empty directory or a previous output)."""
    root = tmp_path / "root"
    make_model(root)
    out = tmp_path / "project"
    (out / "trained").mkdir(parents=True)
    (out / "trained" / "saved_model.pb").write_bytes(b"weeks of training")
    (out / "notes.txt").write_text("mine")
    (out / "hubvendor-manifest.json").write_bytes(manifest)
    env = base_env(tmp_path)
    with serve(root, env) as port:
        cfg = tmp_path / "dl.cfg"
        cfg.write_text(f"rewrite tfhub.dev/(.*) http://127.0.0.1:{port}/$1\n")
        env["HUBVENDOR_DOWNLOADER_CONFIG"] = str(cfg)
        proc = cli("vendor", "-o", str(out), HANDLE, env=env)
    assert (out / "notes.txt").exists() and (out / "trained" / "saved_model.pb").exists(), (
        f"user's files lost (exit {proc.returncode}): {sorted(p.name for p in out.iterdir())}"
    )
