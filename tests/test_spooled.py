"""archive.extract_spooled (parallel inflate of a download spooled to disk) and the HUBVENDOR_INFLATE choice."""

from __future__ import annotations

import hashlib
import tarfile
import threading
from pathlib import Path
from typing import Iterator

import pytest

from hubvendor import archive
from hubvendor.errors import ArchiveError, ConfigError, FetchError
from support import hostile
from support.models import HALF_PLUS_TWO, tar_gz_bytes

HANDLE = "https://tfhub.dev/test/half_plus_two/1"
pytest.importorskip("rapidgzip")


def chunked(data: bytes, size: int = 4096) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture(scope="module")
def model_archive(model_root: Path) -> bytes:
    return tar_gz_bytes(model_root / HALF_PLUS_TWO)


def spooled(data: bytes, dest: Path, chunks: Iterator[bytes] | None = None, **kwargs: object) -> archive.Extracted:
    dest.mkdir(parents=True)
    return archive.extract_spooled(chunks or chunked(data), len(data), str(dest), name=HANDLE, **kwargs)  # type: ignore[arg-type]


def test_same_result_as_streaming_and_nothing_left_beside(model_archive: bytes, tmp_path: Path) -> None:
    streamed = tmp_path / "streamed"
    streamed.mkdir()
    expected = archive.extract(chunked(model_archive), str(streamed), name=HANDLE)
    result = spooled(model_archive, tmp_path / "spooled", expected_sha256=hashlib.sha256(model_archive).hexdigest(),
                     expected_size=len(model_archive))
    assert result == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spooled", "streamed"]  # the spool was unlinked


def test_plain_tar_falls_back_to_streaming(tmp_path: Path, model_root: Path) -> None:
    plain = tmp_path / "model.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(model_root / HALF_PLUS_TWO, arcname=".")
    result = spooled(plain.read_bytes(), tmp_path / "out")
    assert result.tree_digest == archive.tree_digest(str(tmp_path / "out"))


def test_download_error_wins_over_the_truncated_stream(model_archive: bytes, tmp_path: Path) -> None:
    def failing() -> Iterator[bytes]:
        yield model_archive[:1000]
        raise FetchError(f"{HANDLE}: connection reset")

    threads_before = threading.active_count()
    with pytest.raises(FetchError, match="connection reset"):
        spooled(model_archive, tmp_path / "out", failing())
    assert threading.active_count() == threads_before


def test_corrupt_and_hostile_archives_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match=HANDLE):
        spooled(hostile.HOSTILE["corrupt_gzip"](), tmp_path / "corrupt")
    with pytest.raises(ArchiveError, match="'..' in path"):
        spooled(hostile.HOSTILE["traversal"](), tmp_path / "traversal", limits=archive.Limits(**hostile.CORPUS_LIMITS))


@pytest.mark.parametrize(
    ("mode", "size", "cpus", "expected"),
    [
        ("stream", 1 << 40, 64, False),
        ("parallel", 10, 1, True),
        ("auto", archive.PARALLEL_MIN_BYTES, archive.PARALLEL_MIN_CPUS, True),
        ("auto", archive.PARALLEL_MIN_BYTES - 1, archive.PARALLEL_MIN_CPUS, False),
        ("auto", archive.PARALLEL_MIN_BYTES, archive.PARALLEL_MIN_CPUS - 1, False),
    ],
)
def test_inflate_choice(monkeypatch: pytest.MonkeyPatch, mode: str, size: int, cpus: int, expected: bool) -> None:
    monkeypatch.setenv("HUBVENDOR_INFLATE", mode)
    monkeypatch.setattr(archive, "cpu_count", lambda: cpus)
    assert archive.parallel_inflate(size) is expected
    assert archive.parallel_inflate(None) is False


def test_invalid_inflate_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBVENDOR_INFLATE", "fast")
    with pytest.raises(ConfigError, match="HUBVENDOR_INFLATE"):
        archive.parallel_inflate(1)
