"""A corpus of hostile and awkward tar.gz archives for extraction tests.

``HOSTILE`` maps a case name to a function returning the archive's bytes (built in
memory, deterministic). ``EXPECT_REJECT`` cases must fail with ``ArchiveError`` and
``REJECT_REASON[case]`` is a substring of the expected message; ``EXPECT_ACCEPT`` cases
must extract. Bomb cases are sized against ``CORPUS_LIMITS`` (pass them as
``hubvendor.archive.Limits(**CORPUS_LIMITS)``); the gzip bomb also trips the defaults.
"""

from __future__ import annotations

import functools
import gzip
import io
import tarfile
import zlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

CORPUS_LIMITS = {"max_members": 1000, "max_unpacked_bytes": 32 * 1024 * 1024}
GZIP_BOMB_BYTES = 80 * 1024**3  # declared by the bomb's header; above the 64 GiB default
_MiB = 1024 * 1024

Member = tuple[tarfile.TarInfo, bytes]


def _info(name: str, kind: bytes = tarfile.REGTYPE, *, size: int = 0, mode: int = 0o644, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mode = mode
    info.linkname = link
    info.mtime = 1_600_000_000
    info.uname = info.gname = "tfhub"
    return info


def _file(name: str, data: bytes = b"payload\n", mode: int = 0o644) -> Member:
    return _info(name, size=len(data), mode=mode), data


def _dir(name: str, mode: int = 0o755) -> Member:
    return _info(name, tarfile.DIRTYPE, mode=mode), b""


def _special(name: str, kind: bytes, link: str = "") -> Member:
    return _info(name, kind, link=link), b""


def tar_bytes(members: list[Member], tar_format: int = tarfile.PAX_FORMAT) -> bytes:
    """A plain tar of ``members``; names are written byte-for-byte (surrogates escape raw bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format, encoding="utf-8", errors="surrogateescape") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def targz(members: list[Member], tar_format: int = tarfile.PAX_FORMAT) -> bytes:
    return gzip.compress(tar_bytes(members, tar_format), mtime=0)


def _model_like() -> list[Member]:
    """A tfhub.dev-shaped tree: ``./`` members, odd directory modes, owner names."""
    return [
        _dir("./", 0o700),
        _dir("./variables/", 0o2775),
        _file("./saved_model.pb", b"\x08\x01" * 100),
        _file("./variables/variables.index", b"index"),
        _file("./variables/variables.data-00000-of-00001", bytes(range(256)) * 64),
    ]


def traversal() -> bytes:
    return targz([*_model_like(), _file("../escaped.txt")])


def traversal_nested() -> bytes:
    return targz([_file("variables/../../escaped.txt")])


def absolute_path() -> bytes:
    return targz([_file("/tmp/hubvendor-hostile-absolute.txt")])


def symlink_escape() -> bytes:
    return targz([_special("variables", tarfile.SYMTYPE, "../../outside"), _file("variables/evil.txt")])


def hardlink_escape() -> bytes:
    return targz([_special("passwd", tarfile.LNKTYPE, "../../../etc/passwd")])


def hardlink_inside() -> bytes:
    return targz([_file("saved_model.pb"), _special("copy.pb", tarfile.LNKTYPE, "saved_model.pb")])


def link_chain() -> bytes:
    return targz([
        _special("a", tarfile.SYMTYPE, "b"),
        _special("b", tarfile.SYMTYPE, "c"),
        _special("c", tarfile.SYMTYPE, "../../outside"),
        _file("a/evil.txt"),
    ])


def char_device() -> bytes:
    return targz([_special("null", tarfile.CHRTYPE)])


def block_device() -> bytes:
    return targz([_special("sda", tarfile.BLKTYPE)])


def fifo() -> bytes:
    return targz([_special("pipe", tarfile.FIFOTYPE)])


def unknown_type() -> bytes:
    return targz([_special("mystery", b"Z")])


def setuid() -> bytes:
    """Accepted: the setuid/setgid/sticky bits are dropped (file 0755, dir 0755)."""
    return targz([_dir("bin", 0o3777), _file("bin/tool", b"#!/bin/sh\n", 0o6755), _file("data", b"x", 0o4600)])


def duplicate_member() -> bytes:
    """Accepted: the last copy wins, as with tar and tensorflow_hub (its own tests build archives so)."""
    return targz([_file("saved_model.pb", b"first"), _file("saved_model.pb", b"second")])


def file_then_directory() -> bytes:
    return targz([_file("variables"), _dir("variables")])


def file_as_parent() -> bytes:
    return targz([_file("variables"), _file("variables/variables.index")])


@functools.cache
def member_count_bomb() -> bytes:
    return targz([_file(f"f{i:05d}", b"") for i in range(CORPUS_LIMITS["max_members"] * 5)])


@functools.cache
def unpacked_size_bomb() -> bytes:
    """Many 1 MiB files: each alone is fine, together they exceed the size limit."""
    per_file = b"\0" * _MiB
    count = CORPUS_LIMITS["max_unpacked_bytes"] // _MiB + 8
    return targz([_file(f"shard-{i:03d}", per_file) for i in range(count)])


@functools.cache
def gzip_bomb() -> bytes:
    """One member declaring 80 GiB of zeros: ~180 KiB compressed for its first 256 MiB, then cut.

    Extraction must refuse at the header; if it did not, it would find the archive truncated.
    """
    member = _info("variables/variables.data-00000-of-00001", size=GZIP_BOMB_BYTES)
    header = member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")  # pax + member headers
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(header)]
    zeros = b"\0" * _MiB
    parts.extend(compressor.compress(zeros) for _ in range(256))
    parts.append(compressor.flush())
    return b"".join(parts)


def non_utf8_name() -> bytes:
    return targz([_file("caf\udce9.txt")], tarfile.GNU_FORMAT)


def control_character_name() -> bytes:
    return targz([_file("saved_model.pb\nfake-line")])


def backslash_name() -> bytes:
    return targz([_file("..\\..\\escaped.txt")])


def overlong_component() -> bytes:
    return targz([_file("a" * 300)])


def overlong_path() -> bytes:
    return targz([_file("/".join(["d" * 200] * 8))])


def case_collision() -> bytes:
    return targz([_file("variables/Variables.index"), _file("variables/variables.index")])


def unicode_normalisation_collision() -> bytes:
    return targz([_file("caf\u00e9.txt"), _file("cafe\u0301.txt")])


def tar_in_tar() -> bytes:
    """Accepted: the inner (hostile) tar is just a file and is not recursed into."""
    return targz([*_model_like(), _file("assets/inner.tar", tar_bytes([_file("../inner-escape.txt")]))])


def missing_parent_directories() -> bytes:
    """Accepted: parents without directory members are created."""
    return targz([_file("variables/deep/er/variables.index", b"index"), _file("saved_model.pb", b"pb")])


def repeated_directory() -> bytes:
    """Accepted: a directory member may repeat."""
    return targz([_dir("./"), _dir("variables"), _file("variables/v", b"v"), _dir("./variables/"), _dir(".")])


@functools.cache
def _random_archive() -> bytes:
    import random

    rng = random.Random(20240601)
    return targz([*_model_like(), _file("variables/blob", rng.randbytes(2 * _MiB))])


def corrupt_gzip() -> bytes:
    data = bytearray(_random_archive())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    return bytes(data)


def truncated_gzip() -> bytes:
    data = _random_archive()
    return data[: len(data) * 6 // 10]


def truncated_tar() -> bytes:
    """A complete gzip stream around a tar cut inside a member's data."""
    plain = tar_bytes([*_model_like(), _file("variables/blob", b"z" * 100_000)])
    return gzip.compress(plain[:-30_000], mtime=0)


def missing_end_marker() -> bytes:
    plain = tar_bytes(_model_like())
    return gzip.compress(plain.rstrip(b"\0"), mtime=0)  # ends exactly at a member boundary


def trailing_garbage() -> bytes:
    return targz(_model_like()) + b"not gzip"


def not_an_archive() -> bytes:
    return b"<html><body>404 Not Found</body></html>\n" * 20


def empty() -> bytes:
    return b""


def bzip2_archive() -> bytes:
    import bz2

    return bz2.compress(tar_bytes(_model_like()))


def sparse_file() -> bytes:
    return targz([_special("sparse", tarfile.GNUTYPE_SPARSE)], tarfile.GNU_FORMAT)


def pax_traversal() -> bytes:
    info, data = _file("innocent.txt")
    info.pax_headers = {"path": "../pax-escape.txt"}
    return targz([(info, data)])


def gnu_longname_traversal() -> bytes:
    return targz([_file("../" + "x" * 120 + "/escape.txt")], tarfile.GNU_FORMAT)


def oversized_pax_header() -> bytes:
    info, data = _file("innocent.txt")
    info.pax_headers = {"comment": "x" * (2 * _MiB)}
    return targz([(info, data)])


# --- crafted headers (tarfile cannot write these) ---------------------------------------------


def raw_header(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, mode: int = 0o644) -> bytes:
    """One ustar header block, checksum included; ``name`` is written as UTF-8 (surrogates as raw bytes)."""
    block = bytearray(tarfile.BLOCKSIZE)
    encoded = name.encode("utf-8", "surrogateescape")[:100]
    block[: len(encoded)] = encoded
    block[100:108] = b"%07o\0" % mode
    block[108:124] = b"0000000\0" * 2
    block[124:136] = b"%011o\0" % size
    block[136:148] = b"%011o\0" % 1_600_000_000
    block[156:157] = kind
    block[257:265] = b"ustar\x0000"
    block[148:156] = b"%06o\0 " % (sum(block[:148]) + 8 * 0x20 + sum(block[156:]))
    return bytes(block)


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % tarfile.BLOCKSIZE)


