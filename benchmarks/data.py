"""Benchmark inputs: TF Hub-style SavedModel archives generated without TensorFlow, cached between runs.

Every archive is ``saved_model.pb`` (and ``variables.index``) from the repo's small example model plus a
generated ``variables/variables.data-00000-of-00001`` shard:

- ``normal``: float32 values drawn like trained weights (N(0, 0.05)); gzip ratio ~0.92;
- ``random``: random bytes (incompressible);
- ``lowent``: low-entropy values (75% zeros, the rest on 15 quantisation levels);
- ``smallfiles``: 20,000 small asset files (~4 KiB each) instead of one big shard.

Archives are gzip (isal level 1: ratios within 0.3% of ``gzip -6``, generated at ~700 MB/s; random
bytes as stored blocks, as ``gzip -6`` stores them) with deterministic headers, laid out as a TF Hub mirror: ``<root>/bench/<name>/1.tar.gz`` answers
``https://tfhub.dev/bench/<name>/1``. ``prepare()`` skips archives already generated.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "bazel_app" / "models" / "test" / "half_plus_two" / "1.tar.gz"
MiB = 1 << 20
GiB = 1 << 30
BLOCK = 16 * MiB
SMALL_FILES = 20_000
SMALL_FILE_BYTES = 4096
FORMAT_VERSION = 3  # bump to regenerate cached data after a change here


@dataclass(frozen=True)
class Model:
    """One generated archive: ``kind`` of variables and their size in bytes."""

    name: str
    kind: str
    size: int

    @property
    def handle(self) -> str:
        return f"https://tfhub.dev/bench/{self.name}/1"

    def archive(self, data_dir: Path) -> Path:
        return data_dir / "root" / "bench" / self.name / "1.tar.gz"


def model(kind: str, size: int, name: str | None = None) -> Model:
    label = f"{size // GiB}g" if size % GiB == 0 else f"{size // MiB}m"
    return Model(name or f"{kind}-{label}", kind, size)


def _blocks(kind: str, size: int, seed: int) -> Iterator[bytes]:
    rng = np.random.default_rng(seed)
    levels = (np.arange(1, 16, dtype=np.float32) - 8) * np.float32(0.01)
    left = size
    while left:
        n = min(BLOCK, left)
        if kind == "normal":
            block = (rng.standard_normal(n // 4, dtype=np.float32) * np.float32(0.05)).tobytes()
        elif kind == "random":
            block = rng.bytes(n)
        elif kind == "lowent":
            values = levels[rng.integers(0, 15, n // 4)]
            values[rng.random(n // 4) < 0.75] = 0
            block = values.tobytes()
        else:
            raise ValueError(kind)
        left -= n
        yield block


class _Reader(io.RawIOBase):
    """A file-like view of a block generator (what ``tarfile.addfile`` reads member data from)."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._pending = memoryview(block)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def _example_files() -> dict[str, bytes]:
    with tarfile.open(EXAMPLE) as tar:
        return {
            name: tar.extractfile(f"./{name}").read()  # type: ignore[union-attr]
            for name in ("saved_model.pb", "variables/variables.index")
        }


def _member(name: str, size: int, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(f"./{name}" if name else ".")
    info.size, info.mode, info.mtime = size, mode, 0
    if not size and mode == 0o755:
        info.type = tarfile.DIRTYPE
    return info


def _gzip_writer(kind: str, raw: io.BufferedWriter) -> io.BufferedIOBase:
    """isal level 1 (fast, ratios within 0.3% of ``gzip -6``); random bytes as stored blocks, which is what
    ``gzip -6`` emits for incompressible data (isal would Huffman-code them, 4x slower to inflate)."""
    if kind == "random":
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=0, mtime=0, filename="")
    from isal import igzip

    return igzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0, filename="")


def generate(spec: Model, path: Path, seed: int = 1) -> None:
    """Write ``spec``'s archive to ``path`` (atomically)."""
    files = _example_files()
    tmp = path.with_suffix(".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as raw, _gzip_writer(spec.kind, raw) as gz:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.GNU_FORMAT) as tar:
            for directory in ("", "assets", "variables"):
                tar.addfile(_member(directory, 0, 0o755))
            tar.addfile(_member("saved_model.pb", len(files["saved_model.pb"])), io.BytesIO(files["saved_model.pb"]))
            index = files["variables/variables.index"]
            tar.addfile(_member("variables/variables.index", len(index)), io.BytesIO(index))
            if spec.kind == "smallfiles":
                rng = np.random.default_rng(seed)
                count = spec.size // SMALL_FILE_BYTES
                tar.addfile(_member("assets/vocab", 0, 0o755))
                for i in range(count):
                    if i % 1000 == 0:  # tensorflow_hub's extractor needs every parent directory listed
                        tar.addfile(_member(f"assets/vocab/{i // 1000:02d}", 0, 0o755))
                    body = rng.integers(97, 123, SMALL_FILE_BYTES, dtype=np.uint8).tobytes()
                    tar.addfile(_member(f"assets/vocab/{i // 1000:02d}/part-{i:05d}.txt", len(body)), io.BytesIO(body))
            else:
                shard = "variables/variables.data-00000-of-00001"
                tar.addfile(_member(shard, spec.size), io.BufferedReader(_Reader(_blocks(spec.kind, spec.size, seed)), BLOCK))
    os.replace(tmp, path)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as file:
        while chunk := file.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def prepare(data_dir: Path, models: list[Model], log=print) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    """Generate the missing archives; returns ``{name: {"path", "sha256", "size"}}`` (cached in a json)."""
    index_path = data_dir / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    if index.get("version") != FORMAT_VERSION:
        index = {"version": FORMAT_VERSION, "models": {}}
    known = index["models"]
    for spec in models:
        path = spec.archive(data_dir)
        entry = known.get(spec.name)
        if entry and path.exists() and path.stat().st_size == entry["size"] and entry["spec"] == [spec.kind, spec.size]:
            continue
        log(f"generating {spec.name} ({spec.kind}, {spec.size // MiB} MiB of variables) ...")
        generate(spec, path)
        known[spec.name] = {"spec": [spec.kind, spec.size], "sha256": sha256_of(path), "size": path.stat().st_size}
        index_path.write_text(json.dumps(index, indent=1))
    return {spec.name: dict(known[spec.name], path=str(spec.archive(data_dir))) for spec in models}
