"""Crash chaos: ``hubvendor resolve/fetch/vendor`` SIGKILLed at random points, in parallel batches.

The 3 MiB model is served at ~3 MiB/s, so kills land in start-up, download, extraction, rename and
vendoring. After every batch: no visible cache entry fails its tree digest, no vendored output
directory exists without being complete (manifest present and every digest right), a previous
output never vanishes, and a new
resolve and vendor succeed within 10 s. tensorflow_hub's own ``hub.resolve`` shares the cache in
some batches (it knows no mirrors, so every process uses the loopback URL handle).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.server import HubServer

from hubvendor import archive
from hubvendor.handle import parse

from . import figures
from .common import SOAK, entry_problems, environment, hubvendor, hubvendor_command, output_problems, scale
from .conftest import BIG

KILLS = scale(50, 300)
MAX_BATCHES = scale(40, 200)
BATCH = 5
SLOTS = 2  # vendored output directories, rewritten across batches
RECOVERY_SECONDS = 10.0
RATE = 3 * 1024 * 1024  # bytes per second
TF_BATCHES = {1: False, 4: False, 7: True} if not SOAK else {i: i % 3 == 0 for i in range(1, 60, 5)}  # batch -> kill it


@pytest.fixture(scope="module")
def chaos_server(rel_root: Path):
    with HubServer(rel_root) as server:
        server.faults([{"kind": "throttle", "rate": RATE, "path": BIG, "times": 1_000_000}])
        yield server


def _tf_resolve(handle: str, env: dict[str, str]) -> subprocess.Popen:
    code = f"import tensorflow_hub as hub\nprint(hub.resolve({handle!r}))"
    return subprocess.Popen([sys.executable, "-c", code], env={**env, "HUBVENDOR_AUTOLOAD": "0"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_chaos(chaos_server: HubServer, served_digests, tmp_path: Path):
    rng = random.Random(20240611)
    handle = f"{chaos_server.url}/{BIG}"
    sha1 = parse(handle).cache_name
    expected = {sha1: served_digests[BIG]}
    outputs = [tmp_path / "out" / f"v{i}" for i in range(SLOTS)]
    cache = tmp_path / "cache-0"
    crashes = batches = 0
    tf_runs: list[tuple[subprocess.Popen, float | None]] = []  # (process, monotonic time to kill it at)
    problems: list[str] = []
    while crashes < KILLS and batches < MAX_BATCHES:
        batches += 1
        if rng.random() < 0.7:  # mostly a cold cache, so kills land in downloads
            cache = tmp_path / f"cache-{batches}"
        cache.mkdir(exist_ok=True)
        env = environment(cache, HUBVENDOR_READ_TIMEOUT="5")
        commands = [
            hubvendor_command("resolve", handle), hubvendor_command("fetch", handle), hubvendor_command("resolve", handle),
            *(hubvendor_command("vendor", "--output", str(out), handle) for out in outputs),
        ][:BATCH]
        processes = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in commands]
        if batches in TF_BATCHES:
            kill_at = time.monotonic() + rng.uniform(3.0, 6.0) if TF_BATCHES[batches] else None  # TF import takes ~3 s
            tf_runs.append((_tf_resolve(handle, env), kill_at))
        existed = [out.exists() for out in outputs]
        batch_kills = 0
        started = time.monotonic()
        for when, process in sorted(((rng.uniform(0.05, 1.8), p) for p in processes), key=lambda x: x[0]):
            time.sleep(max(0.0, started + when - time.monotonic()))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                batch_kills += 1
        for process in processes:
            process.wait()
        for tf_process, kill_at in tf_runs:
            if kill_at and tf_process.poll() is None and time.monotonic() > kill_at:
                tf_process.send_signal(signal.SIGKILL)

        corrupt = entry_problems(cache, expected)
        half_written = [p for out in outputs for p in output_problems(out)]
        half_written += [f"{out}: the previous output vanished" for out, was in zip(outputs, existed) if was and not out.exists()]
        problems += corrupt + half_written
        recoveries = [hubvendor("resolve", handle, env=env, deadline=60)]
        recoveries += [hubvendor("vendor", "--output", str(out), handle, env=env, deadline=60) for out in outputs]
        slowest = max(r.seconds for r in recoveries)
        recovered = all(r.returncode == 0 for r in recoveries) and slowest < RECOVERY_SECONDS
        after = entry_problems(cache, expected) + [p for out in outputs for p in output_problems(out)]
        complete = (cache / sha1).is_dir() and all((out / "hubvendor-manifest.json").is_file() for out in outputs)
        crashes += batch_kills
        figures.add("crash chaos", crashes=batch_kills, recovered=batch_kills if recovered and complete and not after else 0,
                    corrupt=len(corrupt),
                    half_written_outputs=len(half_written), slowest_recovery_s=round(slowest, 1))
        assert not corrupt, corrupt
        assert not half_written, half_written
        assert recovered, [(r.returncode, round(r.seconds, 1), r.stderr[-800:]) for r in recoveries]
        assert complete and not after, after
        assert recoveries[0].stdout.strip() == str(cache / sha1)

    for tf_process, kill_at in tf_runs:
        out, err = tf_process.communicate(timeout=120)
        figures.add("crash chaos", tensorflow_hub_runs=1)
        if tf_process.returncode == -signal.SIGKILL and kill_at:
            continue
        assert tf_process.returncode == 0, err[-2000:]
        path = out.strip().splitlines()[-1]
        assert archive.tree_digest(path) == served_digests[BIG], f"tensorflow_hub got a bad tree at {path}"
    assert crashes >= KILLS, f"only {crashes} kills landed in {batches} batches"
    assert not problems
    for directory in tmp_path.glob("cache-*"):
        assert not entry_problems(directory, expected)
    assert os.listdir(tmp_path / "out") and all(not output_problems(out) for out in outputs)
