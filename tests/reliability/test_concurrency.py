"""Concurrency: many processes, one download per model; readers never see a partial tree;
``hubvendor cache prune`` never removes an entry a running process is using.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.server import HubServer

from hubvendor import cli
from hubvendor.handle import parse

from . import figures
from .common import entry_problems, environment, hubvendor, scale
from .conftest import MANY, tfhub

PROCESSES = 16
# Resolves each handle (holding the entry like any hubvendor reader), pauses, then hashes what it got.
READER = (
    "import random, sys, time\n"
    "import hubvendor\n"
    "from hubvendor.archive import tree_digest\n"
    "for handle in sys.argv[1:]:\n"
    "    path = hubvendor.resolve(handle)\n"
    "    time.sleep(random.uniform(0, 0.3))\n"
    "    print(handle, path, tree_digest(path), flush=True)\n"
)
HOLDER = "import sys, hubvendor\nprint(hubvendor.resolve(sys.argv[1]), flush=True)\nsys.stdin.read()\n"


def _start_readers(handle_lists: list[list[str]], env: dict[str, str]) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", READER, *handles], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for handles in handle_lists]


def _finish_readers(processes: list[subprocess.Popen], digests: dict[str, str]) -> tuple[int, list[str]]:
    """(bad reads, errors) of finished readers; a bad read is a tree that is not the served model."""
    bad, errors = 0, []
    for process in processes:
        out, err = process.communicate(timeout=180)
        if process.returncode != 0:
            errors.append(err[-1500:])
        for line in out.splitlines():
            handle, _, digest = line.split(" ")
            bad += digest != digests[handle]
    return bad, errors


class Watcher(threading.Thread):
    """Hashes every visible cache entry, over and over, until stopped: counts trees that are not whole."""

    def __init__(self, cache: Path, expected: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.cache, self.expected = cache, expected
        self.stop = threading.Event()
        self.problems: list[str] = []
        self.looks = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.problems += entry_problems(self.cache, self.expected)
            self.looks += 1
            time.sleep(0.005)


def _handle_digests(served_digests: dict[str, str], paths) -> dict[str, str]:
    return {tfhub(p): served_digests[p] for p in paths}


@pytest.mark.parametrize("models", [1, 4], ids=["16 processes x 1 handle", "16 processes x 4 handles"])
def test_one_download_per_model(models: int, rel_server: HubServer, rel_mirror: Path, served_digests, tmp_path: Path):
    paths = MANY[:models]
    digests = _handle_digests(served_digests, paths)
    cache = tmp_path / "cache"
    cache.mkdir()
    env = environment(cache, rel_mirror)
    rel_server.faults([{"kind": "stall", "at": 1024, "seconds": 1.5, "path": p} for p in paths])  # keep them in flight
    watcher = Watcher(cache, {parse(h).cache_name: d for h, d in digests.items()})
    watcher.start()
    rng = random.Random(models)
    readers = _start_readers([rng.sample(sorted(digests), len(digests)) for _ in range(PROCESSES)], env)
    try:
        bad, errors = _finish_readers(readers, digests)
    finally:
        watcher.stop.set()
        watcher.join()
    downloads = rel_server.stats()["archive_downloads"]
    figures.add("concurrency", concurrent_runs=PROCESSES, downloads=sum(downloads.values()), expected_downloads=models,
                partial_reads=bad + len(watcher.problems))
    assert not errors, errors
    assert bad == 0 and not watcher.problems, watcher.problems[:5]
    assert watcher.looks > 10
    assert downloads == {p: 1 for p in paths}


@pytest.fixture
def prune_available() -> None:
    if "cache" not in cli.COMMANDS:
        pytest.skip("hubvendor cache prune is not there yet")


def test_prune_keeps_entries_in_use(prune_available, rel_server: HubServer, rel_mirror: Path, served_digests,
                                    tmp_path: Path):
    digests = _handle_digests(served_digests, MANY)
    handles = sorted(digests)
    cache = tmp_path / "cache"
    env = environment(cache, rel_mirror)
    assert hubvendor("resolve", *handles, env=env).returncode == 0
    holders = [subprocess.Popen([sys.executable, "-c", HOLDER, h], env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for h in handles[:2]]
    try:
        held = [h.stdout.readline().strip() for h in holders]
        pruned = hubvendor("cache", "prune", "--max-size", "0", "--force", env=env)
        assert pruned.returncode == 0, pruned.stderr
        present = {h: (cache / parse(h).cache_name).is_dir() for h in handles}
        kept_whole = not entry_problems(cache, {parse(h).cache_name: digests[h] for h in handles})
        removed_in_use = sum(not present[h] for h in handles[:2])
        figures.add("concurrency", in_use_removed=removed_in_use)
        assert present == {handles[0]: True, handles[1]: True, handles[2]: False, handles[3]: False}, pruned.stdout
        assert kept_whole and all(Path(p).is_dir() for p in held)
    finally:
        for holder in holders:
            holder.communicate("", timeout=30)
    assert hubvendor("cache", "prune", "--max-size", "0", "--force", env=env).returncode == 0
    assert not any((cache / parse(h).cache_name).exists() for h in handles)


def test_readers_race_a_pruning_loop(prune_available, rel_server: HubServer, rel_mirror: Path, served_digests,
                                     tmp_path: Path):
    digests = _handle_digests(served_digests, MANY)
    cache = tmp_path / "cache"
    env = environment(cache, rel_mirror)
    rng = random.Random(5)
    bad_total, prunes, readers_run = 0, 0, 0
    for _ in range(scale(3, 20)):
        readers = _start_readers([rng.sample(sorted(digests), 2) for _ in range(6)], env)
        readers_run += len(readers)
        while any(r.poll() is None for r in readers):
            result = hubvendor("cache", "prune", "--max-size", "0", "--force", env=env)
            assert result.returncode == 0, result.stderr
            prunes += 1
        bad, errors = _finish_readers(readers, digests)
        bad_total += bad + len(errors)
        assert not errors, errors
    figures.add("concurrency", concurrent_runs=readers_run, in_use_removed=bad_total)
    assert bad_total == 0
    assert prunes >= 3, "the readers finished before any prune ran"
    assert sum(rel_server.stats()["archive_downloads"].values()) > len(MANY), "no prune ever removed an entry"
    assert not [n for n in os.listdir(cache) if n.endswith((".lock", ".tmp"))]
