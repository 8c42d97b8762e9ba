"""Property-based fuzzing of every parser that reads user input.

Only hubvendor's own errors (``HubVendorError`` subclasses) may escape, each naming its input;
handle normalisation is idempotent. 200 examples per target by default, 5000 when soaking.
"""

from __future__ import annotations

import os
import re
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
        parsed = handle.parse(raw)
        url = parsed.compressed_url()
    except HubVendorError:  # not a handle, or a versionless Kaggle one (locks pin versions)
        raw, parsed = "https://tfhub.dev/google/model/1", handle.parse("https://tfhub.dev/google/model/1")
        url = parsed.compressed_url()
    return lockfile.LockedModel(raw, parsed.key, url, draw(_HEX), draw(st.integers(0, 2**63)),
                                "sha256:" + draw(_HEX))  # the url is the handle's archive URL, as the lock requires


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


# -- the CLI: every command, arguments and environment, as real bounded subprocesses (issue 12) ------
CLI_EXAMPLES = scale(40, 1500)
CLI_FUZZ = settings(max_examples=CLI_EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
CLI_TIMEOUT = 60  # seconds per run: a hang is a failure
CLI_MEMORY = 2 * 1024**3  # RLIMIT_AS per run: a run that needs more dies and fails the example
_SURROGATES = st.text(alphabet=st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF), min_size=1, max_size=3)
_ODD_HOSTS = st.sampled_from([
    "a..b", "a" * 300 + ".example", "-x-.example", "[::1", "[::1]:99999", "h:-1", "\u00fc\u00f1\u00ee.example",
    "xn--", "127.0.0.1:0", "0", "%41.example", "h\u3002example", "example.com:", "[fe80::1%25eth0]",
])
_NUMBERS = st.one_of(
    st.sampled_from(["inf", "-inf", "nan", "1e400", "-1", "0", "", " ", "abc", "9" * 400, "1.5", "0x10", "1_000",
                     "5 ", "\u0665", "1e-400", "10GB", "2GiB", "-0", "3w", "90m", "1e9d", "\uff11"]),
    st.from_regex(r"\A-?\d{1,30}(\.\d{1,5})?(e-?\d{1,4})?[a-zA-Z]{0,3}\Z"),
)
_NUMERIC_SETTINGS = ["HUBVENDOR_RETRIES", "HUBVENDOR_CONNECT_TIMEOUT", "HUBVENDOR_READ_TIMEOUT",
                     "HUBVENDOR_MAX_MEMBERS", "HUBVENDOR_MAX_UNPACKED_SIZE", "HUBVENDOR_CACHE_MAX_SIZE",
                     "HUBVENDOR_LOCK_TIMEOUT", "HUBVENDOR_CACHE_KEEP_RECENT", "SOURCE_DATE_EPOCH"]
_WORD_SETTINGS = {"HUBVENDOR_OFFLINE": ["1", "0", "maybe", ""], "HUBVENDOR_LOCKED": ["1", "yes", "2"],
                  "HUBVENDOR_AUTOLOAD": ["", "0", "off", "x"], "HUBVENDOR_INFLATE": ["stream", "parallel", "fast"],
                  "TFHUB_MODEL_LOAD_FORMAT": ["AUTO", "UNCOMPRESSED", "COMPRESSED", "zip"]}


@st.composite
def cli_handles(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 6))
    if kind == 6:
        raw = draw(st.sampled_from(["https://tfhub.dev/g/m/1", "https://tfhub.dev/test/half_plus_two/1",
                                    "http://127.0.0.1:1/m.tar.gz", "file:///nonexistent/model"]))
    elif kind == 0:
        raw = draw(handle_strings())
    elif kind == 1:
        raw = "http://h/" + draw(_SURROGATES) + draw(st.text(max_size=4))
    elif kind == 2:
        raw = draw(st.sampled_from(["http://", "https://"])) + draw(_ODD_HOSTS) + "/m/1"
    elif kind == 3:
        raw = draw(st.sampled_from(["tfhub.dev/g/m/1", "google/nnlm/tensorFlow2/en-dim50/1", "kaggle://o/m/f/v",
                                    "kaggle://o/m/f/v/1", "https://www.kaggle.com/models/o/m/f/v/x"]))
    elif kind == 4:
        raw = "https://tfhub.dev/" + "/".join(draw(st.lists(_SEGMENT, min_size=1, max_size=4)))
    else:
        raw = draw(st.text(max_size=12))
    if raw.lower().startswith("gs://"):  # object stores would try real credentials and the network
        raw = "https://" + raw[5:]
    return raw


def _files(draw: st.DrawFn, work: str) -> str:
    """A path argument: inside the example's work directory, or odd text (relative to it)."""
    return draw(st.one_of(
        st.sampled_from([".", "..", "out", "a-file", "missing/deeper", work + "/out", "proj", "proj/pyproject.toml"]),
        st.text(max_size=8), _SURROGATES.map(lambda s: "p" + s),
    ))


