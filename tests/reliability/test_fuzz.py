"""Property-based fuzzing of every parser that reads user input.

Only hubvendor's own errors (``HubVendorError`` subclasses) may escape, each naming its input;
handle normalisation is idempotent. 200 examples per target by default, 5000 when soaking.
"""

from __future__ import annotations

import string
import tomllib
from typing import Any, Callable

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hubvendor import config, handle, lockfile, manifest, mirrors
from hubvendor.errors import HubVendorError

from . import figures
from .common import scale

EXAMPLES = scale(200, 5000)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
_foreign: set[tuple[str, str]] = set()
DEEP = 5_000  # nesting that defeats recursive-descent parsers


def guarded(target: str, names: str, call: Callable[[], Any]) -> Any:
    """Run ``call``; a HubVendorError must mention ``names``; anything else is a foreign exception."""
    figures.add("fuzzing", fuzz_examples=1)
    try:
        return call()
    except HubVendorError as exc:
        if names not in str(exc):
            figures.add("fuzzing", unnamed_inputs=1)
            raise AssertionError(f"{target}: error does not name {names!r}: {exc}") from exc
        return None
    except Exception as exc:
        if (target, type(exc).__name__) not in _foreign:
            _foreign.add((target, type(exc).__name__))
            figures.add("fuzzing", foreign_exceptions=1)
        raise


# -- handles ------------------------------------------------------------------------------------
_SEGMENT = st.text(alphabet=string.ascii_letters + string.digits + "-_.%~:@!$&'()*+,;= \u00e9\u00df\u0130/?#[]\\", max_size=12)
_HOSTS = st.sampled_from([
    "tfhub.dev", "TFHub.dev", "www.kaggle.com", "kaggle.com", "127.0.0.1", "[::1]", "[::1]:8080", "h:80", "h:443",
    "h:0", "h:99999", "h:", "example.com.", "", "user:pw@h", "xn--bcher-kva.example", "b\u00fccher.example",
])
_SCHEMES = st.sampled_from(["http://", "https://", "HTTPS://", "gs://", "file://", "file:", "s3://", "", "/", "./"])


@st.composite
def handle_strings(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.text(max_size=40))
    path = "/".join(draw(st.lists(_SEGMENT, max_size=5)))
    query = draw(st.sampled_from(["", "?tf-hub-format=compressed", "?a=1&b=%20", "?tf-hub-format=x&q", "#frag"]))
    return draw(_SCHEMES) + draw(_HOSTS) + "/" + path + query


@FUZZ
@given(handle_strings())
@example("http://[::1]/m/1")
@example("file:///models/a%0Ab")
@example("file:///x/%2e%2e/y")
@example("http://127.0.0.1/ /")
@example("file://tfhub.dev/ ?tf-hub-format=compressed")
@example("a /.")
@example("file://[::1/models/m")
def test_handles_parse_and_normalise_idempotently(raw: str) -> None:
    parsed = guarded("handle.parse", repr(raw), lambda: handle.parse(raw))
    if parsed is None:
        return
    guarded("Handle.compressed_url", repr(raw), parsed.compressed_url)
    key = parsed.key
    again = guarded("handle.normalise(key)", repr(key), lambda: handle.normalise(key))
    if again != key:
        figures.add("fuzzing", idempotence_failures=1)
    assert again == key, f"normalise({raw!r}) = {key!r}, but normalise of that = {again!r}"


@FUZZ
@given(st.one_of(st.none(), st.integers(), st.binary(max_size=10), st.lists(st.text(max_size=3), max_size=2)))
def test_non_string_handles_are_rejected(value: object) -> None:
    assert guarded("handle.parse(non-string)", repr(value), lambda: handle.parse(value)) is None


