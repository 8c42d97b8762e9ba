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
  answers the same archive. Owner, model and framework match ROOT's directory names case-insensitively, as
  Kaggle matches its slugs (a ROOT copied from kagglehub's cache has ``tensorFlow2``, hubvendor asks for
  ``tensorflow2``); variation and version match exactly. A name spelled as a directory is that directory;
  two directories that both match it only ignoring case answer ``409 Conflict`` naming both, for either could
  be meant (the rule is ``kaggle.ref.match_name``, which kagglehub's cache reader shares).
- ``GET /api/v1/models/<owner>/<model>/<framework>/<variation>/get``: ``{"versionNumber": N}``, the highest
  version present under ``ROOT/<owner>/<model>/<framework>/<variation>/`` (a ``<N>/`` directory or ``<N>.tar.gz``),
  as Kaggle answers it (``hubvendor lock`` pins a versionless handle so).
- With ``redirect=True`` compressed requests answer ``302`` to ``/_storage/<path>.tar.gz``, as tfhub.dev
  redirects to its storage.

Containment and generated archives are ``servedroot``'s: files inside ROOT only (anything resolving
outside is 404); a model tree that cannot be served faithfully (a link leaving ROOT, a dangling link, a
special file) is refused with ``500`` and a one-line reason, and the handler keeps serving.

Ranges: archives and files answer a single ``Range: bytes=...`` with ``206`` and ``Content-Range``,
``416`` when unsatisfiable, ignore malformed or multi-range headers (``200``, whole body), and honour
``If-Range`` against the strong ``ETag`` (generated archives are built once per tree state, so their
bytes, ETag and ranges are stable until the tree changes). Responses carry ``Accept-Ranges``, ``ETag`` and ``Last-Modified``.

Tests extend :class:`HubRequestHandler` (fault injection, counters) in ``tests/support``; the product has
no control endpoints.
"""

from __future__ import annotations

import email.utils
import http.server
import json
import os
import re
import socket
import urllib.parse
from typing import Any

from .kaggle.ref import AmbiguousNameError, match_name
from .servedroot import Archive, HubState, TreeError

FORMAT_QUERY = "tf-hub-format"
STORAGE_PREFIX = "_storage/"
KAGGLE_PREFIX = "api/v1/models/"
KAGGLE_PARTS = 5  # owner, model, framework, variation, version
KAGGLE_LONG_FORM = re.compile(r"models/([^/]+)/([^/]+)/frameworks/([^/]+)/variations/([^/]+)/versions/([^/]+)", re.I)
_RANGE = re.compile(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*", re.ASCII | re.IGNORECASE)


# -- HTTP ------------------------------------------------------------------------------------


class NameConflictError(Exception):
    """Several directories under ROOT could be meant by one name of a Kaggle path (answered 409)."""


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
        except NameConflictError as exc:
            self.send_simple(409, f"cannot serve {path}: {exc}\n", head=head)
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
        if len(parts) == KAGGLE_PARTS and parts[-1] == "get" and all(parts):
            self.kaggle_instance(parts[:-1], head)
            return
        if len(parts) <= KAGGLE_PARTS or parts[KAGGLE_PARTS] != "download" or not all(parts[:KAGGLE_PARTS]):
            self.not_found(head)
            return
        model_path = self.kaggle_path(parts[:KAGGLE_PARTS])
        file_path = "/".join(parts[KAGGLE_PARTS + 1:])
        if file_path:
            found = self.server.state.model_file(model_path, file_path)
            if found is None:
                self.not_found(head)
            else:
                self.send_file(found, head, "application/octet-stream")
        else:
            self.send_archive(model_path, head)

    def kaggle_instance(self, parts: list[str], head: bool) -> None:
        """``{"versionNumber": N}``: the highest version of the variation under ROOT (404 when none)."""
        versions = self.server.state.versions(self.kaggle_path(parts))
        if not versions:
            self.not_found(head)
            return
        self.send_simple(200, json.dumps({"versionNumber": max(versions)}), "application/json", head=head)

    def kaggle_path(self, parts: list[str]) -> str:
        """``owner/model/framework/variation[/version]`` as spelled under ROOT (module docstring).

        The first three names each match a directory inside ROOT (``HubState.model_dir``: links out of ROOT
        do not count) by ``match_name``; with none the path stays as asked (a 404 follows), when several
        could be meant it raises :class:`NameConflictError`.
        """
        state = self.server.state
        found: list[str] = []
        for name in parts[:3]:
            here = "/".join(found)
            directory = state.model_dir(here) if here else state.root
            try:
                entries = os.listdir(directory) if directory else []
            except OSError:
                entries = []
            try:
                match = match_name(name, entries, lambda entry: bool(state.model_dir("/".join([*found, entry]))))
            except AmbiguousNameError as exc:
                raise NameConflictError(f"{', '.join('/'.join([*found, m]) for m in exc.matches)} under ROOT differ "
                                        "only in case; Kaggle names ignore case, so keep one") from None
            if match is None:
                return "/".join(parts)
            found.append(match)
        return "/".join([*found, *parts[3:]])

    def compressed(self, model_path: str, head: bool) -> None:
        long_form = KAGGLE_LONG_FORM.fullmatch(model_path)
        if long_form:  # www.kaggle.com/models/<o>/<m>/frameworks/<f>/variations/<v>/versions/<n>
            model_path = self.kaggle_path(list(long_form.groups()))
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
