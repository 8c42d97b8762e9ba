"""The benchmark sections of ``run.py``, one per target group; each returns tables and targets."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import data
from hubvendor import archive
from harness import Contender, Table, Target, alternate, fresh_dir, remove, run_process
from loopback import Mirror

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
CONTENDER = str(BENCH / "contender.py")
RSS_LIMIT_MIB = 128
SCALING_SERIES: list[dict[str, object]] = []  # per size: MB, medians, peak RSS, the path auto chose


@dataclass
class Context:
    data_dir: Path
    mirror: Mirror
    config: Path
    archives: dict[str, dict[str, object]]
    runs: int
    log: Callable[[str], None]
    quick: bool
    trash: list[Path] = field(default_factory=list)  # outputs removed after a block of runs, not between them
    keep_outputs: bool = False

    @property
    def scratch(self) -> Path:
        return self.data_dir / "scratch"

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: no inherited hubvendor/TF Hub settings, mirrors to loopback, bytecode cached
        (as after ``pip install``: whole-process times should not include compiling source)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HUBVENDOR_", "TFHUB_", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE"))}
        env.update(HUBVENDOR_DOWNLOADER_CONFIG=str(self.config), TF_CPP_MIN_LOG_LEVEL="3")
        env.update(extra)
        return env

    def url(self, model: data.Model) -> str:
        return f"{self.mirror.url}/bench/{model.name}/1"


@dataclass
class Result:
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    markdown: list[str] = field(default_factory=list)


def link_many(data_dir: Path, base: data.Model, count: int) -> list[data.Model]:
    """``count`` distinct handles serving ``base``'s archive (hard links: no extra data)."""
    models = []
    source = base.archive(data_dir)
    for i in range(count):
        spec = data.Model(f"many{i}-{base.name}", base.kind, base.size)
        target = spec.archive(data_dir)
        if not target.exists() or not os.path.samefile(source, target):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            os.link(source, target)
        models.append(spec)
    return models


# --- contenders ----------------------------------------------------------------------------


def _with_dir(ctx: Context, prefix: str, build: Callable[[Path], tuple[list[str], dict[str, str], Path | None]]) -> tuple[
    Callable[[], tuple[list[str], dict[str, str], Path | None]], Callable[[], None]
]:
    """make/cleanup pair giving each run a fresh scratch directory, removed after the run.

    With ``ctx.keep_outputs`` set the directory is only queued on ``ctx.trash``: on ext4, creating
    20k files right after deleting 20k took 0.8-1.8 s instead of 0.18 s, a cost of the benchmark's
    own cleanup that no real fetch pays.
    """
    state: dict[str, Path] = {}

    def make() -> tuple[list[str], dict[str, str], Path | None]:
        state["dir"] = fresh_dir(ctx.scratch, prefix)
        return build(state["dir"])

    def cleanup() -> None:
        if ctx.keep_outputs:
            ctx.trash.append(state.pop("dir"))
        else:
            remove(state.pop("dir"))

    return make, cleanup


def empty_trash(ctx: Context) -> None:
    while ctx.trash:
        remove(ctx.trash.pop())


def hubvendor_cold(ctx: Context, model: data.Model, mode: str | None = None) -> Contender:
    """``hubvendor.resolve(handle)`` into an empty cache; ``mode`` forces HUBVENDOR_INFLATE."""
    extra = {"HUBVENDOR_INFLATE": mode} if mode else {}
    make, cleanup = _with_dir(ctx, "hv", lambda d: (
        [PY, CONTENDER, "hubvendor-resolve", model.handle], ctx.env(TFHUB_CACHE_DIR=str(d), **extra), None))
    return Contender(f"hubvendor {mode}" if mode else "hubvendor (auto)", make, cleanup)


def tfhub_cold(ctx: Context, model: data.Model) -> Contender:
    """tensorflow_hub's own ``hub.resolve`` (hubvendor's hook off) of the loopback URL."""
    make, cleanup = _with_dir(ctx, "tfhub", lambda d: (
        [PY, CONTENDER, "tfhub-resolve", ctx.url(model)], ctx.env(TFHUB_CACHE_DIR=str(d), HUBVENDOR_AUTOLOAD="0"), None))
    return Contender("tensorflow_hub hub.resolve", make, cleanup)