# -- [tool.hubvendor] ----------------------------------------------------------------------------
_SIZES = st.one_of(
    st.integers(min_value=-5, max_value=2**70), st.from_regex(r"\A\s?\d{1,400}(\.\d{1,3})?\s?[kKmMgGtTx]?i?[bB]?\Z"),
    st.booleans(), st.floats(allow_nan=False),
)
_PATHS = st.text(alphabet="./\\ab:", max_size=8)
_SCALARS = st.one_of(st.booleans(), st.integers(), st.text(max_size=8), st.floats(allow_nan=False))
_MODEL = st.one_of(
    handle_strings(),
    st.fixed_dictionaries({"handle": handle_strings()}, optional={
        "sha256": st.one_of(st.text(alphabet="0123456789abcdefA", min_size=63, max_size=65), _SCALARS),
        "extra": _SCALARS,
    }),
    _SCALARS,
)
_TABLE_VALUES = {
    "models": st.one_of(st.lists(_MODEL, max_size=4), _SCALARS),
    "locked": _SCALARS, "lock-file": st.one_of(_PATHS, _SCALARS), "models-dir": st.one_of(_PATHS, _SCALARS),
    "max-model-size": _SIZES, "max-total-size": _SIZES, "jobs": _SCALARS, "unknown": _SCALARS,
}


@st.composite
def tool_tables(draw: st.DrawFn) -> object:
    if draw(st.integers(0, 9)) == 0:
        return draw(_SCALARS)
    keys = draw(st.sets(st.sampled_from(sorted(_TABLE_VALUES)), max_size=5))
    if draw(st.integers(0, 4)):
        keys.add("models")
    return {key: draw(_TABLE_VALUES[key]) for key in keys}


@FUZZ
@given(tool_tables())
@example({"models": [], "models-dir": "./"})
@example({"models": [], "max-model-size": "9" * 400})
def test_tool_hubvendor_tables(table: object) -> None:
    guarded("config.parse", "pyproject.toml", lambda: config.parse(table, "/project", "pyproject.toml"))


@FUZZ
@given(st.text(max_size=200))
@example("models = " + "[" * DEEP)
@example('models = ["https://tfhub.dev/a/b/1"]\nmodels-dir = "./"')
def test_pyproject_text(tmp_path_factory, body: str) -> None:
    project = tmp_path_factory.mktemp("pyproject")
    path = project / "pyproject.toml"
    path.write_text("[tool.hubvendor]\n" + body, encoding="utf-8", errors="surrogateescape")
    guarded("config.load", str(path), lambda: config.load(project))


# -- hubvendor.lock ------------------------------------------------------------------------------
_HEX = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


@st.composite
def locked_models(draw: st.DrawFn) -> lockfile.LockedModel:
    raw = draw(handle_strings())
    try:
        key = handle.normalise(raw)
    except HubVendorError:
        raw, key = "https://tfhub.dev/google/model/1", "https://tfhub.dev/google/model/1"
    return lockfile.LockedModel(raw, key, draw(st.text(max_size=20)), draw(_HEX), draw(st.integers(0, 2**63)),
                                "sha256:" + draw(_HEX))


@FUZZ
@given(st.lists(locked_models(), max_size=4, unique_by=lambda m: m.key))
def test_lock_round_trips(models: list[lockfile.LockedModel]) -> None:
    lock = lockfile.Lock(sorted(models, key=lambda m: m.key))
    text = lockfile.dumps(lock)
    parsed = guarded("lockfile.parse(dumps)", lockfile.FILENAME, lambda: lockfile.parse(tomllib.loads(text)))
    assert parsed == lock, text


_LOCK_VALUES = st.one_of(_SCALARS, handle_strings(), _HEX, st.just("sha256:" + "0" * 64))


@st.composite
def lock_data(draw: st.DrawFn) -> dict:
    data: dict[str, Any] = {}
    if draw(st.integers(0, 5)):
        data["version"] = draw(st.sampled_from([1, 2, True, "1", 1.0]))
    models = []
    for _ in range(draw(st.integers(0, 3))):
        keys = draw(st.sets(st.sampled_from(["handle", "key", "url", "sha256", "size", "tree_digest", "x"]), min_size=4))
        models.append({k: draw(_LOCK_VALUES) for k in keys} if draw(st.integers(0, 9)) else draw(_SCALARS))
    data["model"] = models if draw(st.integers(0, 9)) else draw(_SCALARS)
    if not draw(st.integers(0, 9)):
        data[draw(st.text(max_size=5))] = draw(_SCALARS)
    return data


