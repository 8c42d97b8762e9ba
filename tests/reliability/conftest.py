"""Reliability suites: a server root of their own, and the figures table at the end of the session.

The table is printed after the test summary. It is written as markdown plus JSON to
``$HUBVENDOR_FIGURES`` (a ``.md`` path; the ``.json`` goes beside it) when that is set, and to
``tests/reliability/FIGURES.md``/``.json`` when soaking (``make soak``), for docs/reliability.md.
"""

from __future__ import annotations

import datetime
import os
import random
import shutil
import time
from pathlib import Path

import pytest
from support.models import HALF_PLUS_TWO, build_tf2_module
from support.server import HubServer, write_mirror_config

from hubvendor import archive

from . import figures
from .common import SOAK

SMALL = "test/half_plus_two/1"
BIG = "test/big/1"  # half_plus_two plus 3 MiB of incompressible assets: downloads take a while when throttled
MANY = tuple(f"test/many{i}/1" for i in range(4))
BIG_BLOB_BYTES = 3 * 1024 * 1024
_started = time.time()


def tfhub(path: str) -> str:
    return f"https://tfhub.dev/{path}"


@pytest.fixture(scope="session")
def rel_root(model_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Server root: SMALL, BIG and the four MANY models (each a distinct TF2 SavedModel)."""
    root = tmp_path_factory.mktemp("reliability-models")
    shutil.copytree(model_root / HALF_PLUS_TWO, root / SMALL)
    shutil.copytree(model_root / HALF_PLUS_TWO, root / BIG)
    (root / BIG / "assets").mkdir(exist_ok=True)
    (root / BIG / "assets" / "blob.bin").write_bytes(random.Random(7).randbytes(BIG_BLOB_BYTES))
    for index, path in enumerate(MANY):
        build_tf2_module(root / path, a=float(index + 1), b=float(index))
    return root


@pytest.fixture(scope="session")
def served_digests(rel_root: Path) -> dict[str, str]:
    """Model path -> the tree digest a correct extraction of its archive has."""
    return {path: archive.tree_digest(str(rel_root / path)) for path in (SMALL, BIG, *MANY)}


@pytest.fixture
def rel_server(rel_root: Path):
    with HubServer(rel_root) as server:
        yield server


@pytest.fixture
def rel_mirror(rel_server: HubServer, tmp_path: Path) -> Path:
    return write_mirror_config(tmp_path / "downloader.cfg", rel_server.url)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    data = figures.snapshot()
    if not data:
        return
    terminalreporter.section("hubvendor reliability figures" + (" (soak)" if SOAK else ""))
    terminalreporter.write_line(figures.text(data))
    target = os.environ.get("HUBVENDOR_FIGURES") or (
        str(Path(__file__).with_name("FIGURES.md")) if SOAK else ""
    )
    if not target:
        return
    stats = terminalreporter.stats
    meta = {
        "soak": SOAK,
        "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "wall_seconds": round(time.time() - _started, 1),
        "passed": len(stats.get("passed", [])),
        "failed": len(stats.get("failed", [])),
        "cpus": os.cpu_count(),
    }
    header = (
        f"Run: {'soak (HUBVENDOR_SOAK=1)' if SOAK else 'default'}, finished {meta['finished']}, "
        f"{meta['wall_seconds']} s wall time on {meta['cpus']} CPUs, {meta['passed']} passed, {meta['failed']} failed.\n\n"
    )
    Path(target).write_text(header + figures.markdown(data))
    Path(target).with_suffix(".json").write_text(figures.to_json(data, **meta))
    terminalreporter.write_line(f"figures written to {target}")
