"""The member policy: what may be written below the extraction directory, and how.

Each member is checked before any of its bytes are written (docs/DESIGN.md "Archive policy"):
only regular files and directories; UTF-8 relative names without ``..``, backslashes, drive
letters or control characters, within length bounds; no file/directory clashes and no two names
equal after NFC + case folding; a file given again replaces the earlier one (last wins, as with
tar and tensorflow_hub); modes and mtimes normalised; :class:`Limits` on members and bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import unicodedata
from dataclasses import dataclass, field

from .. import settings
from ..digest import TreeDigest
from ..errors import ArchiveError, CacheError, HubVendorError, storage_advice
from .headers import Member, TarStream

MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 1024
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # surrogateescape'd bytes: per-member checks run in C (20k-file models)
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class Limits:
    """Bounds against archive bombs: member count and bytes written (replaced files count too)."""

    max_members: int
    max_unpacked_bytes: int

    @classmethod
    def from_settings(cls) -> Limits:
        """HUBVENDOR_MAX_MEMBERS / HUBVENDOR_MAX_UNPACKED_SIZE (defaults 200000 / 64 GiB)."""
        return cls(settings.max_members(), settings.max_unpacked_bytes())


@dataclass
class Tree:
    """What has been written: the digest of the final tree, its file count and bytes."""

    digest_of: TreeDigest = field(default_factory=TreeDigest)
    files: int = 0
    unpacked_bytes: int = 0

    def digest(self) -> str:
        return self.digest_of.hexdigest()


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


class Writer:
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
        self._written = 0  # bytes of all files written, replaced ones included (the limit's measure)
        self.members = 0
        self.tree = Tree()

    def fail(self, member: str, cause: str) -> ArchiveError:
        shown = member if len(member) <= 160 else f"{member[:100]}...{member[-40:]}"
        return ArchiveError(f"{self._name}: archive member {shown!r}: {cause}")

    def write_failure(self, member: str, what: str, error: OSError) -> HubVendorError:
        """A full or unwritable disk is a CacheError saying what to do; other write errors are the archive's."""
        advice = storage_advice(error, self._dest)
        if advice is None:
            return self.fail(member, f"{what} ({error.strerror or error})")
        return CacheError(f"{self._name}: archive member {member!r}: {what} ({error.strerror}); {advice}")

    def add(self, member: Member, stream: TarStream) -> None:
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
            if self._written + member.size > self._limits.max_unpacked_bytes:
                raise self.fail(
                    member.name,
                    f"unpacks to more than {self._limits.max_unpacked_bytes} bytes (HUBVENDOR_MAX_UNPACKED_SIZE)",
                )
            parent = rel.rpartition("/")[0]
            if self._claim(member.name, rel, "file"):
                self._remove_earlier(member.name, rel)
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

    def _claim(self, member: str, rel: str, kind: str) -> bool:
        """Register ``rel`` and its parents; reject type clashes and case collisions.
        True when ``rel`` is a file the archive already holds (it is replaced)."""
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
                if kind == "file":
                    return True
                raise self.fail(member, "a directory where the archive already has a file")
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
        return False

    def _remove_earlier(self, member: str, rel: str) -> None:
        """A file given again: the earlier copy goes (its digest entry is replaced when this one is written)."""
        full = os.path.join(self._dest, rel)
        try:
            size = os.lstat(full).st_size
            os.unlink(full)
        except OSError as error:
            raise self.write_failure(member, "cannot replace the earlier copy", error) from None
        self.tree.files -= 1
        self.tree.unpacked_bytes -= size

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

    def _write_file(self, member: Member, rel: str, stream: TarStream) -> None:
        """Copy the member's bytes; only this file's own OSErrors become "cannot write": whatever
        pulling the bytes from ``stream`` raises (the download's errors) passes through unchanged."""
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
                try:
                    while view:
                        view = view[os.write(fd, view):]
                except OSError as error:
                    raise self.write_failure(member.name, "cannot write", error) from None
            try:
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
        self._written += member.size
