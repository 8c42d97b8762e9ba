"""``hubvendor.resolve``: a warm-cache fast path in front of :func:`hubvendor.runtime.resolve`.

A process that resolves a handle already in the cache should cost about what ``python -c pass``
costs, but the full resolution chain imports a few dozen modules (dataclasses, logging, uuid,
tempfile, json, ...: ~15 ms). This module imports only ``os``, ``sys``, ``fcntl`` and ``_sha1``
(its annotations use builtins only) and answers exactly what :func:`runtime.resolve` would in the
common case: an http(s) handle, a local cache named by ``TFHUB_CACHE_DIR``, an entry hubvendor
wrote and that is complete, and nothing that could take precedence (``HUBVENDOR_PATH``, wheels' ``hubvendor.d``, Bazel runfiles, an extra manifest
source, UNCOMPRESSED/Colab load formats, absl flags). In every other case, and on any doubt, it
defers to the full chain. Like ``Cache.use`` it holds a shared flock on the entry for the process's
lifetime and marks the entry used.
"""

import os
import sys

from .entry import descriptor_fields, descriptor_number, has_saved_model, hold, tree_stats

# The vendored sources (``sources.SOURCES``) _something_else_may_answer knows how to rule out.
# A test fails when the registry changes, so the fast path cannot silently answer past a new source.
RULED_OUT_SOURCES = ("HUBVENDOR_PATH", "installed wheels", "Bazel runfiles")


def resolve(handle: object) -> str:
    """A local directory (or gs:// location) holding the model for ``handle``."""
    path = _warm_entry(handle)
    if path is not None:
        return path
    from .runtime import resolve as full_resolve

    return full_resolve(handle)


def _warm_entry(handle: object) -> str | None:
    """The cache entry for ``handle`` when the fast path provably applies, else None."""
    if type(handle) is not str or not handle.lower().startswith(("http://", "https://")):
        return None
    if handle != handle.strip() or any(ord(c) < 32 or c == "\x7f" for c in handle):
        return None  # parse() rejects these: let it say why
    root = os.environ.get("TFHUB_CACHE_DIR", "")
    if not root or "://" in root or _something_else_may_answer():
        return None
    try:
        from _sha1 import sha1
    except ImportError:  # a Python built without it
        from hashlib import sha1
    entry = os.path.join(root, sha1(handle.encode("utf8")).hexdigest())
    if not _complete(entry):
        return None
    return entry if hold(entry) else None


def _something_else_may_answer() -> bool:
    """Whether a vendored source or a non-COMPRESSED load format could take precedence over the cache."""
    environ = os.environ
    if environ.get("HUBVENDOR_PATH") or environ.get("RUNFILES_MANIFEST_FILE") or environ.get("RUNFILES_DIR"):
        return True
    if environ.get("TFHUB_MODEL_LOAD_FORMAT", "") not in ("", "COMPRESSED", "AUTO"):
        return True
    if environ.get("COLAB_RELEASE_TAG") or "google.colab" in sys.modules or "absl.flags" in sys.modules:
        return True
    if "hubvendor.sources" in sys.modules:  # sources.register() may have added one
        return True
    argv = sys.argv or []
    if any(arg.startswith(("--tfhub_model_load_format", "--tfhub_cache_dir")) for arg in argv):
        return True
    argv0 = argv[0] if argv else ""
    if argv0 and (os.path.exists(argv0 + ".runfiles_manifest") or os.path.exists(argv0 + ".runfiles")):
        return True
    return any(os.path.isdir(os.path.join(entry or ".", "hubvendor.d")) for entry in sys.path)


def _complete(entry: str) -> bool:
    """``Cache.is_complete`` for an entry hubvendor wrote (its descriptor records the tree)."""
    try:
        names = os.listdir(entry)
        with open(entry + ".descriptor.txt", encoding="utf-8", errors="replace") as file:
            values = descriptor_fields(file.read())
    except OSError:
        return False
    files = descriptor_number(values.get("Hubvendor-Tree-Files", ""))
    size = descriptor_number(values.get("Hubvendor-Tree-Bytes", ""))
    if not (has_saved_model(names) and values.get("Hubvendor-Tree-Digest") and files is not None and size is not None):
        return False  # not written by hubvendor (or damaged): the full chain decides
    return tree_stats(entry) == (files, size)
