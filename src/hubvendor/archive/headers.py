"""Reading tar member headers from the plain tar stream, with bounded work per header.

:class:`TarStream` is the small file-like reader over the pipe (views, no extra copies).
:class:`HeaderReader` turns its header blocks into :class:`Member` records: the common ustar/GNU
header of a file or directory is decoded by :func:`common_header` (fast path), any other block by
``tarfile.TarInfo.frombuf`` (a pure function of one 512-byte block). Extended headers (pax ``x``/``g``,
GNU ``L``/``K``) are read here, not by tarfile: chains are a loop with a length cap, pax records are
parsed in one linear pass with capped count and size (Python 3.11's tarfile regex is quadratic,
CVE-2024-6232), and sparse members are refused from their header, before any sparse map is read.
Every malformed header is one :class:`ArchiveError` naming the archive and the offset.
"""

from __future__ import annotations

import re
import tarfile
from typing import NamedTuple

from ..errors import ArchiveError
from .pipeline import END, Pipe

MAX_EXTENDED_HEADER_BYTES = 1024 * 1024
MAX_EXTENDED_HEADERS = 16  # in a row before one member (tarfile/GNU tar/bsdtar write at most 3)
MAX_PAX_RECORDS = 1000
_ENCODING, _ERRORS = "utf-8", "surrogateescape"  # names stay bytes-exact; the policy refuses non-UTF-8
_BLOCK = tarfile.BLOCKSIZE
_EXTENDED = {tarfile.XHDTYPE: "pax", tarfile.SOLARIS_XHDTYPE: "pax", tarfile.XGLTYPE: "global pax",
             tarfile.GNUTYPE_LONGNAME: "GNU long name", tarfile.GNUTYPE_LONGLINK: "GNU long link"}
_PAX_KEYS = ("path", "linkpath", "size")  # the pax keys that change what extraction sees


class TarStream:
    """The plain tar byte stream, as blocks from a pipe, read without extra copies."""

    def __init__(self, source: Pipe) -> None:
        self._source = source
        self._block = memoryview(b"")
        self._offset = 0
        self._ended = False

    def _fill(self) -> bool:
        while not self._block:
            if self._ended:
                return False
            item = self._source.get()
            if item is END:
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


class Member(NamedTuple):
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


def common_header(block: bytes) -> Member | None:
    """``block`` decoded exactly as ``tarfile.TarInfo.frombuf`` would, for the common case only: a
    regular file or directory whose numbers are spelled the usual way. Anything else returns None
    and is left to tarfile, so this never accepts a header tarfile would refuse or read differently
    (tests/test_archive.py compares the two on mutated headers).

    It exists for speed: see benchmarks/headers_ab.py for what it buys on a 20k-file model.
    """
    kind = _COMMON_TYPES.get(block[156:157])
    if kind is None or len(block) != _BLOCK:
        return None
    numbers = _COMMON_NUMBERS.fullmatch(block, 100, 156)
    if numbers is None or _COMMON_DEVICES.fullmatch(block, 329, 345) is None:
        return None
    mode, size, checksum = (int(field, 8) for field in numbers.groups())
    if checksum != sum(block) - sum(block[148:156]) + 8 * 0x20:  # tarfile also accepts a signed sum
        return None
    name = block[:100].split(b"\0", 1)[0].decode(_ENCODING, _ERRORS)
    prefix = block[345:500].split(b"\0", 1)[0].decode(_ENCODING, _ERRORS)
    if kind == "file" and block[156:157] == tarfile.AREGTYPE and name.endswith("/"):
        kind = "dir"  # the V7 spelling of a directory
    if kind == "dir":
        name = name.rstrip("/")
    if prefix:
        name = prefix + "/" + name
        if kind == "dir":
            name = name.rstrip("/")
    return Member(name, kind, size, mode)


def kind_of(info: tarfile.TarInfo) -> str:
    """``file``, ``dir``, or what the member is (the reason it is refused)."""
    if info.isdir():
        return "dir"
    if info.type == tarfile.GNUTYPE_SPARSE:
        return "sparse file"
    if info.isreg():
        return "file"
    if info.issym():
        return f"symbolic link (to {info.linkname!r})"
    if info.islnk():
        return f"hard link (to {info.linkname!r})"
    if info.ischr() or info.isblk():
        return "device file"
    if info.isfifo():
        return "fifo"
    return f"member type {info.type!r}"


