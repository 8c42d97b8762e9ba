"""setuptools integration through the ``setuptools.finalize_distribution_options`` entry point.

With ``hubvendor`` in ``build-system.requires`` and a ``[tool.hubvendor]`` table in pyproject.toml
(no setup.py needed), the ``bdist_wheel`` and ``editable_wheel`` commands are wrapped: models are
fetched and verified before the wheel is built, then added to it (stored) afterwards. The
``setuptools.file_finders`` entry point :func:`lock_files` puts the lock file into sdists, so wheels
built from them vendor the same bytes. hubvendor's errors end the build with one line. Projects
without the table are left alone.
"""

from __future__ import annotations

import contextlib
import glob
import os

from .. import config
from . import core, outputs

COMMANDS = {"bdist_wheel": False, "editable_wheel": True}


def finalize_distribution_options(dist) -> None:
    """Entry point: wrap the wheel commands of projects that declare ``[tool.hubvendor]``."""
    with core.one_line_errors():
        cfg = config.load(os.getcwd())
    if cfg is None:
        return
    for name, editable in COMMANDS.items():
        base = dist.get_command_class(name)
        if not getattr(base, "_hubvendor", False):
            dist.cmdclass[name] = _wrap(base, cfg, editable)


def lock_files(dirname: str = "") -> list[str]:
    """Entry point ``setuptools.file_finders``: the lock file of a ``[tool.hubvendor]`` project, for sdists."""
    with core.one_line_errors():
        cfg = config.load(os.path.abspath(dirname or os.curdir))
    relative = core.lock_in_sdist(cfg) if cfg is not None else None
    return [os.path.join(dirname, relative) if dirname else relative] if relative else []


def _wrap(base: type, cfg: config.Config, editable: bool) -> type:
    class Command(base):
        _hubvendor = True

        def run(self) -> None:
            with core.one_line_errors():
                prepared = core.prepare(cfg, self.distribution.get_name(), editable=editable)
            before = outputs.wheels(self.dist_dir)
            _sweep_dead_build_dirs(self.dist_dir, prepared.dist)
            guard = core.guard_output(prepared, self.dist_dir)
            try:
                super().run()
                for path, stamp in sorted(outputs.wheels(self.dist_dir).items()):
                    if before.get(path) != stamp:
                        try:
                            with core.one_line_errors():
                                core.finish(prepared, path)
                        except BaseException:
                            outputs.remove(path)
                            raise
            finally:
                guard.uninstall()

    Command.__name__ = Command.__qualname__ = f"hubvendor_{base.__name__}"
    return Command


def _sweep_dead_build_dirs(dist_dir: str, dist: str) -> None:
    """Under PEP 517, setuptools builds in ``<outdir>/.tmp-*/``: sweep the ones a killed build of ``dist`` left.

    Only directories that held this project's temporaries of a dead build are touched, and removed once empty.
    """
    parent, name = os.path.split(os.path.abspath(dist_dir))
    if not name.startswith(".tmp-"):
        return
    for sibling in glob.glob(os.path.join(glob.escape(parent), ".tmp-*")):
        if sibling != os.path.join(parent, name) and outputs.sweep(sibling, dist):
            with contextlib.suppress(OSError):
                os.rmdir(sibling)
