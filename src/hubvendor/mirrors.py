"""Bazel's downloader config (``--experimental_downloader_config``), so one file steers pip and Bazel.

Syntax, one directive a line (words separated by whitespace; a line whose first word starts
with ``#`` is a comment)::

    rewrite REGEX REPLACEMENT   # REGEX must match the whole URL without its scheme; $1, ${name} groups
    allow HOST                  # HOST and its subdomains stay reachable even if blocked
    block HOST                  # HOST and its subdomains are blocked; ``block *`` blocks everything
    all_blocked_message TEXT    # shown when every candidate URL is blocked (at most once)

Semantics follow Bazel's ``UrlRewriter``: only http(s) URLs are rewritten or filtered. Every
rewrite rule whose regex matches contributes its replacement, in file order, duplicates dropped;
a replacement without ``http://``/``https://`` keeps the URL's scheme. When no rule matches, the
URL itself is the only candidate. Candidates are then filtered: kept if an ``allow`` matches
their host, else dropped if a ``block`` does. Redirect targets go through the same filter
(:func:`redirect_refusal`), which Bazel does not do.
"""

from __future__ import annotations

import os
import re
import threading
import urllib.parse
from dataclasses import dataclass, field

from . import settings, smallfile
from .httpinfo import display_url
from .errors import ConfigError, FetchError

_REWRITABLE_SCHEMES = ("http", "https")
_REFERENCE = re.compile(r"\\(.?)|\$(\d+)|\$\{([A-Za-z][A-Za-z0-9]*)\}|\$", re.S)
_cache_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], DownloaderConfig]] = {}


@dataclass(frozen=True)
class Rewrite:
    """One ``rewrite`` rule: a regex over the scheme-less URL and its replacement template."""

    pattern: re.Pattern[str]
    replacement: str
    template: tuple[tuple[bool, str | int], ...]  # (is_group, literal text or group number/name)

    def apply(self, without_scheme: str) -> str | None:
        match = self.pattern.fullmatch(without_scheme)
        if match is None:
            return None
        return "".join((match.group(value) or "") if is_group else value for is_group, value in self.template)


