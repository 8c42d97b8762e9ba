"""Safe, streaming extraction of TF Hub model archives (tar or tar.gz).

:func:`extract` runs a three-stage pipeline joined by bounded queues, so download,
inflate and writes overlap and memory stays bounded whatever the archive holds:

1. a *fetch* thread pulls the compressed chunks, hashing them (sha256 + size);
2. an *inflate* thread turns them into plain tar with the fastest inflater
   installed (isal, else zlib-ng, else zlib);
3. the calling thread parses tar headers (common ustar/GNU headers itself, anything
   else through ``tarfile.TarInfo.fromtarfile``) and streams member data straight to
   disk, hashing every file for the tree digest.

:func:`extract_file` is the seam for archives already on disk: it can inflate in
parallel with rapidgzip (optional ``fast`` extra) and otherwise streams the file.

Policy, applied to every member (any violation raises :class:`ArchiveError` naming
the handle and the member; nothing is ever written outside ``dest``):

- only regular files and directories; symlinks, hard links, devices, fifos, sparse
  files and unknown types are rejected (TF Hub SavedModels contain no links);
- names must be UTF-8, relative, free of ``..``, backslashes, drive prefixes and
  control characters, at most 255 bytes per component and 1024 bytes in all;
- a file may appear once; names that collide after Unicode NFC + case folding are
  rejected (they cannot coexist on macOS/Windows); repeated directories are fine;
- missing parent directories are created;
- modes are normalised (files 0644, or 0755 if any exec bit was set; directories
  0755: setuid/setgid/sticky are dropped) and mtimes set to ``SOURCE_DATE_EPOCH``
  or 1980-01-01 (the earliest time a wheel's zip can store), so output is deterministic;
- :class:`Limits` caps member count and unpacked bytes, checked before writing;
- the archive must be complete: a truncated tar or gzip stream, a corrupt gzip
  stream or more than 16 MiB after the end-of-archive marker is an error.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import re
import tarfile
import tempfile
import threading
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, NamedTuple

from . import settings
from .entry import tree_stats  # noqa: F401 (re-exported: part of the archive API)
from .errors import ArchiveError, CacheError, HubVendorError, IntegrityError, storage_advice

MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 1024
MAX_EXTENDED_HEADER_BYTES = 1024 * 1024
MAX_TRAILING_BYTES = 16 * 1024 * 1024

_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # surrogateescape'd bytes: per-member checks run in C (20k-file models)
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_GZIP_MAGIC = b"\x1f\x8b"
_OTHER_MAGICS = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd", b"PK\x03\x04": "zip"}
_INFLATE_INPUT_SLICE = 256 * 1024  # bounds unconsumed_tail copies on highly compressible input
_INFLATE_OUTPUT_MAX = 1024 * 1024
_QUEUE_DEPTH = 8
_POLL_SECONDS = 0.1
_READ_BUFFER = 1024 * 1024
_JOIN_SECONDS = 5
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
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


@dataclass(frozen=True)
class Limits:
    """Bounds against archive bombs: member count and total bytes of regular files."""

    max_members: int
    max_unpacked_bytes: int

    @classmethod
    def from_settings(cls) -> Limits:
        """HUBVENDOR_MAX_MEMBERS / HUBVENDOR_MAX_UNPACKED_SIZE (defaults 200000 / 64 GiB)."""
        return cls(settings.max_members(), settings.max_unpacked_bytes())


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
    abort = threading.Event()
    compressed = _Pipe(abort)
    plain = _Pipe(abort)
    download = _DownloadDigest(name, expected_size)
    stages = [
        _start(f"hubvendor-fetch {name}", lambda: _pump(chunks, compressed, download.update)),
        _start(f"hubvendor-inflate {name}", lambda: _inflate(compressed, plain, name)),
    ]
    try:
        tree = _extract_plain(plain, dest, name, limits or Limits.from_settings())
    finally:
        abort.set()
        for stage in stages:
            stage.join(timeout=_JOIN_SECONDS)  # a fetch blocked on the network ends on its own
    sha256 = download.check(expected_sha256)
    return Extracted(sha256, download.size, tree.digest(), tree.files, tree.unpacked_bytes)


def parallel_inflate(size: int | None) -> bool:
    """Whether a download of ``size`` compressed bytes should go through :func:`extract_spooled`.

    ``HUBVENDOR_INFLATE``: ``stream`` never, ``parallel`` whenever rapidgzip is installed and the
    size is known, ``auto`` (default) from ``PARALLEL_MIN_BYTES`` on ``PARALLEL_MIN_CPUS`` CPUs.
    """
    mode = settings.inflate()
    if mode == "stream" or size is None:
        return False
    if mode == "auto" and (size < PARALLEL_MIN_BYTES or _cpu_count() < PARALLEL_MIN_CPUS):
        return False  # decided before importing rapidgzip: the import alone slowed streaming fetches
    return _rapidgzip() is not None


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
    while len(head) < len(_GZIP_MAGIC) and (chunk := next(iterator, None)) is not None:
        head += chunk
    rest = _chain(head, iterator)
    if not head.startswith(_GZIP_MAGIC):
        return extract(rest, dest, name=name, expected_sha256=expected_sha256,
                       expected_size=expected_size, limits=limits)
    abort = threading.Event()
    plain = _Pipe(abort)
    download = _DownloadDigest(name, expected_size)
    with _Spool(os.path.dirname(os.path.abspath(dest)), size, abort) as spool:
        fetcher = _start(f"hubvendor-fetch {name}", lambda: spool.fill(rest, download.update))
        inflater = _start(f"hubvendor-rapidgzip {name}", lambda: _inflate_parallel(spool, plain, name))
        try:
            tree = _extract_plain(plain, dest, name, limits or Limits.from_settings())
            fetcher.join()
        except BaseException:
            spool.reraise()  # the download's own failure explains a truncated or corrupt stream best
            raise
        finally:
            abort.set()
            fetcher.join(timeout=_JOIN_SECONDS)
            inflater.join()
        spool.reraise()
    sha256 = download.check(expected_sha256)
    return Extracted(sha256, download.size, tree.digest(), tree.files, tree.unpacked_bytes)


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
        is_gzip = file.read(2) == _GZIP_MAGIC
    if parallel is None:
        parallel = _cpu_count() >= PARALLEL_MIN_CPUS and _rapidgzip() is not None
    if not (parallel and is_gzip):
        return extract(_read_chunks(path), dest, name=name, expected_sha256=expected_sha256,
                       expected_size=expected_size, limits=limits)
    abort = threading.Event()
    plain = _Pipe(abort)
    download = _DownloadDigest(name, expected_size)
    hash_errors: list[BaseException] = []

    def hash_archive() -> None:
        try:
            for chunk in _read_chunks(path):
                if abort.is_set():
                    return
                download.update(chunk)
        except BaseException as error:  # re-raised by the calling thread
            hash_errors.append(error)

    hasher = _start(f"hubvendor-hash {name}", hash_archive)
    inflater = _start(f"hubvendor-rapidgzip {name}", lambda: _inflate_parallel(path, plain, name))
    try:
        tree = _extract_plain(plain, dest, name, limits or Limits.from_settings())
        hasher.join()
    finally:
        abort.set()
        hasher.join()
        inflater.join()
    if hash_errors:
        raise hash_errors[0]
    sha256 = download.check(expected_sha256)
    return Extracted(sha256, download.size, tree.digest(), tree.files, tree.unpacked_bytes)


def tree_digest(path: str) -> str:
    """``sha256:<hex>`` of the regular files below ``path`` (DESIGN.md "Tree digest")."""
    digest = TreeDigest()
    buffer = bytearray(_READ_BUFFER)
    view = memoryview(buffer)
    for rel, full, _ in _regular_files(path):
        file_hash = hashlib.sha256()
        size = 0
        with open(full, "rb", buffering=0) as file:
            while count := file.readinto(buffer):
                file_hash.update(view[:count])
                size += count
        digest.add(rel, size, file_hash.hexdigest())
    return digest.hexdigest()


def _regular_files(root: str) -> Iterator[tuple[bytes, str, int]]:
    """(relative POSIX path as bytes, full path, size) of regular files; links not followed."""
    pending = [("", root)]
    while pending:
        rel_dir, full_dir = pending.pop()
        with os.scandir(full_dir) as entries:
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if entry.is_dir(follow_symlinks=False):
                    pending.append((rel, entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield os.fsencode(rel), entry.path, entry.stat(follow_symlinks=False).st_size


class TreeDigest:
    """Accumulates (path, size, sha256) per file; order-independent until :meth:`hexdigest`."""

    def __init__(self) -> None:
        self._entries: list[tuple[bytes, int, str]] = []

    def add(self, rel_path: bytes, size: int, sha256_hex: str) -> None:
        self._entries.append((rel_path, size, sha256_hex))

    def hexdigest(self) -> str:
        digest = hashlib.sha256()
        for rel_path, size, sha256_hex in sorted(self._entries):
            digest.update(b"%s\0%d\0%s\n" % (rel_path, size, sha256_hex.encode("ascii")))
        return "sha256:" + digest.hexdigest()


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


# --- pipeline plumbing -------------------------------------------------------------------

_END = object()


class _Failure:
    """An exception travelling down a pipe to the consumer, which re-raises it."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Aborted(Exception):
    """The consumer gave up; producers stop quietly."""


