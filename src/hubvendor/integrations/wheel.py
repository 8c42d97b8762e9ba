"""Rewrite a built wheel: add model files as ZIP_STORED entries, a manifest, a Requires-Dist; regenerate RECORD.

The output is reproducible: entries sorted (``.dist-info`` last, RECORD at the very end), one fixed
timestamp (``SOURCE_DATE_EPOCH`` or 1980-01-01), modes normalised to 0644/0755. Model files are
streamed in 1 MiB chunks, hashed for RECORD as they are copied, so memory stays bounded.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import stat
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .. import settings
from ..config import dist_key
from ..errors import ConfigError
from . import outputs

CHUNK = 1 << 20
ZIP64_LIMIT = (1 << 31) - 1


@dataclass(frozen=True)
class ExtraFile:
    """A file to add: ``arcname`` in the wheel; ``data`` (small, deflated) or ``source`` path (stored)."""

    arcname: str
    data: bytes | None = None
    source: str | None = None


@dataclass(frozen=True)
class FileHash:
    """What RECORD says about one added file (the streaming copy computes it)."""

    arcname: str
    sha256: str
    size: int


def date_time() -> tuple[int, int, int, int, int, int]:
    """The entries' timestamp: ``SOURCE_DATE_EPOCH`` (UTC, not before 1980), else 1980-01-01."""
    return time.gmtime(settings.source_date_epoch())[:6]


def tree_files(root: str, prefix: str) -> list[ExtraFile]:
    """Every regular file under ``root`` as an :class:`ExtraFile` named ``prefix/<relative POSIX path>``."""
    found = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            path = os.path.join(directory, name)
            if not stat.S_ISREG(os.lstat(path).st_mode):
                raise ConfigError(f"{path}: not a regular file; vendored models may hold regular files only")
            relative = os.path.relpath(path, root).replace(os.sep, "/")
            found.append(ExtraFile(f"{prefix}/{relative}", source=path))
    return found


def package_dirs(wheel_path: str) -> set[str]:
    """The regular packages ``wheel_path`` ships: directories holding an ``__init__.py`` (POSIX, no trailing slash)."""
    with zipfile.ZipFile(wheel_path) as whl:
        return {n[: -len("/__init__.py")] for n in whl.namelist() if n.endswith("/__init__.py")}


def add_requirement(metadata: bytes, requirement: str, name: str) -> bytes:
    """METADATA with ``Requires-Dist: requirement`` added unless an unconditional ``name`` requirement exists."""
    text = metadata.decode("utf-8")
    head, sep, body = text.partition("\n\n")
    for line in head.split("\n"):
        if line.startswith("Requires-Dist:") and ";" not in line:
            match = re.match(r"\s*([A-Za-z0-9._-]+)", line[len("Requires-Dist:"):])
            if match and dist_key(match.group(1)) == dist_key(name):
                return metadata
    stripped = head.rstrip("\n")
    lines = stripped.split("\n")
    last = max((i for i, line in enumerate(lines) if line.startswith("Requires-Dist:")), default=len(lines) - 1)
    lines.insert(last + 1, f"Requires-Dist: {requirement}")
    return ("\n".join(lines) + head[len(stripped):] + sep + body).encode("utf-8")


def rewrite(
    wheel_path: str,
    extra: list[ExtraFile],
    *,
    requirement: tuple[str, str] | None = None,
    check: Callable[[list[FileHash]], None] | None = None,
) -> None:
    """Replace ``wheel_path`` by a normalised copy with ``extra`` files added.

    ``requirement`` is ``(requirement, dist name)`` for :func:`add_requirement`. ``check`` gets the digests of
    the streamed files (computed while copying) before the new wheel takes the name. The original is moved
    aside first and the new wheel renamed into place last (``outputs.temporaries``), so ``wheel_path`` never
    names an unfinished wheel; on any failure neither is left and the exception propagates.
    """
    stamp = date_time()
    original, tmp = outputs.temporaries(wheel_path)
    os.rename(wheel_path, original)
    try:
        with zipfile.ZipFile(original) as source, zipfile.ZipFile(tmp, "w") as out:
            streamed = _copy(source, out, extra, wheel_path, requirement, stamp)
        if check:
            check(streamed)
        os.replace(tmp, wheel_path)
    finally:
        outputs.remove(tmp)
        outputs.remove(original)


