"""Turning the compressed stream into plain tar: streaming gzip inflate (isal, zlib-ng or zlib),
rapidgzip's parallel inflate of a file or of a download spooled to disk, and format sniffing.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import threading
from typing import Callable, Iterable

from ..errors import ArchiveError
from .pipeline import END, POLL_SECONDS, Aborted, Pipe

GZIP_MAGIC = b"\x1f\x8b"
_OTHER_MAGICS = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd", b"PK\x03\x04": "zip"}
_INPUT_SLICE = 256 * 1024  # bounds unconsumed_tail copies on highly compressible input
OUTPUT_MAX = 1024 * 1024
# rapidgzip competes with hashing and writes for CPUs. On 2 CPUs streaming isal won at every size
# (benchmarks/RESULTS.md). A spooled parallel fetch of 1 GB burned ~10 CPU-s against streaming's
# ~5 with a serial inflate floor of ~2.2 s, so even with perfect scaling it can only win from
# 10 / 2.2 = ~5 CPUs; 8 leaves room for rapidgzip's own scaling. Downloads of at least
# PARALLEL_MIN_BYTES go that way on that many CPUs (HUBVENDOR_INFLATE overrides).
PARALLEL_MIN_CPUS = 8
PARALLEL_MIN_BYTES = 256 * 1024 * 1024
# rapidgzip keeps decompressed chunks in memory: on low-entropy weights (gzip ratio 0.14) its default
# 4 MiB chunks peaked at 1.1 GiB RSS, 1 MiB chunks at 350 MiB (normal weights: ~100 MiB either way).
_PARALLEL_CHUNK = 1024 * 1024


def zlib_module():  # type: ignore[no-untyped-def]
    """The fastest zlib-compatible module installed: isal, zlib-ng, zlib."""
    try:
        from isal import isal_zlib

        return isal_zlib
    except ImportError:
        pass
    try:
        from zlib_ng import zlib_ng

        return zlib_ng
    except ImportError:
        import zlib

        return zlib


def rapidgzip():  # type: ignore[no-untyped-def]
    try:
        import rapidgzip as module

        return module
    except ImportError:
        return None


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def inflate(source: Pipe, out: Pipe, name: str) -> None:
    """Stage: plain tar from compressed chunks; gzip (multi-member) is inflated, tar passed through."""
    buffer = b""  # compressed bytes received but not yet handed to the decompressor
    exhausted = False

    def more() -> bool:
        nonlocal buffer, exhausted
        item = END if exhausted else source.get()
        if item is END:
            exhausted = True
            return False
        buffer += item  # type: ignore[operator]
        return True

    while len(buffer) < tarfile.BLOCKSIZE and more():
        pass
    if not buffer:
        raise ArchiveError(f"{name}: the archive is empty (0 bytes)")
    for magic, kind in _OTHER_MAGICS.items():
        if buffer.startswith(magic) and not _is_tar_header(buffer):
            raise ArchiveError(f"{name}: {kind} archives are not supported; expected tar or tar.gz")
    if not buffer.startswith(GZIP_MAGIC):
        while buffer:
            out.put(buffer)
            buffer = b""
            more()
        out.close()
        return
    zlib = zlib_module()
    decompressor = zlib.decompressobj(wbits=31)
    while True:
        if decompressor.eof:
            while len(buffer) < 2 and more():
                pass
            if not buffer.startswith(GZIP_MAGIC):
                break
            decompressor = zlib.decompressobj(wbits=31)
        if not buffer and not more():
            raise ArchiveError(f"{name}: truncated gzip stream (the download ended mid-archive)")
        view, buffer = memoryview(buffer), b""  # sliced as views: the rest is not copied per slice
        offset = 0
        try:
            while offset < len(view) and not decompressor.eof:
                data = view[offset : offset + _INPUT_SLICE]
                offset += len(data)
                while data:
                    output = decompressor.decompress(data, OUTPUT_MAX)
                    if output:
                        out.put(output)
                    data = decompressor.unconsumed_tail
                    if decompressor.eof:
                        buffer = decompressor.unused_data + view[offset:].tobytes()
                        break
        except (Aborted, ArchiveError):
            raise
        except Exception as error:  # zlib.error and its isal/zlib-ng twins
            raise ArchiveError(f"{name}: corrupt gzip stream ({error})") from None
    while True:  # after the last gzip member only zero padding may follow
        if buffer.strip(b"\0"):
            raise ArchiveError(f"{name}: unexpected data after the end of the gzip stream")
        buffer = b""
        if not more():
            out.close()
            return


def _is_tar_header(block: bytes) -> bool:
    """True when ``block`` starts with a tar header: ``ustar`` magic at 257, or a valid checksum."""
    if block[257:262] == b"ustar":
        return True
    try:
        stored = int(block[148:156].split(b"\0", 1)[0].strip(), 8)
    except ValueError:
        return False
    return len(block) >= tarfile.BLOCKSIZE and stored in tarfile.calc_chksums(block[: tarfile.BLOCKSIZE])


def inflate_parallel(path: str | Spool, out: Pipe, name: str) -> None:
    """Stage: plain tar from a gzip file on disk (a path or a spool), inflated by rapidgzip on all CPUs."""
    try:
        with rapidgzip().RapidgzipFile(path, cpu_count(), chunk_size=_PARALLEL_CHUNK) as reader:
            while block := reader.read(OUTPUT_MAX):
                out.put(block)
    except (Aborted, ArchiveError):
        raise
    except Exception as error:
        raise ArchiveError(f"{name}: corrupt or truncated gzip stream ({error})") from None
    out.close()


class Spool(io.RawIOBase):
    """A download spooled to an unlinked temp file: one thread fills it, rapidgzip reads it.

    Reads past the bytes written so far wait for them (or for the end of the download), so
    inflating overlaps the transfer; nothing is left on disk if the process dies.
    """

    def __init__(self, directory: str, size: int, abort: threading.Event, fail: Callable[[BaseException], None]) -> None:
        super().__init__()
        self._file = tempfile.TemporaryFile(dir=directory, prefix=".hubvendor-spool-")
        self._size = size
        self._abort = abort
        self._fail = fail
        self._written = 0
        self._ended = False
        self._position = 0
        self._changed = threading.Condition()

    def fill(self, chunks: Iterable[bytes], observe: Callable[[bytes], None]) -> None:
        """Stage: append ``chunks`` (each passed to ``observe`` first), then mark the end.

        A failure is reported (``fail``) before readers see the end, so the download's error wins
        over the truncated stream it leaves.
        """
        fd = self._file.fileno()
        try:
            for chunk in chunks:
                if self._abort.is_set():
                    return
                observe(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.pwrite(fd, view, self._written + len(chunk) - len(view)):]
                with self._changed:
                    self._written += len(chunk)
                    self._changed.notify_all()
        except BaseException as error:
            self._fail(error)
            raise
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        end = min(self._position + len(buffer), self._size)
        with self._changed:
            while self._written < end and not self._ended and not self._abort.is_set():
                self._changed.wait(POLL_SECONDS)
            if self._abort.is_set():
                raise Aborted
            end = min(end, self._written)  # a download that ended early reads as a truncated file
        if end <= self._position:
            return 0
        count = os.preadv(self._file.fileno(), [memoryview(buffer)[: end - self._position]], self._position)
        self._position += count
        return count

    def __exit__(self, *exc: object) -> None:
        self._file.close()
        super().__exit__(*exc)