def curl_tar(ctx: Context, model: data.Model) -> Contender:
    command = "set -o pipefail; curl -sSf '{url}?tf-hub-format=compressed' | tar -xzf - -C '{dest}'"
    make, cleanup = _with_dir(ctx, "curl", lambda d: (
        ["bash", "-c", command.format(url=ctx.url(model), dest=d)], ctx.env(), None))
    return Contender("curl | tar -xzf - (whole process)", make, cleanup)


def inflate_limit(ctx: Context, model: data.Model, candidates: str = "isal") -> Contender:
    path = str(model.archive(ctx.data_dir))
    return Contender("single-stream inflate in memory (limit)",
                     lambda: ([PY, CONTENDER, "inflate-limit", path, candidates], ctx.env(), None))


def rapidgzip_ceiling(ctx: Context, model: data.Model) -> Contender:
    path = str(model.archive(ctx.data_dir))
    threads = str(len(os.sched_getaffinity(0)))
    return Contender(f"rapidgzip {threads} threads from page cache, output discarded",
                     lambda: ([PY, CONTENDER, "rapidgzip", path, threads], ctx.env(), None))


# --- sections ----------------------------------------------------------------------------


def fetch(ctx: Context, sizes: dict[str, object], **_: object) -> Result:
    """Targets 1 (cold fetch vs tensorflow_hub, curl | tar and the inflate limit; RSS) and 2 (parallel)."""
    result = Result()
    models: dict[str, data.Model] = sizes["models"]  # type: ignore[assignment]
    labels = {"random": "1e", "lowent": "1f", "smallfiles": "1g"}
    for kind, model in models.items():
        archive_mb = int(ctx.archives[model.name]["size"]) / 1e6  # type: ignore[arg-type]
        contenders = [hubvendor_cold(ctx, model)]
        if kind == "normal":  # the crossover in full is in the scaling section
            contenders += [hubvendor_cold(ctx, model, "stream"), hubvendor_cold(ctx, model, "parallel")]
        contenders += [tfhub_cold(ctx, model), curl_tar(ctx, model),
                       inflate_limit(ctx, model, "isal,zlib-ng" if kind == "normal" else "isal")]
        if kind == "normal":
            contenders.append(rapidgzip_ceiling(ctx, model))
        ctx.log(f" {model.name}: {archive_mb:.0f} MB compressed")
        ctx.keep_outputs = kind == "smallfiles"  # many small files: see _with_dir
        try:
            alternate(contenders, ctx.runs if ctx.quick else max(ctx.runs, FETCH_RUNS), ctx.log)
        finally:
            ctx.keep_outputs = False
            empty_trash(ctx)
        by = {c.name: c for c in contenders}
        hub, limit, tf = by["hubvendor (auto)"], by["single-stream inflate in memory (limit)"], by["tensorflow_hub hub.resolve"]
        result.tables.append(Table(
            f"Cold fetch: {model.name} ({kind}, {archive_mb:.0f} MB archive)", limit.name, contenders,
            note=f"Single-stream inflate: {_limit_note(limit)}.",
        ))
        HUBVENDOR_RSS.extend(c.peak_rss for c in contenders if c.name in ("hubvendor (auto)", "hubvendor stream"))
        if kind != "normal":
            evidence = _sys_note(hub, by)
            if kind == "smallfiles":
                result.markdown.append(_profile(ctx, model))
                evidence += " Per-file Python work dominates: see the cProfile of this fetch below."
            result.targets.append(Target(labels[kind], f"cold fetch {model.name}: hubvendor / tensorflow_hub hub.resolve",
                                         hub.median / tf.median, 0.5, evidence=evidence))
            continue
        FETCH_NORMAL.extend(contenders)
        stream, parallel = by["hubvendor stream"], by["hubvendor parallel"]
        stages = _stages(ctx, model)
        result.markdown.append(stages)
        floor = max(limit.median, hub.cpu / 2)
        cpu_note = (
            f"CPU-bound on {_cores()} cores: a hubvendor fetch burns {hub.cpu:.2f} CPU-s (median, whole process) of which "
            f"the serial inflate is {limit.median:.2f} s; hashing both streams (sha256 of the archive and of every file, "
            f"both required), writes and the transfer need the other {hub.cpu - limit.median:.2f} CPU-s, so no schedule "
            f"on {_cores()} cores beats max(inflate, CPU/{_cores()}) = {floor:.2f} s = {floor / limit.median:.2f}x the limit "
            f"before any hand-off cost. Per-stage thread CPU times are in the stage table below."
        )
        result.targets += [
            Target("1a", f"cold fetch {model.name}: hubvendor / tensorflow_hub hub.resolve", hub.median / tf.median, 0.5),
            Target("1b", f"cold fetch {model.name}: hubvendor / curl | tar -xzf -", hub.median / by["curl | tar -xzf - (whole process)"].median, 0.5),
            Target("1c", f"cold fetch {model.name}: hubvendor / single-stream inflate limit (same run)", hub.median / limit.median, 1.15,
                   evidence=cpu_note),
        ]
        best = min((stream, parallel), key=lambda c: c.median)
        ceiling = next(c for c in contenders if c.name.startswith("rapidgzip"))
        result.targets.append(Target(
            "2", f"cold fetch {model.name}: fastest hubvendor path ({best.name}) / single-stream inflate limit",
            best.median / limit.median, 1.0,
            evidence=(f"rapidgzip alone ({_cores()} threads, archive in the page cache, output discarded) beats isal "
                      f"({ceiling.median:.2f} s vs {limit.median:.2f} s) but burns {ceiling.cpu:.2f} CPU-s for it. A fetch must also "
                      f"hash both streams, write and receive: {hub.cpu - limit.median:.2f} CPU-s more (stream fetch CPU minus "
                      f"inflate). Even with a perfect spool, {ceiling.cpu:.2f} + {hub.cpu - limit.median:.2f} CPU-s on "
                      f"{_cores()} cores is >= {(ceiling.cpu + hub.cpu - limit.median) / _cores():.2f} s, above streaming's "
                      f"{stream.median:.2f} s; the real spooled fetch (rapidgzip reading the growing file through Python) burned "
                      f"{parallel.cpu:.2f} CPU-s, so even with perfect scaling it needs {parallel.cpu / limit.median:.1f} CPUs to "
                      f"beat the serial inflate ({parallel.cpu:.2f} CPU-s / {limit.median:.2f} s). Auto streams below "
                      f"{archive.PARALLEL_MIN_CPUS} CPUs: the cores do not allow it here."),
        ))
    result.targets.append(Target("1d", "hubvendor peak RSS (auto and stream), every archive of this section",
                                 max(HUBVENDOR_RSS), RSS_LIMIT_MIB, unit="MiB"))
    return result


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _sys_note(hub: Contender, by: dict[str, Contender]) -> str:
    """Where the time goes when a fetch is not inflate-bound: user vs kernel CPU, side by side."""
    parts = [f"{name}: {c.median:.2f} s, {c.cpu:.2f} CPU-s of which kernel {c.median_of('sys'):.2f} s"
             for name, c in by.items() if name in (hub.name, "tensorflow_hub hub.resolve", "curl | tar -xzf - (whole process)")]
    return "Side by side (median): " + "; ".join(parts) + "."


