"""One URL's body as verified chunks: resume that proves it continues the same object, ranges, minimum speed.

:class:`Download` streams one candidate URL (``fetch`` picks the candidates and mirrors): ~1 MiB
``bytes`` chunks, reconnecting after a drop through ``httpget.Attempts``. Resuming a body that stopped
short must prove it continues the same object: with a strong ETag, ``Range: bytes=N-`` carries
``If-Range`` and the 206 must echo that ETag and the exact ``Content-Range`` asked for; a 200 must carry
the same ETag (the rest is skipped). Without a strong ETag (none, weak, or only ``Last-Modified``, which
RFC 9110 calls weak), the body is read again from the start and its first N bytes must hash to what was
already passed on. With ``end`` it reads one range of an object already seen (a part for ``ranged``).
Opening a URL that cannot serve raises ``httpget.CandidateFailed`` (``fetch`` then tries the next);
once reading, failures are a ``FetchError`` (``SourceChangedError`` for a changed object) naming the
handle. A download slower than ``HUBVENDOR_MIN_SPEED`` over ``HUBVENDOR_MIN_SPEED_TIME`` fails.
requests is imported only when one starts.
"""

from __future__ import annotations

import hashlib
import http.client
import sys
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any, Iterator

from . import httpinfo, settings
from .httpget import Attempts, CandidateFailed, get, new_session
from .httpinfo import describe, display_url

if TYPE_CHECKING:
    import requests

CHUNK_SIZE = 1 << 20