class _Pipe:
    """A bounded hand-off between two threads; every blocking call honours ``abort``."""

    def __init__(self, abort: threading.Event) -> None:
        self._queue: queue.Queue[object] = queue.Queue(_QUEUE_DEPTH)
        self._abort = abort

    def put(self, item: object) -> None:
        while not self._abort.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                pass
        raise _Aborted

    def get(self) -> object:
        """The next item, or ``_END``; re-raises a producer's failure."""
        while not self._abort.is_set():
            try:
                item = self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if isinstance(item, _Failure):
                raise item.error
            return item
        raise _Aborted


def _start(thread_name: str, target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, name=thread_name, daemon=True)
    thread.start()
    return thread


def _producer(run: Callable[[], None], out: _Pipe) -> None:
    """Run a stage, then send ``_END`` or its failure downstream."""
    try:
        run()
    except _Aborted:
        return
    except BaseException as error:  # forwarded to the consumer, which raises it
        try:
            out.put(_Failure(error))
        except _Aborted:
            pass
        return
    try:
        out.put(_END)
    except _Aborted:
        pass


def _pump(chunks: Iterable[bytes], out: _Pipe, observe: Callable[[bytes], None]) -> None:
    def run() -> None:
        iterator = iter(chunks)
        try:
            for chunk in iterator:
                if chunk:
                    observe(chunk)
                    out.put(chunk)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    _producer(run, out)


