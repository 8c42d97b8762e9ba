"""hubvendor's Bazel rules with real Bazel 4 (Debian's bazel-bootstrap), offline, models from `hubvendor serve`.

Each test generates a workspace in a tmp dir (absolute paths are filled in at run time), shares one
``--output_user_root`` per session, and shuts its Bazel server down afterwards. The Python inside
Bazel is this interpreter (``sys.executable``), through ``@hubvendor_python//:toolchain``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from support.server import HubServer, write_mirror_config

from hubvendor import archive, bazel, lockfile
from hubvendor.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "bazel_app"
EXAMPLE_MODELS = EXAMPLE / "models"
HALF_PLUS_TWO = "https://tfhub.dev/test/half_plus_two/1"
KERAS_DENSE = "https://tfhub.dev/test/keras_dense/1"
ARCHIVES = {
    HALF_PLUS_TWO: EXAMPLE_MODELS / "test" / "half_plus_two" / "1.tar.gz",
    KERAS_DENSE: EXAMPLE_MODELS / "test" / "keras_dense" / "1.tar.gz",
}
DIGEST_1 = "sha256:" + "1" * 64
DIGEST_2 = "sha256:" + "2" * 64
BAZEL = shutil.which("bazel")
requires_bazel = pytest.mark.skipif(BAZEL is None, reason="bazel is not on PATH (CI installs Debian's bazel-bootstrap)")

WORKSPACE_HEAD = """\
workspace(name = "{name}")

local_repository(name = "hubvendor", path = {repo!r})

load("@hubvendor//bazel:repositories.bzl", "hubvendor_dependencies")

hubvendor_dependencies(offline = True)

register_toolchains("@hubvendor_python//:toolchain")

load("@hubvendor//bazel:defs.bzl", "hub_model")
"""

RESOLVE_TEST = """\
import os
import sys
import unittest

import tensorflow as tf
import tensorflow_hub as hub

from hubvendor import runfiles


class ResolveTest(unittest.TestCase):
    def test_canonical_handle_loads_the_vendored_copy(self):
        models = runfiles.find_models()
        self.assertIn({handle!r}, models)
        path = hub.resolve({handle!r})
        self.assertEqual(path, models[{handle!r}])
        model = hub.load({handle!r})
        self.assertEqual(model(tf.constant([0.0, 4.0])).numpy().tolist(), [2.0, 4.0])

    def test_runfiles_mode(self):
        located = runfiles.locate()
        if os.environ.get("EXPECT_MANIFEST_ONLY") == "1":
            self.assertIsNone(located.directory)
            self.assertTrue(located.manifest.endswith("MANIFEST"), located)
            self.assertNotIn(".runfiles" + os.sep, runfiles.find_models()[{handle!r}])
        else:
            self.assertIsNotNone(located.directory)


if __name__ == "__main__":
    unittest.main()
"""


def pinned_workspace(name: str, models: dict[str, str]) -> str:
    """WORKSPACE text declaring ``models`` (repository name -> handle) pinned to the example archives."""
    stanzas = "".join(
        f"\nhub_model(\n    name = {repo!r},\n    handle = {handle!r},\n    sha256 = {sha256_of(ARCHIVES[handle])!r},\n)\n"
        for repo, handle in models.items()
    )
    return WORKSPACE_HEAD.format(name=name, repo=str(REPO)) + stanzas


def resolve_test_build(repository: str) -> str:
    return f"""\
load("@hubvendor//bazel:defs.bzl", "hub_models")

hub_models(name = "models", models = ["@{repository}"])

