"""``hubvendor serve``: a TF Hub- and Kaggle-protocol HTTP server over a directory (internal mirrors, demos).

It answers what tensorflow_hub, kagglehub and hubvendor request, from files inside ROOT only:

- ``GET /<path>?tf-hub-format=compressed`` (or ``GET /<path>.tar.gz``): ``ROOT/<path>.tar.gz`` if that
  file exists, else a deterministic tar.gz of the directory ``ROOT/<path>/`` (sorted members, ``./``
  prefix, mtime 0, owners and modes normalised).
- ``GET /<path>?tf-hub-format=uncompressed``: ``303 See Other`` without a Location header, the body being
  the model's location: ``<uncompressed_base>/<path>/uncompressed`` when a base is configured, else the
  absolute local path ``ROOT/<path>``.
- ``GET /api/v1/models/<owner>/<model>/<framework>/<variation>/<version>/download``: Kaggle's model
  download, the same archive as ``/<owner>/<model>/<framework>/<variation>/<version>?tf-hub-format=compressed``;
  ``.../download/<file path>`` answers one file of that model's directory. Kaggle's long form
  ``/models/<owner>/<model>/frameworks/<framework>/variations/<variation>/versions/<version>?tf-hub-format=compressed``
  answers the same archive. A framework not found as spelled is looked up lowercased (hubvendor's key).
- With ``redirect=True`` compressed requests answer ``302`` to ``/_storage/<path>.tar.gz``, as tfhub.dev
  redirects to its storage.

Containment: every path is resolved (symlinks included) and must stay inside ROOT; anything else is 404.
A generated archive holds regular files and directories only (a symlink inside ROOT is served as its
target's content); a model whose tree has a link leaving ROOT, a dangling link or a special file is
refused with ``500`` and a one-line reason, and the handler keeps serving.

Ranges: archives and files answer a single ``Range: bytes=...`` with ``206`` and ``Content-Range``,
``416`` when unsatisfiable, ignore malformed or multi-range headers (``200``, whole body), and honour
``If-Range`` against the strong ``ETag``. Generated archives are built once per tree state (a fingerprint
of every member's name, size and mtime) into a temporary file, so their bytes, ETag and ranges are
stable until the tree changes. Responses carry ``Accept-Ranges``, ``ETag`` and ``Last-Modified``.

Tests extend :class:`HubRequestHandler` (fault injection, counters) in ``tests/support``; the product has
no control endpoints.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import os
import re
import shutil
import socket
import stat
import tarfile
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK = 1 << 20
FORMAT_QUERY = "tf-hub-format"
STORAGE_PREFIX = "_storage/"
KAGGLE_PREFIX = "api/v1/models/"
KAGGLE_PARTS = 5  # owner, model, framework, variation, version
KAGGLE_LONG_FORM = re.compile(r"models/([^/]+)/([^/]+)/frameworks/([^/]+)/variations/([^/]+)/versions/([^/]+)", re.I)
_RANGE = re.compile(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*", re.ASCII | re.IGNORECASE)


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


# -- HTTP ------------------------------------------------------------------------------------


class HubServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], state: HubState, handler: type[HubRequestHandler] | None = None
    ) -> None:
        self.state = state
        super().__init__(address, handler or HubRequestHandler)

    def server_close(self) -> None:
        super().server_close()
        self.state.close()


class HubRequestHandler(http.server.BaseHTTPRequestHandler):
    """GET and HEAD only; subclasses (tests) hook ``route``, ``send_archive``, ``span`` and ``send_body``."""

    protocol_version = "HTTP/1.1"
    server_version = "hubvendor-serve"
    timeout = 300
    server: HubServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: tests and builds run many requests."""

    def do_GET(self) -> None:
        self.dispatch(head=False)

    def do_HEAD(self) -> None:
        self.dispatch(head=True)

    def dispatch(self, *, head: bool) -> None:
        parts = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(parts.path)
        model_path = path.strip("/")
        if "\0" in model_path or any(segment in ("..", ".") for segment in model_path.split("/")):
            self.not_found(head)
            return
        try:
            self.route(model_path, dict(urllib.parse.parse_qsl(parts.query)), head)
        except TreeError as exc:
            self.send_simple(500, f"cannot serve {path}: {exc}\n", head=head)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    def route(self, model_path: str, query: dict[str, str], head: bool) -> None:
        if model_path.startswith(KAGGLE_PREFIX):
            self.kaggle(model_path[len(KAGGLE_PREFIX):], head)
        elif model_path.startswith(STORAGE_PREFIX) and model_path.endswith(".tar.gz"):
            self.send_archive(model_path[len(STORAGE_PREFIX):-len(".tar.gz")], head)
        elif model_path.endswith(".tar.gz"):
            self.compressed(model_path[: -len(".tar.gz")], head)
        elif query.get(FORMAT_QUERY) == "compressed":
            self.compressed(model_path, head)
        elif query.get(FORMAT_QUERY) == "uncompressed":
            self.uncompressed(model_path, head)
        else:
            self.not_found(head)

    def kaggle(self, rest: str, head: bool) -> None:
        """``<owner>/<model>/<framework>/<variation>/<version>/download[/<file path>]``."""
        parts = rest.split("/")
        if len(parts) <= KAGGLE_PARTS or parts[KAGGLE_PARTS] != "download" or not all(parts[:KAGGLE_PARTS]):
            self.not_found(head)
            return
        model_path = self.kaggle_model_path(parts[:KAGGLE_PARTS])
        file_path = "/".join(parts[KAGGLE_PARTS + 1:])
        if file_path:
            found = self.server.state.model_file(model_path, file_path)
            if found is None:
                self.not_found(head)
            else:
                self.send_file(found, head, "application/octet-stream")
        else:
            self.send_archive(model_path, head)

    def kaggle_model_path(self, parts: list[str]) -> str:
        """``owner/model/framework/variation/version`` under ROOT; the framework as given, else lowercased."""
        exact = "/".join(parts)
        if self.server.state.inside(exact) or self.server.state.inside(f"{exact}.tar.gz"):
            return exact
        return "/".join([*parts[:2], parts[2].lower(), *parts[3:]])

    def compressed(self, model_path: str, head: bool) -> None:
        long_form = KAGGLE_LONG_FORM.fullmatch(model_path)
        if long_form:  # www.kaggle.com/models/<o>/<m>/frameworks/<f>/variations/<v>/versions/<n>
            model_path = self.kaggle_model_path(list(long_form.groups()))
        if self.server.state.redirect:
            if self.server.state.archive(model_path) is None:
                self.not_found(head)
                return
            self.send_redirect(f"/{STORAGE_PREFIX}{urllib.parse.quote(model_path)}.tar.gz", head)
        else:
            self.send_archive(model_path, head)

    def uncompressed(self, model_path: str, head: bool) -> None:
        location = self.server.state.uncompressed_location(model_path)
        if location is None:
            self.not_found(head)
        else:
            self.send_simple(303, location, head=head)

    def send_archive(self, model_path: str, head: bool) -> None:
        archive = self.server.state.archive(model_path)
        if archive is None:
            self.not_found(head)
        else:
            self.send_file(archive, head, "application/x-gzip")

    def send_file(self, archive: Archive, head: bool, content_type: str) -> None:
        span = self.span(archive)
        if span is None:
            self.send_simple(416, "range not satisfiable\n", headers={"Content-Range": f"bytes */{archive.size}"}, head=head)
            return
        start, end, partial = span
        self.send_response(206 if partial else 200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(self.announced_length(end - start)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", archive.etag)
        self.send_header("Last-Modified", email.utils.formatdate(archive.mtime, usegmt=True))
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{archive.size}")
        self.end_headers()
        if not head:
            self.send_body(archive.path, start, end - start)

    def span(self, archive: Archive) -> tuple[int, int, bool] | None:
        """``(start, end, partial)`` of the body to send, ``[start, end)``; None answers 416."""
        range_header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if not range_header or if_range not in (None, archive.etag):
            return 0, archive.size, False
        parsed = parse_range(range_header)
        if parsed is None:
            return 0, archive.size, False  # malformed or several ranges: ignored (RFC 9110 14.2)
        first, last = parsed
        if first is None:
            start, end = max(0, archive.size - last), archive.size
            return (start, end, True) if last > 0 and archive.size > 0 else None
        if first >= archive.size:
            return None
        return first, archive.size if last is None else min(archive.size, last + 1), True

    def announced_length(self, length: int) -> int:
        return length

    def send_body(self, file_path: str, start: int, length: int) -> None:
        with open(file_path, "rb") as f:
            self.connection.sendfile(f, start, length)

    def send_redirect(self, location: str, head: bool) -> None:
        self.send_simple(302, f"redirect to {location}\n", headers={"Location": location}, head=head)

    def not_found(self, head: bool) -> None:
        self.send_simple(404, f"not found: {self.path}\n", head=head)

    def send_simple(
        self, code: int, text: str, content_type: str = "text/plain; charset=utf-8", *,
        headers: dict[str, str] | None = None, head: bool = False,
    ) -> None:
        body = text.encode("utf-8", "backslashreplace")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)


def parse_range(header: str) -> tuple[int | None, int | None] | None:
    """``bytes=a-b`` -> (a, b); ``bytes=a-`` -> (a, None); ``bytes=-n`` -> (None, n); None if malformed."""
    match = _RANGE.fullmatch(header)
    if match is None or not (match.group(1) or match.group(2)):
        return None
    first, last = match.groups()
    start, stop = (int(first) if first else None), (int(last) if last else None)
    if start is not None and stop is not None and stop < start:
        return None
    return start, stop


def make_server(
    root: str | os.PathLike, host: str = "127.0.0.1", port: int = 0, *,
    redirect: bool = False, uncompressed_base: str = "", handler: type[HubRequestHandler] | None = None,
) -> HubServer:
    """A bound (not yet serving) server; call ``serve_forever()`` and finally ``server_close()``."""
    state = HubState(root, redirect=redirect, uncompressed_base=uncompressed_base)
    try:
        return HubServer((host, port), state, handler)
    except BaseException:
        state.close()
        raise
