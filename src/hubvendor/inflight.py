"""Downloads in flight in this process, so that Ctrl-C stops them.

Python delivers a signal to the main thread only. Downloads run on worker threads (``fetch --jobs``,
``vendor``, ``lock``), so the main thread, interrupted while it waits for them, closes every download
in flight (:func:`stop`): each worker's read ends at once, and its fill fails and cleans up (staging
directory, cache lock) as after any failed download. Downloads opened afterwards are refused.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Closable(Protocol):
    def close(self) -> None: ...


_lock = threading.Lock()
_open: set[Closable] = set()
_stopped = False


@contextlib.contextmanager
def tracked(download: Closable) -> Iterator[Closable]:
    """``download`` registered while the block runs; KeyboardInterrupt at once after :func:`stop`."""
    with _lock:
        if _stopped:
            download.close()
            raise KeyboardInterrupt
        _open.add(download)
    try:
        yield download
    finally:
        with _lock:
            _open.discard(download)


def stop() -> None:
    """Close every download in flight and refuse new ones (the process is being interrupted)."""
    global _stopped
    with _lock:
        _stopped = True
        downloads = list(_open)
    for download in downloads:
        with contextlib.suppress(Exception):
            download.close()


def run_all(call: Callable[[T], R], items: Iterable[T], jobs: int) -> list[R]:
    """``call(item)`` for every item, ``jobs`` at a time, results in order; an interrupt of the waiting
    main thread stops the downloads in flight before it propagates."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(call, item) for item in items]
        try:
            return [future.result() for future in futures]
        except KeyboardInterrupt:
            stop()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