def _stages(ctx: Context, model: data.Model) -> str:
    """One extra hubvendor fetch with per-stage thread CPU and wall times (evidence for the limit targets)."""
    cache = fresh_dir(ctx.scratch, "stages")
    try:
        sample = run_process([PY, CONTENDER, "hubvendor-stages", model.handle],
                             ctx.env(TFHUB_CACHE_DIR=str(cache), HUBVENDOR_INFLATE="stream"))
    finally:
        remove(cache)
    rows = [f"| {name} | {cpu:.2f} s | {wall:.2f} s |" for name, (cpu, wall) in sample.extra["stages"].items()]  # type: ignore[union-attr]
    return "\n".join([
        f"### Per-stage timings: one streaming hubvendor fetch of {model.name}", "",
        f"Call time {sample.seconds:.2f} s; process CPU {float(sample.extra['cpu']):.2f} s "  # type: ignore[arg-type]
        f"(kernel {float(sample.extra['sys']):.2f} s), {_cores()} cores.", "",  # type: ignore[arg-type]
        "| stage (thread) | thread CPU | wall |", "|---|---|---|", *rows, "",
    ])


def _profile(ctx: Context, model: data.Model) -> str:
    """One extra hubvendor fetch under cProfile (evidence: where per-file time goes)."""
    cache = fresh_dir(ctx.scratch, "profile")
    try:
        sample = run_process([PY, CONTENDER, "hubvendor-profile", model.handle], ctx.env(TFHUB_CACHE_DIR=str(cache)))
    finally:
        remove(cache)
    return "\n".join([
        f"### cProfile: one hubvendor fetch of {model.name} (calling thread; profiling slows it)", "",
        f"Call time under the profiler {sample.seconds:.2f} s.", "", "```", str(sample.extra["profile"]), "```", "",
    ])


