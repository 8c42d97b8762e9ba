"""hatchling build hook ``hubvendor``: vendors the ``[tool.hubvendor]`` models into wheels.

Enable it with an empty ``[tool.hatch.build.hooks.hubvendor]`` table and ``hubvendor`` in
``build-system.requires``. It acts on the wheel target (standard and editable) and does nothing for
sdists, which carry pyproject.toml and the lock file so wheels built from them vendor the same bytes.
Models stay out of hatchling's file list (hatchling always deflates); ``finalize`` adds them to the
finished wheel as stored entries.
"""

from __future__ import annotations

import os
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from hatchling.plugin import hookimpl

from .. import config
from ..errors import ConfigError
from . import core


class HubvendorBuildHook(BuildHookInterface):
    """Fetch and verify in ``initialize`` (before a wheel exists), add the models in ``finalize``."""

    PLUGIN_NAME = "hubvendor"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        self._prepared: core.Prepared | None = None
        if self.target_name != "wheel":
            return
        cfg = config.load(self.root)
        if cfg is None:
            raise ConfigError(
                f"{os.path.join(self.root, config.PYPROJECT)}: [tool.hatch.build.hooks.hubvendor] is enabled "
                "but there is no [tool.hubvendor] table; expected one with a models list"
            )
        self._prepared = core.prepare(cfg, self.metadata.name, editable=version == "editable", log=self._log)

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self._prepared is None:
            return
        try:
            core.finish(self._prepared, artifact_path, log=self._log)
        except BaseException:
            os.unlink(artifact_path)
            raise

    def _log(self, message: str) -> None:
        self.app.display_info(message)


@hookimpl
def hatch_register_build_hook() -> type[BuildHookInterface]:
    return HubvendorBuildHook
