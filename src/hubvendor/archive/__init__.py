"""Safe, streaming extraction of TF Hub model archives (tar or tar.gz).

:func:`extract` runs a pipeline (``pipeline``) so that download, inflate and writes overlap and
memory stays bounded whatever the archive holds:

1. a *fetch* stage pulls the compressed chunks, hashing them (sha256 + size);
2. an *inflate* stage (``inflate``) turns them into plain tar with the fastest inflater installed;
3. the calling thread reads member headers (``headers``) and writes each member as the member
   policy allows (``policy``), hashing every file for the tree digest (``hubvendor.digest``).

:func:`extract_file` is the seam for archives already on disk and :func:`extract_spooled` for big
downloads: both can inflate in parallel with rapidgzip (optional ``fast`` extra). :func:`copy_tree`
takes in a directory (kagglehub's cache) under the same member policy.
Any violation raises :class:`ArchiveError` naming the handle and the member or offset; nothing is
ever written outside ``dest``; errors raised by the chunk source pass through unchanged.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Iterable, Iterator

from .. import settings
from ..digest import TreeDigest, tree_digest  # noqa: F401 (re-exported for callers of the old module)
from ..entry import tree_stats  # noqa: F401 (re-exported: part of the archive API)
from ..errors import ArchiveError, IntegrityError
from .headers import HeaderReader, TarStream
from .inflate import GZIP_MAGIC, PARALLEL_MIN_BYTES, PARALLEL_MIN_CPUS, Spool, cpu_count, inflate, inflate_parallel, rapidgzip
from .pipeline import Pipe, Pipeline, pump, read_chunks
from .policy import Limits, Tree, Writer
from .tree import copy_tree

__all__ = ["Extracted", "Limits", "copy_tree", "extract", "extract_file", "extract_spooled", "parallel_inflate",
           "PARALLEL_MIN_BYTES", "PARALLEL_MIN_CPUS"]

MAX_TRAILING_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Extracted:
    """What :func:`extract` wrote: archive sha256 (hex) and size, tree digest and stats."""

    sha256: str
    size: int
    tree_digest: str
    files: int
    unpacked_bytes: int


def extract(
    chunks: Iterable[bytes],
    dest: str,
    *,
    name: str,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    limits: Limits | None = None,
) -> Extracted:
    """Extract a tar or tar.gz given as compressed ``chunks`` into the empty dir ``dest``.

    ``name`` (the handle) is in every error. The archive's sha256 and size are computed
    in the same pass and checked against ``expected_sha256``/``expected_size``
    (:class:`IntegrityError`). On error, whatever was written stays inside ``dest``.
    """
    pipeline = Pipeline(name)
    compressed, plain = pipeline.pipe(), pipeline.pipe()
    download = _DownloadDigest(name, expected_size)
    pipeline.start("fetch", lambda: pump(chunks, compressed, download.update))
    pipeline.start("inflate", lambda: inflate(compressed, plain, name))
    tree = pipeline.run(lambda: _extract_plain(plain, dest, name, limits or Limits.from_settings()))
    return _extracted(download, expected_sha256, tree)


def parallel_inflate(size: int | None) -> bool:
    """Whether a download of ``size`` compressed bytes should go through :func:`extract_spooled`.

    ``HUBVENDOR_INFLATE``: ``stream`` never, ``parallel`` whenever rapidgzip is installed and the
    size is known, ``auto`` (default) from ``PARALLEL_MIN_BYTES`` on ``PARALLEL_MIN_CPUS`` CPUs.
    """
    mode = settings.inflate()
    if mode == "stream" or size is None:
        return False
    if mode == "auto" and (size < PARALLEL_MIN_BYTES or cpu_count() < PARALLEL_MIN_CPUS):
        return False  # decided before importing rapidgzip: the import alone slowed streaming fetches
    return rapidgzip() is not None


def extract_spooled(
    chunks: Iterable[bytes],
    size: int,
    dest: str,
    *,
    name: str,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    limits: Limits | None = None,
) -> Extracted:
    """:func:`extract` with parallel inflate: ``chunks`` (``size`` bytes in all) are spooled to an
    unlinked temporary file next to ``dest`` while rapidgzip inflates the bytes already there.

    Hashing, size checks, limits and member policy are :func:`extract`'s; a stream that is not
    gzip goes through :func:`extract` itself.
    """
    iterator = iter(chunks)
    head = b""
    while len(head) < len(GZIP_MAGIC) and (chunk := next(iterator, None)) is not None:
        head += chunk
    rest = _chain(head, iterator)
    if not head.startswith(GZIP_MAGIC):
        return extract(rest, dest, name=name, expected_sha256=expected_sha256,
                       expected_size=expected_size, limits=limits)
    pipeline = Pipeline(name)
    plain = pipeline.pipe()
    download = _DownloadDigest(name, expected_size)
    with Spool(os.path.dirname(os.path.abspath(dest)), size, pipeline.abort, pipeline.fail) as spool:
        pipeline.start("fetch", lambda: spool.fill(rest, download.update))
        pipeline.start("rapidgzip", lambda: inflate_parallel(spool, plain, name))
        tree = pipeline.run(lambda: _extract_plain(plain, dest, name, limits or Limits.from_settings()))
    return _extracted(download, expected_sha256, tree)


def extract_file(
    path: str,
    dest: str,
    *,
    name: str,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    limits: Limits | None = None,
    parallel: bool | None = None,
) -> Extracted:
    """:func:`extract` for an archive on disk; ``parallel`` inflates with rapidgzip.

    ``parallel=None`` uses rapidgzip when it is installed and at least ``PARALLEL_MIN_CPUS``
    CPUs are available; otherwise (or for plain tar) this streams ``path`` through :func:`extract`.
    """
    with open(path, "rb") as file:
        is_gzip = file.read(2) == GZIP_MAGIC
    if parallel is None:
        parallel = cpu_count() >= PARALLEL_MIN_CPUS and rapidgzip() is not None
    if not (parallel and is_gzip):
        return extract(read_chunks(path), dest, name=name, expected_sha256=expected_sha256,
                       expected_size=expected_size, limits=limits)
    pipeline = Pipeline(name)
    plain = pipeline.pipe()
    download = _DownloadDigest(name, expected_size)

    def hash_archive() -> None:
        for chunk in read_chunks(path):
            if pipeline.abort.is_set():
                return
            download.update(chunk)

    pipeline.start("hash", hash_archive)
    pipeline.start("rapidgzip", lambda: inflate_parallel(path, plain, name))
    tree = pipeline.run(lambda: _extract_plain(plain, dest, name, limits or Limits.from_settings()))
    return _extracted(download, expected_sha256, tree)


def _chain(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    """``head`` then ``rest``; closing it closes ``rest`` (the download)."""
    try:
        if head:
            yield head
        yield from rest
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()


def _extract_plain(source: Pipe, dest: str, name: str, limits: Limits) -> Tree:
    """Parse plain tar from ``source`` and extract it below ``dest``."""
    stream = TarStream(source)
    headers = HeaderReader(stream, name)
    writer = Writer(dest, name, limits)
    while (member := headers.next_member()) is not None:
        writer.add(member, stream)
    writer.finish()
    if stream.skip(MAX_TRAILING_BYTES + 1) > MAX_TRAILING_BYTES:
        raise ArchiveError(f"{name}: more than {MAX_TRAILING_BYTES} bytes after the tar end-of-archive marker")
    return writer.tree


def _extracted(download: _DownloadDigest, expected_sha256: str | None, tree: Tree) -> Extracted:
    sha256 = download.check(expected_sha256)
    return Extracted(sha256, download.size, tree.digest(), tree.files, tree.unpacked_bytes)


class _DownloadDigest:
    """sha256 and size of the compressed stream, with an early size check."""

    def __init__(self, name: str, expected_size: int | None) -> None:
        self._name = name
        self._expected_size = expected_size
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)
        if self._expected_size is not None and self.size > self._expected_size:
            raise IntegrityError(
                f"{self._name}: archive size mismatch: expected {self._expected_size} bytes, "
                f"got more than that ({self.size} so far)"
            )

    def check(self, expected_sha256: str | None) -> str:
        actual = self._hash.hexdigest()
        if self._expected_size is not None and self.size != self._expected_size:
            raise IntegrityError(
                f"{self._name}: archive size mismatch: expected {self._expected_size} bytes, got {self.size}"
            )
        if expected_sha256 is not None and expected_sha256.lower() != actual:
            raise IntegrityError(f"{self._name}: archive sha256 mismatch: expected {expected_sha256}, got {actual}")
        return actual