def _read_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as file:
        while chunk := file.read(_READ_BUFFER):
            yield chunk


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class _Spool(io.RawIOBase):
    """A download spooled to an unlinked temp file: one thread fills it, rapidgzip reads it.

    Reads past the bytes written so far wait for them (or for the end of the download), so
    inflating overlaps the transfer; nothing is left on disk if the process dies.
    """

    def __init__(self, directory: str, size: int, abort: threading.Event) -> None:
        super().__init__()
        self._file = tempfile.TemporaryFile(dir=directory, prefix=".hubvendor-spool-")
        self._size = size
        self._abort = abort
        self._written = 0
        self._ended = False
        self._error: BaseException | None = None
        self._position = 0
        self._changed = threading.Condition()

    def fill(self, chunks: Iterable[bytes], observe: Callable[[bytes], None]) -> None:
        """Fetch thread: append ``chunks`` (each passed to ``observe`` first), then mark the end."""
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
        except BaseException as error:  # re-raised by the calling thread (reraise)
            self._error = error
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def reraise(self) -> None:
        if self._error is not None:
            raise self._error

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
            while self._written < end and not self._ended:
                if self._abort.is_set():
                    raise _Aborted
                self._changed.wait(_POLL_SECONDS)
            end = min(end, self._written)  # a download that ended early reads as a truncated file
        if end <= self._position:
            return 0
        count = os.preadv(self._file.fileno(), [memoryview(buffer)[: end - self._position]], self._position)
        self._position += count
        return count

    def __exit__(self, *exc: object) -> None:
        self._file.close()
        super().__exit__(*exc)


# --- inflate -----------------------------------------------------------------------------


def _zlib_module():  # type: ignore[no-untyped-def]
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


def _rapidgzip():  # type: ignore[no-untyped-def]
    try:
        import rapidgzip

        return rapidgzip
    except ImportError:
        return None


