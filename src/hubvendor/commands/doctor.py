"""``hubvendor doctor [--json]``: check this environment and say how to fix what is wrong.

Exit codes: 0 healthy (warnings allowed), 1 at least one problem. TensorFlow is never imported.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import site
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import asdict, dataclass

from ..errors import HubVendorError

PTH_FILE = "hubvendor-autoload.pth"
OK, WARNING, PROBLEM = "ok", "warning", "problem"


@dataclass
class Check:
    """One finding: ``status`` is ok, warning or problem; ``fix`` says what to do when not ok."""

    name: str
    status: str
    detail: str
    fix: str = ""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check versions, cache, settings, mirrors, autoload and vendored models",
        description="Check this environment; every problem comes with a fix. Exit 0 healthy, 1 problems.",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.set_defaults(func=run)


def _version(*distributions: str) -> str | None:
    for name in distributions:
        try:
            return f"{importlib.metadata.version(name)} ({name})"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def check_versions() -> list[Check]:
    import hubvendor

    checks = [
        Check("python", OK, f"{platform.python_version()} ({sys.executable})"),
        Check("hubvendor", OK, _version("hubvendor") or f"{hubvendor.__version__} (not installed as a distribution)"),
    ]
    tensorflow = _version("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly", "tensorflow-intel")
    checks.append(
        Check("tensorflow", OK, tensorflow) if tensorflow else Check(
            "tensorflow", WARNING, "not installed: resolving and vendoring work, hubvendor.load does not",
            "pip install tensorflow (or tensorflow-cpu) where models are loaded",
        )
    )
    hub = _version("tensorflow-hub")
    checks.append(
        Check("tensorflow_hub", OK, hub) if hub else Check(
            "tensorflow_hub", WARNING, "not installed: hub.load/hub.KerasLayer code cannot run here",
            "pip install tensorflow-hub where application code uses it",
        )
    )
    return checks


def _setting(name: str, read: Callable[[], object], fix: str) -> Check:
    try:
        return Check(name, OK, str(read()))
    except HubVendorError as exc:
        return Check(name, PROBLEM, str(exc), fix)


_FIXES = {
    "TFHUB_MODEL_LOAD_FORMAT": "set TFHUB_MODEL_LOAD_FORMAT to COMPRESSED, UNCOMPRESSED or AUTO, or unset it",
    "HUBVENDOR_OFFLINE": "set HUBVENDOR_OFFLINE to 1 or 0",
    "HUBVENDOR_LOCKED": "set HUBVENDOR_LOCKED to 1 or 0",
    "HUBVENDOR_CACHE_MAX_SIZE": "set HUBVENDOR_CACHE_MAX_SIZE to a size such as 20GiB, or unset it",
    "HUBVENDOR_CACHE_KEEP_RECENT": "set HUBVENDOR_CACHE_KEEP_RECENT to an age such as 10m, or unset it",
    "HUBVENDOR_INFLATE": "set HUBVENDOR_INFLATE to auto, stream or parallel, or unset it",
    "HUBVENDOR_MIN_SPEED": "set HUBVENDOR_MIN_SPEED to a size such as 10kB (0: no minimum), or unset it",
    "SOURCE_DATE_EPOCH": "set SOURCE_DATE_EPOCH to an integer, or unset it",
}


def check_settings() -> list[Check]:
    """Every setting in ``settings.VALIDATED`` (the one list of settings that can be invalid)."""
    from .. import settings

    return [_setting(name, read, _FIXES.get(variable, f"fix or unset {variable}"))
            for name, variable, read in settings.VALIDATED]


def check_cache() -> list[Check]:
    from .. import settings
    from ..cache import Cache
    from ..cacheops import human_size, scan

    root = settings.cache_dir()
    try:
        offline = settings.offline()
    except HubVendorError:
        offline = False
    try:
        cache = Cache(root)
    except (HubVendorError, ImportError) as exc:
        return [Check("cache", PROBLEM, f"{root}: {exc}", "install hubvendor's extra for this store (hubvendor[gcs] or hubvendor[s3])")]
    if not cache.fs.local:
        entries = scan(cache)
        return [Check("cache", OK, f"{root} (object store): {len(entries)} entries")]
    existing = os.path.abspath(root)  # a relative root is relative to the current directory, as fetch uses it
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return [Check("cache", PROBLEM, f"{root}: {existing} exists and is not a directory",
                      "point TFHUB_CACHE_DIR at a directory")]
    literal = _literal_tilde(root)
    if literal:
        return [literal, *_cache_state(root, cache, existing, offline)]
    return _cache_state(root, cache, existing, offline)


def _literal_tilde(root: str) -> Check | None:
    """Neither tensorflow_hub nor hubvendor expands ``~`` in TFHUB_CACHE_DIR: a warning, not a problem."""
    if not root.startswith("~"):
        return None
    return Check("cache path", WARNING, f"{root}: `~` is not expanded; the cache is {os.path.abspath(root)}",
                 "set TFHUB_CACHE_DIR to an absolute path (let the shell expand ~: TFHUB_CACHE_DIR=~/cache, unquoted)")


def _cache_state(root: str, cache, existing: str, offline: bool) -> list[Check]:  # type: ignore[no-untyped-def]
    """The checks of a local cache root whose nearest existing ancestor is the directory ``existing``."""
    from ..cacheops import human_size, scan

    writable = os.access(existing, os.W_OK | os.X_OK) and not _read_only_mount(existing)
    if not writable:
        status = WARNING if offline else PROBLEM
        missing = existing != os.path.abspath(root)
        detail = f"{root}: not writable ({'missing; ' + existing + ' is read-only' if missing else 'read-only'})"
        return [Check("cache", status, detail + (": fine offline if it is pre-filled" if offline else ""),
                      "set TFHUB_CACHE_DIR to a writable directory, or pre-fill this one and set HUBVENDOR_OFFLINE=1")]
    shown = root if os.path.isabs(root) else f"{root} (= {os.path.abspath(root)})"
    if not os.path.isdir(root):
        return [Check("cache", OK, f"{shown} (not created yet; its parent is writable)")]
    entries = scan(cache)
    bad = [e for e in entries if e.state in ("incomplete", "corrupt")]
    unverified = [e for e in entries if e.state == "unverified"]
    abandoned = [e for e in entries if e.state == "abandoned"]
    size = sum(e.bytes for e in entries)
    checks = [Check("cache", OK, f"{shown}: writable, {len(entries)} entries, {human_size(size)}")]
    if bad:
        checks.append(Check("cache entries", PROBLEM, f"{len(bad)} incomplete or corrupt: "
                            + ", ".join(f"{e.label} ({e.state})" for e in bad), "hubvendor cache verify --repair"))
    if abandoned:
        checks.append(Check("cache entries", WARNING, f"{len(abandoned)} abandoned downloads, "
                            f"{human_size(sum(e.bytes for e in abandoned))} staged: "
                            + "; ".join(e.detail.split(";")[0] for e in abandoned),
                            "hubvendor cache rm " + " ".join(e.name for e in abandoned)
                            + " (any `hubvendor cache prune` also sweeps them)"))
    if unverified:
        checks.append(Check("cache entries", WARNING,
                            f"{len(unverified)} written by tensorflow_hub without a recorded digest",
                            "hubvendor cache adopt --all"))
    return checks


def _read_only_mount(path: str) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_mirrors() -> list[Check]:
    from .. import mirrors, settings

    path = settings.downloader_config_path()
    if not path:
        return [Check("mirrors", OK, "no HUBVENDOR_DOWNLOADER_CONFIG: handles are fetched from their own hosts")]
    try:
        mirrors.current()
    except HubVendorError as exc:
        return [Check("mirrors", PROBLEM, str(exc), f"fix {path} (Bazel downloader config syntax) or unset HUBVENDOR_DOWNLOADER_CONFIG")]
    return [Check("mirrors", OK, f"{path} parses")]


def site_dirs() -> list[str]:
    """Where a wheel's top-level files (the .pth hook) land for this interpreter."""
    paths = sysconfig.get_paths()
    dirs = [paths["purelib"], paths["platlib"], *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return list(dict.fromkeys(dirs))


def check_autoload() -> list[Check]:
    """The hook file is installed and ran at this interpreter's start-up (it imports hubvendor._autoload)."""
    from .. import _autoload

    raw = os.environ.get(_autoload.VARIABLE)
    value = _autoload.setting(raw)
    if value is False:
        return [Check("autoload", OK, f"{_autoload.VARIABLE}={raw}: off, tensorflow_hub is left alone "
                      "(hubvendor.install() routes hub.load through hubvendor)")]
    if value is None:
        return [Check("autoload", PROBLEM, f"{_autoload.VARIABLE}={raw!r}: expected one of "
                      f"{', '.join(_autoload.ON[:-1])} (on) or {', '.join(_autoload.OFF)} (off); the start-up hook "
                      "treats it as on", f"set {_autoload.VARIABLE} to 1 or 0, or unset it")]
    dirs = list(dict.fromkeys(site_dirs() + [p for p in sys.path if p]))
    installed = [os.path.join(d, PTH_FILE) for d in dirs if os.path.isfile(os.path.join(d, PTH_FILE))]
    if not installed:
        return [Check("autoload", PROBLEM,
                      f"{PTH_FILE} is not in site-packages ({', '.join(site_dirs())}): hub.load and hub.KerasLayer "
                      "bypass hubvendor", "reinstall hubvendor from its wheel (pip install --force-reinstall hubvendor), "
                      "or call hubvendor.install() before using tensorflow_hub")]
    if not _autoload.armed():
        return [Check("autoload", PROBLEM, f"{installed[0]} exists but did not run at start-up (python -S? "
                      "not a site directory?)", "install hubvendor into this interpreter's site-packages, "
                      "or call hubvendor.install() before using tensorflow_hub")]
    return [Check("autoload", OK, f"on: {installed[0]} ran at start-up; `import tensorflow_hub` registers hubvendor")]


def check_pkg_resources() -> list[Check]:
    """tensorflow_hub 0.16 imports ``pkg_resources``, which setuptools 81 dropped and ``uv venv`` does not install."""
    import importlib.util

    hub = _version("tensorflow-hub")
    if not hub or importlib.util.find_spec("pkg_resources") is not None:
        return []
    setuptools = _version("setuptools")
    why = (f"setuptools {setuptools.split()[0]} has no pkg_resources (dropped in 81)" if setuptools
           else "setuptools is not installed (uv venv installs none)")
    return [Check("pkg_resources", PROBLEM,
                  f"tensorflow_hub {hub.split()[0]} imports pkg_resources at `import tensorflow_hub`, and {why}: "
                  "hub.load cannot even import here",
                  'pip install "setuptools<81" (uv: uv pip install "setuptools<81")')]


def check_sources() -> list[Check]:
    from .. import manifest, sources, vendoredcopies

    checks = [_vendor_path_problem(d) for d in sources.vendor_path_dirs()
              if not os.path.isfile(os.path.join(d, manifest.FILENAME))]
    records = vendoredcopies.recorded()
    for source in sources.SOURCES:
        name = f"vendored ({source.name})"
        try:
            found = source.find()
        except Exception as exc:  # a broken source breaks every resolve: report it, whatever it is
            message = str(exc) if isinstance(exc, HubVendorError) and str(exc) else f"{type(exc).__name__}: {exc}"
            checks.append(Check(name, PROBLEM, message, "fix or remove the manifest named in the message"))
            continue
        damaged = [(copy.key, vendoredcopies.check(copy)) for copy in vendoredcopies.copies_of(source.name, found, records)]
        damaged = [(key, detail) for key, (state, detail) in damaged if state != "complete"]
        if damaged:
            checks.append(Check(name, PROBLEM, f"{len(damaged)} damaged: "
                                + "; ".join(f"{key}: {detail}" for key, detail in damaged),
                                "vendor these models again (hubvendor vendor / rebuild the wheel); "
                                "`hubvendor cache verify --vendored` also hashes the copies"))
        else:
            checks.append(Check(name, OK, f"{len(found)} models" + (": " + ", ".join(sorted(found)) if found else "")))
    for path, reason in sorted(sources.SKIPPED.items()):
        checks.append(Check("vendored (installed wheels)", WARNING, f"ignored: {reason}",
                            "reinstall or remove the package that installed this file"))
    return checks


def _vendor_path_problem(directory: str) -> Check:
    """A HUBVENDOR_PATH entry without a manifest; the fix offers `vendor -o` only where vendor would write."""
    from .. import manifest, outdir

    drop = "remove it from HUBVENDOR_PATH"
    if not os.path.lexists(directory):
        return Check("HUBVENDOR_PATH", PROBLEM, f"{directory}: does not exist",
                     f"run `hubvendor vendor -o {directory} HANDLE...` to create it, or {drop}")
    try:
        outdir.ensure_replaceable(directory)
    except HubVendorError:
        what = ("a file, not a vendored directory" if not os.path.isdir(directory)
                else f"holds no {manifest.FILENAME}: not a directory `hubvendor vendor` wrote")
        return Check("HUBVENDOR_PATH", PROBLEM, f"{directory}: {what}",
                     f"{drop} (`hubvendor vendor -o` would refuse to replace it); "
                     "list a directory `hubvendor vendor -o NEW_DIR HANDLE...` writes instead")
    return Check("HUBVENDOR_PATH", PROBLEM, f"{directory}: empty, no {manifest.FILENAME}",
                 f"run `hubvendor vendor -o {directory} HANDLE...` or {drop}")


def diagnose() -> list[Check]:
    return (check_versions() + check_pkg_resources() + check_settings() + check_cache() + check_mirrors()
            + check_autoload() + check_sources())


def run(args: argparse.Namespace) -> int:
    checks = diagnose()
    healthy = not any(c.status == PROBLEM for c in checks)
    if args.json:
        print(json.dumps({"healthy": healthy, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        marks = {OK: "ok  ", WARNING: "warn", PROBLEM: "FAIL"}
        for check in checks:
            print(f"[{marks[check.status]}] {check.name}: {check.detail}")
            if check.fix:
                print(f"       fix: {check.fix}")
        print("healthy" if healthy else f"{sum(c.status == PROBLEM for c in checks)} problem(s)")
    return 0 if healthy else 1
