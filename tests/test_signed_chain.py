"""Nothing hubvendor writes remembers a signed storage URL (issue 13, recorded URLs).

tfhub.dev downloads now go tfhub.dev -> kaggle.com -> a time-limited signed storage URL; the fault server
emulates the chain (``/_kaggle_hub/...``). Lock, vendor and fetch through it, then grep every file they wrote.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from support.commands import hubvendor
from support.models import build_tf2_module
from support.server import HubServer

HANDLE = "https://tfhub.dev/owner/half/tensorflow2/default/1"
SECRETS = ("X-Goog-Signature", "X-Goog-Credential", "X-Goog-Expires", "_signed")


def test_lock_vendor_and_cache_record_no_signed_url(tmp_path: Path):
    root = tmp_path / "root"
    build_tf2_module(root / "owner/half/tensorflow2/default/1")
    with HubServer(root) as server:
        config = tmp_path / "dl.cfg"
        config.write_text(f"rewrite tfhub.dev/(.*) {server.url}/_kaggle_hub/$1\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_"))}
        env.update(HUBVENDOR_DOWNLOADER_CONFIG=str(config), TFHUB_CACHE_DIR=str(tmp_path / "cache"))
        project = tmp_path / "proj"
        project.mkdir()
        (project / "pyproject.toml").write_text(f'[tool.hubvendor]\nmodels = ["{HANDLE}"]\n')
        outputs = [hubvendor("lock", "--project", str(project), env=env),
                   hubvendor("vendor", "-o", str(tmp_path / "vendored"), HANDLE, env=env),
                   hubvendor("fetch", "--json", HANDLE, env=env)]
        assert all(r.returncode == 0 for r in outputs), [r.stderr for r in outputs]
        assert server.stats()["signed_downloads"] >= 1
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(root)
               and p.suffix in (".lock", ".json", ".txt", ".toml")]
    assert {p.suffix for p in written} >= {".lock", ".json", ".txt"}
    texts = [p.read_text(errors="replace") for p in written] + [r.stdout + r.stderr for r in outputs]
    leaks = [(secret, text[:200]) for text in texts for secret in SECRETS if secret in text]
    assert not leaks, leaks
    assert json.loads(outputs[2].stdout)[0]["url"] == HANDLE + "?tf-hub-format=compressed"
