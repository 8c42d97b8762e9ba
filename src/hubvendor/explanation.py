"""``hubvendor which``: how the resolution chain (``runtime.CHAIN``) would answer a handle now, without the network."""

from __future__ import annotations

import re

from . import runtime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .handle import Handle


class Explanation:
    """Where a handle resolves from and why, computed without downloading (``hubvendor which``)."""

    def __init__(self, handle: str, key: str, origin: str, location: str, reason: str, looked: "list[str]") -> None:
        self.handle, self.key, self.origin, self.location, self.reason = handle, key, origin, location, reason
        self.looked = looked  # the steps that apply to this handle, in the order resolve tries them
        self.url = ""  # what a resolve would request now ("" when the answer is local)
        self.fetch_from: list[str] = []  # that URL after the downloader config's rewrites, in order
        self.downloader_config = ""  # the config that rewrote ``url``, or why it cannot be used
        self.offline_ok = True  # whether HUBVENDOR_OFFLINE=1 would still resolve it
        self.tensorflow_hub_answers = False  # hub.load leaves it to tensorflow_hub's own resolvers (steps_aside)
        self.shadows: list[str] = []  # "<source>: <dir>" of later vendored copies the answer hides, in chain order

    def as_dict(self) -> "dict[str, object]":
        return dict(vars(self))

    def shown(self) -> "Explanation":
        """This explanation with every URL through ``httpinfo.display_url`` (no credentials or signed queries)."""
        shown = Explanation(self.handle, self.key, self.origin, self.location, self.reason, self.looked)
        for name, value in vars(self).items():
            if isinstance(value, str):
                value = _hide_urls(value)
            elif isinstance(value, list):
                value = [_hide_urls(item) for item in value]
            setattr(shown, name, value)
        return shown


def _hide_urls(text: str) -> str:
    """``text`` with each URL in it through ``httpinfo.display_url``."""
    from .httpinfo import display_url

    return re.sub(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"(),]+", lambda m: display_url(m.group(0)), text)


def explain(handle: object) -> Explanation:
    """How ``resolve`` would answer ``handle`` now, without the network (``hubvendor which``)."""
    from .handle import parse

    handle = parse(handle)
    steps, location = runtime.walk(handle)
    answering = steps[-1]
    if location is None:
        location = answering.locate(handle)
    explanation = Explanation(handle.raw, handle.key, *answering.describe(handle, location),
                              [step.where(handle) for step in steps])
    if location is None:
        _describe_network(explanation, answering.fetch_url(handle))
        explanation.tensorflow_hub_answers = answering.adds_nothing(handle)
    explanation.shadows = _shadowed(handle, after=answering)
    return explanation


def _shadowed(handle: "Handle", *, after: runtime.Step) -> list[str]:
    """The vendored copies of ``handle`` in the chain's steps after ``after`` (never used while it answers)."""
    from .errors import HubVendorError

    later = runtime.CHAIN[runtime.CHAIN.index(after) + 1:]
    found = []
    for step in later:
        if isinstance(step, runtime.Vendored) and step.applies(handle):
            try:
                model_dir = step.source.find().get(handle.key)
            except HubVendorError:  # a broken later source changes nothing in the answer
                continue
            if model_dir:
                found.append(f"{step.name}: {model_dir}")
    return found


def _describe_network(explanation: Explanation, url: str) -> None:
    """Fill in what a resolve would request, where the downloader config sends it, and whether offline works."""
    from . import mirrors, settings
    from .errors import HubVendorError

    explanation.url = url
    explanation.offline_ok = not url
    if not url:
        return
    try:
        explanation.fetch_from = mirrors.candidates(url)
        explanation.downloader_config = settings.downloader_config_path() or "none (HUBVENDOR_DOWNLOADER_CONFIG is unset)"
    except HubVendorError as exc:  # unreadable or broken config, or every candidate blocked
        explanation.downloader_config = str(exc)
