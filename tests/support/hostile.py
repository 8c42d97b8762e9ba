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
        gnu_longname_traversal, oversized_pax_header,
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
    "duplicate_member": "duplicate file",
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
}
EXPECT_REJECT = frozenset(REJECT_REASON)
EXPECT_ACCEPT = frozenset(HOSTILE) - EXPECT_REJECT
