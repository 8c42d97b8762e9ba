"""What HTTP responses and URLs say, read defensively: ranges, lengths, validators, safe display.

Pure functions over header values and exceptions (no requests import) used by ``fetch``:
``Content-Range``/``Content-Length`` parsing that refuses ambiguity, the strong ``ETag`` rule of
RFC 9110 (a weak ``W/`` tag or a ``Last-Modified`` date never proves two bodies byte-identical,
so neither is used to resume), ``Retry-After``, the UNCOMPRESSED location check, the minimum-speed
rule, :func:`describe` for exceptions, :func:`display_url`, which keeps signed query strings
and credentials out of messages, and :func:`may_carry_credentials`, which keeps them off plain http.
"""

from __future__ import annotations

import email.utils
import ipaddress
import re
import time
import urllib.parse

MAX_LOCATION_BYTES = 4096  # an UNCOMPRESSED answer is one short gs:// path
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d{1,19})-(\d{1,19})/(\d{1,19}|\*)\s*$")
_GCS_LOCATION = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/[^\s/]+)*/?$")
_SAFE_QUERY = frozenset({("tf-hub-format", "compressed"), ("tf-hub-format", "uncompressed")})
# what a 401/403 adds when its request went without credentials by may_carry_credentials
CREDENTIALS_WITHHELD = "the credentials were withheld because the URL is plain http (sent only over https or to this machine)"
# what a 401/403 adds when it came from where a redirect led (signed storage), not from the URL asked
REFUSED_AFTER_REDIRECT = ("refused where the server's redirect led (a signed storage URL that expired or was revoked; "
                          "a new run asks for a new one)")


def content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``(first, last, total or None)`` from ``bytes first-last/total``; None when absent or malformed."""
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None
    first, last, total = int(match.group(1)), int(match.group(2)), match.group(3)
    total_bytes = None if total == "*" else int(total)
    if last < first or (total_bytes is not None and last >= total_bytes):
        return None
    return first, last, total_bytes


def content_length(values: list[str]) -> int | None:
    """The length from every ``Content-Length`` value; ValueError when they are malformed or disagree."""
    lengths = set()
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not (part.isascii() and part.isdigit()) or len(part) > 19:
                raise ValueError(f"malformed Content-Length {value!r}")
            lengths.add(int(part))
    if len(lengths) > 1:
        raise ValueError(f"conflicting Content-Length headers ({', '.join(map(str, sorted(lengths)))})")
    return lengths.pop() if lengths else None


def strong_etag(value: str | None) -> str | None:
    """The ETag if it is a strong validator (``"..."``), else None (absent, weak ``W/"..."`` or malformed)."""
    value = (value or "").strip()
    if len(value) >= 2 and value[0] == value[-1] == '"' and '"' not in value[1:-1] and value.isascii():
        return value
    return None


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (a number or an HTTP date), or None; the caller caps what it honours."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(min(int(value[:4000]), 10**12))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return max(0.0, when.timestamp() - time.time())


def display_url(url: str) -> str:
    """``url`` fit for messages: no user info, and no query unless it is only ``tf-hub-format=compressed``
    (or ``uncompressed``); the one rule for every URL hubvendor prints.

    Signed storage URLs carry their signature in the query; it is replaced by ``?...``.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query and set(urllib.parse.parse_qsl(query, keep_blank_values=True)) - _SAFE_QUERY:
        query = "..."
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def is_loopback(url: str) -> bool:
    """Whether ``url``'s host is this machine (127.0.0.0/8, ::1 or localhost)."""
    try:
        host = urllib.parse.urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def may_carry_credentials(url: str) -> bool:
    """Whether a request to ``url`` may carry credentials (an ``Authorization`` header).

    Only over https, or plain http to this machine (:func:`is_loopback`: a test stand-in or a local
    ``hubvendor serve``); plain http to any other host would put the secret on the wire in the clear.
    """
    try:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
    except ValueError:
        return False
    return scheme == "https" or (scheme == "http" and is_loopback(url))


def without_credentials(headers: dict[str, str] | None) -> dict[str, str] | None:
    """``headers`` without ``Authorization`` (any spelling)."""
    return None if headers is None else {k: v for k, v in headers.items() if k.lower() != "authorization"}


def location_problem(body: bytes, server_url: str) -> tuple[str, str | None]:
    """Check an UNCOMPRESSED 303 body: ``(location, None)`` if usable, else ``("", why not)``.

    As tensorflow_hub, the location must be one ``gs://bucket/path``; a mirror on this machine
    (``hubvendor serve`` on loopback) may also answer with an absolute local directory. Paths with
    ``..`` segments, other schemes, several lines and bodies over 4 KiB are refused.
    """
    if len(body) > MAX_LOCATION_BYTES:
        return "", f"the answer is longer than {MAX_LOCATION_BYTES} bytes (expected one gs:// location)"
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError:
        return "", "the answer is not UTF-8 text (expected one gs:// location)"
    if not text:
        return "", "the answer is empty (expected one gs:// location)"
    shown = repr(text[:120])
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        return "", f"expected one gs:// location, got several words or lines: {shown}"
    segments = text.split("/")
    if ".." in segments or "." in segments[1:]:
        return "", f"the location {shown} has '.' or '..' segments"
    if text.startswith("gs://"):
        if _GCS_LOCATION.match(text):
            return text, None
        return "", f"{shown} is not a valid gs://bucket/path location"
    if text.startswith("/") and not text.startswith("//") and is_loopback(server_url):
        return text, None
    return "", f"expected a gs:// location, got {shown}"


class Throughput:
    """Tells when a download stays below ``minimum`` bytes/s for ``window`` seconds (0: never)."""

    def __init__(self, minimum: int, window: float) -> None:
        self.minimum = minimum
        self.window = window
        self.restart()

    def restart(self) -> None:
        self._since = time.monotonic()
        self._bytes = 0

    def add(self, count: int) -> str | None:
        """Count ``count`` bytes; a message once the last window was too slow, else None."""
        if not self.minimum:
            return None
        self._bytes += count
        elapsed = time.monotonic() - self._since
        if elapsed < self.window:
            return None
        if self._bytes < self.minimum * elapsed:
            return (f"slower than HUBVENDOR_MIN_SPEED={self.minimum} bytes/s: {self._bytes} bytes in "
                    f"{elapsed:.1f} s (HUBVENDOR_MIN_SPEED_TIME={self.window:g})")
        self.restart()
        return None


def describe(exc: BaseException) -> str:
    """A one-line cause, without urllib3's nested reprs."""
    text = str(exc)
    if "Timeout" in {c.__name__ for c in type(exc).__mro__} or "timed out" in text.lower():
        return f"timed out ({exc.__class__.__name__})"
    for marker in ("Connection refused", "Name or service not known", "Connection reset by peer",
                   "IncompleteRead", "RemoteDisconnected", "Connection aborted"):
        if marker in text:
            return marker
    return text.splitlines()[0][:200] if text else exc.__class__.__name__
