"""archive.extract: real SavedModel archives, determinism, integrity, hostile corpus, limits."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import threading
from pathlib import Path
from typing import Iterator

import pytest

from hubvendor import archive, settings
from hubvendor.archive import headers
from hubvendor.errors import ArchiveError, FetchError, IntegrityError
from support import hostile
from support.models import HALF_PLUS_TWO, tar_gz_bytes

HANDLE = "https://tfhub.dev/test/half_plus_two/1"


def chunked(data: bytes, size: int = 1024 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def files_below(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def metadata_below(root: Path) -> list[tuple[str, int, int]]:
    """(relative path, mode, mtime) of everything below ``root``, sorted."""
    return sorted(
        (p.relative_to(root).as_posix(), stat.S_IMODE(p.lstat().st_mode), int(p.lstat().st_mtime))
        for p in root.rglob("*")
    )


def snapshot(root: Path, skip: Path) -> set[str]:
    """Every path below ``root`` except inside ``skip``."""
    return {str(p) for p in root.rglob("*") if skip not in p.parents}


@pytest.fixture(scope="module")
def model_dir(model_root: Path) -> Path:
    return model_root / HALF_PLUS_TWO


@pytest.fixture(scope="module")
def model_archive(model_dir: Path) -> bytes:
    return tar_gz_bytes(model_dir)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "staging" / "entry.tmp"
    path.mkdir(parents=True)
    return path


def test_real_savedmodel_extracts_equal_to_source(model_dir: Path, model_archive: bytes, dest: Path) -> None:
    result = archive.extract(chunked(model_archive, 4096), str(dest), name=HANDLE)

    assert files_below(dest) == files_below(model_dir)
    assert result.sha256 == hashlib.sha256(model_archive).hexdigest()
    assert result.size == len(model_archive)
    assert result.tree_digest == archive.tree_digest(str(model_dir)) == archive.tree_digest(str(dest))
    assert (result.files, result.unpacked_bytes) == archive.tree_stats(str(model_dir)) == archive.tree_stats(str(dest))
    assert (dest / "saved_model.pb").is_file()


@pytest.mark.parametrize("chunk_size", [1, 511, 512, 65536])
def test_chunking_does_not_matter(model_archive: bytes, dest: Path, chunk_size: int) -> None:
    result = archive.extract(chunked(model_archive, chunk_size), str(dest), name=HANDLE)
    assert result.tree_digest == archive.tree_digest(str(dest))
    assert result.sha256 == hashlib.sha256(model_archive).hexdigest()


def test_plain_tar_and_multi_member_gzip(model_archive: bytes, tmp_path: Path) -> None:
    plain = gzip.decompress(model_archive)
    digests = set()
    for index, data in enumerate([plain, gzip.compress(plain[:1000]) + gzip.compress(plain[1000:]) + bytes(64)]):
        target = tmp_path / str(index)
        target.mkdir()
        digests.add(archive.extract(chunked(data, 333), str(target), name=HANDLE).tree_digest)
    assert len(digests) == 1


def test_modes_and_mtimes_are_normalised_and_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = hostile.HOSTILE["setuid"]()
    listings = []
    for attempt in ("a", "b"):
        target = tmp_path / attempt
        target.mkdir()
        archive.extract([data], str(target), name=HANDLE)
        listings.append(metadata_below(target))
    assert listings[0] == listings[1] == [
        ("bin", 0o755, settings.ZIP_EPOCH),
        ("bin/tool", 0o755, settings.ZIP_EPOCH),
        ("data", 0o644, settings.ZIP_EPOCH),
    ]

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    previous = os.umask(0o077)
    try:
        target = tmp_path / "epoch"
        target.mkdir()
        archive.extract([hostile.HOSTILE["missing_parent_directories"]()], str(target), name=HANDLE)
    finally:
        os.umask(previous)
    assert {mode for _, mode, _ in metadata_below(target)} == {0o755, 0o644}
    assert {mtime for _, _, mtime in metadata_below(target)} == {1700000000}


def test_tree_digest_definition(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_bytes(b"xx")
    (tmp_path / "a.txt").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    expected = hashlib.sha256()
    for rel, content in [("a.txt", b""), ("b/x", b"xx")]:
        expected.update(f"{rel}\0{len(content)}\0{hashlib.sha256(content).hexdigest()}\n".encode())
    assert archive.tree_digest(str(tmp_path)) == "sha256:" + expected.hexdigest()
    assert archive.tree_stats(str(tmp_path)) == (2, 2)


def test_sha256_mismatch_is_an_integrity_error(model_archive: bytes, dest: Path) -> None:
    actual = hashlib.sha256(model_archive).hexdigest()
    with pytest.raises(IntegrityError) as caught:
        archive.extract(chunked(model_archive), str(dest), name=HANDLE, expected_sha256="0" * 64)
    message = str(caught.value)
    assert HANDLE in message and "0" * 64 in message and actual in message


@pytest.mark.parametrize("delta", [-1, 1])
def test_size_mismatch_is_an_integrity_error(model_archive: bytes, dest: Path, delta: int) -> None:
    with pytest.raises(IntegrityError, match="size mismatch") as caught:
        archive.extract(chunked(model_archive, 1000), str(dest), name=HANDLE, expected_size=len(model_archive) + delta)
    assert HANDLE in str(caught.value) and str(len(model_archive) + delta) in str(caught.value)


def test_matching_expectations_pass(model_archive: bytes, dest: Path) -> None:
    digest = hashlib.sha256(model_archive).hexdigest()
    result = archive.extract(
        chunked(model_archive), str(dest), name=HANDLE, expected_sha256=digest.upper(), expected_size=len(model_archive)
    )
    assert result.sha256 == digest


@pytest.mark.parametrize("case", sorted(hostile.EXPECT_REJECT))
def test_hostile_archives_are_rejected(case: str, tmp_path: Path, dest: Path) -> None:
    before = snapshot(tmp_path, dest)
    data = hostile.HOSTILE[case]()
    with pytest.raises(ArchiveError) as caught:
        archive.extract(chunked(data), str(dest), name=HANDLE, limits=archive.Limits(**hostile.CORPUS_LIMITS))
    message = str(caught.value)
    assert message.startswith(HANDLE + ": ") and "\n" not in message
    assert hostile.REJECT_REASON[case] in message
    assert snapshot(tmp_path, dest) == before
    assert not [p for p in dest.rglob("*") if p.is_symlink() or not (p.is_file() or p.is_dir())]
    assert archive.tree_stats(str(dest))[1] <= hostile.CORPUS_LIMITS["max_unpacked_bytes"]


@pytest.mark.parametrize("case", sorted(hostile.EXPECT_ACCEPT))
def test_awkward_but_valid_archives_are_accepted(case: str, tmp_path: Path, dest: Path) -> None:
    before = snapshot(tmp_path, dest)
    result = archive.extract(chunked(hostile.HOSTILE[case]()), str(dest), name=HANDLE)
    assert snapshot(tmp_path, dest) == before
    assert result.tree_digest == archive.tree_digest(str(dest))
    for path in dest.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) in (0o644, 0o755)


def test_tar_inside_tar_is_a_plain_file(dest: Path) -> None:
    archive.extract([hostile.HOSTILE["tar_in_tar"]()], str(dest), name=HANDLE)
    assert (dest / "assets" / "inner.tar").is_file()
    assert not (dest.parent / "inner-escape.txt").exists()


def test_gzip_bomb_is_refused_under_default_limits(dest: Path) -> None:
    with pytest.raises(ArchiveError, match="HUBVENDOR_MAX_UNPACKED_SIZE"):
        archive.extract(chunked(hostile.HOSTILE["gzip_bomb"]()), str(dest), name=HANDLE)
    assert archive.tree_stats(str(dest)) == (0, 0)


def test_limits_come_from_settings(monkeypatch: pytest.MonkeyPatch, model_archive: bytes, tmp_path: Path) -> None:
    monkeypatch.setenv("HUBVENDOR_MAX_MEMBERS", "7")
    monkeypatch.setenv("HUBVENDOR_MAX_UNPACKED_SIZE", "2MiB")
    assert archive.Limits.from_settings() == archive.Limits(7, 2 * 1024 * 1024)

    members = [hostile._file(f"f{i}") for i in range(7)]
    (tmp_path / "ok").mkdir()
    archive.extract([hostile.targz(members)], str(tmp_path / "ok"), name=HANDLE)
    (tmp_path / "over").mkdir()
    with pytest.raises(ArchiveError, match="more than 7 members"):
        archive.extract([hostile.targz([*members, hostile._file("f7")])], str(tmp_path / "over"), name=HANDLE)


def test_size_limit_is_inclusive(tmp_path: Path) -> None:
    data = hostile.targz([hostile._file("a", b"x" * 600), hostile._file("b", b"y" * 400)])
    (tmp_path / "ok").mkdir()
    archive.extract([data], str(tmp_path / "ok"), name=HANDLE, limits=archive.Limits(10, 1000))
    (tmp_path / "over").mkdir()
    with pytest.raises(ArchiveError, match="'b': unpacks to more than 999 bytes"):
        archive.extract([data], str(tmp_path / "over"), name=HANDLE, limits=archive.Limits(10, 999))
    assert archive.tree_stats(str(tmp_path / "over")) == (1, 600)


def test_download_errors_pass_through_and_threads_stop(model_archive: bytes, dest: Path) -> None:
    def failing() -> Iterator[bytes]:
        yield model_archive[:100]
        raise FetchError(f"{HANDLE}: connection reset")

    threads_before = threading.active_count()
    with pytest.raises(FetchError, match="connection reset"):
        archive.extract(failing(), str(dest), name=HANDLE)
    assert threading.active_count() == threads_before


def test_extract_file_matches_streaming(model_archive: bytes, tmp_path: Path) -> None:
    pytest.importorskip("rapidgzip")
    path = tmp_path / "model.tar.gz"
    path.write_bytes(model_archive)
    results = []
    for parallel in (True, False):
        target = tmp_path / f"parallel-{parallel}"
        target.mkdir()
        results.append(archive.extract_file(str(path), str(target), name=HANDLE, parallel=parallel))
    assert results[0] == results[1]
    assert results[0].sha256 == hashlib.sha256(model_archive).hexdigest()


def test_extract_file_rejects_corrupt_gzip_in_parallel(tmp_path: Path) -> None:
    pytest.importorskip("rapidgzip")
    path = tmp_path / "corrupt.tar.gz"
    path.write_bytes(hostile.HOSTILE["corrupt_gzip"]())
    (tmp_path / "out").mkdir()
    with pytest.raises(ArchiveError, match=HANDLE):
        archive.extract_file(str(path), str(tmp_path / "out"), name=HANDLE, parallel=True)


@pytest.mark.parametrize("tar_format", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, "v7"])
def test_plain_tar_whose_first_name_looks_like_another_format(tar_format: object, tmp_path: Path) -> None:
    def plain_tar(member: str) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT if tar_format == "v7" else tar_format) as tar:
            info = tarfile.TarInfo(member)
            info.size = 5
            tar.addfile(info, io.BytesIO(b"hello"))
        data = bytearray(buffer.getvalue())
        if tar_format == "v7":  # no magic: only the header checksum says tar
            data[257:265] = bytes(8)
            data[148:156] = b"%06o\0 " % (sum(data[:148]) + 8 * 32 + sum(data[156:512]))
        return bytes(data)

    (tmp_path / "bzh").mkdir()
    (tmp_path / "pk").mkdir()
    archive.extract(chunked(plain_tar("BZh91AY"), 7), str(tmp_path / "bzh"), name=HANDLE)
    assert files_below(tmp_path / "bzh") == {"BZh91AY": b"hello"}
    with pytest.raises(ArchiveError, match="control character"):  # a tar after all; its name is refused
        archive.extract(chunked(plain_tar("PK\x03\x04.bin"), 7), str(tmp_path / "pk"), name=HANDLE)


def _headers() -> list[bytes]:
    """Header blocks as tarfile writes them in every format, for files and directories."""
    blocks = []
    names = ["saved_model.pb", "variables/", "a/" * 60 + "deep.bin", "ü/naïve", "dir/"]
    for tar_format in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        for name in names:
            for kind in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE):
                info = tarfile.TarInfo(name)
                info.type, info.size, info.mode, info.mtime = kind, 1234, 0o755, 1_700_000_000
                try:
                    blocks.append(info.tobuf(tar_format, "utf-8", "surrogateescape")[-tarfile.BLOCKSIZE:])
                except ValueError:
                    pass  # a name ustar cannot hold
    return blocks


def _with_checksum(block: bytearray) -> bytes:
    block[148:156] = b"%06o\0 " % (sum(block[:148]) + 8 * 0x20 + sum(block[156:]))
    return bytes(block)


def test_common_header_path_reads_exactly_what_tarfile_reads() -> None:
    """The hand-written fast path for common headers either defers to tarfile or agrees with it,
    on tarfile's own headers and on 30k mutations of the bytes the fast path decodes."""
    import random

    rng = random.Random(6)
    alphabet = b"0123456789 \0\x80\xff/+-_ox7.\x1c"
    spans = [(0, 100), (100, 156), (156, 157), (329, 345), (345, 500)]
    blocks = _headers()
    candidates = list(blocks)
    for _ in range(30_000):
        block = bytearray(rng.choice(blocks))
        for _ in range(rng.randint(1, 3)):
            start, end = rng.choice(spans)
            block[rng.randrange(start, end)] = rng.choice(alphabet)
        candidates.append(_with_checksum(block) if rng.random() < 0.8 else bytes(block))
    agreed = 0
    for block in candidates:
        fast = headers.common_header(block)
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError:
            assert fast is None, block
            continue
        if info.isdir():
            info.name = info.name.rstrip("/")  # as TarInfo._proc_builtin does after frombuf
        if fast is not None:
            assert fast == (info.name, headers.kind_of(info), info.size, info.mode), block
            agreed += 1
    assert agreed > 5_000
    common = [block for block in blocks if block[156:157] != tarfile.SYMTYPE]
    assert all(headers.common_header(block) for block in common)


