"""Issue 8 must-shows: ``hubvendor cache ...`` on real caches filled by hubvendor and by tensorflow_hub."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from support.commands import hubvendor
from support.server import HALF_PLUS_TWO_HANDLE, HubServer

from hubvendor import download
from hubvendor.cache import Cache
from hubvendor.handle import parse

TF1_HANDLE = "https://tfhub.dev/test/tf1_module/1"
KERAS_HANDLE = "https://tfhub.dev/test/keras_dense/1"
SHA1 = parse(HALF_PLUS_TWO_HANDLE).cache_name


def ok(*args: str, env: dict[str, str]) -> str:
    result = hubvendor(*args, env=env)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


def listing(env: dict[str, str]) -> dict[str, dict]:
    return {e["handle"]: e for e in json.loads(ok("cache", "list", "--json", env=env))}


def tf_hub_resolve(handle: str, env: dict[str, str]) -> str:
    """tensorflow_hub's own ``hub.resolve`` in a fresh process, hubvendor's bridge disabled."""
    code = f"import tensorflow_hub as hub\nprint(hub.resolve({handle!r}))"
    result = subprocess.run([sys.executable, "-c", code], env={**env, "HUBVENDOR_AUTOLOAD": "0"},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


def age(path: str | Path, seconds: float) -> None:
    """Make an entry look last used ``seconds`` ago (what its use mark records)."""
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def test_list_origins_then_adopt_keeps_tensorflow_hub_compatibility(hub_server: HubServer, hub_env):
    ours = ok("resolve", HALF_PLUS_TWO_HANDLE, env=hub_env).strip()
    theirs_handle = f"{hub_server.url}/test/tf1_module/1"  # tensorflow_hub knows no mirrors
    theirs = tf_hub_resolve(theirs_handle, hub_env)
    descriptor = Path(theirs + ".descriptor.txt")
    assert "Hubvendor-" not in descriptor.read_text()

    entries = listing(hub_env)
    assert entries[HALF_PLUS_TWO_HANDLE]["origin"] == "hubvendor"
    assert entries[HALF_PLUS_TWO_HANDLE]["state"] == "complete"
    assert entries[HALF_PLUS_TWO_HANDLE]["path"] == ours
    assert entries[theirs_handle]["origin"] == "tensorflow_hub"
    assert entries[theirs_handle]["state"] == "unverified"
    assert all(e["bytes"] > 0 and e["files"] == 4 and e["last_used"] for e in entries.values())
    text = ok("cache", "list", env=hub_env)
    assert "tensorflow_hub" in text and "unverified" in text and "hubvendor cache adopt" in text

    assert json.loads(ok("cache", "verify", "--json", env=hub_env))  # unverified is not a failure
    adopted = json.loads(ok("cache", "adopt", "--all", "--json", env=hub_env))
    assert [e["handle"] for e in adopted] == [theirs_handle]
    lines = descriptor.read_text().splitlines()
    assert lines[0] == f"Module: {theirs_handle}" and lines[1].startswith("Download Time: ")
    assert lines[3].startswith("Hubvendor-Tree-Digest: sha256:") and lines[4:] == [
        "Hubvendor-Tree-Files: 4", f"Hubvendor-Tree-Bytes: {entries[theirs_handle]['bytes']}"]
    assert listing(hub_env)[theirs_handle]["origin"] == "tensorflow_hub (adopted)"
    verified = {e["handle"]: e["state"] for e in json.loads(ok("cache", "verify", "--json", env=hub_env))}
    assert verified == {HALF_PLUS_TWO_HANDLE: "ok", theirs_handle: "ok"}

    hub_server.stop()  # the adopted entry is still tensorflow_hub's: it resolves it without a download
    assert tf_hub_resolve(theirs_handle, hub_env) == theirs
    assert ok("resolve", theirs_handle, env={**hub_env, "HUBVENDOR_OFFLINE": "1"}).strip() == theirs


def test_verify_finds_corruption_and_repair_fetches_again(hub_server: HubServer, hub_env):
    path = Path(ok("resolve", HALF_PLUS_TWO_HANDLE, TF1_HANDLE, env=hub_env).split()[0])
    tf1 = Path(hub_env["TFHUB_CACHE_DIR"], parse(TF1_HANDLE).cache_name)
    variables = path / "variables" / "variables.data-00000-of-00001"
    data = bytearray(variables.read_bytes())
    data[-1] ^= 0xFF  # same size: only the digest can tell
    variables.write_bytes(bytes(data))
    (tf1 / "saved_model.pb").unlink()  # what a tmp cleaner does

    result = hubvendor("cache", "verify", "--json", env=hub_env)
    assert result.returncode == 1
    states = {e["handle"]: e for e in json.loads(result.stdout)}
    assert states[HALF_PLUS_TWO_HANDLE]["state"] == "corrupt"
    assert "differs from the recorded" in states[HALF_PLUS_TWO_HANDLE]["detail"]
    assert states[TF1_HANDLE]["state"] == "incomplete"

    repaired = hubvendor("cache", "verify", "--repair", env=hub_env)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "2 checked, 0 bad" in repaired.stdout
    assert hub_server.downloads("test/half_plus_two/1") == 2 and hub_server.downloads("test/tf1_module/1") == 2
    assert variables.read_bytes() != bytes(data) and (tf1 / "saved_model.pb").is_file()
    assert sorted(os.listdir(hub_env["TFHUB_CACHE_DIR"])) == sorted(
        [SHA1, f"{SHA1}.descriptor.txt", tf1.name, f"{tf1.name}.descriptor.txt"])


def test_prune_lru_by_size_and_age_with_dry_run(hub_server: HubServer, hub_env):
    paths = dict(zip((HALF_PLUS_TWO_HANDLE, TF1_HANDLE, KERAS_HANDLE),
                     ok("resolve", HALF_PLUS_TWO_HANDLE, TF1_HANDLE, KERAS_HANDLE, env=hub_env).split()))
    kept = json.loads(ok("cache", "prune", "--max-size", "0", "--json", env=hub_env))
    assert kept["removed"] == [] and len(kept["skipped"]) == 3  # all used moments ago
    assert all("kept for 600s" in s["reason"] for s in kept["skipped"])

    age(paths[KERAS_HANDLE], 3 * 86400)  # least recently used
    age(paths[HALF_PLUS_TWO_HANDLE], 2 * 86400)
    age(paths[TF1_HANDLE], 3600)
    sizes = {h: e["bytes"] for h, e in listing(hub_env).items()}

    dry = json.loads(ok("cache", "prune", "--max-size", str(sizes[TF1_HANDLE]), "--dry-run", "--json", env=hub_env))
    assert [e["handle"] for e in dry["removed"]] == [KERAS_HANDLE, HALF_PLUS_TWO_HANDLE]
    assert set(listing(hub_env)) == set(paths)

    by_size = ok("cache", "prune", "--max-size", str(sizes[TF1_HANDLE] + sizes[HALF_PLUS_TWO_HANDLE]), env=hub_env)
    assert f"removed {KERAS_HANDLE}" in by_size and HALF_PLUS_TWO_HANDLE not in by_size
    assert set(listing(hub_env)) == {HALF_PLUS_TWO_HANDLE, TF1_HANDLE}

    ok("cache", "prune", "--older-than", "1d", env=hub_env)
    assert set(listing(hub_env)) == {TF1_HANDLE}
    assert sorted(os.listdir(hub_env["TFHUB_CACHE_DIR"])) == sorted(
        [Path(paths[TF1_HANDLE]).name, Path(paths[TF1_HANDLE]).name + ".descriptor.txt"])


READER = """
import sys
import hubvendor
path = hubvendor.resolve(sys.argv[1])
model = hubvendor.load(sys.argv[1])
print(path, flush=True)
sys.stdin.readline()  # keep the model (and its entry) in use until the test says so
import tensorflow as tf
print(float(model(tf.constant([4.0]))[0]), flush=True)
"""


def test_prune_and_rm_keep_the_entry_a_live_process_uses(hub_server: HubServer, hub_env):
    ok("resolve", HALF_PLUS_TWO_HANDLE, TF1_HANDLE, env=hub_env)
    env = {**hub_env, "HUBVENDOR_CACHE_KEEP_RECENT": "0"}  # only the lock protects the reader's entry
    reader = subprocess.Popen([sys.executable, "-c", READER, HALF_PLUS_TWO_HANDLE], env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        path = reader.stdout.readline().strip()
        assert path == os.path.join(hub_env["TFHUB_CACHE_DIR"], SHA1), reader.stderr.read()

        result = json.loads(ok("cache", "prune", "--max-size", "0", "--json", env=env))
        assert [e["handle"] for e in result["removed"]] == [TF1_HANDLE]
        (skipped,) = result["skipped"]
        assert skipped["handle"] == HALF_PLUS_TWO_HANDLE and f"PID {reader.pid}" in skipped["reason"]

        removal = hubvendor("cache", "rm", HALF_PLUS_TWO_HANDLE, env=env)
        assert removal.returncode == 1
        assert removal.stderr.count("\n") == 1 and f"in use by a running process (PID {reader.pid})" in removal.stderr
        assert Path(path, "saved_model.pb").is_file() and set(listing(env)) == {HALF_PLUS_TWO_HANDLE}

        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "4.0"  # 0.5 * 4 + 2, computed after the prune
    finally:
        reader.stdin.close()
        reader.wait(60)
    assert reader.returncode == 0, reader.stderr.read()
    assert "removed" in ok("cache", "rm", HALF_PLUS_TWO_HANDLE, env=env)
    assert os.listdir(hub_env["TFHUB_CACHE_DIR"]) == []


def test_automatic_pruning_after_a_download(hub_server: HubServer, hub_env):
    env = {**hub_env, "HUBVENDOR_CACHE_MAX_SIZE": "1", "HUBVENDOR_CACHE_KEEP_RECENT": "0"}
    first = ok("resolve", HALF_PLUS_TWO_HANDLE, env=env).strip()
    assert Path(first, "saved_model.pb").is_file()  # the fresh download itself is never pruned
    second = ok("resolve", TF1_HANDLE, env=env).strip()
    assert not os.path.exists(first) and Path(second, "saved_model.pb").is_file()
    assert set(listing(env)) == {TF1_HANDLE}

    recent = {**env, "HUBVENDOR_CACHE_KEEP_RECENT": "10m"}  # default: recently used entries stay
    ok("resolve", KERAS_HANDLE, env=recent)
    assert set(listing(env)) == {TF1_HANDLE, KERAS_HANDLE}


def test_prune_sweeps_dead_locks_and_orphan_staging_but_not_live_downloads(hub_server: HubServer, hub_env):
    cache = Path(hub_env["TFHUB_CACHE_DIR"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = socket.gethostname()
        dead_sha, live_sha, orphan_sha = "a" * 40, "b" * 40, "c" * 40
        (cache / f"{dead_sha}.lock").write_text(f"{host}.{dead.pid}.{'1' * 32}")
        (cache / f"{dead_sha}.{'1' * 32}.tmp").mkdir()
        (cache / f"{live_sha}.lock").write_text(f"{host}.{live.pid}.{'2' * 32}")
        (cache / f"{live_sha}.{'2' * 32}.tmp" / "variables").mkdir(parents=True)
        (cache / f"{orphan_sha}.{'3' * 32}.tmp").mkdir()
        leftover = cache / f"{SHA1}.descriptor.txt.tmp{'4' * 32}"
        leftover.write_text("half-written")
        age(leftover, 3600)

        result = json.loads(ok("cache", "prune", "--max-size", "1G", "--json", env=hub_env))
        assert sorted(Path(p).name for p in result["swept"]) == sorted(
            [f"{dead_sha}.lock", f"{dead_sha}.{'1' * 32}.tmp", f"{orphan_sha}.{'3' * 32}.tmp", leftover.name])
        assert sorted(os.listdir(cache)) == [f"{live_sha}.{'2' * 32}.tmp", f"{live_sha}.lock"]
        assert listing(hub_env)[""]["state"] == "downloading"
    finally:
        live.kill()
        live.wait()


def test_rm_dir_and_one_line_errors(hub_server: HubServer, hub_env):
    ok("resolve", HALF_PLUS_TWO_HANDLE, env=hub_env)
    assert ok("cache", "dir", env=hub_env).strip() == hub_env["TFHUB_CACHE_DIR"]
    missing = hubvendor("cache", "rm", TF1_HANDLE, env=hub_env)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert TF1_HANDLE in missing.stderr and "not in the cache" in missing.stderr
    bad_age = hubvendor("cache", "prune", "--older-than", "soon", env=hub_env)
    assert bad_age.returncode == 1 and "--older-than='soon'" in bad_age.stderr
    assert hubvendor("cache", "prune", env=hub_env).returncode == 1
    assert "removed" in ok("cache", "rm", SHA1, env=hub_env)  # an entry name works too
    assert os.listdir(hub_env["TFHUB_CACHE_DIR"]) == []
    assert "no entries" in ok("cache", "list", env=hub_env)


def test_use_mark_is_cheap_and_read_only_caches_still_resolve(hub_server: HubServer, use_hub_env, monkeypatch):
    ok("resolve", HALF_PLUS_TWO_HANDLE, env=use_hub_env)
    cache = Cache()
    entry = cache.entry_path(HALF_PLUS_TWO_HANDLE)
    age(entry, 86400)

    assert download.ensure(HALF_PLUS_TWO_HANDLE, cache=cache, use=True) == entry
    assert time.time() - os.stat(entry).st_mtime < 60  # marked used
    writes, real_utime = [], os.utime
    monkeypatch.setattr(os, "utime", lambda *a, **k: (writes.append(a), real_utime(*a, **k)))
    for _ in range(50):  # cheap: marked once per process, later uses only compare the held entry
        assert download.ensure(HALF_PLUS_TWO_HANDLE, cache=cache, use=True) == entry
    assert writes == []

    import hubvendor.entry as entry_module

    monkeypatch.setattr(entry_module, "_READERS", {})
    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(os, "utime", read_only)
    age_before = os.stat(entry).st_mtime
    assert download.ensure(HALF_PLUS_TWO_HANDLE, use=True) == entry
    assert os.stat(entry).st_mtime == age_before



def test_a_file_url_cache_dir_is_the_local_directory(hub_server: HubServer, hub_env, tmp_path: Path):
    """TFHUB_CACHE_DIR=file:///... (tensorflow_hub takes any TensorFlow filesystem URL) names the local path."""
    local = tmp_path / "file url cache"
    env = {**hub_env, "TFHUB_CACHE_DIR": local.as_uri()}
    entry = str(local / SHA1)
    assert ok("resolve", HALF_PLUS_TWO_HANDLE, env=env).strip() == entry
    assert Path(entry, "saved_model.pb").is_file() and not Path("file:").exists()
    assert ok("cache", "dir", env=env).strip() == str(local)
    assert listing(env)[HALF_PLUS_TWO_HANDLE]["path"] == entry
    assert ok("fetch", HALF_PLUS_TWO_HANDLE, env=env).strip().endswith(entry)
    ok("vendor", "-o", str(tmp_path / "vendored"), HALF_PLUS_TWO_HANDLE, env=env)  # builds vendor from it
    assert (tmp_path / "vendored" / "hubvendor-manifest.json").is_file()
    assert ok("cache", "list", env=env).splitlines()[-1].startswith("1 entry, ")
    ok("cache", "prune", "--max-size", "0", "--force", env=env)
    assert not Path(entry).exists() and hub_server.downloads() == 1


def test_sizes_read_as_binary_units():
    from hubvendor.cacheops import human_size

    assert [human_size(n) for n in (0, 512, 1024, 1536, 10 * 1024**2, 3 * 1024**3)] == [
        "0 B", "512 B", "1.00 KiB", "1.50 KiB", "10.0 MiB", "3.00 GiB"]
