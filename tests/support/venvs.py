"""Fresh virtualenvs that see this environment's packages (TensorFlow, pip, hatchling) but not hubvendor.

Installing TensorFlow into every test venv would cost minutes; instead a venv gets a ``.pth`` pointing
at a directory of symlinks to this environment's site-packages, hubvendor and ``.pth`` hooks left out,
so hubvendor comes only from the wheel under test.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path


def site_without_hubvendor(directory: Path) -> Path:
    """``directory`` filled with symlinks to this environment's site-packages, minus hubvendor and .pth files."""
    directory.mkdir(parents=True, exist_ok=True)
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "hubvendor" not in entry.name.lower() and entry.suffix != ".pth":
            (directory / entry.name).symlink_to(entry)
    return directory


def venv_seeing(path: Path, base: Path) -> Path:
    """A venv without pip at ``path`` whose site-packages also sees ``base``; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "_base.pth").write_text(f"{base}\n")
    return python
