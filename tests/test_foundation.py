"""Issue 2 must-shows, end to end: real processes, the real server on loopback, real SavedModels."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.commands import hubvendor
from support.server import HALF_PLUS_TWO_HANDLE, HubServer

from hubvendor.handle import parse

SHA1 = parse(HALF_PLUS_TWO_HANDLE).cache_name
SOCKET_GUARD = (
    "import socket\n"
    "def _refuse(*args, **kwargs):\n"
    "    raise SystemExit('socket connection attempted')\n"
    "socket.socket.connect = _refuse\n"
    "socket.create_connection = _refuse\n"
)


def tf_hub_resolve(handle: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """tensorflow_hub's own ``hub.resolve`` in a fresh process, hubvendor's bridge disabled."""
    code = f"import tensorflow_hub as hub\nprint(hub.resolve({handle!r}))"
    return subprocess.run(
        [sys.executable, "-c", code], env={**env, "HUBVENDOR_AUTOLOAD": "0"}, capture_output=True, text=True,
        timeout=300,
    )


def cache_listing(env: dict[str, str]) -> list[str]:
    return sorted(os.listdir(env["TFHUB_CACHE_DIR"]))


def test_rewritten_handle_resolves_into_a_cache_tensorflow_hub_reads(hub_server: HubServer, hub_env):
    result = hubvendor("resolve", HALF_PLUS_TWO_HANDLE, env=hub_env)
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip()
    assert path == os.path.join(hub_env["TFHUB_CACHE_DIR"], SHA1)
    assert Path(path, "saved_model.pb").is_file()
    assert cache_listing(hub_env) == [SHA1, f"{SHA1}.descriptor.txt"]
    assert hub_server.downloads() == 1

    hub_server.stop()
    theirs = tf_hub_resolve(HALF_PLUS_TWO_HANDLE, hub_env)
    assert theirs.returncode == 0, theirs.stderr[-2000:]
    assert theirs.stdout.strip().splitlines()[-1] == path
    assert cache_listing(hub_env) == [SHA1, f"{SHA1}.descriptor.txt"]


def test_cache_filled_by_tensorflow_hub_is_used_without_a_download(hub_server: HubServer, hub_env):
    handle = f"{hub_server.url}/test/half_plus_two/1"  # tensorflow_hub knows no mirrors
    theirs = tf_hub_resolve(handle, hub_env)
    assert theirs.returncode == 0, theirs.stderr[-2000:]
    their_path = theirs.stdout.strip().splitlines()[-1]
    hub_server.stop()

    ours = hubvendor("resolve", handle, env={**hub_env, "HUBVENDOR_OFFLINE": "1"})
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.strip() == their_path == os.path.join(hub_env["TFHUB_CACHE_DIR"], parse(handle).cache_name)


def test_sigkill_mid_download_then_a_new_resolve_finishes_quickly(hub_server: HubServer, hub_env):
    hub_server.faults([{"kind": "stall", "seconds": 60, "at": 2048}])
    cache = Path(hub_env["TFHUB_CACHE_DIR"])
    entry = cache / SHA1
    victim = subprocess.Popen([sys.executable, "-m", "hubvendor", "resolve", HALF_PLUS_TWO_HANDLE], env=hub_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        # killed mid-download: staging exists and the server is stalling the victim's request (so the fault
        # cannot be left for the next resolve, whatever the machine's load)
        while not (any(name.endswith(".tmp") for name in os.listdir(cache))
                   and hub_server.stats()["faults_applied"] >= 1):
            assert not entry.exists(), "entry visible before the download finished"
            assert victim.poll() is None and time.monotonic() < deadline, "download never started"
            time.sleep(0.05)
        time.sleep(0.3)
        assert not entry.exists(), "a partial entry is visible"
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert f"{SHA1}.lock" in os.listdir(cache)

    started = time.monotonic()
    result = hubvendor("resolve", HALF_PLUS_TWO_HANDLE, env=hub_env)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 10, f"resolve after SIGKILL took {elapsed:.1f}s"
    assert Path(result.stdout.strip(), "saved_model.pb").is_file()
    assert cache_listing(hub_env) == [SHA1, f"{SHA1}.descriptor.txt"], "dead holder's lock/staging left behind"


def test_eight_processes_one_download(hub_server: HubServer, hub_env):
    hub_server.faults([{"kind": "stall", "seconds": 2, "at": 1024}])  # keep the first download in flight
    processes = [
        subprocess.Popen([sys.executable, "-m", "hubvendor", "resolve", HALF_PLUS_TWO_HANDLE], env=hub_env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err for _, err in outputs]
    paths = {out.strip() for out, _ in outputs}
    assert paths == {os.path.join(hub_env["TFHUB_CACHE_DIR"], SHA1)}
    assert hub_server.downloads() == 1
    assert cache_listing(hub_env) == [SHA1, f"{SHA1}.descriptor.txt"]


def test_offline_with_an_empty_cache_fails_clearly_without_connecting(hub_server: HubServer, hub_env):
    code = SOCKET_GUARD + f"import sys\nfrom hubvendor.cli import main\nsys.exit(main(['resolve', {HALF_PLUS_TWO_HANDLE!r}]))"
    result = subprocess.run([sys.executable, "-c", code], env={**hub_env, "HUBVENDOR_OFFLINE": "1"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert HALF_PLUS_TWO_HANDLE in message and "HUBVENDOR_OFFLINE" in message
    assert "HUBVENDOR_PATH" in message and os.path.join(hub_env["TFHUB_CACHE_DIR"], SHA1) in message
    assert hub_server.stats()["requests"] == 0
    assert cache_listing(hub_env) == []


def test_import_hubvendor_leaves_tensorflow_and_requests_out():
    code = (
        "import sys, hubvendor\n"
        "assert hubvendor.resolve and hubvendor.explain\n"
        "heavy = [m for m in ('tensorflow', 'tensorflow_hub', 'requests') if m in sys.modules]\n"
        "print(heavy)"
    )
    env = {k: v for k, v in os.environ.items() if k != "HUBVENDOR_AUTOLOAD"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_warm_resolve_imports_neither_requests_nor_tensorflow(hub_server: HubServer, hub_env):
    assert hubvendor("resolve", HALF_PLUS_TWO_HANDLE, env=hub_env).returncode == 0
    code = (
        f"import sys, hubvendor\nprint(hubvendor.resolve({HALF_PLUS_TWO_HANDLE!r}))\n"
        "print([m for m in ('tensorflow', 'requests') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], env=hub_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_incomplete_entry_is_fetched_again(hub_server: HubServer, hub_env):
    path = Path(hubvendor("resolve", HALF_PLUS_TWO_HANDLE, env=hub_env).stdout.strip())
    (path / "saved_model.pb").unlink()  # what a tmp cleaner does
    result = hubvendor("resolve", HALF_PLUS_TWO_HANDLE, env=hub_env)
    assert result.returncode == 0, result.stderr
    assert (path / "saved_model.pb").is_file()
    assert hub_server.downloads() == 2


def test_stale_tensorflow_hub_lock_of_a_dead_process_is_broken(hub_server: HubServer, hub_env):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    cache = Path(hub_env["TFHUB_CACHE_DIR"])
    import socket

    (cache / f"{SHA1}.lock").write_text(f"{socket.gethostname()}.{dead.pid}.{'0' * 32}")
    (cache / f"{SHA1}.{'0' * 32}.tmp").mkdir()
    started = time.monotonic()
    result = hubvendor("resolve", HALF_PLUS_TWO_HANDLE, env=hub_env)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10
    assert cache_listing(hub_env) == [SHA1, f"{SHA1}.descriptor.txt"]


# -- issue 12 / 17: manifests read with one clear error, written through the one atomic writer ---------

def test_manifest_write_failure_leaves_no_temp_file(tmp_path: Path):
    import pytest

    from hubvendor import manifest

    target = tmp_path / manifest.FILENAME
    target.mkdir()  # the rename onto it fails
    with pytest.raises(OSError):
        manifest.write(str(target), manifest.Manifest())
    assert os.listdir(tmp_path) == [manifest.FILENAME]
    target.rmdir()
    manifest.write(str(target), manifest.Manifest())
    assert os.listdir(tmp_path) == [manifest.FILENAME] and manifest.read(str(target)).models == {}


def test_atomic_writer_replaces_whole_files_and_cleans_up(tmp_path: Path):
    import pytest

    from hubvendor import atomicfile

    path = tmp_path / "f"
    atomicfile.write(path, "one\n")
    atomicfile.write(path, b"two")
    assert path.read_bytes() == b"two" and os.listdir(tmp_path) == ["f"]
    with pytest.raises(TypeError):
        atomicfile.write(path, 3)  # type: ignore[arg-type]
    assert path.read_bytes() == b"two" and os.listdir(tmp_path) == ["f"]


def test_bad_manifests_are_one_config_error_naming_the_file(tmp_path: Path):
    import json

    import pytest

    from hubvendor import manifest
    from hubvendor.errors import ConfigError

    good = {"format": manifest.FORMAT, "models": {HALF_PLUS_TWO_HANDLE: {"handle": HALF_PLUS_TWO_HANDLE, "path": "m"}}}
    cases = {
        "latin1.json": json.dumps(good).encode() + b"\xff",
        "nul-path.json": json.dumps({**good, "models": {"k": {"handle": HALF_PLUS_TWO_HANDLE, "path": "m\0x"}}}).encode(),
        "empty-path.json": json.dumps({**good, "models": {"k": {"handle": HALF_PLUS_TWO_HANDLE, "path": ""}}}).encode(),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ConfigError, match=name):
            manifest.model_dirs(str(tmp_path / name))
    with pytest.raises(ConfigError, match="cannot read manifest"):
        manifest.read(str(tmp_path / "a\0b.json"))


def test_user_files_that_are_not_small_regular_files_are_refused(tmp_path):
    """pyproject, lock, manifest and downloader config: a FIFO (no writer: the open must not block),
    a device, a directory or a file over the cap is one ConfigError naming it, read at most to the cap."""
    import pytest

    from hubvendor import lockfile, manifest, mirrors, smallfile, tomlfile
    from hubvendor.errors import ConfigError

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(smallfile.MAX_BYTES + 1)
    for path in (fifo, "/dev/zero", tmp_path, big):
        for read in (tomlfile.read, lockfile.load, manifest.read, mirrors.DownloaderConfig.load):
            with pytest.raises(ConfigError, match=re.escape(str(path))):
                read(path if read is not manifest.read else str(path))
