"""One HTTP GET as hubvendor makes it: a policed session and retries of transient failures.

:func:`new_session` builds a requests session that follows redirects only where the downloader
config allows and asks for identity encoding; :func:`get` sends one GET, retrying connection errors,
timeouts and HTTP 429/500/502/503/504 through the caller's attempt counter. A failure that ends a
candidate URL is a :class:`CandidateFailed` (``fallback`` says whether the next mirror may serve).
requests is imported only when a request is made.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Protocol

from . import __version__, httpinfo, mirrors, settings
from .httpinfo import describe, display_url

if TYPE_CHECKING:
    import requests

MAX_REDIRECTS = 10
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class Attempts(Protocol):
    def wait(self, cause: str, *, position: int = 0, retry_after: float | None = None) -> None: ...


class CandidateFailed(Exception):
    """This candidate URL cannot serve the download; ``fallback`` says whether to try the next one."""

    def __init__(self, message: str, *, fallback: bool, changed: bool = False) -> None:
        super().__init__(message)
        self.fallback = fallback
        self.changed = changed


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
