"""Network faults injected by the test server: every download recovers or fails cleanly, never corrupts.

Each case runs ``hubvendor resolve`` (or a pinned ``Cache.ensure``) in a subprocess against a fresh
cache, with a 0.5 s read timeout, 3 retries and a short backoff. Afterwards the cache must hold either
the whole model (tree digest equal to the served model's) or nothing: no entry, lock or staging.
Every case runs twice: on one connection, and with parallel ranges forced on (threshold 1 byte, 4
connections, any speed), where the fault hits the probing response or, for the ``range:`` cases, a range request.
"""

from __future__ import annotations

import dataclasses
import random
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from support.server import HubServer, write_mirror_config

from hubvendor import ranged as ranges
from hubvendor.handle import parse

from . import figures
from .common import entry_problems, environment, hubvendor, leftovers, scale
from .conftest import SMALL, tfhub

HANDLE = tfhub(SMALL)
SHA1 = parse(HANDLE).cache_name
DEADLINE = 45.0  # generous: a case slower than this is a hang
SEED = 20240607


@dataclass(frozen=True)
class Case:
    name: str
    faults: Callable[[int, random.Random], list[dict[str, Any]]]
    recovers: bool
    message: str = ""  # for failures: a substring of the one-line error
    pin: bool = False  # resolve with a wrong pinned sha256 (the body differs from the lock)
    env: dict[str, str] = field(default_factory=dict)


def _at(size: int, rng: random.Random, low: int = 1) -> int:
    return rng.randrange(low, size - 1)


