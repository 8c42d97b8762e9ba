"""The resolution chain: handle -> local directory (or a location TensorFlow reads directly).

``CHAIN`` is the one ordered list of the places a model can come from:

1. ``path as given``: local paths and ``gs://`` directories are used as written;
2. the vendored sources, one step each, in ``sources.SOURCES`` order (HUBVENDOR_PATH, Bazel runfiles,
   installed wheels);
3. ``kagglehub's cache``: for Kaggle handles, a whole version kagglehub downloaded (``kaggle.kagglecache``);
4. ``UNCOMPRESSED``: with that load format (or AUTO on a Colab TPU) the server says where the model is;
5. ``cache``: the tensorflow_hub-compatible cache, downloading on a miss unless ``HUBVENDOR_OFFLINE``.

Everything that needs the order derives it from ``CHAIN``: :func:`resolve`; ``explanation.explain``
(``hubvendor which``), which walks it without the network; :func:`quick`, the start-up pass that opens
every :func:`resolve` (each step tells from the environment alone, at the cost of a few stats, that it
cannot answer, or answers, or cannot tell, and then the full walk runs); and :func:`steps_aside`, which
leaves a handle to tensorflow_hub's own resolvers where hubvendor would add nothing.

Adding a step (as ``KagglehubCache`` was, for ``kind == "kaggle"`` handles): subclass
:class:`Step`, override ``applies`` and ``locate`` (no network), set ``ends_walk`` and override ``fetch``
if the walk ends at this step whenever it applies (it downloads, asks a server, or fails), and override
``quick`` if the step can rule itself out cheaply (the default, ``UNSURE``, sends every resolve through the
full walk). Then put one instance at its place in ``CHAIN``; ``which``, ``doctor``, the offline error and the
start-up pass follow. A new vendored manifest source is one entry in ``sources.SOURCES`` instead.

Imports only ``os`` and ``sys`` at the top, so a warm ``hubvendor.resolve`` costs about what
``python -c pass`` costs; each step imports what it needs when it runs.
"""

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from .handle import Handle
    from .sources import Source

SKIP = "quick: this step cannot answer"  # a verdict of Step.quick (compared by identity)
UNSURE = None  # a verdict of Step.quick: the full walk decides


class Step:
    """One place the chain looks. The defaults: applies to archive handles, finds nothing, never ends the walk."""

    name = "step"  # how ``which`` and errors name the place
    origin = "step"  # ``Explanation.origin`` when this step answers
    ends_walk = False  # True: when it applies, ``resolve`` ends here with ``fetch`` (which answers or raises)

    def applies(self, handle: "Handle") -> bool:
        return handle.is_archive

    def locate(self, handle: "Handle") -> "str | None":
        """Where this step has the model right now, without the network; None when it has not."""
        return None

    def fetch(self, handle: "Handle") -> str:
        """The answer of a step that ends the walk (it may use the network); raises when there is none."""
        raise NotImplementedError(f"{type(self).__name__} ends no walk")

    def fetch_url(self, handle: "Handle") -> str:
        """The URL ``fetch`` requests ("" when it needs no network)."""
        return ""

    def adds_nothing(self, handle: "Handle") -> bool:
        """For a step that ends the walk: tensorflow_hub's own resolvers would answer exactly so."""
        return False

    def where(self, handle: "Handle") -> str:
        """This step's place, as listed in ``which`` and offline errors."""
        return self.name

    def describe(self, handle: "Handle", location: "str | None") -> "tuple[str, str, str]":
        """``(origin, location, why)`` for ``which``; ``location`` is what ``locate`` found, or None."""
        return self.origin, location or "", f"found in {self.name}"

    def quick(self, raw: str) -> "str | None":
        """From the environment alone: ``SKIP``, ``UNSURE``, or the answer (only a step that ends the walk)."""
        return UNSURE


class PathAsGiven(Step):
    """Local paths and ``gs://`` directories: used as written, as tensorflow_hub's PathResolver does."""

    name = origin = "path"
    ends_walk = True

    def applies(self, handle: "Handle") -> bool:
        return not handle.is_archive

    def locate(self, handle: "Handle") -> "str | None":
        return handle.raw if handle.kind == "gcs" or os.path.exists(handle.key) else None

    def fetch(self, handle: "Handle") -> str:
        from .errors import NotFoundError

        if self.locate(handle) is None:
            raise NotFoundError(f"{handle.raw}: local path does not exist")
        return handle.raw

    def adds_nothing(self, handle: "Handle") -> bool:
        return True

    def describe(self, handle: "Handle", location: "str | None") -> "tuple[str, str, str]":
        if handle.kind == "gcs":
            return self.origin, handle.raw, "a gs:// directory is read directly"
        return self.origin, handle.raw, "a local path is used as given" + ("" if location else " (it does not exist)")

    def quick(self, raw: str) -> "str | None":
        return SKIP if raw[:9].lower().startswith(("http://", "https://", "kaggle://")) else UNSURE


