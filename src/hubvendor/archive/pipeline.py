"""The thread pipeline under extraction: stages joined by bounded pipes, and how a failure travels.

One rule for failures: the first exception raised by any stage (or by the consumer) is recorded
and aborts every stage; blocked calls then raise :class:`Aborted`, and :meth:`Pipeline.run`
raises the recorded exception, unchanged, in the calling thread. A download's own error thus
reaches the caller as it was raised, whichever stage noticed first.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator, TypeVar

QUEUE_DEPTH = 8
POLL_SECONDS = 0.1
JOIN_SECONDS = 5  # after a failure: a fetch blocked on the network ends on its own
READ_BUFFER = 1024 * 1024

END = object()
T = TypeVar("T")


class Aborted(Exception):
    """Another stage failed or the consumer gave up: stop quietly."""


class Pipe:
    """A bounded hand-off between two threads; every blocking call honours the pipeline's abort."""

    def __init__(self, abort: threading.Event) -> None:
        self._queue: queue.Queue[object] = queue.Queue(QUEUE_DEPTH)
        self._abort = abort

    def put(self, item: object) -> None:
        while not self._abort.is_set():
            try:
                self._queue.put(item, timeout=POLL_SECONDS)
                return
            except queue.Full:
                pass
        raise Aborted

    def close(self) -> None:
        """No more items: the consumer's next :meth:`get` after the last one returns ``END``."""
        self.put(END)

    def get(self) -> object:
        """The next item, or ``END``."""
        while not self._abort.is_set():
            try:
                return self._queue.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
        raise Aborted


class Pipeline:
    """Stages in daemon threads plus the consuming calling thread, with one failure rule (module doc)."""

    def __init__(self, name: str) -> None:
        self.abort = threading.Event()
        self._name = name
        self._threads: list[threading.Thread] = []
        self._failure: BaseException | None = None
        self._lock = threading.Lock()

    def pipe(self) -> Pipe:
        return Pipe(self.abort)

    def fail(self, error: BaseException) -> None:
        """Record ``error`` unless a failure or the end came first, and abort every stage."""
        with self._lock:
            if self._failure is None and not self.abort.is_set():
                self._failure = error
            self.abort.set()

    def start(self, stage: str, run: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                run()
            except Aborted:
                pass
            except BaseException as error:  # raised again by run() in the calling thread
                self.fail(error)

        thread = threading.Thread(target=guarded, name=f"hubvendor-{stage} {self._name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def run(self, consume: Callable[[], T]) -> T:
        """``consume()`` in the calling thread; then every stage has ended, or the first failure is raised."""
        try:
            result = consume()
        except BaseException as error:
            self.fail(error)
            self._join(JOIN_SECONDS)
            failure = self._failure
            if failure is error or failure is None:
                raise
            raise failure from None
        self._join(None)
        self.abort.set()
        if self._failure is not None:
            raise self._failure
        return result

    def _join(self, timeout: float | None) -> None:
        for thread in self._threads:
            thread.join(timeout)


def pump(chunks: Iterable[bytes], out: Pipe, observe: Callable[[bytes], None]) -> None:
    """Stage: pass ``chunks`` (each shown to ``observe`` first) into ``out``; closes the iterator."""
    iterator = iter(chunks)
    try:
        for chunk in iterator:
            if chunk:
                observe(chunk)
                out.put(chunk)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
    out.close()


def read_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as file:
        while chunk := file.read(READ_BUFFER):
            yield chunk
