"""The vendored copies this process sees (``sources.SOURCES``), checked against what their manifests record.

:func:`check` is the cheap test (``cache list --vendored``, ``doctor``, ``which``): the directory exists and
its file count and bytes match the manifest's ``files``/``bytes`` (what ``vendor`` and wheel builds record), else
it holds a SavedModel graph. :func:`entries` lists them, with ``hashed=True`` re-hashing each copy against
its recorded ``tree_digest`` (``cache verify --vendored``). Both only read: a vendored directory is never repaired here.
Records come from the manifests on disk (``HUBVENDOR_PATH``, installed wheels); a Bazel runfiles copy
has none here, so it gets the SavedModel test and is ``unverified`` when hashed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import manifest, sources
from .cacheops import Entry
from .digest import tree_digest
from .entry import looks_complete, tree_stats
from .errors import HubVendorError

_AGAIN = {
    "installed wheels": "reinstall the wheel that installed it",
    "Bazel runfiles": "rebuild the target (bazel build)",
}


def _again(copy: "Copy") -> str:
    """How to get a good copy back (``vendor`` writes ``DIR/models/<name>``)."""
    if copy.source == "HUBVENDOR_PATH":
        return f"run `hubvendor vendor -o {os.path.dirname(os.path.dirname(copy.model_dir))} HANDLE...` again"
    return _AGAIN.get(copy.source, "vendor it again")


@dataclass(frozen=True)
class Copy:
    """One vendored model directory and its manifest record (None when no manifest on disk names it)."""

    source: str
    key: str
    model_dir: str
    record: manifest.ManifestEntry | None


def copies() -> list[Copy]:
    """Every vendored copy visible now, in chain order (a broken source raises, as a resolve would)."""
    records = recorded()
    return [c for source in sources.SOURCES for c in copies_of(source.name, source.find(), records)]


def copies_of(source: str, found: dict[str, str], records: dict[tuple[str, str], manifest.ManifestEntry]) -> list[Copy]:
    """``source``'s ``find()`` result as copies, each with its record from :func:`recorded`."""
    return [Copy(source, key, model_dir, records.get((key, os.path.normpath(model_dir))))
            for key, model_dir in sorted(found.items())]


def recorded() -> dict[tuple[str, str], manifest.ManifestEntry]:
    """(key, model directory) -> manifest record, from the manifest files of HUBVENDOR_PATH and installed wheels
    (an unreadable one is skipped: the source itself reports it)."""
    paths = [os.path.join(d, manifest.FILENAME) for d in sources.vendor_path_dirs()]
    for directory in sources.site_dirs():
        try:
            paths += [os.path.join(directory, n) for n in sorted(os.listdir(directory)) if n.endswith(".json")]
        except OSError:
            continue
    found: dict[tuple[str, str], manifest.ManifestEntry] = {}
    for path in paths:
        if not os.path.isfile(path):
            continue
        try:
            models = manifest.read(path).models
        except (HubVendorError, ValueError):
            continue
        base = os.path.dirname(os.path.abspath(path))
        for key, record in models.items():
            found.setdefault((key, os.path.normpath(os.path.join(base, record.path))), record)
    return found


def check(copy: Copy) -> tuple[str, str]:
    """``(state, detail)`` from metadata only: complete, incomplete (files missing) or corrupt (files changed)."""
    return _checked(copy, *tree_stats(copy.model_dir))


def _checked(copy: Copy, files: int, size: int) -> tuple[str, str]:
    """:func:`check` given the copy's file count and bytes."""
    again = _again(copy)
    if not os.path.isdir(copy.model_dir):
        return "incomplete", f"{copy.model_dir} is missing: {again}"
    record = copy.record
    if record is not None and record.files is not None and record.bytes is not None:
        if (files, size) == (record.files, record.bytes):
            return "complete", ""
        state = "incomplete" if files < record.files else "corrupt"
        return state, (f"{copy.model_dir} holds {files} files of {size} bytes, its manifest records {record.files} "
                       f"files of {record.bytes} bytes: {again}")
    if not looks_complete(os.listdir(copy.model_dir), tree_recorded=False):
        return "incomplete", f"{copy.model_dir} holds no SavedModel: {again}"
    return "complete", ""


def _verified(copy: Copy, files: int, size: int) -> tuple[str, str]:
    """``(state, detail)`` after hashing: ok or corrupt against the recorded tree digest; unverified without one."""
    state, detail = _checked(copy, files, size)
    if state != "complete":
        return state, detail
    if copy.record is None or not copy.record.tree_digest:
        return "unverified", f"{copy.model_dir}: no manifest records its tree digest"
    actual = tree_digest(copy.model_dir)
    if actual == copy.record.tree_digest:
        return "ok", ""
    return "corrupt", (f"{copy.model_dir}: tree digest {actual} differs from the recorded {copy.record.tree_digest}: "
                       f"{_again(copy)}")


def entries(*, hashed: bool = False, keys: set[str] | None = None) -> list[Entry]:
    """The copies as ``cache list``/``verify`` rows (``hashed``: also re-hashed against the recorded tree digest)."""
    rows = []
    for copy in copies():
        if keys is not None and copy.key not in keys:
            continue
        files, size = tree_stats(copy.model_dir)
        state, detail = (_verified if hashed else _checked)(copy, files, size)
        rows.append(Entry(name="", path=copy.model_dir, handle=copy.key, origin=f"vendored ({copy.source})",
                          state=state, files=files, bytes=size, last_used=None,
                          tree_digest=copy.record.tree_digest if copy.record else "", detail=detail))
    return rows
