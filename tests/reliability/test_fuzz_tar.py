"""Property-based fuzzing of the tar reader: mutated headers, chained extended headers, sparse and pax variants.

Archives are built from header pieces (ustar/GNU/pax members, GNU long names, pax and global pax
headers, sparse markers) and then mutated byte by byte. Each is extracted by one long-lived child
process under RLIMIT_AS; every example must end within a time bound and a peak-RSS bound, and
only a hubvendor error naming the archive may come out. 200 examples per target, 3000 when soaking.
"""

from __future__ import annotations

import gzip
import json
import os
import select
import struct
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support import hostile

from . import figures
from .common import scale

EXAMPLES = scale(200, 3000)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SECONDS_PER_EXAMPLE = 10.0
GROWTH_MIB = 150  # peak RSS may grow this much over the worker's start-up peak, over the whole run
ADDRESS_SPACE = 3 * 1024**3
NAME = "fuzz.tar.gz"

WORKER = f"""
import json, os, resource, shutil, struct, sys, tempfile, time
resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE}, {ADDRESS_SPACE}))
from hubvendor import archive
from hubvendor.errors import HubVendorError

def peak_mib():
    with open("/proc/self/status") as status:
        return [int(l.split()[1]) for l in status if l.startswith("VmHWM:")][0] / 1024

limits = archive.Limits(1000, 32 * 1024 * 1024)
print(json.dumps({{"ready": peak_mib()}}), flush=True)
while header := sys.stdin.buffer.read(4):
    data = sys.stdin.buffer.read(struct.unpack(">I", header)[0])
    dest = tempfile.mkdtemp(prefix="hubvendor-fuzz-")
    start = time.monotonic()
    try:
        archive.extract([data[i:i + 65536] for i in range(0, len(data), 65536)], dest, name={NAME!r}, limits=limits)
        outcome = {{"error": None}}
    except HubVendorError as error:
        outcome = {{"error": type(error).__name__, "message": str(error), "ours": True}}
    except BaseException as error:
        outcome = {{"error": type(error).__name__, "message": repr(error)[:500], "ours": False}}
    shutil.rmtree(dest, ignore_errors=True)
    outcome.update(seconds=time.monotonic() - start, peak=peak_mib())
    print(json.dumps(outcome), flush=True)
"""


class Worker:
    """The child that extracts each example; restarted after a hang so later examples still run."""

    def __init__(self) -> None:
        self._process = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.start_peak = self._answer(60.0)["ready"]

    def _answer(self, seconds: float) -> dict:
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], seconds)
        line = self._process.stdout.readline() if ready else b""
        if not line:
            self._process.kill()
            self._process.wait()
            raise AssertionError(f"no answer within {seconds} s (exit {self._process.poll()})")
        return json.loads(line)

    def extract(self, data: bytes) -> dict:
        assert self._process.stdin is not None
        self._process.stdin.write(struct.pack(">I", len(data)) + data)
        self._process.stdin.flush()
        return self._answer(SECONDS_PER_EXAMPLE)

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        self._process.wait(timeout=30)


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    child = Worker()
    yield child
    child.close()


def check(worker: Worker, data: bytes, target: str) -> None:
    figures.add("fuzzing", fuzz_examples=1)
    outcome = worker.extract(data)
    assert outcome["peak"] - worker.start_peak < GROWTH_MIB, (target, outcome)
    if outcome["error"] is None:
        return
    if not outcome["ours"]:
        figures.add("fuzzing", foreign_exceptions=1)
        raise AssertionError(f"{target}: {outcome['message']}")
    if not outcome["message"].startswith(NAME + ": ") or "\n" in outcome["message"]:
        figures.add("fuzzing", unnamed_inputs=1)
        raise AssertionError(f"{target}: error does not name the archive on one line: {outcome['message']}")


# -- building blocks ----------------------------------------------------------------------------
_NAMES = st.sampled_from(["saved_model.pb", "variables/variables.index", "./a", "a/", "dir/sub/", "../x", "",
                          "x" * 99, "x" * 300, "ü/naïve", "A", "a", "\udcff", "\x01bad", "GNUSparseFile.0/w"])
_TYPES = st.sampled_from([tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
                          tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE, tarfile.FIFOTYPE, b"V", b"D", b"Z"])
_PAX_KEYS = st.sampled_from([b"path", b"linkpath", b"size", b"comment", b"hdrcharset", b"mtime", b"uid",
                             b"GNU.sparse.major", b"GNU.sparse.minor", b"GNU.sparse.map", b"GNU.sparse.size",
                             b"GNU.sparse.name", b"GNU.sparse.realsize", b"SCHILY.xattr.x", b"\xff"])