@dataclass(frozen=True)
class DownloaderConfig:
    """A parsed downloader config; ``apply(url)`` gives the URLs to try, in order."""

    path: str
    rewrites: tuple[Rewrite, ...] = ()
    allow: frozenset[str] = field(default_factory=frozenset)
    block: frozenset[str] = field(default_factory=frozenset)
    all_blocked_message: str | None = None

    @classmethod
    def parse(cls, text: str, path: str | os.PathLike = "<string>") -> DownloaderConfig:
        """Parse config ``text``; ``path`` names the file in errors."""
        path = os.fspath(path)
        rewrites: list[Rewrite] = []
        allow: set[str] = set()
        block: set[str] = set()
        message: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            where = f"downloader config {path}, line {number}"
            directive = words[0]
            if directive in ("allow", "block"):
                if len(words) != 2:
                    raise ConfigError(f"{where}: `{directive}` takes exactly one host name: {line.strip()!r}")
                (allow if directive == "allow" else block).add(words[1].lower())
            elif directive == "rewrite":
                if len(words) != 3:
                    raise ConfigError(
                        f"{where}: `rewrite` takes exactly a regex and a replacement: {line.strip()!r}"
                    )
                rewrites.append(_compile_rewrite(words[1], words[2], where))
            elif directive == "all_blocked_message":
                if len(words) == 1:
                    raise ConfigError(f"{where}: `all_blocked_message` must be followed by a message")
                if message is not None:
                    raise ConfigError(f"{where}: at most one `all_blocked_message` directive is allowed")
                message = line.strip()[len(directive):].strip()
            else:
                raise ConfigError(
                    f"{where}: unknown directive {directive!r} (expected rewrite, allow, block or "
                    f"all_blocked_message): {line.strip()!r}"
                )
        return cls(path, tuple(rewrites), frozenset(allow), frozenset(block), message)

    @classmethod
    def load(cls, path: str | os.PathLike) -> DownloaderConfig:
        try:
            text = smallfile.read_text(path)
        except ConfigError as exc:
            raise ConfigError(f"downloader config {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"downloader config {os.fspath(path)}: cannot read it ({exc})") from None
        return cls.parse(text, path)

    def rewrite(self, url: str) -> list[str]:
        """The rewritten candidates for ``url`` before allow/block filtering.

        A rule whose replacement is not a usable URL (``http://[::1/$1``, a bad port, no host)
        raises ConfigError naming the rule.
        """
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in _REWRITABLE_SCHEMES:
            return [url]
        candidates: dict[str, None] = {}
        for rule in self.rewrites:
            replaced = rule.apply(rest)
            if replaced is not None:
                has_scheme = replaced.lower().startswith(tuple(f"{s}://" for s in _REWRITABLE_SCHEMES))
                candidate = replaced if has_scheme else f"{scheme}://{replaced}"
                problem = _url_problem(candidate)
                if problem:
                    raise ConfigError(
                        f"downloader config {self.path}: `rewrite {rule.pattern.pattern} {display_url(rule.replacement)}` "
                        f"turns {display_url(url)} into {display_url(candidate)!r}, which is not a usable URL ({problem})"
                    )
                candidates[candidate] = None
        return list(candidates) or [url]

    def apply(self, url: str) -> list[str]:
        """Candidate URLs for ``url``, in order; raises FetchError when all of them are blocked."""
        candidates = self.rewrite(url)
        allowed = [c for c in candidates if not _is_http(c) or self._host_allowed(c)]
        if not allowed:
            tried = ", ".join(display_url(c) for c in candidates)
            hint = f": {self.all_blocked_message}" if self.all_blocked_message else ""
            raise FetchError(
                f"{display_url(url)}: every candidate URL ({tried}) is blocked by downloader config {self.path}{hint}"
            )
        return allowed

    def refusal(self, url: str) -> str | None:
        """Why a redirect to ``url`` may not be followed (its host is blocked), or None.

        Redirect targets are filtered by ``allow``/``block`` like the URLs asked for (never
        rewritten). Bazel's HttpConnector follows redirects without consulting its UrlRewriter;
        hubvendor is stricter so that a mirror cannot lead a download off the allowed hosts.
        """
        if not _is_http(url):
            return f"only http(s) redirects are followed, not {url.partition(':')[0]!r}"
        if self._host_allowed(url):
            return None
        return f"its host is blocked by downloader config {self.path}"

    def _host_allowed(self, url: str) -> bool:
        try:
            host = (urllib.parse.urlsplit(url).hostname or "").lower()
        except ValueError:  # unparseable hosts are refused by the caller; blocked here to be safe
            return False
        if any(_host_matches(host, h) for h in self.allow):
            return True
        return not ("*" in self.block or any(_host_matches(host, h) for h in self.block))


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be requested (unparseable, no host, bad port), or None."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return str(exc)
    if not parts.hostname:
        return "no host"
    if port == 0:
        return "port 0"
    return None


def _is_http(url: str) -> bool:
    return url.partition("://")[0].lower() in _REWRITABLE_SCHEMES


def _host_matches(host: str, rule: str) -> bool:
    return host == rule or host.endswith("." + rule)


def _compile_rewrite(regex: str, replacement: str, where: str) -> Rewrite:
    """Compile a rule; the replacement uses Java's syntax: ``$1``, ``${name}``, ``\\$`` for a literal."""
    try:
        pattern = re.compile(regex)
    except (re.error, OverflowError, RecursionError) as exc:  # huge repeat counts, deep nesting
        raise ConfigError(f"{where}: invalid regex in `rewrite` {regex!r}: {exc}") from None
    template: list[tuple[bool, str | int]] = []
    position = 0
    for match in _REFERENCE.finditer(replacement):
        if match.start() > position:
            template.append((False, replacement[position:match.start()]))
        position = match.end()
        escaped, number, name = match.groups()
        if escaped == "":
            raise ConfigError(f"{where}: replacement {replacement!r} ends with a lone backslash")
        if escaped is not None:
            template.append((False, escaped))
        elif number is not None:
            group, digits = _java_group_number(number, pattern.groups)
            if group > pattern.groups:
                raise ConfigError(
                    f"{where}: replacement {replacement!r} refers to group ${group} but regex {regex!r} "
                    f"has {pattern.groups} group(s)"
                )
            template.append((True, group))
            if number[digits:]:
                template.append((False, number[digits:]))
        elif name is not None:
            if name not in pattern.groupindex:
                raise ConfigError(f"{where}: replacement {replacement!r} refers to unknown group ${{{name}}}")
            template.append((True, name))
        else:
            raise ConfigError(f"{where}: replacement {replacement!r} has a `$` not followed by a group reference")
    if position < len(replacement):
        template.append((False, replacement[position:]))
    return Rewrite(pattern, replacement, tuple(template))


def _java_group_number(digits: str, groups: int) -> tuple[int, int]:
    """Java's reading of ``$<digits>``: more digits are taken only while the group exists."""
    number, used = int(digits[0]), 1
    while used < len(digits) and number * 10 + int(digits[used]) <= groups:
        number, used = number * 10 + int(digits[used]), used + 1
    return number, used


def current() -> DownloaderConfig | None:
    """The config named by HUBVENDOR_DOWNLOADER_CONFIG (parsed once per path and mtime), or None."""
    path = settings.downloader_config_path()
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ConfigError(f"HUBVENDOR_DOWNLOADER_CONFIG={path!r}: cannot read it ({exc.strerror})") from None
    stamp = (st.st_mtime_ns, st.st_size)
    with _cache_lock:
        cached = _cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
    config = DownloaderConfig.load(path)
    with _cache_lock:
        _cache[path] = (stamp, config)
    return config


def candidates(url: str) -> list[str]:
    """``url`` through the current downloader config (just ``[url]`` without one)."""
    config = current()
    return config.apply(url) if config else [url]


def redirect_refusal(url: str) -> str | None:
    """Why the current downloader config forbids following a redirect to ``url``, or None."""
    config = current()
    if config is not None:
        return config.refusal(url)
    return None if _is_http(url) else f"only http(s) redirects are followed, not {url.partition(':')[0]!r}"
