"""Target 6: Bazel's ``hub_model`` vs ``http_archive`` fetching the same archive through the same mirror.

One offline Bazel 4 workspace (bazel/offline stand-ins) declares both repositories with the same sha256;
the repository cache is disabled so every ``bazel sync --only=<repo>`` downloads and extracts again. The
Bazel server is started first; times are the client process's wall time (the work happens in the server,
so the RSS column is the client's and not meaningful).
"""

from __future__ import annotations


import data
from harness import Contender, Table, Target, alternate, fresh_dir, remove, run_process
from sections import ROOT, Context, Result

WORKSPACE = """\
workspace(name = "bench")

local_repository(name = "hubvendor", path = {repo!r})

load("@hubvendor//bazel:repositories.bzl", "hubvendor_dependencies")

hubvendor_dependencies(offline = True)

load("@hubvendor//bazel:defs.bzl", "hub_model")
load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")

hub_model(name = "hub", handle = {handle!r}, sha256 = {sha256!r})

http_archive(
    name = "http",
    urls = [{url!r}],
    sha256 = {sha256!r},
    type = "tar.gz",
    build_file_content = 'filegroup(name = "all", srcs = glob(["**"]), visibility = ["//visibility:public"])',
)
"""

BAZEL_RUNS = 5  # two contenders: with 3 rounds one of them runs first twice


def run(ctx: Context, model: data.Model) -> Result:
    work = fresh_dir(ctx.scratch, "bazel")
    info = ctx.archives[model.name]
    (work / "WORKSPACE").write_text(WORKSPACE.format(
        repo=str(ROOT), handle=model.handle, sha256=info["sha256"], url=f"{model.handle}?tf-hub-format=compressed"))
    (work / "BUILD.bazel").write_text("")
    options = f"--experimental_downloader_config={ctx.config} --repository_cache="
    (work / ".bazelrc").write_text(
        f"startup --output_user_root={work / 'out'} --host_jvm_args=-Xmx1g --max_idle_secs=600\n"
        f"sync {options}\nbuild {options}\nfetch {options}\n"
    )
    env = ctx.env()
    try:
        run_process(["bazel", "info", "release"], env, work)  # start the server (untimed)
        for repo in ("hub", "http"):  # untimed: the first sync also loads the WORKSPACE, a cost of whoever goes first
            run_process(["bazel", "sync", f"--only={repo}"], env, work)
        contenders = [
            Contender("bazel sync --only=hub (hub_model, whole client process)",
                      lambda: (["bazel", "sync", "--only=hub"], env, work)),
            Contender("bazel sync --only=http (http_archive, whole client process)",
                      lambda: (["bazel", "sync", "--only=http"], env, work)),
        ]
        alternate(contenders, ctx.runs if ctx.quick else max(ctx.runs, BAZEL_RUNS), ctx.log)
    finally:
        try:
            run_process(["bazel", "shutdown"], env, work)
        finally:
            remove(work)
    hub, http = contenders
    mb = int(info["size"]) / 1e6  # type: ignore[arg-type]
    return Result(
        tables=[Table(f"Bazel fetch of {model.name} ({mb:.0f} MB), repository cache disabled", http.name, contenders,
                      note="Both through the same downloader config to the loopback mirror; the Bazel server was warm.")],
        targets=[Target("6", f"Bazel: hub_model / http_archive fetch of {model.name}", hub.median / http.median, 1.1)],
    )