HUBVENDOR_RSS: list[float] = []
FETCH_RUNS = 5  # the cold-fetch medians carry four targets; this VM's page-cache costs vary run to run
FETCH_NORMAL: list[Contender] = []


def _limit_note(limit: Contender) -> str:
    bests = [str(s.extra.get("best")) for s in limit.samples]
    rates = [float(s.extra.get("mb_per_s", 0)) for s in limit.samples]  # type: ignore[arg-type]
    return f"fastest was {'/'.join(sorted(set(bests)))}, {statistics.median(rates):.0f} MB/s of compressed input (median)"


def scaling(ctx: Context, sizes: dict[str, object], **_: object) -> Result:
    """Targets 2 (crossover of streaming vs parallel inflate) and 7 (linear time, flat RSS)."""
    result = Result()
    rows = ["| archive | MB | stream | parallel (peak RSS) | auto | auto chose | auto MB/s | auto peak RSS |",
            "|---|---|---|---|---|---|---|---|"]
    SCALING_SERIES.clear()
    reuse = {c.name: c for c in FETCH_NORMAL}
    scaling_rss: list[float] = []
    main: data.Model = sizes["models"]["normal"]  # type: ignore[index]
    for model in sizes["scaling"]:  # type: ignore[attr-defined]
        mb = int(ctx.archives[model.name]["size"]) / 1e6  # type: ignore[arg-type]
        if model.name == main.name and reuse:
            contenders = [reuse["hubvendor stream"], reuse["hubvendor (auto)"], reuse["hubvendor parallel"]]
        else:
            ctx.log(f" {model.name}: {mb:.0f} MB compressed")
            contenders = [hubvendor_cold(ctx, model, "stream"), hubvendor_cold(ctx, model)]
            if model.size <= data.GiB:  # slower at every size on 2 cores; 2 GiB of it would cost a minute
                contenders.append(hubvendor_cold(ctx, model, "parallel"))
            alternate(contenders, ctx.runs, ctx.log)
        stream, auto = contenders[:2]
        parallel = contenders[2] if len(contenders) > 2 else None
        chose = str(auto.samples[-1].extra.get("inflate", "?"))
        scaling_rss.extend((stream.peak_rss, auto.peak_rss))
        SCALING_SERIES.append({"mb": mb, "stream": stream.median, "parallel": parallel.median if parallel else None,
                               "auto": auto.median, "rss": auto.peak_rss, "chose": chose})
        rows.append(f"| {model.name} | {mb:.0f} | {stream.median:.2f} s | "
                    f"{f'{parallel.median:.2f} s ({parallel.peak_rss:.0f} MiB)' if parallel else 'not run'} | "
                    f"{auto.median:.2f} s | {chose} | {mb / auto.median:.0f} | {auto.peak_rss:.0f} MiB |")
    xs = [p["mb"] for p in SCALING_SERIES]
    ys = [p["auto"] for p in SCALING_SERIES]
    slope, intercept, r2 = _linear_fit(xs, ys)
    rss = [p["rss"] for p in SCALING_SERIES]
    crossover = next((p["mb"] for p in SCALING_SERIES if p["parallel"] and p["parallel"] < p["stream"]), None)
    wrong = [p["mb"] for p in SCALING_SERIES  # auto chose the path that was > 10% slower than the other
             if p["parallel"] and (p["stream"], p["parallel"])[p["chose"] == "parallel"] > 1.1 * min(p["stream"], p["parallel"])]
    result.markdown.append("\n".join([
        "### Scaling: cold fetch time vs archive size (normal weights), streaming vs parallel inflate", "",
        *rows, "",
        f"Least-squares fit of auto: {slope * 1e3:.3f} ms/MB + {intercept:.2f} s, R^2 = {r2:.4f}. "
        f"Peak RSS {min(rss):.0f}-{max(rss):.0f} MiB. Parallel first beats streaming at "
        f"{f'{crossover:.0f} MB' if crossover else f'no size measured on {_cores()} cores (auto streams below {archive.PARALLEL_MIN_CPUS} CPUs)'}. "
        "Plot: `scaling.png`.", "",
    ]))
    result.targets += [
        Target("2x", "crossover: sizes where auto chose the forced path > 1.1x slower than the other", len(wrong), 0, unit="sizes",
               evidence=f"sizes {wrong}"),
        Target("7a", "scaling 64 MiB..2 GiB: linear fit R^2 of fetch time vs size", r2, 0.99, unit="", lower_is_better=False),
        Target("7b", "scaling: peak RSS largest / smallest archive", max(rss) / min(rss), 1.25),
        Target("7c", "scaling: hubvendor peak RSS (auto and stream), any size", max(scaling_rss), RSS_LIMIT_MIB, unit="MiB"),
    ]
    return result


