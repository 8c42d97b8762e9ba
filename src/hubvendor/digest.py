"""The tree digest of a model directory (docs/DESIGN.md "Tree digest"), and its incremental builder.

``sha256`` over the regular files sorted by relative POSIX path, one line per file:
``path + NUL + decimal size + NUL + sha256 hex + LF``. Extraction, the cache, object stores and
wheel building all compute it; this module imports only the standard library.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterator

_READ_BUFFER = 1024 * 1024


class TreeDigest:
    """Accumulates (path, size, sha256) per file, in any order; a path added again replaces its entry."""

    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[int, str]] = {}

    def add(self, rel_path: bytes, size: int, sha256_hex: str) -> None:
        self._entries[rel_path] = (size, sha256_hex)

    def hexdigest(self) -> str:
        digest = hashlib.sha256()
        for rel_path in sorted(self._entries):
            size, sha256_hex = self._entries[rel_path]
            digest.update(b"%s\0%d\0%s\n" % (rel_path, size, sha256_hex.encode("ascii")))
        return "sha256:" + digest.hexdigest()


def tree_digest(path: str) -> str:
    """``sha256:<hex>`` of the regular files below ``path`` (links are not followed)."""
    digest = TreeDigest()
    buffer = bytearray(_READ_BUFFER)
    view = memoryview(buffer)
    for rel, full in _regular_files(path):
        file_hash = hashlib.sha256()
        size = 0
        with open(full, "rb", buffering=0) as file:
            while count := file.readinto(buffer):
                file_hash.update(view[:count])
                size += count
        digest.add(rel, size, file_hash.hexdigest())
    return digest.hexdigest()


def _regular_files(root: str) -> Iterator[tuple[bytes, str]]:
    """(relative POSIX path as bytes, full path) of the regular files below ``root``."""
    pending = [("", root)]
    while pending:
        rel_dir, full_dir = pending.pop()
        with os.scandir(full_dir) as entries:
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if entry.is_dir(follow_symlinks=False):
                    pending.append((rel, entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield os.fsencode(rel), entry.path
