"""Object-store caches: the one factory of stores, the fsspec store, and archives read from a store.

``filesystem_for(root)`` is the one factory of stores (local paths get ``filesystems.LocalFileSystem``); for URLs it prefers fsspec when the scheme's implementation is installed (``hubvendor[gcs]``
= gcsfs, ``hubvendor[s3]`` = s3fs): it needs no TensorFlow and creates lock files with a server-side
precondition (GCS ``ifGenerationMatch=0``, S3 ``If-None-Match: *``). Otherwise TensorFlow's gfile
(``gfilestore``) serves any scheme TensorFlow knows, as tensorflow_hub does. fsspec takes its settings (credentials,
endpoints) from the usual places: ``STORAGE_EMULATOR_HOST``, ``AWS_*``, ``FSSPEC_<PROTOCOL>_<KWARG>``.

Lock guarantee: :meth:`create_exclusive` checks for the file, creates it with the precondition, waits
``filesystems.LOCK_SETTLE_SECONDS`` and reads it back; it reports success only if the file holds this caller's
text. On stores that enforce the precondition (GCS, S3, moto) exactly one concurrent creator wins.
On stores that ignore it (gcp-storage-emulator; gfile, like tensorflow_hub) two creators can both win
only if both checked before either wrote and each read back before the other wrote, within the
settle time; the cost is a duplicate download, as the entry is only moved into place when absent.
Directory renames are copies: the cache writes the descriptor (file count, bytes) first and copies
``saved_model.pb`` last, so hubvendor readers never take a half-copied entry as complete.
:class:`ObjectDownload` streams a ``gs://`` (or other store's) archive for ``download.fetch_archive``.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import importlib.util
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from . import filesystems
from .entry import SAVED_MODEL_FILES
from .errors import CacheError, ConfigError, FetchError, NotFoundError
from .filesystems import FileSystem, LocalFileSystem, is_remote, join_url, streamed_tree_digest
from .gfilestore import GFileFileSystem

CHUNK_BYTES = 1 << 20
_EXTRAS = {"gs": "gcs", "gcs": "gcs", "s3": "s3", "s3a": "s3"}
_PASSED_THROUGH = (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError)  # callers branch on these


def _store_call(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn what a store library raises of its own (botocore's NoCredentialsError, aiohttp's connection
    errors, ...) into one CacheError line naming the store; the OSErrors callers branch on pass through."""

    @functools.wraps(method)
    def call(self: FsspecFileSystem, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (_PASSED_THROUGH + (CacheError,)):
            raise
        except Exception as exc:
            path = args[0] if args and isinstance(args[0], str) else ""
            raise CacheError(f"{self.name}: cannot use {path or 'the store'}: {_cause(exc)}; check the store's "
                             "address, credentials and network") from exc

    return call


class FsspecFileSystem:
    """A cache store on any fsspec filesystem; tuned for gcsfs and s3fs (no listings cache)."""

    local = False

    def __init__(self, fs: Any, *, name: str = "") -> None:
        self.fs = fs
        self.protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self.name = name or f"{self.protocol}:// store"  # who uses it, in errors: "TFHUB_CACHE_DIR=..."

    @classmethod
    def for_protocol(cls, protocol: str, *, name: str = "") -> FsspecFileSystem:
        import fsspec

        return cls(fsspec.filesystem(protocol, use_listings_cache=False), name=name)

    def join(self, *parts: str) -> str:
        return join_url(*parts)

    @_store_call
    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    @_store_call
    def listdir(self, path: str) -> list[str]:
        base = self.fs._strip_protocol(path).rstrip("/")
        try:
            found = self.fs.ls(path, detail=False, refresh=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted({p.rstrip("/").rsplit("/", 1)[-1] for p in found if p.rstrip("/") != base})

    @_store_call
    def makedirs(self, path: str) -> None:
        """Object stores have no directories; only check that the bucket exists (a clear early error)."""
        bucket = self.fs._strip_protocol(path).split("/", 1)[0]
        if not self.fs.exists(bucket):
            raise FileNotFoundError(f"bucket {self.protocol}://{bucket} does not exist (or is not accessible)")

    @_store_call
    def read_text(self, path: str) -> str:
        return self.fs.cat_file(path).decode("utf-8", errors="replace")

    @_store_call
    def write_text(self, path: str, text: str) -> None:
        self.fs.pipe_file(path, text.encode("utf-8"))  # one request: readers see old or new

    @_store_call
    def create_exclusive(self, path: str, text: str) -> bool:
        data = text.encode("utf-8")
        if self.fs.exists(path):
            return False
        try:
            self.fs.pipe_file(path, data, mode="create")
        except FileExistsError:
            return False
        time.sleep(filesystems.LOCK_SETTLE_SECONDS)
        try:
            return self.fs.cat_file(path) == data
        except FileNotFoundError:
            return False

    @_store_call
    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)

    @_store_call
    def rmtree(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(path, recursive=True)

    @_store_call
    def rename_dir(self, src: str, dst: str) -> bool:
        if self.listdir(dst):
            return False
        base = self.fs._strip_protocol(src).rstrip("/")
        relative = [p[len(base) + 1:] for p in self.fs.find(src) if not p.endswith("/")]
        graph = [rel for rel in relative if rel.rsplit("/", 1)[-1] in SAVED_MODEL_FILES]
        for batch in ([rel for rel in relative if rel not in graph], graph):  # the graph last
            if batch:
                self.fs.copy([join_url(src, rel) for rel in batch], [join_url(dst, rel) for rel in batch])
        self.rmtree(src)
        return True

    @_store_call
    def mtime(self, path: str) -> float | None:
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return None
        for key in ("mtime", "LastModified", "updated", "last_modified", "created"):
            value = info.get(key)
            if isinstance(value, datetime.datetime):
                return value.timestamp()
            if isinstance(value, str):
                return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            if isinstance(value, (int, float)):
                return float(value)
        return None

    @_store_call
    def touch(self, path: str) -> None:
        """Refresh the modification time without touching the contents (a lock holder's heartbeat)."""
        stamp = str(time.time())
        with contextlib.suppress(FileNotFoundError):
            if self.protocol in ("gs", "gcs"):
                self.fs.setxattrs(path, hubvendor_heartbeat=stamp)
            elif self.protocol in ("s3", "s3a"):
                bucket, key, _ = self.fs.split_path(path)
                self.fs.call_s3(
                    "copy_object", Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key},
                    MetadataDirective="REPLACE", Metadata={"hubvendor-heartbeat": stamp},
                )
            else:  # no metadata-only update in fsspec's API: rewrite the same contents
                self.write_text(path, self.read_text(path))

    @_store_call
    def tree_stats(self, path: str) -> tuple[int, int]:
        try:
            found = self.fs.find(path, detail=True)
        except FileNotFoundError:
            return 0, 0
        files = [info for name, info in found.items() if info.get("type") != "directory" and not name.endswith("/")]
        return len(files), sum(int(info.get("size") or 0) for info in files)

    @_store_call
    def tree_digest(self, path: str) -> str:
        base = self.fs._strip_protocol(path).rstrip("/")
        found = self.fs.find(path, detail=True)
        files = [(name[len(base) + 1:], name) for name, info in found.items()
                 if info.get("type") != "directory" and not name.endswith("/")]
        return streamed_tree_digest(files, self.open_read)

    @contextlib.contextmanager
    def local_dir(self, path: str) -> Iterator[str]:
        with tempfile.TemporaryDirectory(prefix="hubvendor-staging-") as local:
            yield local
            sources, targets = [], []
            for dirpath, _, filenames in os.walk(local):
                for name in filenames:
                    sources.append(os.path.join(dirpath, name))
                    targets.append(join_url(path, os.path.relpath(sources[-1], local).replace(os.sep, "/")))
            if sources:
                self.fs.put(sources, targets)

    @_store_call
    def open_read(self, path: str) -> IO[bytes]:
        return self.fs.open(path, "rb")

    @_store_call
    def size(self, path: str) -> int | None:
        return self.fs.size(path)



def filesystem_for(url: str, *, name: str = "") -> FileSystem:
    """The one factory of stores: local paths (and ``file://``) get ``LocalFileSystem``; other URLs fsspec
    when its implementation is installed, else TensorFlow's gfile. ``name`` says who uses the store in
    errors (``TFHUB_CACHE_DIR=...``); a store that cannot be opened is a ConfigError naming it."""
    if not is_remote(url):
        return LocalFileSystem()
    scheme = url.split("://", 1)[0].lower()
    fsspec_error = ""
    if importlib.util.find_spec("fsspec") is not None:
        import fsspec

        try:
            needs = _required_options(fsspec.get_filesystem_class(scheme))
        except (ImportError, ValueError) as exc:
            fsspec_error = f"fsspec: {exc}"
        else:
            if needs:  # built without them it fails half-made (and its __del__ prints a traceback)
                raise ConfigError(f"{name or url}: fsspec's {scheme}:// needs options hubvendor does not pass "
                                  f"({', '.join(needs)}); use a local directory or a bucket URL such as "
                                  "gs://bucket/path")
            try:
                return FsspecFileSystem.for_protocol(scheme, name=name)
            except Exception as exc:  # ftp:// without a host, zip:// without an archive, a library's own types
                raise ConfigError(f"{name or url}: cannot open {scheme}:// with fsspec ({_cause(exc)}); "
                                  "use a local directory or a bucket URL such as gs://bucket/path") from exc
    if importlib.util.find_spec("tensorflow") is not None:
        return GFileFileSystem()
    extra = _EXTRAS.get(scheme)
    hint = f"pip install 'hubvendor[{extra}]'" if extra else "install the fsspec implementation for it"
    raise ConfigError(
        f"{name or url}: no filesystem for {scheme}:// ({fsspec_error or 'fsspec is not installed'}; "
        f"TensorFlow is not installed either); {hint}, or install TensorFlow"
    )


def _required_options(cls: type) -> list[str]:
    """Constructor parameters of an fsspec filesystem class that have no default."""
    import inspect

    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [p.name for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


class ObjectDownload:
    """A gs:// (or other object-store) archive read in chunks, shaped like ``httpstream.Download``."""

    def __init__(self, url: str, *, name: str) -> None:
        self.name = name
        self.url = url
        self._received = 0
        fs = filesystem_for(url)
        try:
            self.size = fs.size(url)
            self._file = fs.open_read(url)
        except FileNotFoundError:
            raise NotFoundError(f"{name}: {url} does not exist") from None
        except Exception as exc:  # gcsfs, s3fs, aiohttp and botocore raise types of their own
            raise FetchError(f"{name}: cannot read {url}: {_cause(exc)}") from exc

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                chunk = self._file.read(CHUNK_BYTES)
            except Exception as exc:  # as in __init__: the store's own types, OSError from gfile
                raise FetchError(
                    f"{self.name}: reading {self.url} failed after {self._received} bytes: {_cause(exc)}"
                ) from exc
            if not chunk:
                return
            self._received += len(chunk)
            yield chunk

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ObjectDownload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cause(exc: BaseException) -> str:
    """A one-line cause: the exception's type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def open_download(url: str, *, name: str) -> ObjectDownload:
    """Open an object-store archive for streaming into ``archive.extract``."""
    return ObjectDownload(url, name=name)