@FUZZ
@given(lock_data())
def test_lock_tables(data: dict) -> None:
    guarded("lockfile.parse", "hubvendor.lock", lambda: lockfile.parse(data, "hubvendor.lock"))


@FUZZ
@given(st.text(max_size=300))
@example("version = 1\n[[model]]\nhandle = " + "[" * DEEP)
def test_lock_text(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("lock") / "hubvendor.lock"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    guarded("lockfile.load", str(path), lambda: lockfile.load(path))


# -- downloader config ---------------------------------------------------------------------------
_WORDS = st.one_of(
    st.sampled_from(["rewrite", "allow", "block", "all_blocked_message", "#", "*", "tfhub.dev", "(.*)", "$1", "${x}",
                     "(?P<x>.*)", "$", "\\", "a{99999999999}", "(", "[", "mirror/$1", "http://m/$1", "$12", "\\$"]),
    st.text(alphabet=string.printable.replace("\n", "").replace("\r", "").replace(" ", ""), min_size=1, max_size=10),
)


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    lines = [" ".join(draw(st.lists(_WORDS, min_size=0, max_size=4))) for _ in range(draw(st.integers(0, 5)))]
    return "\n".join(lines)


@FUZZ
@given(config_texts(), st.sampled_from(["https://tfhub.dev/google/m/1?tf-hub-format=compressed", "gs://b/x.tar.gz",
                                         "http://127.0.0.1:8/a", "https://mirror/x"]))
@example("rewrite a{99999999999} x", "https://tfhub.dev/a")
@example("rewrite (" + "(" * 200 + " x", "https://tfhub.dev/a")
def test_downloader_configs(text: str, url: str) -> None:
    parsed = guarded("DownloaderConfig.parse", "downloader.cfg", lambda: mirrors.DownloaderConfig.parse(text, "downloader.cfg"))
    if parsed is not None:
        candidates = guarded("DownloaderConfig.apply", "downloader.cfg", lambda: parsed.apply(url))
        assert candidates is None or (candidates and all(isinstance(c, str) for c in candidates))


# -- vendored manifest ---------------------------------------------------------------------------
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)),
    max_leaves=12,
)


@st.composite
def manifests(draw: st.DrawFn) -> str:
    import json

    if not draw(st.integers(0, 4)):
        return draw(st.text(max_size=60))
    models = {}
    for _ in range(draw(st.integers(0, 3))):
        fields = {"handle": handle_strings(), "path": _PATHS, "runfiles_path": _PATHS, "sha256": _HEX,
                  "size": st.integers(-2, 2**64), "tree_digest": st.text(max_size=8), "url": st.text(max_size=8),
                  "bogus": _JSON}
        chosen = draw(st.sets(st.sampled_from(sorted(fields)), max_size=6))
        entry = {name: draw(st.one_of(fields[name], _JSON)) for name in chosen}
        models[draw(st.text(max_size=10))] = entry if draw(st.integers(0, 9)) else draw(_JSON)
    data = {"format": draw(st.sampled_from([manifest.FORMAT, manifest.FORMAT, "x", 1])), "models": models}
    if not draw(st.integers(0, 9)):
        data["models"] = draw(_JSON)
    return json.dumps(data)


@FUZZ
@given(manifests())
@example("[" * DEEP)
@example('{"format": "hubvendor-manifest/1", "models": {"k": {"handle": " bad", "path": "m"}}}')
def test_manifests(text: str) -> None:
    guarded("manifest.parse", "hubvendor-manifest.json", lambda: manifest.parse(text, "/x/hubvendor-manifest.json"))