def _inflate(source: _Pipe, out: _Pipe, name: str) -> None:
    """Plain tar from compressed chunks: gzip (multi-member) is inflated, tar passed through."""
    buffer = b""  # compressed bytes received but not yet handed to the decompressor
    exhausted = False

    def more() -> bool:
        nonlocal buffer, exhausted
        item = _END if exhausted else source.get()
        if item is _END:
            exhausted = True
            return False
        buffer += item  # type: ignore[operator]
        return True

    def run() -> None:
        nonlocal buffer
        while len(buffer) < tarfile.BLOCKSIZE and more():
            pass
        if not buffer:
            raise ArchiveError(f"{name}: the archive is empty (0 bytes)")
        for magic, kind in _OTHER_MAGICS.items():
            if buffer.startswith(magic) and not _is_tar_header(buffer):
                raise ArchiveError(f"{name}: {kind} archives are not supported; expected tar or tar.gz")
        if not buffer.startswith(_GZIP_MAGIC):
            while buffer:
                out.put(buffer)
                buffer = b""
                more()
            return
        zlib = _zlib_module()
        decompressor = zlib.decompressobj(wbits=31)
        while True:
            if decompressor.eof:
                while len(buffer) < 2 and more():
                    pass
                if not buffer.startswith(_GZIP_MAGIC):
                    break
                decompressor = zlib.decompressobj(wbits=31)
            if not buffer and not more():
                raise ArchiveError(f"{name}: truncated gzip stream (the download ended mid-archive)")
            view, buffer = memoryview(buffer), b""  # sliced as views: the rest is not copied per slice
            offset = 0
            try:
                while offset < len(view) and not decompressor.eof:
                    data = view[offset : offset + _INFLATE_INPUT_SLICE]
                    offset += len(data)
                    while data:
                        output = decompressor.decompress(data, _INFLATE_OUTPUT_MAX)
                        if output:
                            out.put(output)
                        data = decompressor.unconsumed_tail
                        if decompressor.eof:
                            buffer = decompressor.unused_data + view[offset:].tobytes()
                            break
            except (_Aborted, ArchiveError):
                raise
            except Exception as error:  # zlib.error and its isal/zlib-ng twins
                raise ArchiveError(f"{name}: corrupt gzip stream ({error})") from None
        while True:  # after the last gzip member only zero padding may follow
            if buffer.strip(b"\0"):
                raise ArchiveError(f"{name}: unexpected data after the end of the gzip stream")
            buffer = b""
            if not more():
                return

    _producer(run, out)


def _is_tar_header(block: bytes) -> bool:
    """True when ``block`` starts with a tar header: ``ustar`` magic at 257, or a valid checksum."""
    if block[257:262] == b"ustar":
        return True
    try:
        stored = int(block[148:156].split(b"\0", 1)[0].strip(), 8)
    except ValueError:
        return False
    return len(block) >= tarfile.BLOCKSIZE and stored in tarfile.calc_chksums(block[: tarfile.BLOCKSIZE])


def _inflate_parallel(path: str | _Spool, out: _Pipe, name: str) -> None:
    """Plain tar from a gzip file on disk (a path or a spool), inflated by rapidgzip on all CPUs."""

    def run() -> None:
        rapidgzip = _rapidgzip()
        try:
            with rapidgzip.RapidgzipFile(path, _cpu_count(), chunk_size=_PARALLEL_CHUNK) as reader:
                while block := reader.read(_INFLATE_OUTPUT_MAX):
                    out.put(block)
        except (_Aborted, ArchiveError):
            raise
        except Exception as error:
            raise ArchiveError(f"{name}: corrupt or truncated gzip stream ({error})") from None

    _producer(run, out)


# --- tar -----------------------------------------------------------------------------------


class _TarStream:
    """The plain tar byte stream, as blocks from a pipe, read without extra copies."""

    def __init__(self, source: _Pipe) -> None:
        self._source = source
        self._block = memoryview(b"")
        self._offset = 0
        self._ended = False

    def _fill(self) -> bool:
        while not self._block:
            if self._ended:
                return False
            item = self._source.get()
            if item is _END:
                self._ended = True
                return False
            self._block = memoryview(item)  # type: ignore[arg-type]
        return True

    def view(self, size: int) -> memoryview:
        """The next up to ``size`` bytes as one view, possibly fewer; empty only at end of stream."""
        if not self._block and not self._fill():
            return memoryview(b"")
        view = self._block[:size]
        self._block = self._block[len(view):]
        self._offset += len(view)
        return view

    def skip(self, size: int) -> int:
        """Pass over up to ``size`` bytes; how many there were."""
        left = size
        while left and (view := self.view(left)):
            left -= len(view)
        return size - left

    def read(self, size: int) -> bytes:
        views = []
        while size and (view := self.view(size)):
            views.append(view)
            size -= len(view)
        return b"".join(views)

    def tell(self) -> int:
        return self._offset


