"""One download as byte ranges on concurrent connections, passed on in order.

:class:`RangedDownload` splits an object of known size into parts, fetches them on up to
``connections`` worker threads and yields the bytes strictly in order, so the consumer (inflate,
hash, writes) sees one stream, exactly as from a single connection. Part 0 comes from the response
that probed the object, read on the consumer's own thread (no hand-off: a fast link pays nothing for
the machinery), part after part for as long as it is fast: once it reads slower than ``spread_below``
bytes/s while the consumer mostly waits for bytes (first judged MEASURE_SECONDS after its first byte:
the wait for that is latency, which ranges do not cure; ``inf``: from the start), the other workers start and the probe stops at the end of its part. The other parts come from ``open_part(start, end)``, which must prove
each range belongs to the same object (``fetch`` passes a ranged, ``If-Range`` request). At most
``window`` parts are fetched ahead of the part being consumed, so the memory held is bounded by
``window * part_size``; each extra connection holds a slot of the process-wide ``budget`` while it
transfers a part. The first failure of any part ends the download with that part's error.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable, Iterator, Protocol

from .errors import FetchError

MAX_PART = 4 << 20  # bytes per range: small enough to bound memory, large enough to amortise a request
PARTS_PER_CONNECTION = 2  # small objects are still split so that every connection has work
_POLL = 0.1  # seconds between checks of close() while waiting for a budget slot
_JOIN_SECONDS = 2.0  # close() waits this long in all for the workers
MEASURE_SECONDS = 0.05  # the probe's speed is first judged this long after the start
REJUDGE_SECONDS = 0.5  # a probe that stalls (no chunk to judge it by) is judged again this often
STARVED_SHARE = 0.5  # ranges only while the consumer spent at least this share of the time waiting for bytes


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
        budget: threading.Semaphore, progress: Callable[[int], None] | None = None, spread_below: float = 0.0,
    ) -> None:
        self.name, self.url, self.size = first.name, first.url, first.size
        self._first = first
        self._open_part = open_part
        self._budget = budget
        self._progress = progress or (lambda count: None)
        self._parts = split(first.size, connections)
        self._window = connections + 1
        self._spread_below = spread_below
        self._spread = spread_below == float("inf")  # other connections have started
        self._started = time.monotonic()
        self._first_byte_at: float | None = None  # when the probe's first byte came: its speed is timed from then
        self._probe_read = 0  # bytes the probe has passed on
        self._starved = 0.0  # seconds the consumer waited for bytes (finished waits)
        self._waiting_since: float | None = None  # the consumer's current wait, if it is waiting
        self._cond = threading.Condition()
        self._chunks: dict[int, collections.deque[bytes]] = {}
        self._done: set[int] = set()
        self._streams: dict[int, Stream] = {0: first}
        self._error: BaseException | None = None
        self._closed = False
        self._head = 0  # the part being consumed
        self._next = 1  # the next part a worker takes (part 0 is the probe's)
        self._workers = min(connections, len(self._parts)) - 1  # the probe's connection is the consumer's
        self._threads: list[threading.Thread] = []  # started with the ranges: none on a fast link
        if self._spread:
            self._start_ranges()
        self._judge = threading.Timer(MEASURE_SECONDS, self._judge_probe)
        self._judge.daemon = True
        self._judge.start()

    # -- consumer ----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._read_probe()
            while self._head < len(self._parts):
                with self._cond:
                    queue = self._chunks.setdefault(self._head, collections.deque())
                    if not queue and self._head not in self._done and self._error is None and not self._closed:
                        self._waiting_since = time.monotonic()
                        while not queue and self._head not in self._done and self._error is None and not self._closed:
                            self._cond.wait()
                        self._stop_waiting()
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
                yield chunk
        except BaseException:
            self.close()
            raise
        finally:
            if self._head >= len(self._parts) or self._error is not None:
                self.close()

    def _read_probe(self) -> Iterator[bytes]:
        """Parts from the probing response, in order, on this thread, until other connections are needed."""
        index, at, end = 0, 0, self._parts[0][1]
        chunks = iter(self._first)
        while True:
            self._waiting_since = time.monotonic()
            chunk = next(chunks, None)
            self._stop_waiting()
            if chunk is None:
                break
            if self._first_byte_at is None:
                self._first_byte_at = time.monotonic()
            while chunk:
                piece, chunk = chunk[: end - at], chunk[end - at:]
                at += len(piece)
                self._probe_read = at
                yield piece
                if at < end:
                    continue
                following = self._take_following(index)
                if at == self.size:
                    return
                if following is None:  # ranges took over: the bytes read past this part are not passed on
                    self._progress(-len(chunk))
                    self._first.stop()  # its progress bar stays: the whole download moves it
                    return
                index, end = following, self._parts[following][1]
            if not self._spread and self._probe_slow(MEASURE_SECONDS) and self._network_bound():
                self._start_ranges()
        start = self._parts[index][0]
        raise FetchError(f"{self.name}: {self.url}: range {index} ended after {at - start} of {end - start} bytes")

    def _stop_waiting(self) -> None:
        if self._waiting_since is not None:
            self._starved += time.monotonic() - self._waiting_since
            self._waiting_since = None

    def close(self) -> None:
        self._judge.cancel()
        with self._cond:
            self._closed = True
            streams = list(self._streams.values())
            self._chunks.clear()
            self._cond.notify_all()
        for stream in streams:
            stream.close()
        deadline = time.monotonic() + _JOIN_SECONDS  # a worker still connecting ends on its own, later
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> RangedDownload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- workers -----------------------------------------------------------------------------

    def _work(self) -> None:
        try:
            while (index := self._take()) is not None:
                self._read_part(index)
        except BaseException as exc:  # handed to the consumer, which raises it
            with self._cond:
                if self._error is None and not self._closed:
                    self._error = exc
                self._cond.notify_all()

    def _take(self) -> int | None:
        """The next part to fetch, waiting while it is beyond the window; None when there is none."""
        with self._cond:
            while not self._closed and self._error is None and self._next < len(self._parts) \
                    and (self._next >= self._head + self._window or not self._spread):
                self._cond.wait()
            if self._closed or self._error is not None or self._next >= len(self._parts):
                return None
            self._next += 1
            return self._next - 1

    def _judge_probe(self) -> None:
        """Timer: ranges begin if the probe has been slow so far; a stalled probe is judged again later."""
        if self._probe_slow(MEASURE_SECONDS) and self._network_bound():
            self._start_ranges()
        elif not self._spread and not self._closed:  # judged again later: a link can slow down
            self._judge = threading.Timer(REJUDGE_SECONDS, self._judge_probe)
            self._judge.daemon = True
            self._judge.start()

    def _probe_slow(self, at_least: float) -> bool:
        """Whether the probe, timed from its first byte for at least ``at_least`` seconds, read below the speed."""
        if self._first_byte_at is None:
            return False
        elapsed = time.monotonic() - self._first_byte_at
        return elapsed >= at_least and self._probe_read < self._spread_below * elapsed

    def _network_bound(self) -> bool:
        """Whether the consumer has mostly waited for bytes: a slow probe on a busy CPU is no reason for ranges."""
        now, since = time.monotonic(), self._waiting_since
        starved = self._starved + (now - since if since is not None else 0.0)
        return self._spread_below == float("inf") or starved >= STARVED_SHARE * (now - self._started)

    def _start_ranges(self) -> None:
        with self._cond:
            if self._threads or self._closed:
                return
            self._spread = True
            self._threads = [threading.Thread(target=self._work, name=f"hubvendor-range {self.name}", daemon=True)
                             for _ in range(self._workers)]
            for thread in self._threads:
                thread.start()

    def _take_following(self, index: int) -> int | None:
        """Part ``index + 1`` for the probe, which has passed part ``index`` on; None at the end, once ranges
        have started (the queue then serves the parts from ``index + 1``), or after close or a failure."""
        with self._cond:
            self._head = index + 1
            if self._threads:
                self._cond.notify_all()  # workers may take parts further ahead
            if index + 1 >= len(self._parts) or self._closed or self._error is not None or self._spread \
                    or self._next != index + 1:
                return None
            self._next += 1
            return index + 1

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
                self._progress(len(chunk))
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