# Crafted headers (issue 12): each ends in one ArchiveError naming the archive, within bounds.
CRAFTED_REJECT = ["pax_regex_hang", "sparse_map_bomb", "gnu_sparse_header", "sparse_non_integer",
                  "sparse_size_non_integer", "sparse_short_map", "chained_longnames", "chained_pax_headers",
                  "pax_invalid_size", "pax_invalid_record", "extended_header_without_member"]
CRAFTED_ACCEPT = ["hdrcharset_not_utf8", "pax_long_path", "global_pax_comment"]


@pytest.mark.parametrize("case", CRAFTED_REJECT + CRAFTED_ACCEPT)
def test_crafted_headers_end_quickly_in_small_memory(case: str, tmp_path: Path) -> None:
    outcome = hostile.extract_bounded(hostile.HOSTILE[case](), str(tmp_path), seconds=15)
    assert outcome.seconds < 10, outcome
    assert outcome.peak_rss_mib < hostile.BOUND_RSS_MIB, outcome
    if case in CRAFTED_ACCEPT:
        assert outcome.error is None, outcome
        return
    assert outcome.error == "ArchiveError", outcome
    assert outcome.message.startswith(str(tmp_path / "archive.tar.gz") + ": "), outcome
    assert "\n" not in outcome.message and hostile.REJECT_REASON[case] in outcome.message, outcome


