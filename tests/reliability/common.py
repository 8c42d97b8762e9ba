"""Helpers shared by the reliability suites: soak scaling, subprocess runs, cache and output checks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hubvendor import archive, manifest
from hubvendor.cache import Descriptor

SOAK = os.environ.get("HUBVENDOR_SOAK", "") not in ("", "0")
ENTRY = re.compile(r"^[0-9a-f]{40}$")
# Runs the CLI with a short retry backoff (httpget.BACKOFF_BASE has no environment variable).
# `ensure HANDLE SHA256` is an extra pseudo-command: download.ensure with a pinned archive digest.
RUNNER = (
    "import sys\n"
    "import hubvendor.httpget as httpget\n"
    "httpget.BACKOFF_BASE = 0.02\n"
    "from hubvendor.cli import main\n"
    "if sys.argv[1:2] == ['ensure']:\n"
    "    from hubvendor.download import ensure\n"
    "    from hubvendor.errors import HubVendorError\n"
    "    try:\n"
    "        print(ensure(sys.argv[2], expected_sha256=sys.argv[3]))\n"
    "    except HubVendorError as exc:\n"
    "        print(f'hubvendor: error: {exc}', file=sys.stderr)\n"
    "        sys.exit(1)\n"
    "    sys.exit(0)\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def scale(default: int, soak: int) -> int:
    """A count for the default run, or the larger one under ``make soak`` (HUBVENDOR_SOAK=1)."""
    return soak if SOAK else default


def hubvendor_command(*args: str) -> list[str]:
    return [sys.executable, "-c", RUNNER, *args]


@dataclass
class Run:
    """A finished (or timed-out) subprocess."""

    returncode: int | None  # None: killed at the deadline (a hang)
    stdout: str
    stderr: str
    seconds: float

    @property
    def hung(self) -> bool:
        return self.returncode is None

    @property
    def clean_failure(self) -> bool:
        """Exit 1 with one ``hubvendor: error:`` line and no traceback."""
        lines = self.stderr.strip().splitlines()
        return (
            self.returncode == 1 and len(lines) >= 1 and lines[-1].startswith("hubvendor: error: ")
            and "Traceback" not in self.stderr
        )

    @property
    def error(self) -> str:
        return self.stderr.strip().splitlines()[-1] if self.stderr.strip() else ""


def run(command: list[str], env: dict[str, str], deadline: float = 60.0, **kwargs: object) -> Run:
    """Run ``command``; past ``deadline`` seconds it is killed and reported as hung."""
    started = time.monotonic()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=deadline, **kwargs)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return Run(None, out, err, time.monotonic() - started)
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def hubvendor(*args: str, env: dict[str, str], deadline: float = 60.0, **kwargs: object) -> Run:
    return run(hubvendor_command(*args), env, deadline, **kwargs)


def environment(cache: Path, mirror_config: Path | None = None, **extra: str) -> dict[str, str]:
    """os.environ for a subprocess: this cache, this mirror config, no vendored paths, small timeouts."""
    env = {k: v for k, v in os.environ.items() if k not in ("HUBVENDOR_PATH", "HUBVENDOR_OFFLINE")}
    env.update(TFHUB_CACHE_DIR=str(cache), HUBVENDOR_AUTOLOAD="0", HUBVENDOR_CONNECT_TIMEOUT="5")
    if mirror_config is not None:
        env["HUBVENDOR_DOWNLOADER_CONFIG"] = str(mirror_config)
    env.update(extra)
    return env


def entry_problems(cache: Path, expected: dict[str, str]) -> list[str]:
    """Visible entries that are not whole: tree digest vs descriptor and vs the known model digest.

    ``expected`` maps entry names (sha1) to the served model's tree digest, when known.
    """
    problems = []
    for name in sorted(os.listdir(cache)) if cache.is_dir() else []:
        path = cache / name
        if not (ENTRY.match(name) and path.is_dir()):
            continue
        try:
            actual = archive.tree_digest(str(path))
        except FileNotFoundError:
            continue  # removed while we looked (prune): not visible any more
        descriptor_path = cache / f"{name}.descriptor.txt"
        recorded = Descriptor.parse(descriptor_path.read_text()).tree_digest if descriptor_path.exists() else ""
        if recorded and recorded != actual:
            problems.append(f"{path}: tree digest {actual}, descriptor says {recorded}")
        if name in expected and expected[name] != actual:
            problems.append(f"{path}: tree digest {actual}, the served model is {expected[name]}")
    return problems


def leftovers(cache: Path) -> list[str]:
    """Locks, staging directories and temp files in ``cache`` (none once every writer is done)."""
    names = os.listdir(cache) if cache.is_dir() else []
    return sorted(n for n in names if n.endswith((".lock", ".tmp")) or ".tmp" in n)


def output_problems(output: Path) -> list[str]:
    """A vendored output directory must be absent, or complete: manifest present and every digest right."""
    if not output.exists():
        return []
    manifest_path = output / manifest.FILENAME
    if not manifest_path.is_file():
        return [f"{output}: exists without {manifest.FILENAME} (half-written)"]
    problems = []
    for key, entry in manifest.read(str(manifest_path)).models.items():
        model_dir = output / entry.path
        actual = archive.tree_digest(str(model_dir)) if model_dir.is_dir() else "missing"
        if actual != entry.tree_digest:
            problems.append(f"{output}: {key} has tree digest {actual}, manifest says {entry.tree_digest}")
    return problems


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every path below ``root`` (links not followed): relative path -> (kind, size, mode)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            kind = "link" if os.path.islink(full) else "dir" if os.path.isdir(full) else "file"
            found[os.path.relpath(full, root)] = (kind, st.st_size if kind == "file" else 0, st.st_mode)
    return found