def pax_record(key: bytes, value: bytes) -> bytes:
    """``"%d key=value\\n"`` with the length counting itself."""
    body = b" %s=%s\n" % (key, value)
    length = len(body) + 1
    while len(b"%d" % length) + len(body) != length:
        length += 1
    return b"%d%s" % (length, body)


def extended(kind: bytes, data: bytes) -> bytes:
    """An extended header (pax ``x``/``g`` or GNU ``L``/``K``) carrying ``data``."""
    return raw_header("././@LongLink" if kind in (b"L", b"K") else "PaxHeader", kind, len(data)) + padded(data)


def end_of_archive() -> bytes:
    return bytes(2 * tarfile.BLOCKSIZE)


def crafted(*parts: bytes) -> bytes:
    return gzip.compress(b"".join(parts) + end_of_archive(), mtime=0)


def pax_regex_hang() -> bytes:
    """CVE-2024-6232: 1 MiB of digits in a pax header; Python 3.11's tarfile regex is quadratic on it."""
    return crafted(extended(b"x", b"1" * (_MiB - 1) + b"\n"), raw_header("model.pb", size=0))


def sparse_map_bomb() -> bytes:
    """GNU sparse 1.0: the map claims 10^9 entries and 16 MiB of "0\\n" follow (16 KB compressed)."""
    records = pax_record(b"GNU.sparse.major", b"1") + pax_record(b"GNU.sparse.minor", b"0") + pax_record(
        b"GNU.sparse.name", b"weights.bin") + pax_record(b"GNU.sparse.realsize", b"1024")
    data = b"1000000000\n" + b"0\n" * (8 * _MiB)
    return crafted(extended(b"x", records), raw_header("GNUSparseFile.0/weights.bin", size=len(data)), padded(data))


