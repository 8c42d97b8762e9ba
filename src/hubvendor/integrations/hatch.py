"""hatchling build hook ``hubvendor``: vendors the ``[tool.hubvendor]`` models into wheels.

Enable it with an empty ``[tool.hatch.build.hooks.hubvendor]`` table and ``hubvendor`` in
``build-system.requires``. On the wheel target (standard and editable) it vendors the models; on the
sdist target it force-includes the lock file (whatever the sdist's include/exclude say), so wheels built
from the sdist vendor the same bytes. Models stay out of hatchling's file list (hatchling always
deflates); ``finalize`` adds them to the finished wheel as stored entries. ``clean`` (``hatch build -c``,
``hatch clean``) removes the editable staging directory.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from hatchling.plugin import hookimpl

from .. import config
from ..errors import ConfigError
from . import core, outputs


class HubvendorBuildHook(BuildHookInterface):
    """Fetch and verify in ``initialize`` (before a wheel exists), add the models in ``finalize``."""

    PLUGIN_NAME = "hubvendor"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        self._prepared: core.Prepared | None = None
        if self.target_name not in ("wheel", "sdist"):
            return
        with core.one_line_errors():
            cfg = config.load(self.root)
        if cfg is None:
            raise ConfigError(
                f"{os.path.join(self.root, config.PYPROJECT)}: [tool.hatch.build.hooks.hubvendor] is enabled "
                "but there is no [tool.hubvendor] table; expected one with a models list"
            )
        if self.target_name == "sdist":
            relative = core.lock_in_sdist(cfg)
            if relative:
                build_data["force_include"][str(cfg.lock_path)] = relative
            return
        with core.one_line_errors():
            self._prepared = core.prepare(cfg, self.metadata.name, editable=version == "editable", log=self._log)
        self._guard = core.guard_output(self._prepared, self.directory)

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self._prepared is None:
            return
        try:
            with core.one_line_errors():
                core.finish(self._prepared, artifact_path, log=self._log)
        except BaseException:
            outputs.remove(artifact_path)
            raise
        finally:
            self._guard.uninstall()

    def clean(self, versions: list[str]) -> None:
        shutil.rmtree(core.editable_dir(self.root, self.metadata.name), ignore_errors=True)

    def _log(self, message: str) -> None:
        self.app.display_info(message)


@hookimpl
def hatch_register_build_hook() -> type[BuildHookInterface]:
    return HubvendorBuildHook
