"""The front-end's output directory while a wheel is rewritten: never a wheel without its models under its name.

``python -m build`` and ``uv build`` have the backend write its (model-less) wheel straight into their
output directory. The rewrite moves it aside to a temporary name, writes the new wheel to another and
renames that into place last (:func:`temporaries` names both; they end in ``.tmp`` and carry the pid).
:class:`Guard` covers SIGTERM and SIGHUP (a CI cancel, a closed terminal) from before the backend writes
until the rewrite is done: it removes the temporaries and any new wheel of the project that lacks the
manifest, then exits. A SIGKILL cannot be caught: :func:`sweep`, run by the next build, removes the
temporaries of builds whose process is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import zipfile
from types import FrameType

from ..config import dist_key
from ..locking import pid_alive
from ..sources import SITE_DIR

SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_TEMPORARY = re.compile(r"^(?P<wheel>.+\.whl)\.hubvendor(?:-(?P<pid>\d+)\.(?:orig|new))?\.tmp$")


def temporaries(wheel_path: str) -> tuple[str, str]:
    """This process's names for the backend's wheel moved aside and for the wheel being written."""
    pid = os.getpid()
    return f"{wheel_path}.hubvendor-{pid}.orig.tmp", f"{wheel_path}.hubvendor-{pid}.new.tmp"


def remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _of_dist(filename: str, dist: str) -> bool:
    return dist_key(filename.split("-", 1)[0]) == dist


def sweep(directory: str, dist: str) -> list[str]:
    """Remove ``dist``'s rewrite temporaries left in ``directory`` by builds that died (e.g. SIGKILL)."""
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for name in os.listdir(directory):
            match = _TEMPORARY.match(name)
            if match and _of_dist(name, dist) and not (match["pid"] and pid_alive(int(match["pid"]))):
                remove(os.path.join(directory, name))
                removed.append(name)
    return removed


def wheels(directory: str) -> dict[str, tuple[int, int]]:
    """The wheels in ``directory`` with (inode, mtime): a later call tells which ones a build wrote."""
    found = {}
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(directory or "."):
            if entry.name.endswith(".whl"):
                with contextlib.suppress(FileNotFoundError):
                    info = entry.stat(follow_symlinks=False)
                    found[entry.path] = (info.st_ino, info.st_mtime_ns)
    return found


def has_manifest(wheel_path: str, dist: str) -> bool:
    """Whether the wheel holds ``hubvendor.d/<dist>.json`` (what a finished rewrite adds)."""
    try:
        with zipfile.ZipFile(wheel_path) as whl:
            return f"{SITE_DIR}/{dist}.json" in whl.NameToInfo
    except (OSError, zipfile.BadZipFile):
        return False


class Guard:
    """On SIGTERM/SIGHUP, clean ``directory`` of ``dist``'s unfinished wheels and temporaries, then exit."""

    def __init__(self, directory: str, dist: str) -> None:
        self.directory = directory
        self.dist = dist
        self.before = self._wheels()
        self.previous: dict[int, object] = {}

    def _wheels(self) -> dict[str, tuple[int, int]]:
        return {path: stamp for path, stamp in wheels(self.directory).items()
                if _of_dist(os.path.basename(path), self.dist)}

    def install(self) -> Guard:
        """Take over the signals (only from the main thread, and not those the process ignores)."""
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                previous = signal.getsignal(signum)
                if previous is not signal.SIG_IGN:
                    self.previous[signum] = previous
                    signal.signal(signum, self._on_signal)
        return self

    def uninstall(self) -> None:
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)
        self.previous = {}

    def clean(self) -> None:
        """Remove this process's temporaries and every new or changed wheel of ``dist`` without its manifest."""
        pid = os.getpid()
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for name in os.listdir(self.directory):
                match = _TEMPORARY.match(name)
                if match and match["pid"] == str(pid) and _of_dist(name, self.dist):
                    remove(os.path.join(self.directory, name))
        for path, stamp in self._wheels().items():
            if self.before.get(path) != stamp and not has_manifest(path, self.dist):
                remove(path)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        for other in self.previous:
            signal.signal(other, signal.SIG_IGN)
        self.clean()
        previous = self.previous.get(signum)
        self.uninstall()
        if callable(previous):
            previous(signum, frame)
        raise SystemExit(128 + signum)
