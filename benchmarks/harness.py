"""Measurement plumbing for ``run.py``: contenders as real processes, alternating runs, tables, targets."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

MiB = 1 << 20
RSS_EXEC = str(Path(__file__).resolve().parent / "rss_exec.py")


@dataclass
class Sample:
    seconds: float  # the contender's own call time when it reports one, else the process wall time
    rss_mib: float  # peak RSS of the process tree (wait4: the largest of the process and its children)
    extra: dict[str, object] = field(default_factory=dict)


def run_process(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> Sample:
    """Run ``argv`` under ``rss_exec.py``; its last stdout line may be JSON with ``seconds`` (call time after imports)."""
    with tempfile.TemporaryDirectory(prefix="hubvendor-bench-run-") as tmp:
        report = Path(tmp, "rusage.json")
        with open(Path(tmp, "out"), "w+b") as out, open(Path(tmp, "err"), "w+b") as err:
            code = subprocess.run([sys.executable, "-S", RSS_EXEC, str(report), *argv],
                                  env=env, cwd=cwd, stdout=out, stderr=err).returncode
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if code != 0:
            raise RuntimeError(f"{' '.join(argv)[:300]} failed ({code}):\n{stderr[-3000:]}")
        usage = json.loads(report.read_text())
    extra: dict[str, object] = {"wall": usage["wall"], "cpu": usage["cpu"], "sys": usage["sys"]}
    lines = stdout.strip().splitlines()
    if lines and lines[-1].startswith("{"):
        extra.update(json.loads(lines[-1]))
    return Sample(float(extra.get("seconds", usage["wall"])), usage["maxrss_kib"] / 1024, extra)  # type: ignore[arg-type]


@dataclass
class Contender:
    name: str
    make: Callable[[], tuple[list[str], dict[str, str], Path | None]]  # fresh argv/env/cwd per run
    cleanup: Callable[[], None] = lambda: None
    samples: list[Sample] = field(default_factory=list)

    @property
    def seconds(self) -> list[float]:
        return [s.seconds for s in self.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu(self) -> float:
        """Median CPU seconds (user + system) of the whole process tree."""
        return statistics.median(float(s.extra["cpu"]) for s in self.samples)  # type: ignore[arg-type]

    def median_of(self, key: str) -> float:
        return statistics.median(float(s.extra[key]) for s in self.samples)  # type: ignore[arg-type]

    @property
    def peak_rss(self) -> float:
        return max(s.rss_mib for s in self.samples)


def alternate(contenders: list[Contender], runs: int, log: Callable[[str], None]) -> None:
    """Run every contender ``runs`` times, round-robin, so drift and noise hit all alike; each round
    starts one contender later, so none always runs first or after the same neighbour."""
    for run in range(runs):
        shift = run % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            argv, env, cwd = contender.make()
            try:
                sample = run_process(argv, env, cwd)
            finally:
                contender.cleanup()
            contender.samples.append(sample)
            log(f"  [{run + 1}/{runs}] {contender.name}: {sample.seconds:.3f} s, {sample.rss_mib:.0f} MiB")


@dataclass
class Table:
    title: str
    reference: str  # contender name the ratio column divides by
    rows: list[Contender]
    note: str = ""

    def markdown(self) -> str:
        ref = next((c for c in self.rows if c.name == self.reference), None)
        lines = [f"### {self.title}", ""]
        if self.note:
            lines += [self.note, ""]
        lines += [f"| contender | median | min-max | CPU (median) | peak RSS | ratio vs {_cell(self.reference)} |",
                  "|---|---|---|---|---|---|"]
        for c in self.rows:
            ratio = f"{c.median / ref.median:.3f}" if ref and ref.median else "-"
            lines.append(
                f"| {_cell(c.name)} | {_fmt(c.median)} | {_fmt(min(c.seconds))}-{_fmt(max(c.seconds))} | "
                f"{_fmt(c.cpu)} | {c.peak_rss:.0f} MiB | {ratio} |"
            )
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


@dataclass
class Target:
    number: str
    what: str
    measured: float
    limit: float
    unit: str = "x"
    lower_is_better: bool = True
    evidence: str = ""

    @property
    def passed(self) -> bool:
        return self.measured <= self.limit if self.lower_is_better else self.measured >= self.limit

    def row(self) -> str:
        op = "<=" if self.lower_is_better else ">="
        value = f"{self.measured:.3f}{self.unit}" if self.unit == "x" else f"{self.measured:.3g} {self.unit}"
        limit = f"{self.limit:g}{self.unit}" if self.unit == "x" else f"{self.limit:g} {self.unit}"
        return f"| {self.number} | {_cell(self.what)} | {value} | {op} {limit} | {'PASS' if self.passed else 'MISS'} |"


def targets_markdown(targets: list[Target]) -> str:
    lines = ["| # | target | measured | target | result |", "|---|---|---|---|---|"]
    lines += [t.row() for t in targets]
    misses = [t for t in targets if not t.passed and t.evidence]
    for t in misses:
        lines += ["", f"**{t.number} MISS: {t.what}.** {t.evidence}"]
    return "\n".join(lines) + "\n"


def fresh_dir(parent: Path, prefix: str) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / f"{prefix}-{time.monotonic_ns()}"
    path.mkdir()
    return path


def remove(path: Path) -> None:
    """Delete a run's output and flush the file system, so no writeback spills into the next run."""
    shutil.rmtree(path, ignore_errors=True)
    os.sync()