py_test(name = "resolve_test", srcs = ["resolve_test.py"], data = [":models"], env = {{"HUBVENDOR_OFFLINE": "1"}})
"""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Workspace:
    """A Bazel workspace in a tmp dir with a .bazelrc for this machine; ``run`` invokes bazel in it."""

    def __init__(self, root: Path, bazelrc: str, files: dict[str, str]) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (root / name).write_text(text)
        self.bazelrc = root / "user.bazelrc"
        self.bazelrc.write_text(bazelrc)
        if not (root / ".bazelrc").exists():
            (root / ".bazelrc").write_text("try-import %workspace%/user.bazelrc\n")

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [BAZEL, *args], cwd=self.root, env=env, capture_output=True, text=True, timeout=900
        )

    def ok(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        result = self.run(*args, env=env)
        assert result.returncode == 0, f"bazel {' '.join(args)} failed:\n{result.stderr[-6000:]}\n{self.test_logs()}"
        return result

    def test_logs(self) -> str:
        logs = sorted((self.root / "bazel-testlogs").glob("**/test.log")) if (self.root / "bazel-testlogs").exists() else []
        return "\n".join(log.read_text(errors="replace")[-4000:] for log in logs)

    def shutdown(self) -> None:
        self.run("shutdown")


@pytest.fixture(scope="session")
def bazel_session(tmp_path_factory) -> dict[str, Path]:
    """Per-session Bazel dirs, and a start-up hook dir when this interpreter lacks hubvendor's .pth.

    hubvendor's wheel installs ``hubvendor-autoload.pth`` (the tensorflow_hub bridge); an editable
    install made before that file existed lacks it, so tests then add the same hook through a
    ``sitecustomize`` on PYTHONPATH (Bazel's Python stub first runs under python3 from PATH, which
    may not have hubvendor: the hook tolerates that).
    """
    root = tmp_path_factory.mktemp("bazel")
    dirs = {"output_user_root": root / "out", "hook": root / "hook"}
    site_dirs = site.getsitepackages() + [site.getusersitepackages()]
    if not any(Path(d, "hubvendor-autoload.pth").exists() for d in site_dirs):
        dirs["hook"].mkdir()
        (dirs["hook"] / "sitecustomize.py").write_text(
            "try:\n    import hubvendor._autoload\nexcept ImportError:\n    pass\n"
            "else:\n    hubvendor._autoload.startup()\n"
        )
    return dirs


def make_bazelrc(session: dict[str, Path], *, repository_cache: Path, downloader_config: Path) -> str:
    lines = [
        f"startup --output_user_root={session['output_user_root']} --host_jvm_args=-Xmx1g --max_idle_secs=300",
        "build --jobs=2 --nosandbox_debug --nolegacy_external_runfiles",
        f"build --repository_cache={repository_cache}",
        f"build --experimental_downloader_config={downloader_config}",
        f"build --repo_env=HUBVENDOR_PYTHON={sys.executable}",
        "test --test_output=errors",
    ]
    if session["hook"].exists():
        lines.append(f"test --test_env=PYTHONPATH={session['hook']}")
    return "\n".join(lines) + "\n"


def make_user_rc(session: dict[str, Path], *, repository_cache: Path) -> str:
    """A ~/.bazelrc for this machine: shared output root and repository cache, the test hook."""
    lines = [
        f"startup --output_user_root={session['output_user_root']} --host_jvm_args=-Xmx1g --max_idle_secs=300",
        "build --jobs=2 --nosandbox_debug",
        f"build --repository_cache={repository_cache}",
    ]
    if session["hook"].exists():
        lines.append(f"test --test_env=PYTHONPATH={session['hook']}")
    return "\n".join(lines) + "\n"


def hook_env(session: dict[str, Path]) -> dict[str, str]:
    """The environment for `bazel run` (which passes the client's environment to the binary)."""
    env = dict(os.environ)
    if session["hook"].exists():
        env["PYTHONPATH"] = str(session["hook"])
    return env


@pytest.fixture
def example_server():
    with HubServer(EXAMPLE_MODELS) as server:
        yield server


# --- Python side, no Bazel needed -------------------------------------------------------------


@pytest.mark.parametrize(
    "handle, name",
    [
        (HALF_PLUS_TWO, "tfhub_test_half_plus_two_1"),
        ("https://tfhub.dev/google/nnlm-en-dim50/2", "tfhub_google_nnlm_en_dim50_2"),
        ("https://www.kaggle.com/models/Google/BERT/TensorFlow2/en-uncased-l-12/3", "kaggle_google_bert_tensorflow2_en_uncased_l_12_3"),
        ("http://127.0.0.1:8000/a/b.tar.gz", "hub_127_0_0_1_8000_a_b_tar_gz"),
    ],
)
def test_repository_name(handle: str, name: str) -> None:
    assert bazel.repository_name(handle) == name


def test_stanzas_sorted_and_loadable() -> None:
    text = bazel.stanzas([bazel.Pin(KERAS_DENSE, "b" * 64, DIGEST_1), bazel.Pin(HALF_PLUS_TWO, "a" * 64, DIGEST_2)])
    assert bazel.LOAD_LINE in text
    assert text.index("tfhub_test_half_plus_two_1") < text.index("tfhub_test_keras_dense_1")
    assert f'    sha256 = "{"a" * 64}",\n    tree_digest = "{DIGEST_2}",' in text


def test_stanzas_reject_unfetchable_and_colliding_handles() -> None:
    with pytest.raises(ConfigError, match="gs://bucket/m.tar.gz"):
        bazel.stanzas([bazel.Pin("gs://bucket/m.tar.gz", "a" * 64, DIGEST_1)])
    with pytest.raises(ConfigError, match=r"both map to repository name .*; read the lock with hub_lock\(\.\.\., names = "
                       r"\{\"https://h/a_b/1\": \"<another name>\"\}\) instead"):
        bazel.stanzas([bazel.Pin("https://h/a-b/1", "a" * 64, DIGEST_1), bazel.Pin("https://h/a_b/1", "a" * 64, DIGEST_1)])


# --- Real Bazel ---------------------------------------------------------------------------------


def docs_block(doc: Path, heading: str) -> str:
    """The first fenced block after ``heading`` in ``doc``, as a user would copy it."""
    text = doc.read_text()
    after = text[text.index(heading):]
    return after.split("```", 2)[1].split("\n", 1)[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.bazel
@requires_bazel
def test_example_runs_as_docs_say(bazel_session, tmp_path: Path) -> None:
    """docs/bazel.md's Example block, run as printed in a copy of the checkout (only the port differs:
    the block's 8765 and the example's downloader.cfg get a free port). Machine settings (the shared
    output root, repository cache) come from the user's own ~/.bazelrc, as they would for a user."""
    block = docs_block(REPO / "docs" / "bazel.md", "## Example")
    assert "bazel test //..." in block and "8765" in block
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("WORKSPACE", "BUILD.bazel", "MODULE.bazel", ".bazelignore"):
        shutil.copy(REPO / name, checkout / name)
    shutil.copytree(REPO / "bazel", checkout / "bazel")
    shutil.copytree(EXAMPLE, checkout / "examples" / "bazel_app", ignore=shutil.ignore_patterns("bazel-*", "user.bazelrc"))
    port = str(free_port())
    config = checkout / "examples" / "bazel_app" / "downloader.cfg"
    assert "8765" in config.read_text()
    config.write_text(config.read_text().replace("8765", port))
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bazelrc").write_text(make_user_rc(bazel_session, repository_cache=tmp_path / "cache"))
    env = dict(hook_env(bazel_session), HOME=str(home), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    script = "set -e\n" + block.replace("8765", port)
    log = tmp_path / "block.log"
    with log.open("w") as out:  # a file, not a pipe: the block's `hubvendor serve ... &` keeps its stdout
        shell = subprocess.Popen(
            ["bash", "-c", script], cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            shell.wait(timeout=900)
            subprocess.run([BAZEL, "shutdown"], cwd=checkout / "examples" / "bazel_app", env=env, capture_output=True, timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGTERM)  # the block's `hubvendor serve ... &`
    stdout = log.read_text()
    assert shell.returncode == 0, f"{script}\n{stdout[-6000:]}"
    output = json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])
    assert output["half_plus_two"] == [2.5, 3.0, 3.5]
    assert len(output["dense"][0]) == 2


VECTORS_WORKSPACE = """\
workspace(name = "handle_vectors_test")

local_repository(name = "hubvendor", path = {repo!r})

load("@hubvendor//bazel:repositories.bzl", "hubvendor_dependencies")

hubvendor_dependencies(offline = True)

load("@hubvendor//bazel/tests:handle_vectors.bzl", "handle_vectors")

handle_vectors(name = "handle_vectors")
"""


@pytest.mark.bazel
@requires_bazel
def test_starlark_passes_the_handle_vectors(bazel_session, tmp_path: Path) -> None:
    """handle.bzl over tests/vectors/handles.json, under Bazel 4 (test_handle.py runs handle.py over it)."""
    vectors = json.loads((REPO / "tests" / "vectors" / "handles.json").read_text(encoding="utf-8"))["vectors"]
    no_downloads = tmp_path / "block.cfg"
    no_downloads.write_text("block *\n")
    ws = Workspace(
        tmp_path / "vectors",
        make_bazelrc(bazel_session, repository_cache=tmp_path / "cache", downloader_config=no_downloads),
        {
            "WORKSPACE": VECTORS_WORKSPACE.format(repo=str(REPO)),
            "BUILD.bazel": 'load("@hubvendor//bazel/tests:handle_test.bzl", "handle_vectors_test")\n\n'
            'handle_vectors_test(name = "handles")\n',
        },
    )
    try:
        ws.ok("test", "//:handles", "--test_output=all")
        assert f"handle.bzl passes all {len(vectors)} vectors; lock.bzl all " in ws.test_logs()
    finally:
        ws.shutdown()


@pytest.mark.bazel
@requires_bazel
def test_pinning_errors_and_starlark_parity(bazel_session, example_server, tmp_path: Path) -> None:
    """Must-show 2 (a wrong sha256 fails naming the handle), plus unpinned and invalid handles,
    and handle.bzl computing the same URLs, keys and names as hubvendor.handle / hubvendor.bazel."""
    config = write_mirror_config(tmp_path / "downloader.cfg", example_server.url)
    bazelrc = make_bazelrc(bazel_session, repository_cache=tmp_path / "cache", downloader_config=config)
    head = WORKSPACE_HEAD.format(name="pinning", repo=str(REPO))
    handles = [
        HALF_PLUS_TWO,
        "https://tfhub.dev/google/nnlm-en-dim50/2?tf-hub-format=uncompressed",
        "HTTPS://TFHub.dev//Google/Model/3/?b=2&a=1&tf-hub-format=x&empty=",
        "https://hub.tensorflow.google.cn/google/nnlm-en-dim50/2",
        "http://example.com:80/models/m.tar.gz?q=a%20b+c",
        "https://www.kaggle.com/models/Google/BERT/frameworks/TensorFlow2/variations/en-uncased/versions/3",
    ]
    parity_build = f"""\
load(":parity.bzl", "parity")
load("@hubvendor//bazel:defs.bzl", "hub_models")

parity(name = "parity", handles = {handles!r})

hub_models(name = "models", models = ["@half"])
"""
    parity_bzl = """\
load("@hubvendor//bazel/private:handle.bzl", "compressed_url", "normalise", "repository_name")

def _parity_impl(ctx):
    out = ctx.actions.declare_file("parity.json")
    rows = [[h, compressed_url(h), normalise(h), repository_name(h)] for h in ctx.attr.handles]
    ctx.actions.write(out, json.encode(rows))
    return [DefaultInfo(files = depset([out]))]

parity = rule(implementation = _parity_impl, attrs = {"handles": attr.string_list()})
"""
    unpinned = head + f'\nhub_model(name = "half", handle = "{HALF_PLUS_TWO}")\n'
    ws = Workspace(
        tmp_path / "ws",
        bazelrc,
        {"WORKSPACE": unpinned, "BUILD.bazel": parity_build, "parity.bzl": parity_bzl},
    )
    try:
        # Unpinned: builds, and prints the sha256 to pin, as http_archive does.
        result = ws.ok("build", "//...")
        expected = sha256_of(ARCHIVES[HALF_PLUS_TWO])
        assert f'sha256 = "{expected}"' in result.stderr

        rows = json.loads((ws.root / "bazel-bin" / "parity.json").read_text())
        from hubvendor.handle import parse

        for handle, url, key, name in rows:
            assert url == parse(handle).compressed_url(), handle
            assert key == parse(handle).key, handle
            assert name == bazel.repository_name(handle), handle

        # A wrong sha256 fails the build, naming the handle.
        (ws.root / "WORKSPACE").write_text(
            head + f'\nhub_model(name = "half", handle = "{HALF_PLUS_TWO}", sha256 = "{"0" * 64}")\n'
        )
        result = ws.run("build", "//:models")
        assert result.returncode != 0
        assert (f'hub_model(name = "half", handle = "{HALF_PLUS_TWO}"): the archive at {HALF_PLUS_TWO}?tf-hub-format='
                f'compressed has sha256 {expected}, but hub_model() pins sha256 {"0" * 64}: fix the pin or the URL'
                in result.stderr)
        assert "Checksum was" in result.stderr

        # An invalid handle fails with a message naming it.
        bad = "https://tfhub.dev/test/half_plus_two"
        (ws.root / "WORKSPACE").write_text(head + f'\nhub_model(name = "half", handle = "{bad}")\n')
        result = ws.run("build", "//:models")
        assert result.returncode != 0
        assert f'handle "{bad}": a tfhub.dev handle needs a publisher, a model and a numeric version' in result.stderr
    finally:
        ws.shutdown()


@pytest.mark.bazel
@requires_bazel
def test_repository_cache_serves_a_second_workspace(bazel_session, tmp_path: Path) -> None:
    """Must-show 3: same handle and digest in another workspace builds with the server stopped."""
    cache = tmp_path / "shared_repository_cache"
    config = tmp_path / "downloader.cfg"
    with HubServer(EXAMPLE_MODELS) as server:
        write_mirror_config(config, server.url)
        first = Workspace(
            tmp_path / "first",
            make_bazelrc(bazel_session, repository_cache=cache, downloader_config=config),
            {
                "WORKSPACE": pinned_workspace("first", {"tfhub_test_half_plus_two_1": HALF_PLUS_TWO}),
                "BUILD.bazel": resolve_test_build("tfhub_test_half_plus_two_1"),
                "resolve_test.py": RESOLVE_TEST.format(handle=HALF_PLUS_TWO),
            },
        )
        try:
            first.ok("build", "//...")
        finally:
            first.shutdown()
        assert server.downloads("test/half_plus_two/1") == 1
    # The server is gone; a differently named repository with the same handle and sha256.
    second = Workspace(
        tmp_path / "second",
        make_bazelrc(bazel_session, repository_cache=cache, downloader_config=config),
        {
            "WORKSPACE": pinned_workspace("second", {"my_half_plus_two": HALF_PLUS_TWO}),
            "BUILD.bazel": resolve_test_build("my_half_plus_two"),
            "resolve_test.py": RESOLVE_TEST.format(handle=HALF_PLUS_TWO),
        },
    )
    try:
        second.ok("test", "//...")
    finally:
        second.shutdown()


@pytest.mark.bazel
@requires_bazel
def test_hubvendor_bazel_output_builds_with_manifest_only_runfiles(bazel_session, example_server, tmp_path: Path) -> None:
    """Must-show 5 (`hubvendor bazel` output pasted into a WORKSPACE builds and tests) and
    must-show 4 (the same py_test resolving the handle with manifest-only runfiles)."""
    lock_path = tmp_path / "hubvendor.lock"
    lockfile.write(lock_path, lockfile.Lock([locked(handle, tmp_path) for handle in ARCHIVES]))
    stanzas_path = tmp_path / "stanzas.txt"
    subprocess.run(
        [sys.executable, "-m", "hubvendor", "bazel", "--lock", str(lock_path), "--output", str(stanzas_path)],
        check=True,
    )
    config = write_mirror_config(tmp_path / "downloader.cfg", example_server.url)
    ws = Workspace(
        tmp_path / "ws",
        make_bazelrc(bazel_session, repository_cache=tmp_path / "cache", downloader_config=config),
        {
            "WORKSPACE": WORKSPACE_HEAD.format(name="from_lock", repo=str(REPO)) + "\n" + stanzas_path.read_text(),
            "BUILD.bazel": resolve_test_build("tfhub_test_half_plus_two_1"),
            "resolve_test.py": RESOLVE_TEST.format(handle=HALF_PLUS_TWO),
        },
    )
    try:
        ws.ok("test", "//...", "@tfhub_test_keras_dense_1//:model")
        # Manifest-only runfiles: no symlink tree. Bazel 4's Python stub needs a runfiles directory
        # or a self-extracting zip, and sandboxes materialise the tree, hence the other two flags.
        result = ws.ok(
            "test", "//...", "--noenable_runfiles", "--build_python_zip", "--spawn_strategy=standalone",
            "--test_env=EXPECT_MANIFEST_ONLY=1",
        )
        assert "Executed 1 out of 1 test" in result.stdout + result.stderr  # ran in this mode, not a cached result
    finally:
        ws.shutdown()


def locked(handle: str, tmp_path: Path) -> lockfile.LockedModel:
    """A lock entry for one of the example archives, with its real size and tree digest."""
    data = ARCHIVES[handle]
    unpacked = tmp_path / "unpacked" / bazel.repository_name(handle)
    unpacked.mkdir(parents=True)
    with tarfile.open(data) as tar:
        tar.extractall(unpacked, filter="data")
    return lockfile.LockedModel(
        handle=handle,
        key=handle,
        url=handle + "?tf-hub-format=compressed",
        sha256=sha256_of(data),
        size=data.stat().st_size,
        tree_digest=archive.tree_digest(unpacked),
    )


LOCK_WORKSPACE = """\
workspace(name = "lock_app")

local_repository(name = "hubvendor", path = {repo!r})

load("@hubvendor//bazel:repositories.bzl", "hub_lock", "hubvendor_dependencies")

hubvendor_dependencies(offline = True)

register_toolchains("@hubvendor_python//:toolchain")

hub_lock(name = "hub_lock", lock = "//:hubvendor.lock")

load("@hub_lock//:models.bzl", "hub_lock_models")

hub_lock_models()
"""


def hostile_archive(path: Path) -> Path:
    """A SavedModel archive with a symlink member pointing out of the tree."""
    clean = ARCHIVES[HALF_PLUS_TWO]
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(clean) as source, tarfile.open(path, "w:gz") as out:
        for member in source.getmembers():
            out.addfile(member, source.extractfile(member) if member.isfile() else None)
        link = tarfile.TarInfo("variables/escape")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        out.addfile(link)
    return path


@pytest.mark.bazel
@requires_bazel
def test_hub_lock_models_from_the_lock(bazel_session, tmp_path: Path) -> None:
    """Issue 15 must-shows 1 and 3: a WORKSPACE naming no sha256 gets its models from hubvendor.lock via
    hub_lock(); the py_test loads it offline with unchanged hub.load; an edited sha256 fails the fetch; a
    hostile archive pinned in the lock fails naming the member."""
    models = tmp_path / "models"
    shutil.copytree(EXAMPLE_MODELS, models)
    hostile = "https://tfhub.dev/test/hostile/1"
    hostile_archive(models / "test" / "hostile" / "1.tar.gz")
    ARCHIVES[hostile] = models / "test" / "hostile" / "1.tar.gz"
    try:
        clean_entry = locked(HALF_PLUS_TWO, tmp_path)
        hostile_entry = lockfile.LockedModel(
            handle=hostile, key=hostile, url=hostile + "?tf-hub-format=compressed",
            sha256=sha256_of(ARCHIVES[hostile]), size=ARCHIVES[hostile].stat().st_size,
            tree_digest="sha256:" + "0" * 64,
        )
    finally:
        del ARCHIVES[hostile]
    with HubServer(models) as server:
        config = write_mirror_config(tmp_path / "downloader.cfg", server.url)
        ws = Workspace(
            tmp_path / "ws",
            make_bazelrc(bazel_session, repository_cache=tmp_path / "cache", downloader_config=config),
            {
                "WORKSPACE": LOCK_WORKSPACE.format(repo=str(REPO)),
                "BUILD.bazel": resolve_test_build("tfhub_test_half_plus_two_1"),
                "resolve_test.py": RESOLVE_TEST.format(handle=HALF_PLUS_TWO),
            },
        )
        lock = ws.root / "hubvendor.lock"
        try:
            assert "sha256" not in (ws.root / "WORKSPACE").read_text()
            # The same archive as a Kaggle model too, fetched from the Kaggle API URL (rewritten to the server).
            kaggle_key = "kaggle://test/half_plus_two/tensorflow2/default/1"
            kaggle_entry = replace(
                clean_entry, handle="kaggle://test/half_plus_two/tensorFlow2/default/1", key=kaggle_key,
                url="https://www.kaggle.com/api/v1/models/test/half_plus_two/tensorflow2/default/1/download",
            )
            with config.open("a") as out:
                out.write(f"rewrite www.kaggle.com/api/v1/models/test/half_plus_two/tensorflow2/default/1/download "
                          f"{server.url}/test/half_plus_two/1?tf-hub-format=compressed\n")
            lockfile.write(lock, lockfile.Lock([clean_entry, kaggle_entry]))
            ws.ok("test", "//...", "@kaggle_test_half_plus_two_tensorflow2_default_1//:model")
            output_base = Path(ws.ok("info", "output_base").stdout.strip())
            models_bzl = (output_base / "external" / "hub_lock" / "models.bzl").read_text()
            assert '"kaggle_test_half_plus_two_tensorflow2_default_1": "kaggle://test/half_plus_two/tensorFlow2/default/1"' in models_bzl

            # The lock is the pin: another sha256 in it fails the fetch (hub_lock re-runs on the change).
            lock.write_text(lock.read_text().replace(clean_entry.sha256, "f" * 64))
            result = ws.run("build", "//:models")
            assert result.returncode != 0
            assert (f'//:hubvendor.lock: hub_model(name = "tfhub_test_half_plus_two_1", handle = "{HALF_PLUS_TWO}"): '
                    f"the archive at {clean_entry.url} has sha256 {clean_entry.sha256}, but //:hubvendor.lock pins sha256 "
                    f"{'f' * 64}: the lock was edited" in result.stderr)
            assert "Checksum was" in result.stderr

            # A tree digest that does not match fails too (pip builds check the same digest).
            lockfile.write(lock, lockfile.Lock([replace(clean_entry, tree_digest="sha256:" + "1" * 64)]))
            result = ws.run("build", "//:models")
            assert result.returncode != 0
            assert "the extracted tree has digest" in result.stderr

            # A hostile archive pinned in the lock: the archive policy refuses it, naming the member.
            lockfile.write(lock, lockfile.Lock([clean_entry, hostile_entry]))
            result = ws.run("build", "@tfhub_test_hostile_1//:model")
            assert result.returncode != 0
            assert 'hub_model(name = "tfhub_test_hostile_1"' in result.stderr
            assert "variables/escape" in result.stderr

            # A malformed lock fails naming the file and the entry.
            lock.write_text(lock.read_text().replace("size = ", "size = -", 1))
            result = ws.run("build", "//:models")
            assert result.returncode != 0
            assert f'//:hubvendor.lock: model[0] ("{HALF_PLUS_TWO}"): size = -' in result.stderr
        finally:
            ws.shutdown()


def test_check_compares_workspace_stanzas_with_the_lock() -> None:
    """`hubvendor bazel --check`'s logic: stanzas pasted from `hubvendor bazel` match; drift is one line each."""
    pins = [bazel.Pin(HALF_PLUS_TWO, "a" * 64, DIGEST_1), bazel.Pin(KERAS_DENSE, "b" * 64, DIGEST_2),
            bazel.Pin("gs://b/m.tar.gz", "c" * 64, DIGEST_1)]
    pasted = bazel.stanzas(pins[:2])
    assert bazel.check(pasted, pins) == []
    assert bazel.check('hub_lock(name = "hub_lock", lock = "//:hubvendor.lock")\n', pins) == []
    drifted = pasted.replace("a" * 64, "d" * 64).replace(KERAS_DENSE, "https://tfhub.dev/test/other/1")
    assert bazel.check(drifted, pins) == [
        f"WORKSPACE: hub_model(name = 'tfhub_test_half_plus_two_1') pins {HALF_PLUS_TWO!r} to sha256 {'d' * 64!r}, "
        f"hubvendor.lock to {'a' * 64!r}",
        f"WORKSPACE: no hub_model() for {KERAS_DENSE!r}, which hubvendor.lock pins",
        "WORKSPACE: hub_model(name = 'tfhub_test_keras_dense_1') declares 'https://tfhub.dev/test/other/1', "
        "which hubvendor.lock does not pin",
    ]