_PAX_VALUES = st.one_of(st.sampled_from([b"1", b"0", b"-1", b"12abc", b"a.bin", b"../up", b"x,y", b"BINARY",
                                         b"\xff\xfe", b"9" * 30, b"1.5", b""]), st.binary(max_size=40))


@st.composite
def pieces(draw: st.DrawFn) -> bytes:
    """One archive piece: a member with data, or an extended header (which may chain onto the next)."""
    kind = draw(st.sampled_from(["member", "member", "pax", "global", "longname", "longlink", "raw_pax", "sparse10"]))
    if kind == "member":
        data = draw(st.binary(max_size=700))
        size = draw(st.one_of(st.just(len(data)), st.integers(0, 5000)))
        return hostile.raw_header(draw(_NAMES), draw(_TYPES), size) + hostile.padded(data)
    if kind in ("pax", "global"):
        records = b"".join(hostile.pax_record(draw(_PAX_KEYS), draw(_PAX_VALUES))
                           for _ in range(draw(st.integers(0, 4))))
        return hostile.extended(b"x" if kind == "pax" else b"g", records)
    if kind in ("longname", "longlink"):
        return hostile.extended(b"L" if kind == "longname" else b"K", draw(st.binary(max_size=300)))
    if kind == "raw_pax":
        return hostile.extended(draw(st.sampled_from([b"x", b"g", b"X"])), draw(st.binary(max_size=200)))
    count = draw(st.integers(0, 10**12))
    return hostile.extended(b"x", hostile.pax_record(b"GNU.sparse.major", b"1") + hostile.pax_record(
        b"GNU.sparse.minor", b"0")) + hostile.raw_header("w", size=64) + hostile.padded(b"%d\n" % count + b"0\n" * 20)


@st.composite
def archives(draw: st.DrawFn) -> bytes:
    plain = b"".join(draw(st.lists(pieces(), min_size=1, max_size=8)))
    if draw(st.booleans()):
        plain += hostile.end_of_archive()
    data = bytearray(plain)
    for _ in range(draw(st.integers(0, 6))):  # mutations, mostly inside header blocks
        block = draw(st.integers(0, max(0, len(data) // tarfile.BLOCKSIZE - 1)))
        offset = block * tarfile.BLOCKSIZE + draw(st.sampled_from([0, 100, 124, 135, 148, 156, 157, 257, 345, 482,
                                                                   draw(st.integers(0, 511))]))
        if offset < len(data):
            data[offset] = draw(st.integers(0, 255))
    if draw(st.booleans()):  # fix the checksum of a mutated header so the mutation gets past it
        block = draw(st.integers(0, max(0, len(data) // tarfile.BLOCKSIZE - 1))) * tarfile.BLOCKSIZE
        if block + tarfile.BLOCKSIZE <= len(data):
            header = data[block:block + tarfile.BLOCKSIZE]
            data[block + 148:block + 156] = b"%06o\0 " % (sum(header[:148]) + 8 * 0x20 + sum(header[156:]))
    return gzip.compress(bytes(data), mtime=0) if draw(st.booleans()) else bytes(data)


@FUZZ
@given(data=archives())
def test_fuzz_tar_reader(worker: Worker, data: bytes) -> None:
    check(worker, data, "tar reader")


@FUZZ
@given(chain=st.lists(st.sampled_from([b"x", b"g", b"L", b"K"]), min_size=1, max_size=400),
       member=st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.GNUTYPE_SPARSE]))
@example(chain=[b"L"] * 400, member=tarfile.REGTYPE)
@example(chain=[b"x"] * 400, member=tarfile.REGTYPE)
@example(chain=[b"x", b"L", b"K", b"g"], member=tarfile.REGTYPE)
def test_fuzz_chained_extended_headers(worker: Worker, chain: list[bytes], member: bytes) -> None:
    parts = [hostile.extended(kind, hostile.pax_record(b"path", b"p%d" % i) if kind in (b"x", b"g") else b"n%d" % i)
             for i, kind in enumerate(chain)]
    check(worker, gzip.compress(b"".join(parts) + hostile.raw_header("m", member) + hostile.end_of_archive()),
          "chained extended headers")


def test_fuzz_known_attacks(worker: Worker) -> None:
    """The crafted corpus through the same worker: the bounds hold for the attacks found by hand."""
    for case in sorted(hostile.HOSTILE):
        if case not in ("gzip_bomb", "member_count_bomb", "unpacked_size_bomb"):
            check(worker, hostile.HOSTILE[case](), case)