class HeaderReader:
    """Reads member headers from a :class:`TarStream` (module docstring)."""

    def __init__(self, stream: TarStream, name: str) -> None:
        self._stream = stream
        self._name = name
        self._global: dict[str, str] = {}  # global pax keys of _PAX_KEYS (or sparse markers) for later members

    def next_member(self) -> Member | None:
        """The next member's header, or None at the end-of-archive marker."""
        stream = self._stream
        offset = stream.tell()
        block = stream.read(_BLOCK)
        if not self._global and (member := common_header(block)) is not None:
            return member
        local: dict[str, str] = {}  # from this member's extended headers; the first header wins
        for _ in range(MAX_EXTENDED_HEADERS + 1):
            info = self._decode(block, offset, extended=bool(local))
            if info is None:
                if local:
                    raise self._error(offset, "an extended header without a member")
                return None
            what = _EXTENDED.get(info.type)
            if what is None:
                return self._member(info, local, offset)
            data = self._extended_data(info.size, what, offset)
            if info.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
                key = "path" if info.type == tarfile.GNUTYPE_LONGNAME else "linkpath"
                local.setdefault(key, data.split(b"\0", 1)[0].decode(_ENCODING, _ERRORS))
            else:
                for key, value in self._pax_records(data, offset).items():
                    if key in _PAX_KEYS or key.startswith("GNU.sparse."):
                        if info.type == tarfile.XGLTYPE:
                            self._global[key] = value
                        else:
                            local.setdefault(key, value)
            offset = stream.tell()
            block = stream.read(_BLOCK)
            if not local and not self._global and (member := common_header(block)) is not None:
                return member
        raise self._error(offset, f"more than {MAX_EXTENDED_HEADERS} extended headers in a row")

    def _error(self, offset: int, cause: str) -> ArchiveError:
        return ArchiveError(f"{self._name}: tar header at offset {offset}: {cause}")

    def _decode(self, block: bytes, offset: int, *, extended: bool) -> tarfile.TarInfo | None:
        """``block`` through tarfile's one-block decoder; None for an end-of-archive block."""
        try:
            info = tarfile.TarInfo.frombuf(block, _ENCODING, _ERRORS)
            if info.size < 0:
                raise ValueError(f"negative size {info.size}")
            return info
        except tarfile.EOFHeaderError:
            return None
        except (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError):
            raise ArchiveError(f"{self._name}: truncated tar archive (no end-of-archive marker)") from None
        except (tarfile.HeaderError, ValueError) as error:
            if offset == 0 and not extended:
                raise ArchiveError(f"{self._name}: not a tar or tar.gz archive ({error})") from None
            raise ArchiveError(f"{self._name}: invalid tar header at offset {offset} ({error})") from None

    def _extended_data(self, size: int, what: str, offset: int) -> bytes:
        if size > MAX_EXTENDED_HEADER_BYTES:
            raise self._error(offset, f"extended tar header of {size} bytes (more than {MAX_EXTENDED_HEADER_BYTES})")
        data = self._stream.read(size)
        padding = -size % _BLOCK
        if len(data) < size or self._stream.skip(padding) < padding:
            raise ArchiveError(f"{self._name}: truncated tar archive (a {what} header ends early)")
        return data

    def _pax_records(self, data: bytes, offset: int) -> dict[str, str]:
        """``"<length> <key>=<value>\\n"`` records, parsed in one pass; trailing NULs are padding."""
        records: dict[str, str] = {}
        position, end = 0, len(data.rstrip(b"\0"))
        while position < end:
            if len(records) >= MAX_PAX_RECORDS:
                raise self._error(offset, f"invalid pax header (more than {MAX_PAX_RECORDS} records)")
            space = data.find(b" ", position, position + 8)  # a length of at most 7 digits (1 MiB)
            digits = data[position:space]
            if space < 0 or not digits.isdigit():
                raise self._error(offset, f"invalid pax header (no record length at byte {position})")
            length = int(digits)
            record_end = position + length
            equals = data.find(b"=", space + 1, record_end)
            if record_end > len(data) or equals < 0 or data[record_end - 1 : record_end] != b"\n":
                raise self._error(offset, f"invalid pax header (malformed record at byte {position})")
            key = data[space + 1 : equals].decode(_ENCODING, _ERRORS)
            records[key] = data[equals + 1 : record_end - 1].decode(_ENCODING, _ERRORS)
            position = record_end
        return records

    def _member(self, info: tarfile.TarInfo, local: dict[str, str], offset: int) -> Member:
        """The member ``info`` with its extended headers applied (local over global), as tarfile applies them."""
        overrides = {**self._global, **local}
        if info.type == tarfile.GNUTYPE_SPARSE or any(key.startswith("GNU.sparse.") for key in overrides):
            return Member(overrides.get("path", info.name), "sparse file", 0, 0)
        name, size = overrides.get("path", info.name), info.size
        if "linkpath" in overrides:
            info.linkname = overrides["linkpath"]
        if "size" in overrides:
            text = overrides["size"]
            if not (text.isascii() and text.isdigit()):
                raise self._error(offset, f"invalid pax header (size {text[:40]!r} is not a number)")
            size = int(text)
        return Member(name.rstrip("/"), kind_of(info), size, info.mode)  # as tarfile strips pax paths