def gnu_sparse_header() -> bytes:
    """An old-GNU sparse member ('S') whose extension blocks never end."""
    block = bytearray(raw_header("sparse.bin", tarfile.GNUTYPE_SPARSE, 0))
    block[482] = 1  # isextended
    block[148:156] = b"%06o\0 " % (sum(block[:148]) + 8 * 0x20 + sum(block[156:]))
    extension = bytearray(tarfile.BLOCKSIZE)
    extension[504] = 1
    return crafted(bytes(block), bytes(extension) * 20_000)


def sparse_non_integer() -> bytes:
    return crafted(extended(b"x", pax_record(b"GNU.sparse.map", b"x,y")), raw_header("a.bin"))


def sparse_size_non_integer() -> bytes:
    return crafted(extended(b"x", pax_record(b"GNU.sparse.size", b"many")), raw_header("a.bin"))


def sparse_short_map() -> bytes:
    records = pax_record(b"GNU.sparse.major", b"1") + pax_record(b"GNU.sparse.minor", b"0")
    return gzip.compress(extended(b"x", records) + raw_header("a.bin", size=4) + padded(b"3\n1\n"), mtime=0)


def hdrcharset_not_utf8() -> bytes:
    return crafted(extended(b"x", pax_record(b"hdrcharset", b"\xff\xfe")), raw_header("a.bin"))