def test_crafted_accepted_names(tmp_path: Path) -> None:
    for case, expected in [("pax_long_path", {"variables/" + "v" * 150 + ".data": b"bytes"}),
                           ("global_pax_comment", {"saved_model.pb": b"pb"}),
                           ("hdrcharset_not_utf8", {"a.bin": b""})]:
        (tmp_path / case).mkdir()
        archive.extract([hostile.HOSTILE[case]()], str(tmp_path / case), name=HANDLE)
        assert files_below(tmp_path / case) == expected


def _plain_tar_with_big_file(size: int) -> bytes:
    return hostile.tar_bytes([hostile._file("variables/variables.data-00000-of-00001", b"w" * size)])


@pytest.mark.parametrize("error", [FetchError(f"{HANDLE}: download failed: connection reset at byte 70000"),
                                   ConnectionResetError(104, "Connection reset by peer")])
def test_chunk_source_errors_mid_member_propagate_unchanged(error: Exception, dest: Path) -> None:
    """A download that fails inside a member's data is the download's failure, not 'cannot write'."""
    data = _plain_tar_with_big_file(200_000)

    def failing() -> Iterator[bytes]:
        yield data[:70_000]
        raise error

    with pytest.raises(type(error)) as caught:
        archive.extract(failing(), str(dest), name=HANDLE)
    assert caught.value is error
    assert "cannot write" not in str(caught.value)


def test_own_write_errors_say_cannot_write(dest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno as errno_module

    real_write = os.write

    def broken(fd: int, data: object) -> int:
        if fd > 2:
            raise OSError(errno_module.EIO, "Input/output error")
        return real_write(fd, data)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "write", broken)
    with pytest.raises(ArchiveError, match=r"variables\.data-00000-of-00001'.*cannot write \(Input/output error\)"):
        archive.extract([_plain_tar_with_big_file(1000)], str(dest), name=HANDLE)


def test_a_file_given_twice_last_wins(dest: Path) -> None:
    result = archive.extract([hostile.HOSTILE["duplicate_member"]()], str(dest), name=HANDLE)
    assert files_below(dest) == {"saved_model.pb": b"second"}
    assert (result.files, result.unpacked_bytes) == (1, len(b"second"))
    assert result.tree_digest == archive.tree_digest(str(dest))
