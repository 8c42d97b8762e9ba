"""A model directory taken in as an archive would be: every entry through the member policy.

kagglehub's cache holds plain directories, not archives. :func:`copy_tree` copies one below ``dest``
through :class:`policy.Writer`, so the copy obeys what extraction obeys (only files and directories,
name rules, case collisions, :class:`Limits`, normalised modes and mtimes) and yields the same tree
digest and stats in the same pass.
"""

from __future__ import annotations

import io
import os
import stat
from typing import BinaryIO

from .headers import Member
from .policy import Limits, Tree, Writer

_READ_SIZE = 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


class _FileStream:
    """One open file as the writer reads a member's bytes (``view``/``skip`` of ``TarStream``)."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def view(self, size: int) -> memoryview:
        return memoryview(self._file.read(min(size, _READ_SIZE)))

    def skip(self, size: int) -> int:
        return size  # no tar padding between files on disk


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "symbolic link" if stat.S_ISLNK(mode) else "special file"


def copy_tree(source: str, dest: str, *, name: str, limits: Limits) -> Tree:
    """Copy the directory ``source`` into the empty directory ``dest``; ArchiveError names a refused entry."""
    writer = Writer(dest, name, limits)
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        with os.scandir(os.path.join(source, rel_dir)) as found:
            entries = sorted(found, key=lambda e: e.name)
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode):
                writer.add(Member(rel, _kind(info.st_mode), 0, info.st_mode), _FileStream(io.BytesIO()))  # type: ignore[arg-type]
                pending.append(rel)  # a directory: anything else was refused
                continue
            with open(os.open(entry.path, _OPEN_FLAGS), "rb", buffering=0) as file:
                opened = os.fstat(file.fileno())  # the file opened, not what the name pointed at before
                member = Member(rel, _kind(opened.st_mode), opened.st_size, opened.st_mode)
                writer.add(member, _FileStream(file))  # type: ignore[arg-type]
    writer.finish()
    return writer.tree