def chained_longnames() -> bytes:
    return crafted(*[extended(b"L", b"name-%d\0" % i) for i in range(400)], raw_header("a.bin"))


def chained_pax_headers() -> bytes:
    return crafted(*[extended(b"x", pax_record(b"comment", b"%d" % i)) for i in range(400)], raw_header("a.bin"))


def pax_invalid_size() -> bytes:
    return crafted(extended(b"x", pax_record(b"size", b"12abc")), raw_header("a.bin"))


def pax_invalid_record() -> bytes:
    return crafted(extended(b"x", b"99999 path=x\n"), raw_header("a.bin"))


def extended_header_without_member() -> bytes:
    return crafted(extended(b"x", pax_record(b"path", b"a.bin")))


def pax_long_path() -> bytes:
    """A pax ``path`` (a name past ustar's 100 bytes), as tarfile and GNU tar write them: accepted."""
    name = "variables/" + "v" * 150 + ".data"
    return crafted(extended(b"x", pax_record(b"path", name.encode())), raw_header("short", size=5), padded(b"bytes"))


def global_pax_comment() -> bytes:
    """``git archive`` starts with a global pax header carrying the commit id: accepted."""
    return crafted(extended(b"g", pax_record(b"comment", b"0" * 40)), raw_header("saved_model.pb", size=2),
                   padded(b"pb"))


HOSTILE: dict[str, Callable[[], bytes]] = {
    function.__name__: function
    for function in (
        traversal, traversal_nested, absolute_path, symlink_escape, hardlink_escape, hardlink_inside,
        link_chain, char_device, block_device, fifo, unknown_type, setuid, duplicate_member,
        file_then_directory, file_as_parent, member_count_bomb, unpacked_size_bomb, gzip_bomb,
        non_utf8_name, control_character_name, backslash_name, overlong_component, overlong_path,
        case_collision, unicode_normalisation_collision, tar_in_tar, missing_parent_directories,
        repeated_directory, corrupt_gzip, truncated_gzip, truncated_tar, missing_end_marker,
        trailing_garbage, not_an_archive, empty, bzip2_archive, sparse_file, pax_traversal,
        gnu_longname_traversal, oversized_pax_header, pax_regex_hang, sparse_map_bomb, gnu_sparse_header,
        sparse_non_integer, sparse_size_non_integer, sparse_short_map, hdrcharset_not_utf8, chained_longnames,
        chained_pax_headers, pax_invalid_size, pax_invalid_record, extended_header_without_member, pax_long_path,
        global_pax_comment,
    )
}

