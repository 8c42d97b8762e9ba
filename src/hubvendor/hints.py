"""What a user probably meant by a handle that is not one: a URL without its scheme, kagglehub's form.

tensorflow_hub reads ``tfhub.dev/google/nnlm-en-dim50/2`` as a relative path; kagglehub's
``owner/model/framework/variation/version`` is one too. Where no such path exists, the one-line
error says what to write instead.
"""

from __future__ import annotations

import os
import re

_HOST = re.compile(r"^(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?$", re.I)
_KAGGLEHUB = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+/[\w.-]+/[\w.-]+(?:/\d+)?$")


def missing_scheme(raw: str) -> str | None:
    """``raw`` rewritten as the handle it likely meant, or None (a real path, or nothing recognisable)."""
    if "://" in raw or raw.startswith(("/", "./", "../", "~")) or os.path.lexists(raw):
        return None
    first = raw.split("/", 1)[0]
    if "/" in raw and _HOST.match(first):
        return "https://" + raw
    if _KAGGLEHUB.match(raw):
        return "kaggle://" + raw
    return None


def hint(raw: str) -> str:
    """A sentence saying what to write instead (from :func:`missing_scheme`), else ``""``."""
    guess = missing_scheme(raw)
    if guess is None:
        return ""
    kind = "a Kaggle model (kagglehub's form)" if guess.startswith("kaggle://") else "a URL without its scheme"
    return f"it looks like {kind} but reads as a local path that does not exist: write {guess!r}"