class Vendored(Step):
    """One vendored source (``sources.SOURCES``): a model directory recorded in a manifest."""

    origin = "vendored"

    def __init__(self, source: "Source") -> None:
        self.source = source
        self.name = source.name

    def locate(self, handle: "Handle") -> "str | None":
        return self.directory(handle.key)

    def directory(self, key: str) -> "str | None":
        """The model directory this source records under ``key``, held against replacement; None if absent."""
        model_dir = self.source.find().get(key)
        if not (model_dir and os.path.isdir(model_dir)):
            return None
        if self.source.replaced_while_read:
            from . import entry as entry_files

            entry_files.hold(model_dir)  # a `vendor -o` replacing it keeps this tree until the process exits
        return model_dir

    def where(self, handle: "Handle") -> str:
        return f"vendored models ({self.name})"

    def describe(self, handle: "Handle", location: "str | None") -> "tuple[str, str, str]":
        return self.origin, location or "", f"vendored via {self.name}"

    def quick(self, raw: str) -> "str | None":
        return UNSURE if self.source.present() else SKIP


class KagglehubCache(Step):
    """kagglehub's own cache (``KAGGLEHUB_CACHE``): a whole version kagglehub downloaded and marked complete."""

    name = "kagglehub's cache"
    origin = "kagglehub"

    def applies(self, handle: "Handle") -> bool:
        return handle.kind == "kaggle"

    def locate(self, handle: "Handle") -> "str | None":
        from .kaggle import kagglecache

        return kagglecache.locate(handle) if handle.version is not None else None

    def where(self, handle: "Handle") -> str:
        from .kaggle import kagglecache

        return f"kagglehub's cache {kagglecache.root()}"

    def describe(self, handle: "Handle", location: "str | None") -> "tuple[str, str, str]":
        return self.origin, location or "", "complete in kagglehub's cache (downloaded by kagglehub)"

    def quick(self, raw: str) -> "str | None":
        lowered = raw[:30].lower()
        if not lowered.startswith("kaggle://") and "kaggle.com/" not in lowered:
            return SKIP
        from .errors import InvalidHandleError
        from .kaggle import kagglecache

        try:
            return UNSURE if kagglecache.locate(raw) else SKIP  # found: the full walk answers from here
        except InvalidHandleError:
            return UNSURE  # parse() says why


class Uncompressed(Step):
    """``TFHUB_MODEL_LOAD_FORMAT=UNCOMPRESSED`` (or AUTO on a Colab TPU): the server's 303 names the location."""

    name = "UNCOMPRESSED"
    origin = "uncompressed"
    ends_walk = True

    def applies(self, handle: "Handle") -> bool:
        from . import settings

        if handle.kind != "http":
            return False
        load_format = settings.load_format()
        return load_format == "UNCOMPRESSED" or (load_format == "AUTO" and settings.colab_tpu())

    def fetch(self, handle: "Handle") -> str:
        from . import fetch, settings
        from .errors import OfflineError

        if settings.offline():
            raise OfflineError(f"{handle.raw}: load format UNCOMPRESSED needs the server's answer, and HUBVENDOR_OFFLINE is set")
        return fetch.request_uncompressed_location(handle)

    def fetch_url(self, handle: "Handle") -> str:
        return handle.uncompressed_url()

    def adds_nothing(self, handle: "Handle") -> bool:
        """Not offline, and the downloader config neither rewrites nor blocks the URL."""
        from . import mirrors, settings
        from .errors import HubVendorError

        try:
            url = self.fetch_url(handle)
            return not settings.offline() and mirrors.candidates(url) == [url]
        except HubVendorError:
            return False  # hubvendor reports the bad setting or the blocked URL

    def describe(self, handle: "Handle", location: "str | None") -> "tuple[str, str, str]":
        from . import settings

        why = f"load format {settings.load_format()}: the storage location is asked from the server"
        return self.origin, self.fetch_url(handle), why

    def quick(self, raw: str) -> "str | None":
        if raw[:9].lower() == "kaggle://":
            return SKIP  # never applies to Kaggle handles
        load_format = os.environ.get("TFHUB_MODEL_LOAD_FORMAT", "")
        if load_format == "COMPRESSED":
            return SKIP
        if load_format not in ("", "AUTO"):
            return UNSURE
        if not load_format and ("absl.flags" in sys.modules or _in_argv("--tfhub_model_load_format")):
            return UNSURE  # a flag may set it (the environment variable wins over flags)
        if os.environ.get("COLAB_RELEASE_TAG") or "google.colab" in sys.modules:
            return UNSURE  # AUTO on a Colab TPU means UNCOMPRESSED
        return SKIP


