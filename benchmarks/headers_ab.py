"""A/B of the tar header fast path (``archive.headers.common_header``) on a 20k-file archive.

    python benchmarks/headers_ab.py [--files 20000] [--runs 5] [--workdir /tmp/hubvendor-headers-ab]

Builds (once) a tar.gz of ``--files`` files of 4 KiB (the shape of benchmarks/data.py's many-file
model) and extracts it with ``archive.extract`` in fresh subprocesses, alternating A (fast path on)
and B (every header through ``tarfile.TarInfo.frombuf``): median wall and process CPU time of the
extraction, and CPU time of reading the headers alone (no writes) over the inflated tar.
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


def build_archive(workdir: str, files: int) -> str:
    path = os.path.join(workdir, f"many-{files}.tar.gz")
    if os.path.exists(path):
        return path
    source = os.path.join(workdir, "source")
    shutil.rmtree(source, ignore_errors=True)
    for index in range(files):
        directory = os.path.join(source, "variables", f"shard{index // 1000:03d}")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"v{index:05d}.bin"), "wb") as out:
            out.write(os.urandom(4096))
    with open(os.path.join(source, "saved_model.pb"), "wb") as out:
        out.write(os.urandom(1000))
    with tarfile.open(path + ".part", "w:gz", compresslevel=1) as tar:
        tar.add(source, arcname=".")
    os.replace(path + ".part", path)
    shutil.rmtree(source)
    return path


class _Chunks:
    """What ``TarStream`` reads from: ``get()`` the next chunk, then ``END``."""

    def __init__(self, data: bytes, end: object) -> None:
        self._chunks = iter([data[i : i + 1024 * 1024] for i in range(0, len(data), 1024 * 1024)])
        self._end = end

    def get(self) -> object:
        return next(self._chunks, self._end)


def run_child(variant: str, archive_path: str, dest: str) -> None:
    """Extraction (wall and process CPU seconds), then header reading alone over the inflated tar."""
    import gzip

    from hubvendor import archive
    from hubvendor.archive import headers, pipeline

    if variant == "B":
        headers.common_header = lambda block: None  # type: ignore[assignment]
    with open(archive_path, "rb") as file:
        data = file.read()
    os.makedirs(dest)
    wall, cpu = time.perf_counter(), time.process_time()
    archive.extract([data[i : i + 1024 * 1024] for i in range(0, len(data), 1024 * 1024)], dest, name=archive_path)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stream = headers.TarStream(_Chunks(gzip.decompress(data), pipeline.END))  # type: ignore[arg-type]
    reader = headers.HeaderReader(stream, archive_path)
    start = time.process_time()
    while (member := reader.next_member()) is not None:
        if member.kind == "file":
            stream.skip(member.size + (-member.size % tarfile.BLOCKSIZE))
    parse = time.process_time() - start
    print(json.dumps({"wall": wall, "cpu": cpu, "headers": parse}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", default="/tmp/hubvendor-headers-ab")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(*args.child)
        return 0
    os.makedirs(args.workdir, exist_ok=True)
    archive_path = build_archive(args.workdir, args.files)
    dest = os.path.join(args.workdir, "out")
    samples: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    for _ in range(args.runs):
        for variant in ("A", "B"):
            shutil.rmtree(dest, ignore_errors=True)
            child = subprocess.run([sys.executable, __file__, "--child", variant, archive_path, dest],
                                   check=True, capture_output=True, text=True)
            samples[variant].append(json.loads(child.stdout.strip().splitlines()[-1]))
    shutil.rmtree(dest, ignore_errors=True)
    print(f"{args.files} files, median of {args.runs} runs each (A and B alternating)")
    print("variant                 extract wall   extract CPU   header reading CPU")
    medians = {}
    for variant, label in (("A", "A fast header path"), ("B", "B tarfile.frombuf")):
        medians[variant] = {key: statistics.median(s[key] for s in samples[variant]) for key in ("wall", "cpu", "headers")}
        m = medians[variant]
        print(f"{label:22s} {m['wall']:10.2f} s {m['cpu']:11.2f} s {m['headers']:14.3f} s")
    print("B/A " + "  ".join(f"{key} {medians['B'][key] / medians['A'][key]:.2f}" for key in ("wall", "cpu", "headers")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