def _linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sxx
    intercept = mean_y - slope * mean_x
    ss_res = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys))
    ss_tot = sum((y - mean_y) ** 2 for y in ys)
    return slope, intercept, 1 - ss_res / ss_tot if ss_tot else 1.0


def plot_scaling(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [p["mb"] for p in SCALING_SERIES]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=80)
    for key, style in (("stream", "o-"), ("parallel", "s-"), ("auto", "x--")):
        points = [(p["mb"], p[key]) for p in SCALING_SERIES if p[key] is not None]
        left.plot([x for x, _ in points], [y for _, y in points], style, label=f"hubvendor {key}")
    left.set(xlabel="archive size (MB, normal weights)", ylabel="cold fetch (s, median)", title="Fetch time vs size")
    left.legend()
    left.grid(alpha=0.3)
    right.plot(xs, [p["rss"] for p in SCALING_SERIES], "o-")
    right.axhline(RSS_LIMIT_MIB, color="red", linestyle=":", label=f"{RSS_LIMIT_MIB} MiB target")
    right.set(xlabel="archive size (MB)", ylabel="peak RSS (MiB)", title="Peak RSS vs size", ylim=(0, RSS_LIMIT_MIB * 1.2))
    right.legend()
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def many(ctx: Context, many: list[data.Model], **_: object) -> Result:
    """Target 3: ``hubvendor fetch --jobs 4`` of 8 models vs one at a time."""
    handles = [m.handle for m in many]
    contenders = []
    for jobs in (4, 1):
        make, cleanup = _with_dir(ctx, f"many{jobs}", lambda d, jobs=jobs: (
            [PY, "-m", "hubvendor", "fetch", "--jobs", str(jobs), *handles], ctx.env(TFHUB_CACHE_DIR=str(d)), None))
        contenders.append(Contender(f"hubvendor fetch --jobs {jobs} (whole process)", make, cleanup))
    alternate(contenders, ctx.runs, ctx.log)
    size = int(ctx.archives[many[0].name.split("-", 1)[1]]["size"]) / 1e6  # type: ignore[arg-type]
    return Result(
        tables=[Table(f"Many models: 8 x {many[0].name.split('-', 1)[1]} ({size:.0f} MB archives each)",
                      contenders[1].name, contenders)],
        targets=[Target("3", "8 models: fetch --jobs 4 / sequential (--jobs 1)", contenders[0].median / contenders[1].median, 0.6,
                        evidence=_many_note(*contenders))],
    )


def _many_note(parallel: Contender, sequential: Contender) -> str:
    floor = parallel.cpu / _cores()
    return (f"CPU-bound: one model at a time already keeps {sequential.cpu / sequential.median:.2f} of {_cores()} cores busy "
            f"(inflate thread + hashing/writes threads: {sequential.cpu:.2f} CPU-s in {sequential.median:.2f} s); "
            f"--jobs 4 needs {parallel.cpu:.2f} CPU-s, so no schedule on {_cores()} cores finishes in less than "
            f"{floor:.2f} s = {floor / sequential.median:.2f}x sequential. Parallel jobs pay off when the network, "
            "not the CPU, is the bottleneck (real mirrors), or with more cores.")