class HubvendorCache(Step):
    """The tensorflow_hub-compatible cache (``TFHUB_CACHE_DIR``), downloading on a miss."""

    name = origin = "cache"
    ends_walk = True

    def locate(self, handle: "Handle") -> "str | None":
        from .cache import Cache

        return Cache().lookup(handle)

    def fetch(self, handle: "Handle") -> str:
        from . import download

        return download.ensure(handle, use=True)

    def fetch_url(self, handle: "Handle") -> str:
        return handle.compressed_url()

    def where(self, handle: "Handle") -> str:
        from .cache import Cache

        return f"cache {Cache().entry_path(handle)}"

    def describe(self, handle: "Handle", location: "str | None") -> "tuple[str, str, str]":
        from . import settings
        from .cache import Cache

        if location:
            return self.origin, location, "complete entry in the cache"
        entry = Cache().entry_path(handle)
        if settings.offline():
            return "download", entry, "missing, and HUBVENDOR_OFFLINE forbids a download"
        return "download", entry, f"would download {handle.compressed_url()}"

    def quick(self, raw: str) -> "str | None":
        """A complete entry hubvendor wrote in a local ``TFHUB_CACHE_DIR``, held as ``Cache.use`` holds it."""
        if raw != raw.strip() or any(ord(c) < 32 or c == "\x7f" for c in raw):
            return UNSURE  # parse() rejects these: let it say why
        root = os.environ.get("TFHUB_CACHE_DIR", "")
        if not root or "://" in root:
            return UNSURE
        from . import entry as entry_files

        try:
            from _sha1 import sha1
        except ImportError:  # a Python built without it
            from hashlib import sha1
        entry = os.path.join(root, sha1(raw.encode("utf8")).hexdigest())
        if _hubvendor_entry_complete(entry) and entry_files.hold(entry):
            return entry
        return UNSURE


def _vendored_steps() -> "list[Step]":
    from . import sources

    return [Vendored(source) for source in sources.SOURCES]


CHAIN: "list[Step]" = [PathAsGiven(), *_vendored_steps(), KagglehubCache(), Uncompressed(), HubvendorCache()]


def vendored_steps() -> "list[Vendored]":
    """The vendored steps of ``CHAIN``, in its order (kagglehub's resolver asks these and leaves the rest to kagglehub)."""
    return [step for step in CHAIN if isinstance(step, Vendored)]


def quick(handle: object) -> "str | None":
    """The start-up pass: an answer when the steps can tell it from the environment alone, else None."""
    if type(handle) is not str:
        return None
    for step in CHAIN:
        verdict = step.quick(handle)
        if verdict is not SKIP:
            return verdict
    return None


def resolve(handle: object) -> str:
    """A local directory (or ``gs://`` location) holding the model for ``handle``."""
    answer = quick(handle)
    if answer is not None:
        return answer
    from .errors import OfflineError
    from .handle import parse

    handle = parse(handle)
    steps, location = walk(handle)
    if location is not None:
        return location
    try:
        return steps[-1].fetch(handle)
    except OfflineError as exc:
        if len(steps) == 1:
            raise
        raise OfflineError(f"{exc}; looked first in: {', '.join(step.where(handle) for step in steps[:-1])}") from None


def steps_aside(handle: object) -> bool:
    """Whether tensorflow_hub's own resolvers would answer ``handle`` exactly as the chain (hubvendor adds nothing)."""
    from .handle import parse

    handle = parse(handle)
    steps, location = walk(handle)
    return location is None and steps[-1].adds_nothing(handle)


def walk(handle: "Handle") -> "tuple[list[Step], str | None]":
    """The steps that apply to ``handle`` up to the one that answers, and its answer (None: it ends the walk)."""
    steps: list[Step] = []
    for step in CHAIN:
        if step.applies(handle):
            steps.append(step)
            if step.ends_walk:
                return steps, None
            location = step.locate(handle)
            if location is not None:
                return steps, location
    from .errors import NotFoundError

    raise NotFoundError(f"{handle.raw}: no step of the resolution chain applies")


def _in_argv(flag: str) -> bool:
    return any(isinstance(arg, str) and arg.startswith(flag) for arg in getattr(sys, "argv", None) or ())


def _hubvendor_entry_complete(entry: str) -> bool:
    """``Cache.is_complete`` for an entry whose descriptor records hubvendor's tree stats; False on any doubt."""
    from .entry import descriptor_fields, descriptor_number, looks_complete, read_small_file, tree_stats

    try:
        names = os.listdir(entry)
        values = descriptor_fields(read_small_file(entry + ".descriptor.txt"))
    except OSError:
        return False
    files = descriptor_number(values.get("Hubvendor-Tree-Files", ""))
    size = descriptor_number(values.get("Hubvendor-Tree-Bytes", ""))
    if not values.get("Hubvendor-Tree-Digest") or files is None or size is None or not looks_complete(
            names, tree_recorded=True):
        return False  # not written by hubvendor (or damaged): the full walk decides
    return tree_stats(entry) == (files, size)