class _Member(NamedTuple):
    """One tar member as the writer needs it: ``kind`` is ``file``, ``dir`` or why it is refused."""

    name: str
    kind: str
    size: int
    mode: int


_COMMON_TYPES = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir"}
# Bytes 100-156 (mode uid gid size mtime checksum) and 329-345 (device numbers) as tarfile, GNU tar
# and bsdtar write them: zero-padded octal, NUL-terminated, the checksum as six digits, NUL, space.
_COMMON_NUMBERS = re.compile(rb"([0-7]{7})\0[0-7]{7}\0[0-7]{7}\0([0-7]{11})\0[0-7]{11}\0([0-7]{6})\0 ")
_COMMON_DEVICES = re.compile(rb"(?:[0-7]{7}\0|\0{8}){2}")


def _common_header(block: bytes, encoding: str, errors: str) -> _Member | None:
    """``block`` decoded exactly as ``tarfile.TarInfo.frombuf`` + ``_proc_builtin`` would, for the
    common case only: a regular file or directory whose numbers are spelled the usual way.
    Anything else returns None and is left to tarfile, so this never accepts a header tarfile
    would refuse or read differently (tests/test_archive.py compares the two on mutated headers).

    It exists for speed: tarfile's header decoding was ~40% of the per-member time on 20k-file models.
    """
    kind = _COMMON_TYPES.get(block[156:157])
    if kind is None or len(block) != tarfile.BLOCKSIZE:
        return None
    numbers = _COMMON_NUMBERS.fullmatch(block, 100, 156)
    if numbers is None or _COMMON_DEVICES.fullmatch(block, 329, 345) is None:
        return None
    mode, size, checksum = (int(field, 8) for field in numbers.groups())
    if checksum != sum(block) - sum(block[148:156]) + 8 * 0x20:  # tarfile also accepts a signed sum
        return None
    name = block[:100].split(b"\0", 1)[0].decode(encoding, errors)
    prefix = block[345:500].split(b"\0", 1)[0].decode(encoding, errors)
    if kind == "file" and block[156:157] == tarfile.AREGTYPE and name.endswith("/"):
        kind = "dir"  # the V7 spelling of a directory
    if kind == "dir":
        name = name.rstrip("/")
    if prefix:
        name = prefix + "/" + name
        if kind == "dir":
            name = name.rstrip("/")
    return _Member(name, kind, size, mode)


class _HeaderReader:
    """Reads member headers: the common case itself, the rest through ``TarInfo.fromtarfile``,
    for which it stands in as the ``TarFile`` (header reads only, extended headers capped)."""

    encoding = "utf-8"
    errors = "surrogateescape"

    def __init__(self, stream: _TarStream, name: str) -> None:
        self.fileobj = self
        self.pax_headers: dict[str, str] = {}  # global pax headers tarfile applies to later members
        self.offset = 0
        self._stream = stream
        self._name = name
        self._pending = b""  # a header block read ahead and handed back to tarfile

    def read(self, size: int) -> bytes:
        if size > MAX_EXTENDED_HEADER_BYTES:
            raise ArchiveError(
                f"{self._name}: extended tar header of {size} bytes at offset {self._stream.tell()} "
                f"(more than {MAX_EXTENDED_HEADER_BYTES})"
            )
        head, self._pending = self._pending[:size], self._pending[size:]
        return head + self._stream.read(size - len(head)) if size > len(head) else head

    def tell(self) -> int:
        return self._stream.tell() - len(self._pending)

    def next_member(self) -> _Member | None:
        """The next member's header, or None at the end-of-archive marker."""
        offset = self._stream.tell()
        block = self._stream.read(tarfile.BLOCKSIZE)
        if not self.pax_headers and (member := _common_header(block, self.encoding, self.errors)) is not None:
            return member
        self._pending = block
        try:
            info = tarfile.TarInfo.fromtarfile(self)  # type: ignore[arg-type]
        except tarfile.EOFHeaderError:
            return None
        except (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError):
            raise ArchiveError(f"{self._name}: truncated tar archive (no end-of-archive marker)") from None
        except tarfile.HeaderError as error:
            what = "not a tar or tar.gz archive" if offset == 0 else f"invalid tar header at offset {offset}"
            raise ArchiveError(f"{self._name}: {what} ({error})") from None
        finally:
            self._pending = b""
        return _Member(info.name, _kind(info), info.size, info.mode)


