"""Kaggle's public REST API as hubvendor uses it: version downloads and the current version of a variation.

Both go through ``fetch`` (offline switch, downloader-config mirrors, retries, resume) to
``https://www.kaggle.com/api/v1/models/...``, the paths the Kaggle CLI uses, so one downloader-config
rewrite of ``www.kaggle.com`` serves both. Credentials (see ``credentials``) travel only in the header,
and only over https or to this machine (``httpinfo.may_carry_credentials``); a 401/403 becomes one line
naming the credential's source, or saying that they were withheld from a plain-http URL.
"""

from __future__ import annotations

import json

from ..errors import FetchError
from . import credentials
from .ref import ModelRef

MAX_DESCRIPTION_BYTES = 1 << 20


def open_download(ref: ModelRef, path: str | None = None, *, name: str):
    """Start downloading the version's archive (or one file of it): a ``fetch.open_download`` stream."""
    return _open(ref.download_url(path), name)


def latest_version(ref: ModelRef, *, name: str) -> int:
    """The variation's current version number (``versionNumber`` of ``.../get``), for locking."""
    with _open(ref.instance_url(), name) as download:
        body = b""
        for chunk in download:
            body += chunk
            if len(body) > MAX_DESCRIPTION_BYTES:
                raise FetchError(f"{name}: Kaggle's answer at {ref.instance_url()} is over 1 MiB; expected a small JSON object")
    try:
        version = json.loads(body).get("versionNumber")
    except (ValueError, AttributeError):
        version = None
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FetchError(f"{name}: Kaggle's answer at {ref.instance_url()} has no positive integer versionNumber")
    return version


def pin(handle: object) -> str:
    """``kaggle://o/m/f/v/N`` for a Kaggle handle; a versionless one gets the current version (``hubvendor lock``)."""
    ref = ModelRef.from_key(handle)
    name = getattr(handle, "raw", handle)
    version = ref.version if ref.version is not None else latest_version(ref, name=str(name))
    return f"kaggle://{ref.owner}/{ref.model}/{ref.framework.lower()}/{ref.variation}/{version}"


def _open(url: str, name: str):
    from .. import fetch

    credential = credentials.find()
    try:
        return fetch.open_download(url, name=name, headers=credential.headers if credential else None)
    except FetchError as exc:
        if exc.refused_status is not None:  # Kaggle refused the credentials as sent (or their absence)
            raise FetchError(credentials.auth_failure(name, exc.refused_status, credential),
                             refused_status=exc.refused_status) from None
        raise