class Download:
    """A streaming download: iterate for ``bytes`` chunks; ``url`` (after redirects), ``size`` (or None).

    :meth:`close` may be called from another thread while one iterates: the reader then stops
    without yielding more, reconnecting or touching the closed session. With ``end`` it reads the
    range ``[offset, end)`` of an object already seen (its ``size`` and strong ETag ``validator``):
    every request carries ``If-Range``, and an answer that is not that exact range is retried.
    """

    def __init__(
        self, source: str, *, name: str, offset: int = 0, headers: dict[str, str] | None = None,
        end: int | None = None, size: int | None = None, validator: str | None = None,
    ) -> None:
        self.name = name
        self.source = source
        self.url = source
        self.size = size
        self.validator = validator  # the object's strong ETag, if it has one
        self.accepts_ranges = False  # the first response said Accept-Ranges: bytes
        self._end = end
        self._start = offset
        self._position = offset
        self._prefix: Any = None  # sha256 of bytes [start, position) when there is no strong ETag
        self._opened = end is not None
        self._response: requests.Response | None = None
        self._attempts = Attempts(source, start=offset)
        self._speed = httpinfo.Throughput(settings.min_speed(), settings.min_speed_time())
        self._progress: Any = None
        self._lock = threading.Lock()  # guards _closed, _response and _progress against close()
        self._closed = False
        sent = headers if httpinfo.may_carry_credentials(source) else httpinfo.without_credentials(headers)
        self._withheld = sent != headers  # a 401/403 then says why
        self._session = new_session(sent)
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    # -- public ----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[bytes]:
        try:
            while self._response is not None:
                try:
                    chunk, state = self._read()
                except CandidateFailed:
                    raise
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
                self._attempts.wait(state, position=self._position)
                self._connect()
        except CandidateFailed as exc:
            self.close()
            raise exc.error(f"{self.name}: {exc}") from None

    def close(self) -> None:
        self.stop()
        with self._lock:
            progress, self._progress = self._progress, None
        if progress is not None:
            progress.close()

    def stop(self) -> None:
        """Close the connection, keeping the progress bar (ranges on other connections move it on)."""
        with self._lock:
            self._closed = True
            response, self._response = self._response, None
        if response is not None:
            response.close()
        self._session.close()

    def add_progress(self, count: int) -> None:
        """Move the progress bar by ``count`` bytes read elsewhere (by range connections)."""
        with self._lock:
            if self._progress is not None:
                self._progress.update(count)

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
                want = CHUNK_SIZE - received
                if self._end is not None:  # a range: a longer answer is read only up to its end
                    want = min(want, self._end - self._position - received)
                    if not want:
                        state = ""
                        break
                piece = self._response.raw.read1(want, decode_content=False)
                if not piece:
                    end = self._position + received
                    stop = self.size if self._end is None else self._end
                    short = stop is not None and end < stop
                    state = f"connection closed after {end} of {stop} bytes" if short else ""
                    break
                pieces.append(piece)
                received += len(piece)
                self._too_slow(len(piece))
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            state = f"connection dropped after {self._position + received} bytes ({describe(exc)})"
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        if self._prefix is not None:
            self._prefix.update(data)
        self._position += received
        with self._lock:
            if self._progress is not None and received:
                self._progress.update(received)
        return data, state

    def _too_slow(self, count: int) -> None:
        slow = self._speed.add(count)
        if slow:
            raise CandidateFailed(f"{display_url(self.source)}: {slow}", fallback=True)

    def _connect(self) -> None:
        """(Re)open the response at the current position, retrying transient failures."""
        while True:
            resume = self._opened and self._position > self._start
            headers = {}
            asked: int | None = self._start or None  # first request, or a re-read whose prefix is checked
            if resume and self.validator:
                asked = self._position
                headers["If-Range"] = self.validator
            if self._end is not None:
                asked = self._position
                headers["If-Range"] = self.validator or ""
            if asked is not None:
                headers["Range"] = f"bytes={asked}-{'' if self._end is None else self._end - 1}"
            response = get(self._session, self.source, self._attempts, headers=headers, position=self._position)
            if response.status_code == 404:
                response.close()
                host = urllib.parse.urlsplit(response.url).netloc.rpartition("@")[2]
                raise CandidateFailed(
                    f"not found on {host} (HTTP 404 from {display_url(response.url)})", fallback=True
                )
            if response.status_code not in (200, 206):
                response.close()
                refused = response.status_code in (401, 403)
                withheld = self._withheld and refused  # name the URL they were withheld from
                why = httpinfo.CREDENTIALS_WITHHELD if withheld else (
                    httpinfo.REFUSED_AFTER_REDIRECT if refused and response.history else "")
                raise CandidateFailed(
                    f"{display_url(self.source if withheld else response.url)}: HTTP {response.status_code} "
                    f"{response.reason}" + (f"; {why}" if why else ""),
                    fallback=response.status_code >= 500,
                    refused_status=response.status_code if refused and not why else None,
                )
            retry = self._accept(response, asked)
            if retry is None:
                return
            self._attempts.wait(retry, position=self._position)

    def _accept(self, response: requests.Response, asked: int | None) -> str | None:
        """Take ``response`` as the body from the current position; else why to reconnect."""
        url = display_url(response.url)
        try:
            length = httpinfo.content_length(response.raw.headers.getlist("Content-Length"))
        except ValueError as exc:
            response.close()
            raise CandidateFailed(f"{url}: {exc}", fallback=True) from None
        etag = httpinfo.strong_etag(response.headers.get("ETag"))
        if response.status_code == 206:
            body_start, total, problem = self._check_partial(response, url, asked, length, etag)
            if problem:
                return problem
        else:
            if self._opened and self.validator and etag != self.validator:
                response.close()
                raise _changed(url, f"ETag {self.validator} at the start, {etag or 'none'} now")
            if self._opened and None not in (self.size, length) and length != self.size:
                response.close()
                raise _changed(url, f"{self.size} bytes at the start, {length} now")
            if self._end is not None:
                response.close()
                return "answered 200 instead of 206 to a Range request"
            body_start, total = 0, length
        if not self._opened:
            self.size, self.validator = total, etag
            self.accepts_ranges = response.headers.get("Accept-Ranges", "").strip().lower() == "bytes"
            if etag is None:
                self._prefix = hashlib.sha256()
        if self._position > body_start and not self._skip(response, body_start):
            return f"connection dropped while skipping to byte {self._position}"
        self._speed.restart()
        first, self._opened = not self._opened, True
        self.url = response.url
        with self._lock:
            if self._closed:  # closed by another thread while reconnecting: iteration ends
                response.close()
                return None
            self._response = response
            if first and settings.download_progress():
                from tqdm import tqdm

                self._progress = tqdm(
                    total=self.size, initial=self._position, unit="B", unit_scale=True, unit_divisor=1024,
                    desc=self.name, file=sys.stderr, leave=False,
                )
        return None

    def _check_partial(
        self, response: requests.Response, url: str, asked: int | None, length: int | None, etag: str | None
    ) -> tuple[int, int | None, str | None]:
        """A 206 must answer the Range asked, for the same object: (first byte, total size, problem).

        A wrong answer to a range of a known object is a problem to retry; any other fails the URL.
        """
        header = response.headers.get("Content-Range")
        parsed = httpinfo.content_range(header)
        problem = None
        if asked is None:
            problem = "answered 206 Partial Content to a request without Range"
        elif parsed is None:
            problem = f"answered 206 Partial Content without a valid Content-Range (got {header!r})"
        elif (parsed[0] != asked or (length is not None and length != parsed[1] - parsed[0] + 1)
              or None not in (self.size, parsed[2]) and parsed[2] != self.size
              or self._end is not None and parsed[1] < self._end - 1):
            problem = (f"asked for bytes from {asked} of {self.size if self.size is not None else 'unknown'}, "
                       f"server sent Content-Range {header!r} with Content-Length {length}")
        if self._opened and self.validator and etag != self.validator:
            response.close()
            raise _changed(url, f"ETag {self.validator} at the start, {etag or 'none'} on resume")
        if problem:
            response.close()
            if self._end is not None and parsed is not None and parsed[2] not in (None, self.size):
                raise CandidateFailed(f"{url}: the first response announced {self.size} bytes, a range request "
                                      f"found {parsed[2]} (truncated, or changed on the server)", fallback=False)
            if self._end is not None:
                return 0, None, problem
            raise CandidateFailed(f"{url}: {problem}", fallback=not self._opened)
        return parsed[0], parsed[2] if parsed[2] is not None else self.size, None

    def _skip(self, response: requests.Response, body_start: int) -> bool:
        """Read the body up to the current position without passing it on; False on a drop.

        Without a strong ETag the bytes from this download's start are hashed and must match
        what was already passed on, so a changed object is never continued.
        """
        import urllib3

        check = hashlib.sha256() if self._opened and self._prefix is not None else None
        at = body_start
        try:
            while at < self._position:
                chunk = response.raw.read1(min(CHUNK_SIZE, self._position - at), decode_content=False)
                if not chunk:
                    break
                if check is not None and at + len(chunk) > self._start:
                    check.update(memoryview(chunk)[max(0, self._start - at):])
                at += len(chunk)
                self._too_slow(len(chunk))
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError):
            pass
        if at < self._position:
            response.close()
            return False
        if check is not None and check.digest() != self._prefix.copy().digest():
            response.close()
            raise _changed(display_url(response.url), f"its first {self._position - self._start} bytes differ")
        return True


def _changed(url: str, detail: str) -> CandidateFailed:
    return CandidateFailed(
        f"{url}: the file changed on the server during the download ({detail}); nothing was kept, run again",
        fallback=False, changed=True,
    )
