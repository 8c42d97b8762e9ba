"""One benchmark contender, run as its own process by ``run.py``: imports first, then the timed call.

    python benchmarks/contender.py hubvendor-resolve HANDLE
    python benchmarks/contender.py hubvendor-stages HANDLE
    python benchmarks/contender.py hubvendor-profile HANDLE
    python benchmarks/contender.py tfhub-resolve URL
    python benchmarks/contender.py inflate-limit ARCHIVE [isal,zlib-ng,zlib]
    python benchmarks/contender.py rapidgzip ARCHIVE THREADS

Prints one JSON object: ``{"seconds": <call time>, ...}``. Peak RSS is measured by the parent (wait4).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Callable

INPUT_SLICE = 256 * 1024


def hubvendor_resolve(handle: str) -> dict[str, object]:
    import hubvendor
    from hubvendor import archive, cache, fetch, runtime  # noqa: F401  (imports are not timed)

    import requests  # noqa: F401

    start = time.perf_counter()
    path = hubvendor.resolve(handle)
    seconds = time.perf_counter() - start
    descriptor = cache.Cache().read_descriptor(handle)
    size = descriptor.archive_size if descriptor else None
    return {"seconds": seconds, "path": path, "inflate": "parallel" if archive.parallel_inflate(size) else "stream"}


def hubvendor_stages(handle: str) -> dict[str, object]:
    """``hubvendor-resolve`` with each pipeline stage's thread CPU time and wall time recorded."""
    import functools
    import threading

    from hubvendor import archive

    stages: dict[str, list[float]] = {}
    lock = threading.Lock()

    def timed(name: str, function):  # type: ignore[no-untyped-def]
        @functools.wraps(function)
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                with lock:
                    stages[name] = [time.thread_time() - cpu, time.perf_counter() - wall]
        return wrapper

    archive.pump = timed("fetch thread: HTTP read + archive sha256", archive.pump)
    archive.inflate = timed("inflate thread: isal inflate", archive.inflate)
    archive._extract_plain = timed("main thread: tar parse + file sha256 + writes", archive._extract_plain)
    result = hubvendor_resolve(handle)
    result["stages"] = stages
    return result


def hubvendor_profile(handle: str) -> dict[str, object]:
    """``hubvendor-resolve`` under cProfile (calling thread: tar parsing, checks, file writes); top functions."""
    import cProfile
    import io
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    result = hubvendor_resolve(handle)
    profile.disable()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(12)
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    root = __file__.rsplit("/benchmarks/", 1)[0]
    places = ((root, "."), (sys.prefix, "<venv>"), (sys.base_prefix, "<python>"))
    kept = []
    for line in lines[start:]:
        for place, name in places:
            line = line.replace(place, name)
        if line.strip():
            kept.append(line)
    result["profile"] = "\n".join(kept)
    return result


def tfhub_resolve(url: str) -> dict[str, object]:
    import tensorflow_hub as hub

    start = time.perf_counter()
    path = hub.resolve(url)
    return {"seconds": time.perf_counter() - start, "path": path}


def _inflate_seconds(data: bytes, decompressobj: Callable[..., object]) -> float:
    """One gzip stream, inflated in memory on one core; output discarded slice by slice."""
    start = time.perf_counter()
    view = memoryview(data)
    inflater = decompressobj(wbits=31)
    for offset in range(0, len(view), INPUT_SLICE):
        inflater.decompress(view[offset:offset + INPUT_SLICE])  # type: ignore[attr-defined]
    if not inflater.eof:  # type: ignore[attr-defined]
        raise SystemExit("inflate-limit: the archive is not a single complete gzip stream")
    return time.perf_counter() - start


def inflate_limit(path: str, candidates: str = "isal") -> dict[str, object]:
    """The fastest single-stream inflate of the archive's bytes in memory among ``candidates``
    (comma-separated: isal, zlib-ng, zlib; stdlib zlib is always slower here)."""
    import zlib

    from isal import isal_zlib

    inflaters: dict[str, Callable[..., object]] = {"isal": isal_zlib.decompressobj, "zlib": zlib.decompressobj}
    try:
        from zlib_ng import zlib_ng

        inflaters["zlib-ng"] = zlib_ng.decompressobj
    except ImportError:
        pass
    with open(path, "rb") as file:
        data = file.read()
    times = {name: _inflate_seconds(data, inflaters[name]) for name in candidates.split(",") if name in inflaters}
    best = min(times, key=times.__getitem__)
    return {"seconds": times[best], "best": best, **{f"{k}_s": v for k, v in times.items()},
            "mb_per_s": len(data) / times[best] / 1e6}


def rapidgzip_file(path: str, threads: str) -> dict[str, object]:
    """rapidgzip over the archive on disk (page cache), output discarded: the parallel inflate ceiling."""
    import rapidgzip

    start = time.perf_counter()
    with rapidgzip.open(path, parallelization=int(threads)) as reader:
        while reader.read(4 << 20):
            pass
    return {"seconds": time.perf_counter() - start}


COMMANDS: dict[str, Callable[..., dict[str, object]]] = {
    "hubvendor-resolve": hubvendor_resolve,
    "hubvendor-stages": hubvendor_stages,
    "hubvendor-profile": hubvendor_profile,
    "tfhub-resolve": tfhub_resolve,
    "inflate-limit": inflate_limit,
    "rapidgzip": rapidgzip_file,
}

if __name__ == "__main__":
    result = COMMANDS[sys.argv[1]](*sys.argv[2:])
    print(json.dumps(result))
