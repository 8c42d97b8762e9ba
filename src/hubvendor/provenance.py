"""The one rule for the URL hubvendor records (lock, vendored and wheel manifests, cache descriptors).

Recorded is the canonical archive URL of the handle, the one tensorflow_hub (or Kaggle's API)
is asked for: never a mirror's address (the downloader config applies again wherever the record is
used) nor where redirects ended (tfhub.dev and Kaggle downloads end at signed storage URLs whose
query strings carry signatures and expiry times).
"""

from __future__ import annotations

from .handle import Handle


def recorded_url(handle: Handle) -> str:
    """The URL to write down for ``handle``'s archive."""
    return handle.compressed_url()
