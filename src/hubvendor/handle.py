"""Parse and normalise hub handles: TF Hub, Kaggle Models, other http(s) archives, gs:// and local paths.

A :class:`Handle` keeps the string exactly as written (tensorflow_hub names cache entries
``sha1(handle as written)``) and derives from it a normalised ``key`` for vendored lookups and the URL
of the compressed archive.

Keep in sync with bazel/private/handle.bzl: both pass every vector of tests/vectors/handles.json.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from dataclasses import dataclass

from .errors import InvalidHandleError

FORMAT_QUERY = "tf-hub-format"
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
KAGGLE_API = "https://www.kaggle.com/api/v1/models/"
_CN_HUB_PREFIX = "https://hub.tensorflow.google.cn/"
_CN_GCS_TEMPLATE = "https://gcs.tensorflow.google.cn/tfhub-modules/%s.tar.gz"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_KAGGLE_HOSTS = ("kaggle.com", "www.kaggle.com")
_KAGGLE_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]+$")
_URL_CHARS = re.compile(r"^[!-~]+$")  # printable ASCII without space: what http.client and Bazel can request
_KAGGLE_FORMS = (
    "kaggle://<owner>/<model>/<framework>/<variation>[/<version>], "
    "https://www.kaggle.com/models/<owner>/<model>/<framework>/<variation>[/<version>] or "
    "https://www.kaggle.com/models/<owner>/<model>/frameworks/<framework>/variations/<variation>[/versions/<version>]"
)
_EXPECTED = (
    "expected https://tfhub.dev/<publisher>/<model>/<version>, a Kaggle model (kaggle://...), "
    "another http(s) archive URL, a gs:// path or a local path"
)


@dataclass(frozen=True)
class Handle:
    """A hub handle: ``raw`` as written, its ``kind`` and normalised ``key``."""

    raw: str
    kind: str  # "http", "kaggle", "gcs" or "path"
    key: str

    @property
    def cache_name(self) -> str:
        """Cache entry name, exactly as tensorflow_hub computes it."""
        return hashlib.sha1(self.raw.encode("utf8")).hexdigest()

    @property
    def is_archive(self) -> bool:
        """True when resolving means downloading and extracting an archive."""
        return self.kind in ("http", "kaggle") or (self.kind == "gcs" and self.raw.endswith(ARCHIVE_SUFFIXES))

    @property
    def version(self) -> str | None:
        """A Kaggle handle's version (``None`` when not given); ``None`` for other kinds."""
        if self.kind != "kaggle":
            return None
        parts = self.key[len("kaggle://"):].split("/")
        return parts[4] if len(parts) == 5 else None

    def compressed_url(self) -> str:
        """The URL tensorflow_hub (or, for Kaggle models, the Kaggle API) downloads the archive from."""
        if self.kind == "kaggle":
            if self.version is None:
                raise InvalidHandleError(
                    f"handle {self.raw!r}: a Kaggle handle without a version cannot be downloaded; "
                    "pin it with `hubvendor lock`"
                )
            return KAGGLE_API + self.key[len("kaggle://"):] + "/download"
        if self.kind != "http":
            return self.raw
        if self.raw.startswith(_CN_HUB_PREFIX):
            return _CN_GCS_TEMPLATE % self.raw[len(_CN_HUB_PREFIX):]
        return with_format_query(self.raw, "compressed")

    def uncompressed_url(self) -> str:
        """The URL asked for the storage location on UNCOMPRESSED loads."""
        return with_format_query(self.raw, "uncompressed")

    def __str__(self) -> str:
        return self.raw


def with_format_query(url: str, value: str) -> str:
    """``url`` with any ``tf-hub-format`` dropped and ``tf-hub-format=value`` appended."""
    parts = urllib.parse.urlparse(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != FORMAT_QUERY]
    query.append((FORMAT_QUERY, value))
    return urllib.parse.urlunparse(parts._replace(query=urllib.parse.urlencode(query)))


def parse(handle: object) -> Handle:
    """Parse a handle string, raising :class:`InvalidHandleError` if it is not one."""
    if isinstance(handle, Handle):
        return handle
    if isinstance(handle, os.PathLike):
        handle = os.fspath(handle)
    if not isinstance(handle, str):
        raise InvalidHandleError(f"handle {handle!r}: not a string; {_EXPECTED}")
    if not handle.strip() or handle != handle.strip():
        raise InvalidHandleError(f"handle {handle!r}: empty or surrounded by whitespace; {_EXPECTED}")
    if any(ord(c) < 32 or c == "\x7f" for c in handle):
        raise InvalidHandleError(f"handle {handle!r}: contains control characters; {_EXPECTED}")
    lowered = handle.lower()
    if lowered.startswith(("http://", "https://")):
        return _http(handle)
    if lowered.startswith("kaggle://"):
        return Handle(handle, "kaggle", _kaggle_key(handle, handle[len("kaggle://"):].split("/")))
    if lowered.startswith("gs://"):
        bucket_and_path = handle[len("gs://"):]
        if not bucket_and_path or bucket_and_path.startswith("/"):
            raise InvalidHandleError(f"handle {handle!r}: gs:// path without a bucket; {_EXPECTED}")
        return Handle(handle, "gcs", "gs://" + bucket_and_path.rstrip("/"))
    if lowered.startswith("file://"):
        try:
            path = urllib.parse.unquote(urllib.parse.urlparse(handle).path)
        except ValueError as exc:  # "file://[x": an unclosed IPv6 host
            raise InvalidHandleError(f"handle {handle!r}: malformed URL ({exc}); {_EXPECTED}") from None
        if not path:
            raise InvalidHandleError(f"handle {handle!r}: file:// URL without a path; {_EXPECTED}")
        return _local_path(handle, path)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+://", handle):
        scheme = handle.split("://", 1)[0]
        raise InvalidHandleError(f"handle {handle!r}: unsupported scheme {scheme!r}; {_EXPECTED}")
    return _local_path(handle, handle)


