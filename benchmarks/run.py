"""hubvendor's side-by-side benchmark suite (issue 6): ``make bench``.

Generates its own archives (``data.py``, cached under ``tmp/bench``), serves them from loopback
(``loopback.py``: nginx if installed, else ``hubvendor serve``), runs every contender as a real process
at least three times, alternating, and prints markdown tables (medians, min-max, peak RSS, ratios) and
every target with PASS/MISS. A full run rewrites ``benchmarks/RESULTS.md`` and ``benchmarks/scaling.png``.

    python benchmarks/run.py                 # everything (~10 min on 2 cores)
    python benchmarks/run.py --quick         # small sizes, for development (results not written)
    python benchmarks/run.py --only fetch,warm --runs 5
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import data  # noqa: E402
import sections  # noqa: E402
from harness import Table, Target, targets_markdown  # noqa: E402
from loopback import Mirror  # noqa: E402

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SECTIONS = ("fetch", "scaling", "many", "warm", "wheel", "bazel", "ranged")
LIBRARIES = ("hubvendor", "requests", "isal", "rapidgzip", "tensorflow", "tensorflow-hub", "hatchling", "numpy", "matplotlib")


def ensure_matplotlib() -> None:
    """matplotlib draws the scaling plot; installed into this environment when missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "matplotlib"], check=True)


def machine() -> list[str]:
    """The machine description committed with the results."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    tools = []
    for tool, flag in (("curl", "--version"), ("tar", "--version"), ("bazel", "--version")):
        path = shutil.which(tool)
        if path:
            out = subprocess.run([path, flag], capture_output=True, text=True).stdout.splitlines()
            tools.append(out[0] if out else tool)
    return [
        f"- CPU: {cpu}, {len(os.sched_getaffinity(0))} cores available, memory {mem_kib / (1 << 20):.1f} GiB, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()} ({sys.executable.replace(str(ROOT), '.')})",
        f"- Libraries: {', '.join(versions)}",
        f"- Tools: {'; '.join(tools)}",
    ]


def plan(quick: bool) -> dict[str, object]:
    """Archive sizes: the real ones, or small stand-ins for --quick."""
    if quick:
        main, scale, many, wheel, small_files = 64 * data.MiB, [16, 32, 64], 16 * data.MiB, 32 * data.MiB, 2000
    else:
        main, scale, many, wheel, small_files = data.GiB, [64, 128, 256, 512, 1024, 2048], 128 * data.MiB, 512 * data.MiB, data.SMALL_FILES
    models = {
        "normal": data.model("normal", main),
        "random": data.model("random", main),
        "lowent": data.model("lowent", main),
        "smallfiles": data.Model(f"smallfiles-{small_files // 1000}k", "smallfiles", small_files * data.SMALL_FILE_BYTES),
    }
    scaling = [data.model("normal", size * data.MiB) for size in scale]
    return {
        "models": models,
        "scaling": scaling,
        "many": data.model("normal", many),
        "wheel": data.model("normal", wheel),
        "small_files": small_files,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small archives; RESULTS.md is not written")
    parser.add_argument("--runs", type=int, default=3, help="runs per contender (default 3, at least 3 for results)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--data", type=Path, default=ROOT / "tmp" / "bench", help="generated data cache (default tmp/bench)")
    parser.add_argument("--no-nginx", action="store_true", help="serve with hubvendor serve even if nginx is installed")
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=None,
                        help="write RESULTS.md and the plot (default: full runs of every section)")
    args = parser.parse_args()
    chosen = [s for s in args.only.split(",") if s]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    write = args.write if args.write is not None else (not args.quick and set(chosen) == set(SECTIONS) and args.runs >= 3)
    started, load_before = time.monotonic(), os.getloadavg()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    if "scaling" in chosen:
        ensure_matplotlib()
    sizes = plan(args.quick)
    models: dict[str, data.Model] = sizes["models"]  # type: ignore[assignment]
    wanted = list(models.values()) + list(sizes["scaling"]) + [sizes["many"], sizes["wheel"]]  # type: ignore[operator]
    unique = list({m.name: m for m in wanted}.values())
    log(f"preparing {len(unique)} archives under {args.data}")
    generated: list[str] = []
    archives = data.prepare(args.data, unique, log=lambda message: (generated.append(message), log(message)))
    data_seconds = time.monotonic() - started
    os.sync()  # freshly generated data must not be written back during the first measurements
    many = sections.link_many(args.data, sizes["many"], 8)  # type: ignore[arg-type]

    tables: list[Table] = []
    targets: list[Target] = []
    extra_md: list[str] = []
    with Mirror(args.data / "root", prefer_nginx=not args.no_nginx) as mirror:
        log(f"serving from {mirror.url} with {mirror.kind}")
        ctx = sections.Context(
            data_dir=args.data, mirror=mirror, config=mirror.downloader_config(args.data / "downloader.cfg"),
            archives=archives, runs=args.runs, log=log, quick=args.quick,
        )
        for name in SECTIONS:
            if name not in chosen:
                continue
            log(f"section {name}")
            result = getattr(sections, name)(ctx, sizes=sizes, many=many)
            tables += result.tables
            targets += result.targets
            extra_md += result.markdown

    elapsed = time.monotonic() - started
    load_after = os.getloadavg()
    server = mirror.kind
    header = [
        "# hubvendor benchmark results",
        "",
        f"`make bench` ({'quick' if args.quick else 'full'} run, {args.runs} alternating runs per contender, {sections.FETCH_RUNS} in the cold-fetch and Bazel sections, each round "
        f"starting one contender later; medians), "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, harness wall time {elapsed / 60:.1f} min "
        f"({f'including {data_seconds:.0f} s generating {len(generated)} archives' if generated else 'archives cached from an earlier run'}).",
        f"Archives served from loopback by {server}. Load average before/after: "
        f"{load_before[0]:.2f}/{load_after[0]:.2f} (2 cores shared with other work).",
        "",
        *machine(),
        "",
        "## Targets",
        "",
        targets_markdown(targets),
        "## Measurements",
        "",
        "Times are the contender's call time after its imports (whole-process time where the row says so); "
        "peak RSS is the process tree's maximum resident set (wait4).",
        "",
    ]
    body = "\n".join(header) + "\n" + "\n".join(t.markdown() for t in tables) + "\n" + "\n".join(extra_md)
    print(body)
    if write:
        (BENCH / "RESULTS.md").write_text(body)
        log("wrote benchmarks/RESULTS.md")
    if "scaling" in chosen and sections.SCALING_SERIES:
        plot = BENCH / "scaling.png" if write else args.data / "scaling.png"
        sections.plot_scaling(plot)
        log(f"wrote {plot}")
    misses = [t.number for t in targets if not t.passed]
    log(f"done in {elapsed / 60:.1f} min; {len(targets) - len(misses)} targets PASS, MISS: {misses or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
