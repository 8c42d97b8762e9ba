"""What ``hubvendor serve`` serves from ROOT: containment (nothing outside ROOT) and the archives it generates.

Every path is resolved, symlinks included, and must stay inside ROOT. A model directory is served as a
deterministic tar.gz (tfhub.dev's layout: ``./``-prefixed members in tarfile's order, mtime 0, no owners,
modes 0644/0755) holding regular files and directories only: a symlink inside ROOT is served as its
target's content; a link leaving ROOT, a dangling or looping link or a special file makes the tree
unservable (:class:`TreeError`). Each generated archive is built once per tree state (a fingerprint of
every member's name, type, size and mtime) into a temporary file, so its bytes and ETag are stable.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


class TreeError(Exception):
    """A model tree under ROOT that cannot be served faithfully (the reason is sent to the client)."""


@dataclass(frozen=True)
class Archive:
    """A file ready to serve: an archive, stored or generated, or one file of a model."""

    path: str
    size: int
    etag: str
    mtime: float


@dataclass(frozen=True)
class _Member:
    arcname: str
    path: str  # the resolved path inside ROOT
    st: os.stat_result


class HubState:
    """What the server serves: the root and the archives generated from its directories."""

    def __init__(self, root: str | os.PathLike, *, redirect: bool = False, uncompressed_base: str = "") -> None:
        self.root = Path(root).resolve()
        self.redirect = redirect
        self.uncompressed_base = uncompressed_base.rstrip("/")
        self._lock = threading.Lock()
        self._generated: dict[str, tuple[str, Archive]] = {}
        self._generating: dict[str, threading.Lock] = {}
        self._workdir = tempfile.mkdtemp(prefix="hubvendor-serve-")

    def close(self) -> None:
        shutil.rmtree(self._workdir, ignore_errors=True)

    def inside(self, relative: str) -> Path | None:
        """``ROOT/relative`` resolved, if it exists and stays inside ROOT; else None."""
        if not relative:
            return None
        try:
            resolved = (self.root / relative).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, dangling, a loop
            return None
        return resolved if resolved.is_relative_to(self.root) else None

    def model_dir(self, model_path: str) -> Path | None:
        path = self.inside(model_path)
        return path if path is not None and path.is_dir() else None

    def archive(self, model_path: str) -> Archive | None:
        """The stored ``ROOT/<path>.tar.gz``, else a generated archive of ``ROOT/<path>/``; raises TreeError."""
        stored = self.inside(f"{model_path}.tar.gz") if model_path else None
        if stored is not None and stored.is_file():
            return file_archive(stored)
        directory = self.model_dir(model_path)
        return self._generated_archive(directory) if directory else None

    def versions(self, variation_path: str) -> list[int]:
        """Version numbers served under ``ROOT/<variation_path>/``: ``<N>/`` directories and ``<N>.tar.gz`` files."""
        directory = self.model_dir(variation_path)
        if directory is None:
            return []
        found = set()
        for name in os.listdir(directory):
            number = name[: -len(".tar.gz")] if name.endswith(".tar.gz") else name
            if number.isascii() and number.isdigit() and int(number) > 0 and (
                self.model_dir(f"{variation_path}/{name}") or self.inside(f"{variation_path}/{name}")):
                found.add(int(number))
        return sorted(found)

    def model_file(self, model_path: str, file_path: str) -> Archive | None:
        """One regular file of the model directory ``ROOT/<model_path>/``."""
        directory = self.model_dir(model_path)
        target = self.inside(f"{model_path}/{file_path}") if directory and file_path else None
        if target is None or not target.is_relative_to(directory) or not target.is_file():
            return None
        return file_archive(target)

    def _generated_archive(self, directory: Path) -> Archive:
        key = str(directory)
        with self._lock:
            dir_lock = self._generating.setdefault(key, threading.Lock())
        with dir_lock:
            members = self._members(directory)
            fingerprint = _fingerprint(members)
            cached = self._generated.get(key)
            if cached and cached[0] == fingerprint:
                return cached[1]
            target = os.path.join(self._workdir, hashlib.sha256(f"{key}\0{fingerprint}".encode()).hexdigest() + ".tar.gz")
            try:
                write_deterministic_tar_gz(members, target)
            except OSError as exc:
                raise TreeError(f"{directory}: changed or unreadable while archiving ({exc.strerror or exc})") from None
            if cached:
                os.unlink(cached[1].path)
            archive = Archive(target, os.path.getsize(target), f'"{fingerprint[:32]}"', time.time())
            self._generated[key] = (fingerprint, archive)
            return archive

    def _members(self, directory: Path) -> list[_Member]:
        """``directory``'s tree in tarfile's order, links resolved and checked to stay inside ROOT."""
        members = [_Member(".", str(directory), os.stat(directory))]
        self._walk(directory, ".", {str(directory)}, members)
        return members

    def _walk(self, directory: Path, arcdir: str, ancestors: set[str], members: list[_Member]) -> None:
        try:
            names = sorted(os.listdir(directory))
        except OSError as exc:
            raise TreeError(f"{directory}: cannot list ({exc.strerror or exc})") from None
        for name in names:
            shown = os.path.join(directory, name)
            try:
                resolved = Path(shown).resolve(strict=True)
                st = os.stat(resolved)
            except (OSError, RuntimeError):
                raise TreeError(f"{shown}: a dangling or looping symlink") from None
            if not resolved.is_relative_to(self.root):
                raise TreeError(f"{shown}: a symlink leaving the served root")
            arcname = f"{arcdir}/{name}"
            if stat.S_ISDIR(st.st_mode):
                if str(resolved) in ancestors:
                    raise TreeError(f"{shown}: a symlink to its own parent directory")
                members.append(_Member(arcname, str(resolved), st))
                self._walk(resolved, arcname, ancestors | {str(resolved)}, members)
            elif stat.S_ISREG(st.st_mode):
                members.append(_Member(arcname, str(resolved), st))
            else:
                raise TreeError(f"{shown}: not a regular file or directory")

    def uncompressed_location(self, model_path: str) -> str | None:
        directory = self.model_dir(model_path)
        if self.uncompressed_base:
            return f"{self.uncompressed_base}/{model_path}/uncompressed" if directory or self.archive(model_path) else None
        return str(directory) if directory else None


def file_archive(path: Path) -> Archive:
    st = path.stat()
    return Archive(str(path), st.st_size, f'"{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ino:x}"', st.st_mtime)


def _fingerprint(members: list[_Member]) -> str:
    """A digest of the members' names, types, sizes and mtimes (changes when the tree does)."""
    digest = hashlib.sha256()
    for m in members:
        digest.update(f"{m.arcname}\0{stat.S_IFMT(m.st.st_mode)}\0{m.st.st_size}\0{m.st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def write_deterministic_tar_gz(members: list[_Member], target: str) -> None:
    """Write a tar.gz like tfhub.dev's: ``./``-prefixed members in order, mtime 0, no owners."""
    from isal import igzip

    partial = target + ".partial"
    try:
        with open(partial, "wb") as raw, igzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w|", format=tarfile.GNU_FORMAT, bufsize=CHUNK) as tar:
                for m in members:
                    info = tar.gettarinfo(m.path, m.arcname)
                    info.mtime = 0
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
                    if info.islnk():  # a second name of a hard-linked file: served as a copy
                        info.type, info.linkname, info.size = tarfile.REGTYPE, "", m.st.st_size
                    if info.isreg():
                        with open(m.path, "rb") as f:
                            tar.addfile(info, f)
                    else:
                        tar.addfile(info)
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
