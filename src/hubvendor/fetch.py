"""HTTP downloads that survive real networks: mirrors, retries, resume, timeouts, redirects.

``open_download(url, name=handle)`` returns a :class:`Download`, an iterable of ~1 MiB ``bytes``
chunks. Candidate URLs come from the downloader config (``mirrors``); each is tried in turn and
the next one is used after a 404, a redirect loop or a failure that outlasted the retries.
Within a candidate, connection errors, timeouts and HTTP 429/500/502/503/504 are retried with
exponential backoff and jitter (``Retry-After`` honoured, capped), and a body that stops short
is resumed with ``Range: bytes=N-`` (checked against ``Content-Range``, ``If-Range`` keeps it to
the same ETag). Other 4xx statuses fail at once. Proxies and CA bundles come from the usual
environment variables (requests' ``trust_env``); ``TFHUB_DISABLE_CERT_VALIDATION=true`` turns off
certificate checks as tensorflow_hub does. requests is imported only when a download starts.
"""

from __future__ import annotations

import email.utils
import http.client
import random
import re
import sys
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, Iterator

from . import __version__, mirrors, settings
from .errors import FetchError, OfflineError
from .handle import Handle

if TYPE_CHECKING:
    import requests

CHUNK_SIZE = 1 << 20
MAX_REDIRECTS = 10
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.25  # seconds; doubled per consecutive failure, with jitter
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 60.0
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


class _CandidateFailed(Exception):
    """This candidate URL cannot serve the download; ``fallback`` says whether to try the next one."""

    def __init__(self, message: str, *, fallback: bool) -> None:
        super().__init__(message)
        self.fallback = fallback