def warm(ctx: Context, sizes: dict[str, object], **_: object) -> Result:
    """Target 4: warm resolve as a whole process vs ``python -c pass`` and tensorflow_hub; the autoload hook."""
    model: data.Model = sizes["scaling"][0]  # type: ignore[index]
    cache = fresh_dir(ctx.scratch, "warm")
    env = ctx.env(TFHUB_CACHE_DIR=str(cache))
    tf_env = ctx.env(TFHUB_CACHE_DIR=str(cache), HUBVENDOR_AUTOLOAD="0")
    resolve = f"import hubvendor; hubvendor.resolve({model.handle!r})"
    tf_resolve = f"import tensorflow_hub as hub; hub.resolve({ctx.url(model)!r})"
    try:
        run_process([PY, "-c", resolve], env)  # fill both caches (untimed)
        run_process([PY, "-c", tf_resolve], tf_env)
        quick = [
            Contender("python -c pass", lambda: ([PY, "-c", "pass"], env, None)),
            Contender('python -c "import hubvendor; hubvendor.resolve(h)"', lambda: ([PY, "-c", resolve], env, None)),
        ]
        slow = [Contender('python -c "import tensorflow_hub as hub; hub.resolve(h)"', lambda: ([PY, "-c", tf_resolve], tf_env, None))]
        alternate(quick, max(ctx.runs, 30), lambda _: None)
        alternate(slow, ctx.runs, ctx.log)
    finally:
        remove(cache)
    base, hub, tf = quick[0], quick[1], slow[0]
    result = Result(
        tables=[Table("Warm resolve, whole process (cache filled)", base.name, quick + slow,
                      note=f"{len(base.samples)} alternating runs of the two short processes.")],
        targets=[
            Target("4a", "warm resolve process / python -c pass", hub.median / base.median, 1.15),
            Target("4b", "warm resolve process / tensorflow_hub warm hub.resolve process", hub.median / tf.median, 0.05),
        ],
    )
    autoload = subprocess.run([PY, str(BENCH / "autoload_startup.py"), "--runs", "10" if ctx.quick else "200"],
                              env=ctx.env(), capture_output=True, text=True)
    if autoload.returncode != 0:
        raise RuntimeError(f"autoload_startup.py failed:\n{autoload.stderr[-3000:]}")
    delta = re.search(r"^with the \.pth\s+[\d.]+\s+(-?[\d.]+)", autoload.stdout, re.M)
    alone = re.search(r"median ([\d.]+) ms", autoload.stdout)
    result.markdown.append("### Autoload hook start-up cost (benchmarks/autoload_startup.py)\n\n```\n" + autoload.stdout.strip() + "\n```\n")
    if delta:
        result.targets.append(Target("4c", "autoload .pth: added start-up time, process without tensorflow_hub (median delta)",
                                     float(delta.group(1)), 1.0, unit="ms",
                                     evidence=f"the hook line alone measures {alone.group(1) if alone else '?'} ms"))
    return result


def wheel(ctx: Context, sizes: dict[str, object], **_: object) -> Result:
    """Target 5: benchmarks/wheel_build.py (hubvendor stored wheel vs hatchling's deflate), as a subprocess."""
    model: data.Model = sizes["wheel"]  # type: ignore[assignment]
    work = fresh_dir(ctx.scratch, "wheel")
    try:
        completed = subprocess.run(
            [PY, str(BENCH / "wheel_build.py"), "--size-mib", str(model.size // data.MiB), "--runs", str(ctx.runs),
             "--workdir", str(work)],
            env=ctx.env(), capture_output=True, text=True,
        )
    finally:
        remove(work)
    if completed.returncode != 0:
        raise RuntimeError(f"wheel_build.py failed:\n{completed.stdout[-3000:]}{completed.stderr[-3000:]}")
    out = completed.stdout
    ratios = {key: float(m.group(1)) for key in ("build", "install")
              if (m := re.search(rf"^{key} \(s\)\s+[\d.]+\s+[\d.]+\s+([\d.]+)", out, re.M))}
    summary = out[out.index("\n\n") + 2:] if "\n\n" in out else out
    return Result(
        markdown=["### Wheel build and install (benchmarks/wheel_build.py)\n\n```\n" + summary.strip() + "\n```\n"],
        targets=[
            Target("5a", f"wheel build, {model.size // data.MiB} MiB model, warm cache: hubvendor / hatchling deflate",
                   ratios.get("build", float("inf")), 0.5),
            Target("5b", "wheel install: hubvendor wheel / deflated wheel", ratios.get("install", float("inf")), 0.6),
        ],
    )


def bazel(ctx: Context, sizes: dict[str, object], **_: object) -> Result:
    import bench_bazel

    if shutil.which("bazel") is None:
        return Result(markdown=["### Bazel\n\nSkipped: `bazel` is not on PATH (`apt-get install bazel-bootstrap`).\n"])
    return bench_bazel.run(ctx, sizes["wheel"])  # type: ignore[arg-type]  # 512 MiB: Bazel inflates at ~100 MB/s


from ranged import ranged  # noqa: E402,F401  (issue 16: parallel ranged downloads on capped links)