def _cases() -> list[Case]:
    cases = [
        Case("stall past the read timeout", lambda n, r: [{"kind": "stall", "at": _at(n, r), "seconds": 2}], True),
        Case("stall before the first byte", lambda n, r: [{"kind": "stall", "at": 0, "seconds": 2}], True),
        Case("429 with Retry-After", lambda n, r: [{"kind": "status", "code": 429, "retry_after": 1}], True),
        Case("429 without Retry-After", lambda n, r: [{"kind": "status", "code": 429, "times": 2}], True),
        Case("500", lambda n, r: [{"kind": "status", "code": 500}], True),
        Case("502 three times", lambda n, r: [{"kind": "status", "code": 502, "times": 3}], True),
        Case("503 with Retry-After", lambda n, r: [{"kind": "status", "code": 503, "retry_after": 1}], True),
        Case("503 without Retry-After", lambda n, r: [{"kind": "status", "code": 503, "times": 2}], True),
        Case("503 for ever", lambda n, r: [{"kind": "status", "code": 503, "times": 100}], False, "gave up after 3 retries"),
        Case("404", lambda n, r: [{"kind": "status", "code": 404}], False, "HTTP 404"),
        Case("403", lambda n, r: [{"kind": "status", "code": 403}], False, "HTTP 403"),
        Case("reset, then Range ignored", lambda n, r: [{"kind": "reset", "at": _at(n, r)}, {"kind": "ignore_range"}], True),
        Case("reset three times in a row", lambda n, r: [{"kind": "reset", "at": r.randrange(100, n // 4), "times": 3}], True),
        Case("truncated, honest Content-Length", lambda n, r: [{"kind": "truncate", "at": _at(n, r, 64), "honest_length": True}],
             False, "truncated"),
        Case("redirect loop", lambda n, r: [{"kind": "redirect_loop"}], False, "redirect loop"),
        Case("corrupt gzip in the deflate data", lambda n, r: [{"kind": "corrupt", "at": _at(n, r, 64) - 8, "count": 4}],
             False, "gzip"),
        Case("corrupt gzip trailer (CRC)", lambda n, r: [{"kind": "corrupt", "at": n - 8, "count": 2}], False, "gzip"),
        Case("HTML page instead of the archive", lambda n, r: [{"kind": "replace_body", "body": "<html>login</html>" * 40}],
             False, "not a tar"),
        Case("body differs from the locked sha256", lambda n, r: [], False, "sha256 mismatch", pin=True),
        Case("stall and reset in one download", lambda n, r: [{"kind": "stall", "at": _at(n, r), "seconds": 2},
                                                             {"kind": "reset", "at": _at(n, r)}], True),
    ]
    for i in range(scale(4, 30)):
        cases.append(Case(f"connection reset at a random offset #{i}", lambda n, r: [{"kind": "reset", "at": _at(n, r)}], True))
    for i in range(scale(2, 15)):
        cases.append(Case(f"truncated with a lying Content-Length #{i}",
                          lambda n, r: [{"kind": "truncate", "at": _at(n, r)}], True))
    for i in range(scale(1, 10)):
        cases.append(Case(f"random stall #{i}", lambda n, r: [{"kind": "stall", "at": _at(n, r), "seconds": 1.5}], True))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def fault_server(rel_root: Path):
    with HubServer(rel_root) as server:
        yield server


@pytest.fixture(scope="module")
def archive_size(fault_server: HubServer) -> int:
    request = urllib.request.Request(f"{fault_server.url}/{SMALL}.tar.gz", method="HEAD")
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.headers["Content-Length"])


RANGED = {"HUBVENDOR_RANGED_MIN_SIZE": "1", "HUBVENDOR_CONNECTIONS": "4", "HUBVENDOR_RANGED_SPEED": "always"}


@pytest.mark.parametrize("ranged", [False, True], ids=["one stream", "ranged"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(case: Case, ranged: bool, fault_server: HubServer, archive_size: int, served_digests, tmp_path: Path):
    rng = random.Random(f"{SEED}:{case.name}")
    cache = tmp_path / "cache"
    cache.mkdir()
    env = environment(cache, write_mirror_config(tmp_path / "m.cfg", fault_server.url),
                      HUBVENDOR_READ_TIMEOUT="0.5", HUBVENDOR_RETRIES="3", **case.env, **(RANGED if ranged else {}))
    fault_server.reset()
    faults = case.faults(archive_size, rng)
    fault_server.faults(_in_every_range(faults, archive_size) if ranged else faults)
    args = ("ensure", HANDLE, "0" * 64) if case.pin else ("resolve", HANDLE)
    result = hubvendor(*args, env=env, deadline=DEADLINE)

    corrupt = entry_problems(cache, {SHA1: served_digests[SMALL]})
    entry = cache / SHA1
    if ranged and any(f["kind"] == "corrupt" for f in faults):  # every range corrupted: gzip or tar notices first
        case = dataclasses.replace(case, message="")
    _check(case, result, cache, entry, corrupt, faults, fault_server)


def _in_every_range(faults: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """Corruption at absolute offset N, moved to N's offset within its range and applied to every
    response, so that it reaches the consumer however the ranges are requested."""
    moved = []
    for fault in faults:
        if fault["kind"] == "corrupt":
            start = max(s for s, _ in ranges.split(size, int(RANGED["HUBVENDOR_CONNECTIONS"])) if s <= fault["at"])
            fault = dict(fault, at=fault["at"] - start, times=1000)
        moved.append(fault)
    return moved


RANGE_CASES = [
    Case("range: reset", lambda n, r: [{"kind": "reset", "at": 100}], True),
    Case("range: reset three times", lambda n, r: [{"kind": "reset", "at": 50, "times": 3}], True),
    Case("range: stall past the read timeout", lambda n, r: [{"kind": "stall", "at": 100, "seconds": 2}], True),
    Case("range: truncated with a lying Content-Length", lambda n, r: [{"kind": "truncate", "at": 100}], True),
    Case("range: answered 200 (Range ignored)", lambda n, r: [{"kind": "ignore_range", "times": 2}], True),
    Case("range: 503", lambda n, r: [{"kind": "status", "code": 503, "times": 2}], True),
    Case("range: Range ignored for ever", lambda n, r: [{"kind": "ignore_range", "times": 1000}], False,
         "answered 200 instead of 206"),
    Case("range: 404", lambda n, r: [{"kind": "status", "code": 404}], False, "HTTP 404"),
]


@pytest.mark.parametrize("case", RANGE_CASES, ids=[c.name for c in RANGE_CASES])
def test_fault_in_a_range_request(case: Case, fault_server: HubServer, archive_size: int, served_digests,
                                  tmp_path: Path):
    """Parallel ranges on; the probing response is served whole, the fault hits a range request."""
    cache = tmp_path / "cache"
    cache.mkdir()
    env = environment(cache, write_mirror_config(tmp_path / "m.cfg", fault_server.url),
                      HUBVENDOR_READ_TIMEOUT="0.5", HUBVENDOR_RETRIES="3", **RANGED)
    fault_server.reset()
    faults = case.faults(archive_size, random.Random(case.name))
    fault_server.faults([{"kind": "throttle", "rate": 1e12}, *faults])  # a no-op taken by the probe
    result = hubvendor("resolve", HANDLE, env=env, deadline=DEADLINE)
    corrupt = entry_problems(cache, {SHA1: served_digests[SMALL]})
    entry = cache / SHA1
    stats = fault_server.stats()
    assert stats["requests"] > 1, "no range was requested"
    _check(case, result, cache, entry, corrupt, faults, fault_server)


def _check(case: Case, result: Any, cache: Path, entry: Path, corrupt: list[str], faults: list[dict[str, Any]],
           fault_server: HubServer) -> None:
    recovered = result.returncode == 0 and entry.is_dir() and not corrupt
    clean = result.clean_failure and not entry.exists()
    figures.add("network faults", faults=max(1, len(faults)), recovered=int(recovered), failed_cleanly=int(clean),
                corrupt_entries=len(corrupt), hangs=int(result.hung),
                unclean_failures=int(not (recovered or clean or result.hung)))
    assert not result.hung, f"hung for {result.seconds:.0f}s; faults {faults}"
    assert not corrupt, corrupt
    assert leftovers(cache) == [], f"leftovers after {faults}: {leftovers(cache)}"
    assert fault_server.stats()["faults_pending"] == 0 or not case.recovers, "the fault was never exercised"
    if case.recovers:
        assert recovered, f"faults {faults} not recovered: rc={result.returncode} {result.stderr[-1500:]}"
        assert result.stdout.strip() == str(entry)
    else:
        assert clean, f"faults {faults}: rc={result.returncode}, entry={entry.exists()}: {result.stderr[-1500:]}"
        assert HANDLE in result.error and case.message in result.error, result.error
