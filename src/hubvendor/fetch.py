"""HTTP downloads that survive real networks without ever splicing two objects.

``open_download(url, name=handle)`` returns an iterable of ~1 MiB ``bytes`` chunks (an
``httpstream.Download``, or a ``ranged.RangedDownload`` over several). Candidate URLs come from the
downloader config (``mirrors``); each is tried in turn and the next one is used after a 404, a
redirect loop, a refused redirect or a failure that outlasted the retries; when every candidate failed,
one :class:`FetchError` names the handle and each candidate's cause. Redirects are followed only to
hosts the config allows. Within a candidate, connection errors, timeouts and HTTP 429/500/502/503/504
are retried with exponential backoff and jitter (``httpget``: ``Retry-After`` honoured up to 60 s; a
server asking for longer fails the candidate at once, naming the URL and the value); the retry budget
is renewed only after 1 MiB of progress. How a resumed body is proven to continue the same object is
``httpstream``'s. Proxies and CA bundles come from the usual environment variables;
``TFHUB_DISABLE_CERT_VALIDATION=true`` turns off certificate checks as tensorflow_hub does. requests
is imported only when a download starts.

Large objects are read in ranges (``ranged``): when the first response offers ``Accept-Ranges:
bytes``, a length of at least ``HUBVENDOR_RANGED_MIN_SIZE`` and a strong ETag, and then reads
slower than ``HUBVENDOR_RANGED_SPEED``, the rest comes as ``Range: bytes=a-b`` requests with
``If-Range`` to the final URL, each checked and retried like a resume; the range connections of
the whole process share one budget of ``HUBVENDOR_CONNECTIONS``.

:func:`request_uncompressed_location` asks the same candidates for tensorflow_hub's UNCOMPRESSED
answer (a 303 whose body is one ``gs://`` location).
"""

from __future__ import annotations

import threading
import urllib.parse

from . import __version__, httpinfo, mirrors, ranged, settings
from .errors import FetchError, OfflineError
from .handle import Handle
from .httpget import Attempts, CandidateFailed, get
from .httpinfo import describe, display_url
from .httpstream import Download


def open_download(
    url: str, *, name: str, offset: int = 0, headers: dict[str, str] | None = None
) -> Download | ranged.RangedDownload:
    """Start downloading ``url`` (for handle ``name``) from byte ``offset``; mirrors applied.

    ``headers`` (e.g. an ``Authorization``) go with every request to the URL's own host; they are
    never shown in messages and requests drops ``Authorization`` on a redirect to another host.
    ``Authorization`` goes only where ``httpinfo.may_carry_credentials`` allows (https, or http to this
    machine); a 401/403 to a request that went without it says so.
    An object of at least ``HUBVENDOR_RANGED_MIN_SIZE`` whose first response offers byte ranges
    and a strong ETag is read as ``HUBVENDOR_CONNECTIONS`` ranges of its final URL, in order.
    """
    if settings.offline():
        raise OfflineError(f"{name}: HUBVENDOR_OFFLINE is set; not downloading {display_url(url)}")
    candidates = mirrors.candidates(url)
    failures: list[str] = []
    for candidate in candidates:
        try:
            download = Download(candidate, name=name, offset=offset, headers=headers)
        except CandidateFailed as exc:
            failures.append(str(exc))
            if not exc.fallback:  # the last candidate tried: its refusal is the error's
                raise exc.error(_failure_message(name, candidates, failures)) from None
        else:
            return _in_ranges(download, headers) if offset == 0 else download
    raise FetchError(_failure_message(name, candidates, failures))


_budget_lock = threading.Lock()
_budget: threading.BoundedSemaphore | None = None


def connection_budget() -> threading.BoundedSemaphore:
    """The process-wide limit on range connections (``HUBVENDOR_CONNECTIONS``), shared by all downloads."""
    global _budget
    with _budget_lock:
        if _budget is None:
            _budget = threading.BoundedSemaphore(settings.connections())
        return _budget


def _in_ranges(first: Download, headers: dict[str, str] | None) -> Download | ranged.RangedDownload:
    """``first`` read on several connections when the object allows it, else ``first`` itself."""
    connections = settings.connections()
    if (connections < 2 or not first.accepts_ranges or first.validator is None or first.size is None
            or first.size < max(2, settings.ranged_min_size())):
        return first
    same_host = urllib.parse.urlsplit(first.url).netloc == urllib.parse.urlsplit(first.source).netloc
    part_headers = headers if same_host else None  # credentials never follow a redirect to another host

    def open_range(start: int, end: int) -> Download:
        try:
            return Download(first.url, name=first.name, offset=start, end=end, size=first.size,
                            validator=first.validator, headers=part_headers)
        except CandidateFailed as exc:
            raise exc.error(f"{first.name}: {exc}") from None

    return ranged.RangedDownload(first, open_part=open_range, connections=connections,
                                 budget=connection_budget(), progress=first.add_progress,
                                 spread_below=settings.ranged_speed())


def request_uncompressed_location(handle: Handle) -> str:
    """Ask the server where the uncompressed model is: a 303 whose body is one ``gs://`` location."""
    import requests

    url = handle.uncompressed_url()
    if settings.offline():
        raise OfflineError(f"{handle.raw}: HUBVENDOR_OFFLINE is set; not requesting {display_url(url)}")
    candidates = mirrors.candidates(url)
    failures: list[str] = []
    with requests.Session() as plain:
        plain.headers["User-Agent"] = f"hubvendor/{__version__} {requests.utils.default_user_agent()}"
        for candidate in candidates:
            try:
                response = get(plain, candidate, Attempts(candidate), allow_redirects=False)
            except CandidateFailed as exc:
                failures.append(str(exc))
                continue
            with response:
                shown = display_url(candidate)
                if response.status_code != 303:
                    failures.append(f"{shown}: expected 303 See Other with the model's location, "
                                    f"received {response.status_code}")
                    if response.status_code == 404:
                        continue
                    break
                try:
                    body = response.raw.read(httpinfo.MAX_LOCATION_BYTES + 1, decode_content=True)
                except Exception as exc:  # a dropped or garbled body: urllib3, http.client, zlib errors
                    failures.append(f"{shown}: reading the 303 answer failed ({describe(exc)})")
                    break
                location, problem = httpinfo.location_problem(body, response.url)
                if problem is None:
                    return location
                failures.append(f"{shown}: 303 See Other, but {problem}")
                break
    raise FetchError(_failure_message(handle.raw, candidates, failures))


def _failure_message(name: str, candidates: list[str], failures: list[str]) -> str:
    if len(failures) == 1:
        return f"{name}: {failures[0]}"
    tried = ", ".join(display_url(c) for c in candidates[: len(failures)])
    return f"{name}: download failed from every mirror ({tried}): " + "; ".join(failures)