_PYPROJECT_VALUES = st.one_of(
    cli_handles().map(lambda h: json_string(h)), st.sampled_from(["1", "true", "[]", "{}", "'..'", '"../../x.lock"',
                                                                  '"nodir/x.lock"', '"x\\u0000"', '"a\\\\b"']),
)


def json_string(text: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML for these)."""
    import json

    return json.dumps(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))


@st.composite
def pyprojects(draw: st.DrawFn) -> str:
    lines = ["[tool.hubvendor]"]
    if draw(st.integers(0, 5)):
        handles = draw(st.lists(_PYPROJECT_VALUES, max_size=3))
        lines.append(f"models = [{', '.join(handles)}]")
    for key in draw(st.sets(st.sampled_from(["lock-file", "models-dir", "jobs", "locked", "max-model-size",
                                             "max-total-size"]), max_size=3)):
        value = draw(st.one_of(_PYPROJECT_VALUES, _NUMBERS.map(json_string), _NUMBERS.filter(str.isdigit)))
        lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def _not_a_port(text: str) -> bool:
    try:
        return not 0 <= int(text) <= 65535
    except ValueError:
        return True


@st.composite
def cli_runs(draw: st.DrawFn, work: str) -> tuple[list[str], dict[str, str]]:
    handles = st.lists(cli_handles(), min_size=1, max_size=2)
    command = draw(st.sampled_from(["resolve", "which", "fetch", "vendor", "serve", "bazel", "lock", "cache",
                                    "doctor"]))
    if command in ("resolve", "fetch"):
        args = [command, *draw(handles)] + draw(st.sampled_from([[], ["--json"], ["--jobs", draw(_NUMBERS)]]))
    elif command == "which":
        args = [command, draw(cli_handles())] + draw(st.sampled_from([[], ["--json"]]))
    elif command == "vendor":
        args = [command, "-o", _files(draw, work), *draw(handles)]
    elif command == "serve":  # only invalid ports: a valid one would serve until killed
        args = [command, _files(draw, work), "--port", draw(_NUMBERS.filter(_not_a_port))]
    elif command == "bazel":
        args = [command, "--lock", draw(st.sampled_from(["proj/hubvendor.lock", "a-file", "missing"]))]
        args += draw(st.sampled_from([[], ["-o", _files(draw, work)]]))
    elif command == "lock":
        args = [command, "--project", draw(st.sampled_from(["proj", ".", "missing", "a-file"]))]
        args += draw(st.sampled_from([[], ["--check"], ["--check", "--verify"], ["--verify"], ["--upgrade"],
                                      ["--upgrade", draw(cli_handles())], ["--jobs", draw(_NUMBERS)]]))
    elif command == "cache":
        action = draw(st.sampled_from(["list", "verify", "adopt", "prune", "rm", "dir"]))
        args = [command, action]
        if action in ("verify", "adopt", "rm"):
            args += draw(handles) + draw(st.sampled_from([[], ["--json"]]))
        elif action == "prune":
            option = draw(st.sampled_from(["--max-size", "--older-than", "--keep-recent"]))
            args += ["--dry-run", option, draw(_NUMBERS)]
        elif action == "list":
            args += draw(st.sampled_from([[], ["--json"], ["--vendored"]]))
    else:
        args = [command] + draw(st.sampled_from([[], ["--json"]]))
    env = {}
    for name in draw(st.sets(st.sampled_from(_NUMERIC_SETTINGS), max_size=3)):
        env[name] = draw(_NUMBERS)
    for name in draw(st.sets(st.sampled_from(sorted(_WORD_SETTINGS)), max_size=2)):
        env[name] = draw(st.sampled_from(_WORD_SETTINGS[name]))
    if draw(st.integers(0, 4)) == 0:
        env["HUBVENDOR_PATH"] = draw(st.sampled_from(["bad-vendored", "missing", "a-file", "bad-vendored:proj"]))
    if draw(st.integers(0, 5)) == 0:
        env["TFHUB_CACHE_DIR"] = draw(st.sampled_from(["a-file", "missing/deeper", "file://" + work + "/cache"]))
    return args, env


def _bounded() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (CLI_MEMORY, CLI_MEMORY))


def _inputs(args: list[str], env: dict[str, str]) -> list[str]:
    """What an error may name: the arguments (as given and as repr shows them) and the settings."""
    names = [a for a in args if not a.startswith("-")] + list(env)
    names += [part for value in env.values() for part in [value, *value.split(os.pathsep)]]
    names += [_as_the_child_reads(n) for n in names]  # escaped bytes that form UTF-8 arrive as characters
    shown = [repr(n) for n in names] + [repr(n)[1:-1] for n in names] + [repr(os.fsencode(n))[2:-1] for n in names]
    return [n for n in names + shown if n]


def _as_the_child_reads(text: str) -> str:
    """``text`` after the trip through argv or the environment: encoded, then decoded again by the child."""
    try:
        return os.fsdecode(os.fsencode(text))
    except UnicodeEncodeError:
        return text


@st.composite
def _cli_case(draw: st.DrawFn) -> tuple[list[str], dict[str, str], str]:
    return (*draw(cli_runs(work="WORK")), draw(pyprojects()))


@CLI_FUZZ
@given(_cli_case())
@example((["resolve", "http://h/\udcff"], {}, "[tool.hubvendor]\nmodels = []\n"))
@example((["which", "http://h/\udcc2\udc80"], {"HUBVENDOR_PATH": "bad-vendored"}, "[tool.hubvendor]\nmodels = []\n"))
@example((["lock", "--project", "proj"], {}, '[tool.hubvendor]\nmodels = []\nlock-file = "nodir/x.lock"\n'))
@example((["lock", "--project", "proj"], {}, '[tool.hubvendor]\nmodels = []\nlock-file = "../../x.lock"\n'))
@example((["vendor", "-o", ".", "https://tfhub.dev/g/m/1"], {}, "[tool.hubvendor]\nmodels = []\n"))
@example((["resolve", "https://tfhub.dev/g/m/1"], {"HUBVENDOR_RETRIES": "1e400"}, "[tool.hubvendor]\nmodels = []\n"))
@example((["cache", "list"], {"HUBVENDOR_PATH": "bad-vendored"}, "[tool.hubvendor]\nmodels = []\n"))
@example((["serve", ".", "--port", "99999"], {}, "[tool.hubvendor]\nmodels = []\n"))
def test_cli_runs_end_in_hubvendor_errors(tmp_path_factory, case) -> None:
    import os as _os
    import subprocess
    import sys

    from .common import RUNNER

    args, env, pyproject = case
    work = tmp_path_factory.mktemp("cli")
    args = [a.replace("WORK", str(work)) for a in args]
    env = {k: v.replace("WORK", str(work)) for k, v in env.items()}
    (work / "proj").mkdir()
    (work / "proj" / "pyproject.toml").write_text(pyproject, encoding="utf-8", errors="surrogateescape")
    (work / "a-file").write_text("not a directory\n")
    (work / "bad-vendored").mkdir()
    (work / "bad-vendored" / manifest.FILENAME).write_bytes(b'{"format": "hubvendor-manifest/1", "models": {\xff')
    (work / "cache").mkdir()
    (work / "dl.cfg").write_text("rewrite (.*) 127.0.0.1:1/$1\nblock *\nallow 127.0.0.1\n")
    base = {k: v for k, v in _os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_"))}
    base.update(TFHUB_CACHE_DIR=str(work / "cache"), HUBVENDOR_DOWNLOADER_CONFIG=str(work / "dl.cfg"))
    try:
        argv = [_os.fsencode(sys.executable), b"-c", RUNNER.encode(), *map(_os.fsencode, args)]
        full_env = {_os.fsencode(k): _os.fsencode(v) for k, v in {**base, **env}.items()}
    except UnicodeEncodeError:
        return  # not representable as bytes (a surrogate outside surrogateescape's range)
    if any(b"\0" in a for a in argv) or any(b"\0" in v or b"=" in k for k, v in full_env.items()):
        return  # the OS cannot pass these
    figures.add("fuzzing", fuzz_examples=1)
    result = subprocess.run(argv, env=full_env, cwd=work, capture_output=True, timeout=CLI_TIMEOUT,
                            preexec_fn=_bounded)
    stderr = result.stderr.decode("utf-8", "backslashreplace")
    shown = f"hubvendor {args} with {env}: exit {result.returncode}\n{stderr[-3000:]}"
    if "Traceback" in stderr or result.returncode not in (0, 1, 2):
        figures.add("fuzzing", foreign_exceptions=1)
        raise AssertionError(shown)
    if result.returncode == 1:
        errors = [line for line in stderr.splitlines() if not line.startswith("hubvendor: warning:")]
        assert len(errors) <= 1 or "is stale" in stderr or "run `" in stderr, shown
        if errors and errors[-1].startswith("hubvendor: error:"):
            declared = re.findall(r'"([^"]+)"', pyproject)  # an error may name the declared model instead
            if not any(name in errors[-1] for name in _inputs(args, env) + [str(work)] + declared):
                figures.add("fuzzing", unnamed_inputs=1)
                raise AssertionError("error names none of its inputs: " + shown)
    if result.returncode == 2:
        assert stderr.strip().splitlines()[-1].startswith("hubvendor"), shown
