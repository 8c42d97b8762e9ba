"""Parse and normalise TF Hub handles.

A :class:`Handle` keeps the string exactly as written (tensorflow_hub names cache
entries ``sha1(handle as written)``) and derives from it a normalised ``key`` for
vendored lookups and the URL of the compressed archive.
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
_CN_HUB_PREFIX = "https://hub.tensorflow.google.cn/"
_CN_GCS_TEMPLATE = "https://gcs.tensorflow.google.cn/tfhub-modules/%s.tar.gz"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_KAGGLE_LONG = re.compile(
    r"^/models/([^/]+)/([^/]+)/frameworks/([^/]+)/variations/([^/]+)/versions/(\d+)$", re.I
)
_KAGGLE_SHORT = re.compile(r"^/models/([^/]+)/([^/]+)/([^/]+)/([^/]+)/(\d+)$", re.I)
_EXPECTED = (
    "expected https://tfhub.dev/<publisher>/<model>/<version>, a Kaggle model URL, "
    "another http(s) archive URL, a gs:// path or a local path"
)


@dataclass(frozen=True)
class Handle:
    """A TF Hub handle: ``raw`` as written, its ``kind`` and normalised ``key``."""

    raw: str
    kind: str  # "http", "gcs" or "path"
    key: str

    @property
    def cache_name(self) -> str:
        """Cache entry name, exactly as tensorflow_hub computes it."""
        return hashlib.sha1(self.raw.encode("utf8")).hexdigest()

    @property
    def is_remote(self) -> bool:
        return self.kind in ("http", "gcs")

    @property
    def is_archive(self) -> bool:
        """True when resolving means downloading and extracting an archive."""
        return self.kind == "http" or (self.kind == "gcs" and self.raw.endswith(ARCHIVE_SUFFIXES))

    def compressed_url(self) -> str:
        """The URL tensorflow_hub downloads for COMPRESSED/AUTO loads."""
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
        return Handle(handle, "http", _http_key(handle))
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


def _http_key(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidHandleError(f"handle {url!r}: malformed URL ({exc}); {_EXPECTED}") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidHandleError(f"handle {url!r}: URL without a host; {_EXPECTED}")
    if parts.username or parts.password:
        raise InvalidHandleError(f"handle {url!r}: credentials in URLs are not supported; {_EXPECTED}")
    if ":" in host:  # an IPv6 literal keeps its brackets, or the key would not parse again
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    path = "".join(urllib.parse.quote(c) if c.isspace() else c for c in path)  # as sent; a key never ends in a space
    if host == "tfhub.dev":
        _check_tfhub_path(url, path)
    if host in ("kaggle.com", "www.kaggle.com"):
        netloc, path = "www.kaggle.com", _kaggle_path(url, path)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != FORMAT_QUERY]
    return urllib.parse.urlunsplit((scheme, netloc, path, urllib.parse.urlencode(query), ""))


def _check_tfhub_path(url: str, path: str) -> None:
    segments = [s for s in path.split("/") if s]
    if len(segments) < 3 or not segments[-1].isdigit():
        raise InvalidHandleError(
            f"handle {url!r}: a tfhub.dev handle needs a publisher, a model and a numeric version; {_EXPECTED}"
        )


def _kaggle_path(url: str, path: str) -> str:
    match = _KAGGLE_LONG.match(path) or _KAGGLE_SHORT.match(path)
    if not match:
        raise InvalidHandleError(
            f"handle {url!r}: a Kaggle handle looks like https://www.kaggle.com/models/<owner>/<model>/"
            f"<framework>/<variation>/<version> (or the long .../frameworks/.../variations/.../versions/N form)"
        )
    owner, model, framework, variation, version = match.groups()
    return f"/models/{owner.lower()}/{model.lower()}/{framework.lower()}/{variation}/{version}"
