"""One HTTP GET as hubvendor makes it: a policed session and retries of transient failures.

:func:`new_session` builds a requests session that follows redirects only where the downloader
config allows and asks for identity encoding; :func:`get` sends one GET, retrying connection errors,
timeouts and HTTP 429/500/502/503/504 through the caller's :class:`Attempts` (exponential backoff with
jitter, ``Retry-After`` honoured up to ``RETRY_AFTER_CAP``, the budget renewed by real progress). A
failure that ends a candidate URL is a :class:`CandidateFailed` (``fallback`` says whether the next
mirror may serve). requests is imported only when a request is made.
"""

from __future__ import annotations

import random
import time
import urllib.parse
from typing import TYPE_CHECKING

from . import __version__, httpinfo, mirrors, settings
from .errors import FetchError, SourceChangedError
from .httpinfo import describe, display_url

if TYPE_CHECKING:
    import requests

MAX_REDIRECTS = 10
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.25  # seconds; doubled per consecutive failure, with jitter
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 60.0  # longest Retry-After honoured; a longer one fails the candidate at once
FRESH_BUDGET_BYTES = 1 << 20  # progress that renews the retry budget


class CandidateFailed(Exception):
    """This candidate URL cannot serve the download; ``fallback`` says whether to try the next one.

    ``refused_status`` is the 401/403 of the URL's own host to the request as sent (credentials neither
    withheld nor refused where a redirect led); ``changed``: the object changed during the download.
    """

    def __init__(self, message: str, *, fallback: bool, changed: bool = False,
                 refused_status: int | None = None) -> None:
        super().__init__(message)
        self.fallback = fallback
        self.changed = changed
        self.refused_status = refused_status

    def error(self, message: str) -> FetchError:
        """The :class:`FetchError` (``SourceChangedError`` when changed) to raise with ``message``."""
        return (SourceChangedError if self.changed else FetchError)(message, refused_status=self.refused_status)


class Attempts:
    """Counts failures of one download and sleeps before the next attempt."""

    def __init__(self, url: str, *, start: int = 0) -> None:
        self.url = display_url(url)
        self.limit = settings.retries()
        self.failures = 0
        self._progress_mark = start

    def wait(self, cause: str, *, position: int = 0, retry_after: float | None = None) -> None:
        """Sleep before retrying, or raise CandidateFailed once the retries are spent."""
        if position >= self._progress_mark + FRESH_BUDGET_BYTES:  # real progress since counting began
            self.failures = 0
            self._progress_mark = position
        self.failures += 1
        if self.failures > self.limit:
            raise CandidateFailed(f"{self.url}: {cause} (gave up after {self.limit} retries)", fallback=True)
        if retry_after is None:
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (self.failures - 1)) * random.uniform(0.5, 1.0)
        elif retry_after > RETRY_AFTER_CAP:
            raise CandidateFailed(f"{self.url}: {cause}: not waiting longer than {RETRY_AFTER_CAP:g} s", fallback=True)
        else:
            delay = retry_after
        time.sleep(delay)  # the main thread: Ctrl-C interrupts it; the cache lock's heartbeat thread keeps beating


def new_session(headers: dict[str, str] | None = None) -> requests.Session:
    """A requests session that refuses redirects the downloader config blocks; identity encoding."""
    import requests

    class PolicedSession(requests.Session):
        def get_redirect_target(self, resp: requests.Response) -> str | None:
            target = super().get_redirect_target(resp)
            if target:
                try:
                    absolute = urllib.parse.urljoin(resp.url, target)
                    refusal = mirrors.redirect_refusal(absolute)
                except ValueError as exc:
                    absolute, refusal = target, f"invalid Location ({exc})"
                if refusal:
                    resp.close()
                    raise CandidateFailed(
                        f"{display_url(resp.url)}: redirect to {display_url(absolute)} not followed: {refusal}",
                        fallback=True,
                    )
            return target

    s = PolicedSession()
    s.max_redirects = MAX_REDIRECTS
    s.headers["User-Agent"] = f"hubvendor/{__version__} {requests.utils.default_user_agent()}"
    s.headers["Accept-Encoding"] = "identity"  # byte offsets must be the archive's
    s.headers.update(headers or {})
    return s


def get(
    session: requests.Session, url: str, attempts: Attempts, *,
    headers: dict[str, str] | None = None, allow_redirects: bool = True, position: int = 0,
) -> requests.Response:
    """GET with retries on connection errors, timeouts and retryable statuses."""
    import requests
    import urllib3

    shown = display_url(url)
    while True:
        try:
            response = session.get(
                url, headers=headers, stream=True, allow_redirects=allow_redirects,
                timeout=(settings.connect_timeout(), settings.read_timeout()),
                verify=False if settings.disable_cert_validation() else None,
            )
        except requests.TooManyRedirects:
            raise CandidateFailed(f"{shown}: redirect loop (more than {MAX_REDIRECTS} redirects)", fallback=True) from None
        except requests.exceptions.SSLError as exc:
            raise CandidateFailed(
                f"{shown}: TLS certificate check failed ({describe(exc)}); set REQUESTS_CA_BUNDLE to your "
                f"CA bundle, or TFHUB_DISABLE_CERT_VALIDATION=true to skip the check",
                fallback=True,
            ) from None
        except requests.exceptions.InvalidHeader as exc:
            raise CandidateFailed(f"{shown}: the server sent invalid headers ({describe(exc)})", fallback=True) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                urllib3.exceptions.LocationValueError, UnicodeError) as exc:
            raise CandidateFailed(f"{shown}: invalid URL ({describe(exc)})", fallback=True) from None
        except requests.exceptions.ProxyError as exc:  # before ConnectionError, its base: name the proxy
            attempts.wait(f"{describe(exc)} at the proxy {display_url(_proxy_for(session, url))}", position=position)
            continue
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            attempts.wait(f"{describe(exc)}", position=position)
            continue
        except requests.RequestException as exc:
            raise CandidateFailed(f"{shown}: {describe(exc)}", fallback=True) from None
        if response.status_code in RETRYABLE_STATUSES:
            asked = response.headers.get("Retry-After")
            wait = httpinfo.retry_after(asked)
            response.close()
            cause = f"HTTP {response.status_code} {response.reason} from {display_url(response.url)}"
            if wait is not None:
                cause += f" (Retry-After: {asked.strip()[:64]!r})"
            attempts.wait(cause, position=position, retry_after=wait)
            continue
        return response


def _proxy_for(session: requests.Session, url: str) -> str:
    """The proxy ``session`` sends ``url`` through (``HTTPS_PROXY``, ``ALL_PROXY``, ...)."""
    import requests

    proxies = session.merge_environment_settings(url, {}, None, None, None)["proxies"]
    return requests.utils.select_proxy(url, proxies) or "(unknown)"