def _copy(
    source: zipfile.ZipFile, out: zipfile.ZipFile, extra: list[ExtraFile], wheel_path: str,
    requirement: tuple[str, str] | None, stamp: tuple,
) -> list[FileHash]:
    """Write the backend's entries and ``extra`` to ``out`` in order, then RECORD; the streamed files' hashes."""
    dist_info = _dist_info_dir(source, wheel_path)
    record_name = f"{dist_info}/RECORD"
    existing = {info.filename: info for info in source.infolist() if not info.is_dir()}
    clashes = sorted(set(existing) & {f.arcname for f in extra})
    if clashes:
        raise ConfigError(f"{wheel_path}: vendored file {clashes[0]!r} clashes with a file the project ships")
    entries: dict[str, tuple[zipfile.ZipInfo | None, ExtraFile | None]] = {
        name: (info, None) for name, info in existing.items() if name != record_name
    }
    entries.update({f.arcname: (None, f) for f in extra})
    records: list[tuple[str, str, int]] = []
    streamed: list[FileHash] = []
    for name in _ordered(entries, dist_info):
        info, added = entries[name]
        if added is not None and added.source is not None:
            digest, size = _write_stored(out, name, added.source, stamp)
            streamed.append(FileHash(name, digest, size))
        else:
            data = added.data if added is not None else source.read(info)
            if requirement and name == f"{dist_info}/METADATA":
                data = add_requirement(data, *requirement)
            executable = info is not None and (info.external_attr >> 16) & 0o111
            out.writestr(_info(name, stamp, 0o755 if executable else 0o644, zipfile.ZIP_DEFLATED), data)
            digest, size = hashlib.sha256(data).hexdigest(), len(data)
        records.append((name, digest, size))
    out.writestr(_info(record_name, stamp, 0o644, zipfile.ZIP_DEFLATED), _record(records, record_name))
    return streamed


def _dist_info_dir(source: zipfile.ZipFile, wheel_path: str) -> str:
    names = {n.split("/", 1)[0] for n in source.namelist() if re.match(r"^[^/]+\.dist-info/METADATA$", n)}
    if len(names) != 1:
        raise ConfigError(f"{wheel_path}: expected exactly one .dist-info directory with METADATA, found {sorted(names)}")
    return names.pop()


def _ordered(names: dict, dist_info: str) -> Iterator[str]:
    """Payload sorted by name, then the .dist-info files sorted (RECORD is written after these)."""
    in_dist_info = [n for n in names if n.startswith(dist_info + "/")]
    yield from sorted(n for n in names if not n.startswith(dist_info + "/"))
    yield from sorted(in_dist_info)


def _info(name: str, stamp: tuple, mode: int, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = compress
    return info


def _write_stored(out: zipfile.ZipFile, name: str, source: str, stamp: tuple) -> tuple[str, int]:
    """Stream ``source`` into the wheel uncompressed; return (sha256 hex, size)."""
    size = os.path.getsize(source)
    info = _info(name, stamp, 0o644, zipfile.ZIP_STORED)
    info.file_size = size
    digest = hashlib.sha256()
    with open(source, "rb") as src, out.open(info, "w", force_zip64=size > ZIP64_LIMIT) as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
    return digest.hexdigest(), size


def _record(records: list[tuple[str, str, int]], record_name: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for name, digest, size in records:
        encoded = base64.urlsafe_b64encode(bytes.fromhex(digest)).rstrip(b"=").decode("ascii")
        writer.writerow((name, f"sha256={encoded}", size))
    writer.writerow((record_name, "", ""))
    return buffer.getvalue().encode("utf-8")
