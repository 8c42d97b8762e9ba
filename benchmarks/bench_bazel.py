"""Target 6: Bazel's ``hub_model`` and ``hub_lock`` vs ``http_archive`` fetching the same archive through
the same mirror.

One offline Bazel 4 workspace (bazel/offline stand-ins) declares three repositories for the same bytes:
``hub_model`` pinned by sha256 (Bazel extracts), the model ``hub_lock(lock = "//:hubvendor.lock")`` +
``hub_lock_models()`` declares from a lock entry with sha256, size and tree digest (Bazel downloads,
``python -m hubvendor.bazel extract`` applies the archive policy and checks the digest), and plain
``http_archive``. The repository cache is disabled so every ``bazel sync --only=<repo>`` downloads and
extracts again. The Bazel server is started first; times are the client process's wall time (the work
happens in the server, so the RSS column is the client's and not meaningful).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import data
from harness import Contender, Table, Target, alternate, fresh_dir, remove, run_process
from hubvendor import archive, bazel, lockfile
from hubvendor.handle import normalise
from sections import ROOT, Context, Result

WORKSPACE = """\
workspace(name = "bench")

local_repository(name = "hubvendor", path = {repo!r})

load("@hubvendor//bazel:repositories.bzl", "hub_lock", "hubvendor_dependencies")

hubvendor_dependencies(offline = True)

load("@hubvendor//bazel:defs.bzl", "hub_model")
load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")

hub_model(name = "hub", handle = {handle!r}, sha256 = {sha256!r})

hub_lock(name = "hub_lock", lock = "//:hubvendor.lock")

load("@hub_lock//:models.bzl", "hub_lock_models")

hub_lock_models()

http_archive(
    name = "http",
    urls = [{url!r}],
    sha256 = {sha256!r},
    type = "tar.gz",
    build_file_content = 'filegroup(name = "all", srcs = glob(["**"]), visibility = ["//visibility:public"])',
)
"""

BAZEL_RUNS = 5  # the medians carry two targets; this VM's page-cache costs vary run to run


def write_lock(ctx: Context, model: data.Model, info: dict[str, object], path: str) -> None:
    """The lock ``hubvendor lock`` would write for ``model``: sha256, size and tree digest of its archive."""
    unpacked = fresh_dir(ctx.scratch, "bazel-digest")
    try:
        digest = archive.extract_file(str(info["path"]), str(unpacked), name=model.handle).tree_digest
    finally:
        remove(unpacked)
    entry = lockfile.LockedModel(handle=model.handle, key=normalise(model.handle),
                                 url=f"{model.handle}?tf-hub-format=compressed", sha256=str(info["sha256"]),
                                 size=int(info["size"]), tree_digest=digest)  # type: ignore[arg-type]
    lockfile.write(path, lockfile.Lock([entry]))


def check_declared(work: Path, env: dict[str, str], lock: str) -> None:
    """Fail unless hub_lock() declared the model with the lock's tree digest (so the timed fetch runs the check)."""
    base = subprocess.run(["bazel", "info", "output_base"], env=env, cwd=work, capture_output=True, text=True,
                          check=True).stdout.strip()
    digest = lockfile.load(lock).models[0].tree_digest
    if f'tree_digest = "{digest}"' not in Path(base, "external", "hub_lock", "models.bzl").read_text():
        raise RuntimeError(f"hub_lock() did not declare the tree digest {digest} of {lock}")


def run(ctx: Context, model: data.Model) -> Result:
    work = fresh_dir(ctx.scratch, "bazel").resolve()  # Bazel runs in it: relative paths would not hold
    info = ctx.archives[model.name]
    locked = bazel.repository_name(model.handle)
    (work / "WORKSPACE").write_text(WORKSPACE.format(
        repo=str(ROOT), handle=model.handle, sha256=info["sha256"], url=f"{model.handle}?tf-hub-format=compressed"))
    (work / "BUILD.bazel").write_text("")
    write_lock(ctx, model, info, str(work / "hubvendor.lock"))
    options = (f"--experimental_downloader_config={ctx.config.resolve()} --repository_cache= "
               f"--repo_env=HUBVENDOR_PYTHON={sys.executable}")
    (work / ".bazelrc").write_text(
        f"startup --output_user_root={work / 'out'} --host_jvm_args=-Xmx1g --max_idle_secs=600\n"
        f"sync {options}\nbuild {options}\nfetch {options}\n"
    )
    env = ctx.env()
    try:
        run_process(["bazel", "info", "release"], env, work)  # start the server (untimed)
        for repo in ("hub", locked, "http"):  # untimed: the first sync also loads the WORKSPACE and reads the lock
            run_process(["bazel", "sync", f"--only={repo}"], env, work)
        check_declared(work, env, str(work / "hubvendor.lock"))
        contenders = [
            Contender("bazel sync --only=hub (hub_model, whole client process)",
                      lambda: (["bazel", "sync", "--only=hub"], env, work)),
            Contender(f"bazel sync --only={locked} (hub_lock, tree-digest check, whole client process)",
                      lambda: (["bazel", "sync", f"--only={locked}"], env, work)),
            Contender("bazel sync --only=http (http_archive, whole client process)",
                      lambda: (["bazel", "sync", "--only=http"], env, work)),
        ]
        alternate(contenders, ctx.runs if ctx.quick else max(ctx.runs, BAZEL_RUNS), ctx.log)
    finally:
        try:
            run_process(["bazel", "shutdown"], env, work)
        finally:
            remove(work)
    hub, from_lock, http = contenders
    mb = int(info["size"]) / 1e6  # type: ignore[arg-type]
    return Result(
        tables=[Table(f"Bazel fetch of {model.name} ({mb:.0f} MB), repository cache disabled", http.name, contenders,
                      note="All through the same downloader config to the loopback mirror; the Bazel server was warm. "
                           "Both hubvendor rows download with Bazel and extract with hubvendor's archive policy "
                           "(links, devices, traversal, case collisions refused); the hub_lock row also checks "
                           "the tree digest.")],
        targets=[
            Target("6", f"Bazel: hub_model / http_archive fetch of {model.name}", hub.median / http.median, 1.1),
            Target("6b", f"Bazel: hub_lock (tree-digest check) / http_archive fetch of {model.name}",
                   from_lock.median / http.median, 1.1),
        ],
    )