def _local_path(handle: str, path: str) -> Handle:
    """A path handle; its key must parse again (``a /.`` normalises to ``a ``, ``file:///a%0A`` decodes to ``/a\\n``)."""
    key = os.path.normpath(path)
    if key != key.strip() or any(ord(c) < 32 or c == "\x7f" for c in key):
        raise InvalidHandleError(
            f"handle {handle!r}: the path {key!r} has control characters or surrounding whitespace; {_EXPECTED}"
        )
    return Handle(handle, "path", key)


def normalise(handle: object) -> str:
    """The normalised key of a handle (idempotent: ``normalise(normalise(h)) == normalise(h)``)."""
    return parse(handle).key


def _http(url: str) -> Handle:
    if not _URL_CHARS.match(url):
        raise InvalidHandleError(
            f"handle {url!r}: URLs with spaces or non-ASCII characters cannot be requested "
            f"(percent-encode them, write hosts in xn-- form); {_EXPECTED}"
        )
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidHandleError(f"handle {url!r}: malformed URL ({exc}); {_EXPECTED}") from None
    scheme = parts.scheme.lower()
    if "@" in parts.netloc:
        raise InvalidHandleError(f"handle {url!r}: credentials in URLs are not supported; {_EXPECTED}")
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidHandleError(f"handle {url!r}: URL without a host; {_EXPECTED}")
    if ":" in host:  # an IPv6 literal keeps its brackets, or the key would not parse again
        host = f"[{host}]"
    elif len(host) > 253 or any(not label or len(label) > 63 for label in host.split(".")):
        raise InvalidHandleError(
            f"handle {url!r}: host {host!r} is not a valid name (an empty label, a label over 63 characters "
            f"or over 253 in all); {_EXPECTED}"
        )
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    if host in _KAGGLE_HOSTS:
        return Handle(url, "kaggle", _kaggle_key(url, _kaggle_web_segments(url, path)))
    if host == "tfhub.dev":
        _check_tfhub_path(url, path)
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    try:
        pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise InvalidHandleError(f"handle {url!r}: the query has percent-escapes that are not UTF-8; {_EXPECTED}") from None
    query = urllib.parse.urlencode([(k, v) for k, v in pairs if k != FORMAT_QUERY])
    return Handle(url, "http", urllib.parse.urlunsplit((scheme, netloc, path, query, "")))


def _check_tfhub_path(url: str, path: str) -> None:
    segments = [s for s in path.split("/") if s]
    if len(segments) < 3 or not segments[-1].isdigit():
        raise InvalidHandleError(
            f"handle {url!r}: a tfhub.dev handle needs a publisher, a model and a numeric version; {_EXPECTED}"
        )


def _kaggle_web_segments(url: str, path: str) -> list[str]:
    """owner, model, framework, variation[, version] of a kaggle.com/models/... URL path (short or long form)."""
    segments = path.split("/")[1:]
    if segments[:1] and segments[0].lower() == "models":
        long_form = [s.lower() for s in segments[3:8:2]]
        if len(segments) in (7, 9) and long_form == ["frameworks", "variations", "versions"][: len(long_form)]:
            return segments[1:3] + segments[4:9:2]
        if len(segments) in (5, 6):
            return segments[1:]
    raise InvalidHandleError(f"handle {url!r}: a Kaggle handle looks like {_KAGGLE_FORMS}")


def _kaggle_key(handle: str, segments: list[str]) -> str:
    """``kaggle://<owner>/<model>/<framework>/<variation>[/<version>]``: owner, model, framework lowercased."""
    if segments[-1:] == [""]:
        segments = segments[:-1]
    if len(segments) not in (4, 5) or not all(_KAGGLE_SEGMENT.match(s) and s.strip(".") for s in segments):
        raise InvalidHandleError(f"handle {handle!r}: a Kaggle handle looks like {_KAGGLE_FORMS}")
    if len(segments) == 5 and not segments[4].isdigit():
        raise InvalidHandleError(f"handle {handle!r}: a Kaggle model version is a number, got {segments[4]!r}")
    owner, model, framework = (s.lower() for s in segments[:3])
    return "kaggle://" + "/".join([owner, model, framework, *segments[3:]])