def _umask() -> int | None:
    """The process umask where it can be read without setting it (Linux), else None."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _kind(info: tarfile.TarInfo) -> str:
    if info.isdir():
        return "dir"
    if info.isreg() and not info.issparse():
        return "file"
    if info.issym():
        return f"symbolic link (to {info.linkname!r})"
    if info.islnk():
        return f"hard link (to {info.linkname!r})"
    if info.ischr() or info.isblk():
        return "device file"
    if info.isfifo():
        return "fifo"
    if info.issparse():
        return "sparse file"
    return f"member type {info.type!r}"


@dataclass
class _Tree:
    digest_of: TreeDigest
    files: int = 0
    unpacked_bytes: int = 0

    def digest(self) -> str:
        return self.digest_of.hexdigest()


class _Writer:
    """Creates checked, normalised files and directories below ``dest``."""

    def __init__(self, dest: str, name: str, limits: Limits) -> None:
        self._dest = dest
        self._name = name
        self._limits = limits
        self._kinds: dict[str, str] = {"": "dir"}  # relative path -> "file" | "dir"
        self._folded: dict[str, str] = {"": ""}  # NFC-casefolded path -> path
        self._dirs: list[str] = []
        self._present: set[str] = {""}  # directories known to exist below dest
        self._mtime_ns = settings.source_date_epoch() * 1_000_000_000
        umask = _umask()
        self._chmod = umask is None or bool(umask & 0o755)  # else open/mkdir already give the exact mode
        self.members = 0
        self.tree = _Tree(TreeDigest())

    def fail(self, member: str, cause: str) -> ArchiveError:
        shown = member if len(member) <= 160 else f"{member[:100]}...{member[-40:]}"
        return ArchiveError(f"{self._name}: archive member {shown!r}: {cause}")

    def write_failure(self, member: str, what: str, error: OSError) -> HubVendorError:
        """A full or unwritable disk is a CacheError saying what to do; other write errors are the archive's."""
        advice = storage_advice(error, self._dest)
        if advice is None:
            return self.fail(member, f"{what} ({error.strerror})")
        return CacheError(f"{self._name}: archive member {member!r}: {what} ({error.strerror}); {advice}")

    def add(self, member: _Member, stream: _TarStream) -> None:
        self.members += 1
        if self.members > self._limits.max_members:
            raise self.fail(member.name, f"more than {self._limits.max_members} members (HUBVENDOR_MAX_MEMBERS)")
        rel = self._relative_path(member.name)
        if member.kind == "dir":
            self._claim(member.name, rel, "dir")
            self._make_dirs(member.name, rel)
        elif member.kind == "file":
            if not rel:
                raise self.fail(member.name, "a regular file named like the archive root")
            total = self.tree.unpacked_bytes + member.size
            if total > self._limits.max_unpacked_bytes:
                raise self.fail(
                    member.name,
                    f"unpacks to more than {self._limits.max_unpacked_bytes} bytes (HUBVENDOR_MAX_UNPACKED_SIZE)",
                )
            parent = rel.rpartition("/")[0]
            self._claim(member.name, rel, "file")
            self._make_dirs(member.name, parent)
            self._write_file(member, rel, stream)
        else:
            raise self.fail(member.name, f"{member.kind} not allowed (only files and directories)")

    def finish(self) -> None:
        """Directory mtimes last: writing files into a directory changes its mtime."""
        for rel in self._dirs:
            os.utime(os.path.join(self._dest, rel), ns=(self._mtime_ns, self._mtime_ns))

    def _relative_path(self, raw: str) -> str:
        if _NOT_UTF8.search(raw):
            raise self.fail(raw, "name is not valid UTF-8")
        if _CONTROL.search(raw):
            raise self.fail(raw, "name contains control characters")
        if raw.startswith("/"):
            raise self.fail(raw, "absolute path")
        if "\\" in raw:
            raise self.fail(raw, "backslash in name (a path separator on Windows)")
        parts = [part for part in raw.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise self.fail(raw, "'..' in path (escapes the extraction directory)")
        if parts and len(parts[0]) >= 2 and parts[0][1] == ":" and parts[0][0].isalpha():
            raise self.fail(raw, "drive-letter prefix")
        long_name = len(raw.encode("utf-8")) > MAX_COMPONENT_BYTES  # else no component can be
        if long_name and any(len(part.encode("utf-8")) > MAX_COMPONENT_BYTES for part in parts):
            raise self.fail(raw, f"a path component is longer than {MAX_COMPONENT_BYTES} bytes")
        rel = "/".join(parts)
        if len(rel.encode("utf-8")) > MAX_PATH_BYTES:
            raise self.fail(raw, f"path is longer than {MAX_PATH_BYTES} bytes")
        return rel

    def _claim(self, member: str, rel: str, kind: str) -> None:
        """Register ``rel`` and its parents; reject duplicates, type clashes, case collisions."""
        parts = rel.split("/") if rel else []
        # A parent already claimed as a directory had its own parents claimed: check only the name.
        known_parent = self._kinds.get(rel.rpartition("/")[0]) == "dir"
        for depth in range(len(parts) if known_parent else 1, len(parts) + 1):
            path = "/".join(parts[:depth])
            path_kind = kind if depth == len(parts) else "dir"
            existing = self._kinds.get(path)
            if existing == "file":
                if path != rel:
                    raise self.fail(member, f"its parent {path!r} is a file")
                what = "duplicate file" if kind == "file" else "a directory where the archive already has a file"
                raise self.fail(member, what)
            if existing == "dir" and path_kind == "file":
                raise self.fail(member, "a file where the archive already has a directory")
            if existing is None:
                folded = unicodedata.normalize("NFC", path).casefold()
                other = self._folded.get(folded)
                if other is not None:
                    raise self.fail(
                        member,
                        f"collides with {ascii(other)} (as {ascii(path)}) on case-insensitive or "
                        "Unicode-normalising file systems (macOS, Windows)",
                    )
                self._folded[folded] = path
                if path_kind == "dir":
                    self._kinds[path] = "dir"
        if kind == "file":
            self._kinds[rel] = "file"

    def _make_dirs(self, member: str, rel: str) -> None:
        if rel in self._present:  # and so are its parents: no mkdir per level per file (20k-file models)
            return
        parts = rel.split("/") if rel else []
        for depth in range(1, len(parts) + 1):
            path = "/".join(parts[:depth])
            if path in self._present:
                continue
            full = os.path.join(self._dest, path)
            try:
                os.mkdir(full, 0o755)
            except FileExistsError:
                self._present.add(path)
                continue
            except OSError as error:
                raise self.write_failure(member, "cannot create directory", error) from None
            if self._chmod:
                os.chmod(full, 0o755)
            self._dirs.append(path)
            self._present.add(path)

    def _write_file(self, member: _Member, rel: str, stream: _TarStream) -> None:
        mode = 0o755 if member.mode & 0o111 else 0o644
        try:
            fd = os.open(os.path.join(self._dest, rel), _CREATE_FLAGS, mode)
        except OSError as error:
            raise self.write_failure(member.name, "cannot create file", error) from None
        file_hash = hashlib.sha256()
        left = member.size
        try:
            while left and (view := stream.view(left)):
                file_hash.update(view)
                left -= len(view)
                while view:
                    view = view[os.write(fd, view):]
            if self._chmod:
                os.fchmod(fd, mode)
            os.utime(fd, ns=(self._mtime_ns, self._mtime_ns))
        except OSError as error:
            raise self.write_failure(member.name, "cannot write", error) from None
        finally:
            os.close(fd)
        padding = -member.size % tarfile.BLOCKSIZE
        if left or stream.skip(padding) < padding:
            raise self.fail(member.name, "truncated tar archive (the member's data ends early)")
        self.tree.digest_of.add(rel.encode("utf-8"), member.size, file_hash.hexdigest())
        self.tree.files += 1
        self.tree.unpacked_bytes += member.size


def _extract_plain(source: _Pipe, dest: str, name: str, limits: Limits) -> _Tree:
    """Parse plain tar from ``source`` and extract it below ``dest``."""
    stream = _TarStream(source)
    headers = _HeaderReader(stream, name)
    writer = _Writer(dest, name, limits)
    while (member := headers.next_member()) is not None:
        writer.add(member, stream)
    writer.finish()
    if stream.skip(MAX_TRAILING_BYTES + 1) > MAX_TRAILING_BYTES:
        raise ArchiveError(f"{name}: more than {MAX_TRAILING_BYTES} bytes after the tar end-of-archive marker")
    return writer.tree

