"""A Kaggle model version as its five parts, the Kaggle URLs derived from them, and how its names match.

``ModelRef.from_key`` reads a hubvendor handle or its normalised key (``kaggle://o/m/f/v/N``, or the
``https://www.kaggle.com/models/...`` short and long URL forms); ``ModelRef.key`` gives the key back through
``handle.normalise``, so vendored manifests written with either spelling match. Kaggle ignores the case of
owner, model and framework: :func:`match_name` is the one rule for which directory spelled some way a name
means (``hubvendor serve``'s ROOT, kagglehub's cache).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import InvalidHandleError
from ..handle import normalise

API_ROOT = "https://www.kaggle.com/api/v1/models"
_KEY = re.compile(r"^(?:kaggle://|https://www\.kaggle\.com/models/)([^/]+)/([^/]+)/([^/]+)/([^/]+)(?:/(\d+))?$", re.I)


@dataclass(frozen=True)
class ModelRef:
    """``owner/model/framework/variation[/version]``; framework compared case-insensitively, as Kaggle does."""

    owner: str
    model: str
    framework: str
    variation: str
    version: int | None = None

    @classmethod
    def from_key(cls, key: object) -> ModelRef:
        """The parts of a handle's key (a ``Handle`` or a string)."""
        text = getattr(key, "key", key)
        match = _KEY.match(text) if isinstance(text, str) else None
        if not match and isinstance(text, str) and text.lower().startswith("https://"):
            match = _KEY.match(normalise(text))  # the long URL form, any case
        if not match:
            raise InvalidHandleError(
                f"handle {text!r}: not a Kaggle model; expected kaggle://<owner>/<model>/<framework>/<variation>/<version>"
            )
        owner, model, framework, variation, version = match.groups()
        return cls(owner, model, framework, variation, int(version) if version else None)

    @property
    def slug(self) -> str:
        """kagglehub's spelling, ``owner/model/framework/variation[/version]``."""
        base = f"{self.owner}/{self.model}/{self.framework}/{self.variation}"
        return base if self.version is None else f"{base}/{self.version}"

    @property
    def key(self) -> str:
        """The normalised hubvendor key of this version (vendored manifests are looked up by it)."""
        return normalise(f"https://www.kaggle.com/models/{self.pinned().slug}")

    def pinned(self) -> ModelRef:
        """This ref, which must carry a version (a versionless handle is locked first)."""
        if self.version is None:
            raise InvalidHandleError(
                f"handle kaggle://{self.slug}: no version; run `hubvendor lock` to pin the current one"
            )
        return self

    def same_model(self, other: ModelRef) -> bool:
        """Same owner, model, framework and variation (any version)."""
        return (self.owner.lower(), self.model.lower(), self.framework.lower(), self.variation) == (
            other.owner.lower(), other.model.lower(), other.framework.lower(), other.variation
        )

    def download_url(self, path: str | None = None) -> str:
        """``GET`` URL of the whole version as one archive, or of one file in it."""
        ref = self.pinned()
        base = f"{API_ROOT}/{ref.owner}/{ref.model}/{ref.framework.lower()}/{ref.variation}/{ref.version}/download"
        return f"{base}/{path.lstrip('/')}" if path else base

    def instance_url(self) -> str:
        """``GET`` URL describing the variation (its current ``versionNumber``)."""
        return f"{API_ROOT}/{self.owner}/{self.model}/{self.framework.lower()}/{self.variation}/get"


class AmbiguousNameError(ValueError):
    """Several entries, differing only in case, match a Kaggle name none of them spells exactly."""

    def __init__(self, name: str, matches: list[str]) -> None:
        super().__init__(f"{', '.join(matches)} all match {name!r} ignoring case")
        self.matches = matches


def match_name(name: str, entries: Iterable[str], usable: Callable[[str], bool]) -> str | None:
    """The entry that Kaggle name ``name`` (owner, model or framework) means among ``entries``: ``name``
    itself when present and ``usable``, else the one usable entry equal to it ignoring case; None when
    there is none. Several raise :class:`AmbiguousNameError` (sorted), for any of them could be meant."""
    entries = list(entries)
    if name in entries and usable(name):
        return name
    matches = sorted(entry for entry in entries if entry.lower() == name.lower() and usable(entry))
    if len(matches) > 1:
        raise AmbiguousNameError(name, matches)
    return matches[0] if matches else None