class _Attempts:
    """Counts consecutive failures of one download and sleeps before the next attempt."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.limit = settings.retries()
        self.failures = 0
        self._progress_mark = -1

    def wait(self, cause: str, *, position: int = 0, retry_after: float | None = None) -> None:
        """Sleep before retrying, or raise _CandidateFailed once the retries are spent."""
        if position > self._progress_mark:  # bytes arrived since the last failure: a fresh budget
            self.failures = 0
            self._progress_mark = position
        self.failures += 1
        if self.failures > self.limit:
            raise _CandidateFailed(
                f"{self.url}: {cause} (gave up after {self.limit} retries)", fallback=True
            )
        if retry_after is None:
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (self.failures - 1)) * random.uniform(0.5, 1.0)
        else:
            delay = min(RETRY_AFTER_CAP, retry_after)
        time.sleep(delay)


class Download:
    """A streaming download: iterate for ``bytes`` chunks; ``url`` (after redirects), ``size`` (or None).

    :meth:`close` may be called from another thread while one iterates: the reader then stops
    without yielding more, reconnecting or touching the closed session.
    """

    def __init__(self, source: str, *, name: str, offset: int = 0) -> None:
        import requests

        self.name = name
        self.source = source
        self.url = source
        self.size: int | None = None
        self._position = offset
        self._etag: str | None = None
        self._opened = False
        self._response: requests.Response | None = None
        self._attempts = _Attempts(source)
        self._progress: Any = None
        self._lock = threading.Lock()  # guards _closed, _response and _progress against close()
        self._closed = False
        self._session = requests.Session()
        self._session.max_redirects = MAX_REDIRECTS
        self._session.headers["User-Agent"] = f"hubvendor/{__version__} {requests.utils.default_user_agent()}"
        self._session.headers["Accept-Encoding"] = "identity"  # byte offsets must be the archive's
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    # -- public ----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[bytes]:
        while self._response is not None:
            try:
                chunk, state = self._read()
            except Exception:
                if self._closed:  # close() from another thread took the response away mid-read
                    return
                raise
            if self._closed:
                return
            if chunk:
                yield chunk
            if state is None or self._response is None:  # more to come, or closed by the consumer
                continue
            if state == "":
                self.close()
                return
            with self._lock:
                if self._response is not None:
                    self._response.close()
            try:
                self._attempts.wait(state, position=self._position)
                self._connect()
            except _CandidateFailed as exc:
                self.close()
                raise FetchError(f"{self.name}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            response, self._response = self._response, None
            progress, self._progress = self._progress, None
        if response is not None:
            response.close()
        if progress is not None:
            progress.close()
        self._session.close()

    def __enter__(self) -> Download:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _read(self) -> tuple[bytes, str | None]:
        """Up to CHUNK_SIZE bytes, and then: None (more to come), "" (complete) or why it stopped short.

        ``read1`` returns what has arrived, so bytes received before a drop are kept.
        """
        import urllib3

        pieces: list[bytes] = []
        received = 0
        state = None
        try:
            while received < CHUNK_SIZE:
                piece = self._response.raw.read1(CHUNK_SIZE - received, decode_content=False)
                if not piece:
                    end = self._position + received
                    short = self.size is not None and end < self.size
                    state = f"connection closed after {end} of {self.size} bytes" if short else ""
                    break
                pieces.append(piece)
                received += len(piece)
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            state = f"connection dropped after {self._position + received} bytes ({_describe(exc)})"
        self._position += received
        with self._lock:
            if self._progress is not None and received:
                self._progress.update(received)
        return (pieces[0] if len(pieces) == 1 else b"".join(pieces)), state

    def _connect(self) -> None:
        """(Re)open the response at the current position, retrying transient failures."""
        while True:
            headers = {}
            if self._position:
                headers["Range"] = f"bytes={self._position}-"
                if self._etag:
                    headers["If-Range"] = self._etag
            response = _get(self._session, self.source, self._attempts, headers=headers, position=self._position)
            if response.status_code == 404:
                response.close()
                host = urllib.parse.urlsplit(response.url).netloc
                raise _CandidateFailed(f"not found on {host} (HTTP 404 from {response.url})", fallback=True)
            if response.status_code not in (200, 206):
                response.close()
                raise _CandidateFailed(
                    f"{response.url}: HTTP {response.status_code} {response.reason}",
                    fallback=response.status_code >= 500,
                )
            if self._accept(response):
                return
            self._attempts.wait(f"connection dropped while skipping to byte {self._position}", position=self._position)

    def _accept(self, response: requests.Response) -> bool:
        """Take ``response`` as the body from the current position; False to reconnect after a drop."""
        length = _int_or_none(response.headers.get("Content-Length"))
        if response.status_code == 206:
            start, total = _content_range(response.headers.get("Content-Range", ""))
            if start != self._position or (None not in (self.size, total) and total != self.size):
                response.close()
                raise _CandidateFailed(
                    f"{response.url}: asked for bytes from {self._position} of {self.size}, "
                    f"server sent Content-Range {response.headers.get('Content-Range')!r}",
                    fallback=False,
                )
            self.size = total if total is not None else self.size
        else:
            etag = response.headers.get("ETag")
            changed = (self._etag and etag and etag != self._etag) or (
                None not in (self.size, length) and length != self.size
            )
            if self._opened and changed:
                response.close()
                raise _CandidateFailed(
                    f"{response.url}: the file changed on the server during the download", fallback=False
                )
            self.size = length
            if self._position and not self._skip(response, self._position):
                return False
        first, self._opened = not self._opened, True
        self.url = response.url
        etag = response.headers.get("ETag")
        if etag and not etag.startswith("W/"):
            self._etag = etag
        with self._lock:
            if self._closed:  # closed by another thread while reconnecting: iteration ends
                response.close()
                return True
            self._response = response
            if first and settings.download_progress():
                from tqdm import tqdm

                self._progress = tqdm(
                    total=self.size, initial=self._position, unit="B", unit_scale=True, unit_divisor=1024,
                    desc=self.name, file=sys.stderr, leave=False,
                )
        return True

    def _skip(self, response: requests.Response, count: int) -> bool:
        """Discard ``count`` bytes of a full response (the server ignored Range); False on a drop."""
        import urllib3

        try:
            while count:
                chunk = response.raw.read(min(CHUNK_SIZE, count), decode_content=False)
                if not chunk:
                    break
                count -= len(chunk)
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError):
            pass
        if count:
            response.close()
        return not count


def open_download(url: str, *, name: str, offset: int = 0) -> Download:
    """Start downloading ``url`` (for handle ``name``) from byte ``offset``; mirrors applied."""
    if settings.offline():
        raise OfflineError(f"{name}: HUBVENDOR_OFFLINE is set; not downloading {url}")
    candidates = mirrors.candidates(url)
    failures: list[str] = []
    for candidate in candidates:
        try:
            return Download(candidate, name=name, offset=offset)
        except _CandidateFailed as exc:
            failures.append(str(exc))
            if not exc.fallback:
                break
    raise FetchError(_failure_message(name, candidates, failures))


def request_uncompressed_location(handle: Handle) -> str:
    """Ask the server where the uncompressed model is: a 303 whose body is the location."""
    import requests

    url = handle.uncompressed_url()
    if settings.offline():
        raise OfflineError(f"{handle.raw}: HUBVENDOR_OFFLINE is set; not requesting {url}")
    candidates = mirrors.candidates(url)
    failures: list[str] = []
    with requests.Session() as session:
        session.headers["User-Agent"] = f"hubvendor/{__version__} {requests.utils.default_user_agent()}"
        for candidate in candidates:
            try:
                response = _get(session, candidate, _Attempts(candidate), allow_redirects=False)
            except _CandidateFailed as exc:
                failures.append(str(exc))
                continue
            with response:
                location = response.text.strip() if response.status_code == 303 else ""
                if location:
                    return location
                problem = "with an empty body" if response.status_code == 303 else f"received {response.status_code}"
                failures.append(f"{candidate}: expected 303 See Other with the model's location, {problem}")
                if response.status_code != 404:
                    break
    raise FetchError(_failure_message(handle.raw, candidates, failures))


def _get(
    session: requests.Session, url: str, attempts: _Attempts, *,
    headers: dict[str, str] | None = None, allow_redirects: bool = True, position: int = 0,
) -> requests.Response:
    """GET with retries on connection errors, timeouts and retryable statuses."""
    import requests

    while True:
        try:
            response = session.get(
                url, headers=headers, stream=True, allow_redirects=allow_redirects,
                timeout=(settings.connect_timeout(), settings.read_timeout()),
                verify=False if settings.disable_cert_validation() else None,
            )
        except requests.TooManyRedirects:
            raise _CandidateFailed(f"{url}: redirect loop (more than {MAX_REDIRECTS} redirects)", fallback=True) from None
        except requests.exceptions.SSLError as exc:
            raise _CandidateFailed(
                f"{url}: TLS certificate check failed ({_describe(exc)}); set REQUESTS_CA_BUNDLE to your "
                f"CA bundle, or TFHUB_DISABLE_CERT_VALIDATION=true to skip the check",
                fallback=True,
            ) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema) as exc:
            raise _CandidateFailed(f"{url}: invalid URL ({exc})", fallback=True) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            attempts.wait(f"{_describe(exc)}", position=position)
            continue
        if response.status_code in RETRYABLE_STATUSES:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            response.close()
            attempts.wait(f"HTTP {response.status_code} {response.reason} from {response.url}", position=position,
                          retry_after=retry_after)
            continue
        return response


def _failure_message(name: str, candidates: list[str], failures: list[str]) -> str:
    if len(failures) == 1:
        return f"{name}: {failures[0]}"
    tried = ", ".join(candidates[: len(failures)])
    return f"{name}: download failed from every mirror ({tried}): " + "; ".join(failures)


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (a number or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _content_range(value: str) -> tuple[int | None, int | None]:
    match = _CONTENT_RANGE.match(value)
    if not match:
        return None, None
    total = match.group(3)
    return int(match.group(1)), (None if total == "*" else int(total))


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _describe(exc: BaseException) -> str:
    """A one-line cause, without urllib3's nested reprs."""
    import requests

    text = str(exc)
    if isinstance(exc, requests.Timeout) or "timed out" in text.lower():
        return f"timed out ({exc.__class__.__name__})"
    for marker in ("Connection refused", "Name or service not known", "Connection reset by peer",
                   "IncompleteRead", "RemoteDisconnected", "Connection aborted"):
        if marker in text:
            return marker
    return text.splitlines()[0][:200] if text else exc.__class__.__name__