REJECT_REASON: dict[str, str] = {
    "traversal": "'..'",
    "traversal_nested": "'..'",
    "absolute_path": "absolute path",
    "symlink_escape": "symbolic link",
    "hardlink_escape": "hard link",
    "hardlink_inside": "hard link",
    "link_chain": "symbolic link",
    "char_device": "device",
    "block_device": "device",
    "fifo": "fifo",
    "unknown_type": "member type",
    "file_then_directory": "a directory where the archive already has a file",
    "file_as_parent": "is a file",
    "member_count_bomb": "HUBVENDOR_MAX_MEMBERS",
    "unpacked_size_bomb": "HUBVENDOR_MAX_UNPACKED_SIZE",
    "gzip_bomb": "HUBVENDOR_MAX_UNPACKED_SIZE",
    "non_utf8_name": "UTF-8",
    "control_character_name": "control characters",
    "backslash_name": "backslash",
    "overlong_component": "longer than 255 bytes",
    "overlong_path": "longer than 1024 bytes",
    "case_collision": "case-insensitive",
    "unicode_normalisation_collision": "case-insensitive",
    "corrupt_gzip": "corrupt gzip",
    "truncated_gzip": "truncated gzip",
    "truncated_tar": "truncated tar",
    "missing_end_marker": "truncated tar",
    "trailing_garbage": "after the end of the gzip stream",
    "not_an_archive": "not a tar or tar.gz archive",
    "empty": "empty",
    "bzip2_archive": "bzip2",
    "sparse_file": "sparse",
    "pax_traversal": "'..'",
    "gnu_longname_traversal": "'..'",
    "oversized_pax_header": "extended tar header",
    "pax_regex_hang": "invalid pax header",
    "sparse_map_bomb": "sparse",
    "gnu_sparse_header": "sparse",
    "sparse_non_integer": "sparse",
    "sparse_size_non_integer": "sparse",
    "sparse_short_map": "sparse",
    "chained_longnames": "extended headers in a row",
    "chained_pax_headers": "extended headers in a row",
    "pax_invalid_size": "invalid pax header",
    "pax_invalid_record": "invalid pax header",
    "extended_header_without_member": "extended header without a member",
}
EXPECT_REJECT = frozenset(REJECT_REASON)
EXPECT_ACCEPT = frozenset(HOSTILE) - EXPECT_REJECT


# --- running an extraction under a time and memory bound ----------------------------------------

BOUND_SECONDS = 30.0
BOUND_RSS_MIB = 250
_ADDRESS_SPACE = 3 * 1024**3  # RLIMIT_AS of the child: a runaway allocation fails instead of swapping
_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from hubvendor import archive
from hubvendor.errors import HubVendorError
path, dest, members, unpacked = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def chunks():
    with open(path, "rb") as file:
        while chunk := file.read(65536):
            yield chunk
outcome = {{"error": None, "message": ""}}
try:
    archive.extract(chunks(), dest, name=path, limits=archive.Limits(members, unpacked))
except HubVendorError as error:
    outcome = {{"error": type(error).__name__, "message": str(error), "hubvendor": True}}
except BaseException as error:
    outcome = {{"error": type(error).__name__, "message": repr(error)[:2000], "hubvendor": False}}
with open("/proc/self/status") as status:  # VmHWM restarts at exec, unlike ru_maxrss
    peak = [line for line in status if line.startswith("VmHWM:")]
outcome["peak_rss_mib"] = int(peak[0].split()[1]) / 1024 if peak else 0.0
print(json.dumps(outcome))
"""


@dataclass
class Bounded:
    """How one extraction in a child process ended: ``error`` is None on success, "timeout" on a hang."""

    error: str | None
    message: str
    hubvendor_error: bool
    seconds: float
    peak_rss_mib: float


def extract_bounded(data: bytes, workdir: str, *, seconds: float = BOUND_SECONDS,
                    limits: dict[str, int] = CORPUS_LIMITS) -> Bounded:
    """Extract ``data`` (written to ``workdir/archive.tar.gz``, the name in its errors) in a child process."""
    path = os.path.join(workdir, "archive.tar.gz")
    dest = os.path.join(workdir, "out")
    with open(path, "wb") as file:
        file.write(data)
    os.makedirs(dest, exist_ok=True)
    start = time.monotonic()
    command = [sys.executable, "-c", _CHILD.format(limit=_ADDRESS_SPACE), path, dest,
               str(limits["max_members"]), str(limits["max_unpacked_bytes"])]
    try:
        child = subprocess.run(command, capture_output=True, text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        return Bounded("timeout", f"no answer within {seconds} s", False, time.monotonic() - start, 0.0)
    elapsed = time.monotonic() - start
    lines = child.stdout.strip().splitlines()
    if child.returncode != 0 or not lines:
        return Bounded(f"exit {child.returncode}", child.stderr[-2000:], False, elapsed, 0.0)
    outcome = json.loads(lines[-1])
    return Bounded(outcome["error"], outcome["message"], outcome.get("hubvendor", False), elapsed,
                   outcome["peak_rss_mib"])
