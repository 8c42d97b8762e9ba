"""hubvendor's error types: every failure a user can cause is one of these.

Each error's message names the input at fault (handle, file, key) and the cause,
so the CLI can print it on one line without a traceback.
"""

from __future__ import annotations

import errno


class HubVendorError(Exception):
    """Base class of every error hubvendor raises on purpose."""


class InvalidHandleError(HubVendorError, ValueError):
    """A handle string is not one tensorflow_hub or hubvendor accepts."""


class ConfigError(HubVendorError, ValueError):
    """A settings value, pyproject table, downloader config or lock file is malformed."""


class FetchError(HubVendorError, IOError):
    """A download failed after retries (HTTP status, connection, timeout, blocked URL).

    ``refused_status`` is the 401/403 with which the URL's own host refused the request as sent (neither
    withheld credentials nor a refusal where a redirect led); ``kaggle.api`` explains it.
    """

    def __init__(self, *args: object, refused_status: int | None = None) -> None:
        super().__init__(*args)
        self.refused_status = refused_status


class SourceChangedError(FetchError):
    """The object on the server changed during a download (its validator or size differ); nothing was spliced."""


class IntegrityError(HubVendorError, ValueError):
    """Downloaded or stored bytes do not match the expected digest or size."""


class ArchiveError(HubVendorError, ValueError):
    """An archive is malformed or hostile (traversal, links, devices, bombs, ...)."""


class OfflineError(HubVendorError, ConnectionError):
    """HUBVENDOR_OFFLINE is set and the handle is not available locally."""


class NotFoundError(HubVendorError, IOError):
    """A handle could not be resolved anywhere; the message lists where it looked."""


class IncompatibleModelError(HubVendorError, ValueError):
    """A resolved directory holds neither a SavedModel nor a TF1 Hub module."""


class CacheError(HubVendorError, IOError):
    """The cache directory cannot be used (permissions, full disk, lock trouble)."""


def storage_advice(error: OSError, directory: str) -> str | None:
    """What to do after writing below ``directory`` failed with ``error``; None if not full or unwritable."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"free disk space on the filesystem holding {directory}"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"make {directory} writable"
    return None
