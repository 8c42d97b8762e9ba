"""One download as byte ranges on concurrent connections, passed on in order.

:class:`RangedDownload` splits an object of known size into parts, fetches them on up to
``connections`` worker threads and yields the bytes strictly in order, so the consumer (inflate,
hash, writes) sees one stream, exactly as from a single connection. Part 0 comes from the response
that probed the object; the other parts come from ``open_part(start, end)``, which must prove each
range belongs to the same object (``fetch`` passes a ranged, ``If-Range`` request). At most
``window`` parts are fetched ahead of the part being consumed, so the memory held is bounded by
``window * part_size``; each extra connection holds a slot of the process-wide ``budget`` while it
transfers a part. The first failure of any part ends the download with that part's error.
"""

from __future__ import annotations

import collections
import threading
from typing import Callable, Iterator, Protocol

from .errors import FetchError

MAX_PART = 4 << 20  # bytes per range: small enough to bound memory, large enough to amortise a request
PARTS_PER_CONNECTION = 2  # small objects are still split so that every connection has work
_POLL = 0.1  # seconds between checks of close() while waiting for a budget slot


class Stream(Protocol):
    """What a part is read from: iterable of bytes, closable from another thread."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class First(Stream, Protocol):
    """The probing download: also ``name``, ``url``, ``size``, and ``stop()`` (connection only)."""

    name: str
    url: str
    size: int

    def stop(self) -> None: ...


def split(size: int, connections: int) -> list[tuple[int, int]]:
    """``[start, end)`` parts covering ``size`` bytes: at most MAX_PART each, at least 2 per connection."""
    per_part = max(1, min(MAX_PART, -(-size // (connections * PARTS_PER_CONNECTION))))
    return [(start, min(size, start + per_part)) for start in range(0, size, per_part)]


class RangedDownload:
    """Iterate for the object's bytes in order; ``url``, ``size`` and ``name`` as ``first``'s."""

    def __init__(
        self, first: First, *, open_part: Callable[[int, int], Stream], connections: int,
        budget: threading.Semaphore, progress: Callable[[int], None] | None = None,
    ) -> None:
        self.name, self.url, self.size = first.name, first.url, first.size
        self._first = first
        self._open_part = open_part
        self._budget = budget
        self._progress = progress or (lambda count: None)
        self._parts = split(first.size, connections)
        self._window = connections + 1
        self._cond = threading.Condition()
        self._chunks: dict[int, collections.deque[bytes]] = {}
        self._done: set[int] = set()
        self._streams: dict[int, Stream] = {0: first}
        self._error: BaseException | None = None
        self._closed = False
        self._head = 0  # the part being consumed
        self._next = 1  # the next part a worker takes (part 0 is the first worker's)
        self._threads = [
            threading.Thread(target=self._work, args=(i == 0,), name=f"hubvendor-range {self.name}", daemon=True)
            for i in range(min(connections, len(self._parts)))
        ]
        for thread in self._threads:
            thread.start()

    # -- consumer ----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[bytes]:
        try:
            while self._head < len(self._parts):
                with self._cond:
                    queue = self._chunks.setdefault(self._head, collections.deque())
                    while not queue and self._head not in self._done and self._error is None and not self._closed:
                        self._cond.wait()
                    if self._error is not None:
                        raise self._error
                    if self._closed:
                        return
                    if not queue:  # the head part is complete: move on
                        del self._chunks[self._head]
                        self._head += 1
                        self._cond.notify_all()
                        continue
                    chunk = queue.popleft()
                if self._head:
                    self._progress(len(chunk))
                yield chunk
        finally:
            if self._head >= len(self._parts) or self._error is not None:
                self.close()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            streams = list(self._streams.values())
            self._chunks.clear()
            self._cond.notify_all()
        for stream in streams:
            stream.close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(5)

    def __enter__(self) -> RangedDownload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- workers -----------------------------------------------------------------------------

    def _work(self, first: bool) -> None:
        index: int | None = 0 if first else None
        try:
            while True:
                if index is None:
                    index = self._take()
                    if index is None:
                        return
                if index == 0:
                    self._read_first()
                else:
                    self._read_part(index)
                index = None
        except BaseException as exc:  # handed to the consumer, which raises it
            with self._cond:
                if self._error is None and not self._closed:
                    self._error = exc
                self._cond.notify_all()

    def _take(self) -> int | None:
        """The next part to fetch, waiting while it is beyond the window; None when there is none."""
        with self._cond:
            while not self._closed and self._error is None and self._next < len(self._parts) \
                    and self._next >= self._head + self._window:
                self._cond.wait()
            if self._closed or self._error is not None or self._next >= len(self._parts):
                return None
            self._next += 1
            return self._next - 1

    def _read_first(self) -> None:
        """Part 0 from the probing response, which is then closed (its rest comes in ranges)."""
        end = self._parts[0][1]
        at = 0
        for chunk in self._first:
            if at + len(chunk) >= end:
                self._progress(end - at - len(chunk))  # the probe counted bytes past part 0
                chunk = chunk[: end - at]
            at += len(chunk)
            if not self._put(0, chunk) or at >= end:
                break
        self._first.stop()  # its progress bar stays: the whole download moves it
        self._finish(0, at, end)

    def _read_part(self, index: int) -> None:
        start, end = self._parts[index]
        while not self._budget.acquire(timeout=_POLL):
            if self._closed or self._error is not None:
                return
        try:
            stream = self._open_part(start, end)
            with self._cond:
                self._streams[index] = stream
                if self._closed:
                    stream.close()
                    return
            at = start
            for chunk in stream:
                at += len(chunk)
                if not self._put(index, chunk):
                    break
            stream.close()
            with self._cond:
                self._streams.pop(index, None)
        finally:
            self._budget.release()
        self._finish(index, at - start, end - start)

    def _put(self, index: int, chunk: bytes) -> bool:
        with self._cond:
            if self._closed or self._error is not None:
                return False
            self._chunks.setdefault(index, collections.deque()).append(chunk)
            self._cond.notify_all()
            return True

    def _finish(self, index: int, received: int, expected: int) -> None:
        with self._cond:
            if self._closed or self._error is not None:
                return
            if received != expected:  # a part stream that ended early without an error of its own
                raise FetchError(f"{self.name}: {self.url}: range {index} ended after {received} of {expected} bytes")
            self._done.add(index)
            self._cond.notify_all()

