"""hubvendor.resolve's warm-cache fast path: same answer as runtime.resolve, or no answer (the full chain decides)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubvendor import archive

HANDLE = "https://tfhub.dev/test/fast/1"
PROBE = (
    "import json, sys; from hubvendor import _fastpath, entry as entry_files; entry = _fastpath._warm_entry(sys.argv[1]); "
    "import hubvendor; path = hubvendor.resolve(sys.argv[1]) if entry else None; "
    "from hubvendor import runtime; full = runtime.resolve(sys.argv[1]) if entry else None; "
    "print(json.dumps([entry, path, full, sorted(entry_files._READERS)]))"
)


def make_entry(cache: Path, handle: str = HANDLE, *, hubvendor_lines: bool = True) -> Path:
    entry = cache / hashlib.sha1(handle.encode()).hexdigest()
    (entry / "variables").mkdir(parents=True)
    (entry / "saved_model.pb").write_bytes(b"pb")
    (entry / "variables" / "variables.index").write_bytes(b"index")
    files, size = archive.tree_stats(str(entry))
    lines = [f"Module: {handle}", "Download Time: now", "Downloader Hostname: h (PID:1)"]
    if hubvendor_lines:
        lines += ["Hubvendor-Tree-Digest: sha256:" + "0" * 64, f"Hubvendor-Tree-Files: {files}", f"Hubvendor-Tree-Bytes: {size}"]
    (cache / f"{entry.name}.descriptor.txt").write_text("\n".join(lines) + "\n")
    return entry


def probe(cache: Path | None, handle: str = HANDLE, cwd: Path | None = None, **env: str) -> list:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_", "RUNFILES_"))}
    environ.update(env, HUBVENDOR_OFFLINE="1")
    if cache is not None:
        environ["TFHUB_CACHE_DIR"] = str(cache)
    out = subprocess.run([sys.executable, "-c", PROBE, handle], env=environ, cwd=cwd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_warm_entry_is_what_the_full_chain_returns_and_is_held(tmp_path: Path) -> None:
    entry = make_entry(tmp_path / "cache")
    os.utime(entry, (0, 0))
    fast, resolved, full, held = probe(tmp_path / "cache")
    assert fast == resolved == full == str(entry)
    assert held == [str(entry)]
    assert entry.stat().st_mtime > 0  # marked used, as Cache.use does


@pytest.mark.parametrize(
    "case",
    ["no cache dir", "tensorflow_hub entry", "incomplete", "vendor path", "uncompressed", "runfiles", "site dir", "not http"],
)
def test_falls_back_to_the_full_chain(tmp_path: Path, case: str) -> None:
    cache = tmp_path / "cache"
    entry = make_entry(cache, hubvendor_lines=case != "tensorflow_hub entry")
    env: dict[str, str] = {}
    handle, cwd = HANDLE, None
    if case == "incomplete":
        (entry / "variables" / "variables.index").unlink()
    elif case == "vendor path":
        env["HUBVENDOR_PATH"] = str(tmp_path)
    elif case == "uncompressed":
        env["TFHUB_MODEL_LOAD_FORMAT"] = "UNCOMPRESSED"
    elif case == "runfiles":
        env["RUNFILES_DIR"] = str(tmp_path)
    elif case == "site dir":
        (tmp_path / "hubvendor.d").mkdir()
        cwd = tmp_path  # "" on sys.path under -c is the cwd
    elif case == "not http":
        handle = str(entry)
    result = probe(None if case == "no cache dir" else cache, handle, cwd, **env)
    assert result[0] is None


def test_fast_path_knows_every_vendored_source():
    from hubvendor import _fastpath, sources

    assert tuple(name for name, _ in sources.SOURCES) == _fastpath.RULED_OUT_SOURCES, (
        "a vendored source was added or renamed: teach _fastpath._something_else_may_answer to rule it out"
    )
