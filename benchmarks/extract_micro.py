"""Micro-benchmark of archive extraction on a synthetic trained-weight-like archive.

    python benchmarks/extract_micro.py [--mib 256] [--runs 3] [--workdir /tmp/h2-bench]

Builds (once) a tar.gz holding ``--mib`` MiB of float32 normal-distributed weights laid out
like a SavedModel, then runs each method ``--runs`` times in a fresh subprocess and prints
the median wall time and peak RSS (``resource.getrusage``) of each:

- ``hubvendor.extract``: the archive file fed as 1 MiB chunks (as the fetch layer does);
- ``hubvendor.extract_file``: rapidgzip parallel inflate (when installed);
- ``tarfile r|gz``: stdlib streaming ``extractall``, the naive baseline;
- ``inflate-only``: isal one-shot inflate of the archive held in memory (the single-stream limit).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time

METHODS = ("hubvendor.extract", "hubvendor.extract_file", "tarfile r|gz", "inflate-only")


def build_archive(workdir: str, mib: int) -> str:
    path = os.path.join(workdir, f"weights-{mib}MiB.tar.gz")
    if os.path.exists(path):
        return path
    import numpy as np

    source = os.path.join(workdir, "source")
    shutil.rmtree(source, ignore_errors=True)
    os.makedirs(os.path.join(source, "variables"))
    rng = np.random.default_rng(0)
    with open(os.path.join(source, "variables", "variables.data-00000-of-00001"), "wb") as out:
        for _ in range(mib):
            out.write(rng.normal(0.0, 0.05, 256 * 1024).astype(np.float32).tobytes())
    for name, size in (("saved_model.pb", 200_000), ("variables/variables.index", 2_000)):
        with open(os.path.join(source, name), "wb") as out:
            out.write(os.urandom(size))
    with tarfile.open(path + ".part", "w:gz", compresslevel=6) as tar:
        tar.add(source, arcname=".")
    os.replace(path + ".part", path)
    shutil.rmtree(source)
    return path


def run_method(method: str, archive_path: str, dest: str) -> None:
    """Runs in the child: one extraction, then prints seconds and peak RSS as JSON."""
    import resource

    from hubvendor import archive

    os.makedirs(dest)
    start = time.perf_counter()
    if method == "hubvendor.extract":
        def chunks():
            with open(archive_path, "rb", buffering=0) as file:
                while chunk := file.read(1024 * 1024):
                    yield chunk

        archive.extract(chunks(), dest, name=archive_path)
    elif method == "hubvendor.extract_file":
        archive.extract_file(archive_path, dest, name=archive_path, parallel=True)
    elif method == "tarfile r|gz":
        with open(archive_path, "rb") as file, tarfile.open(fileobj=file, mode="r|gz") as tar:
            tar.extractall(dest)
    else:
        from isal import isal_zlib

        with open(archive_path, "rb") as file:
            data = file.read()
        start = time.perf_counter()
        isal_zlib.decompress(data, wbits=31)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_mib}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/h2-bench")
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "ARCHIVE", "DEST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_method(*args.child)
        return 0
    os.makedirs(args.workdir, exist_ok=True)
    archive_path = build_archive(args.workdir, args.mib)
    print(f"archive: {archive_path} ({os.path.getsize(archive_path) / 2**20:.0f} MiB compressed), "
          f"median of {args.runs} runs")
    dest = os.path.join(args.workdir, "out")
    for method in METHODS:
        samples = []
        for _ in range(args.runs):
            shutil.rmtree(dest, ignore_errors=True)
            child = subprocess.run(
                [sys.executable, __file__, "--child", method, archive_path, dest],
                check=True, capture_output=True, text=True,
            )
            samples.append(json.loads(child.stdout.strip().splitlines()[-1]))
        shutil.rmtree(dest, ignore_errors=True)
        seconds = statistics.median(s["seconds"] for s in samples)
        rss = statistics.median(s["peak_rss_mib"] for s in samples)
        spread = ", ".join(f"{s['seconds']:.2f}" for s in samples)
        print(f"{method:24s} {seconds:6.2f} s  (runs: {spread})  peak RSS {rss:5.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
