"""docs/bazel.md's getting-started block, run as printed: from a hubvendor checkout to ``bazel run`` of a
Bazel-only project (rules copied with ``git archive``, models declared in pyproject.toml, ``hubvendor lock``,
``hub_lock()``), against the documents' loopback world (``test_docs.docs_world``: tfhub.dev rewritten to a
local ``hubvendor serve`` through ``HUBVENDOR_DOWNLOADER_CONFIG``). Machine settings come from the user's
``~/.bazelrc``, as the block's preamble says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_bazel import BAZEL, REPO, bazel_session, docs_block, hook_env, make_user_rc, requires_bazel  # noqa: F401
from test_docs import docs_world  # noqa: F401 (fixture)

MARKER = "doc-test: elsewhere tests/test_bazel_getting_started.py::test_the_getting_started_block_runs_as_printed"


@pytest.mark.bazel
@requires_bazel
def test_the_getting_started_block_runs_as_printed(bazel_session, docs_world: Path, tmp_path: Path) -> None:
    block = docs_block(REPO / "docs" / "bazel.md", MARKER)
    assert "git archive" in block and "bazel run //:app" in block
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(REPO), str(checkout)], check=True)  # a fresh clone, as a user has
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bazelrc").write_text(make_user_rc(bazel_session, repository_cache=tmp_path / "repository-cache"))
    env = {k: v for k, v in hook_env(bazel_session).items() if not k.startswith(("HUBVENDOR_", "TFHUB_"))}
    env.update(HOME=str(home), HUBVENDOR_DOWNLOADER_CONFIG=str(docs_world), TFHUB_CACHE_DIR=str(tmp_path / "cache"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    try:
        result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + block], cwd=checkout, env=env,
                                capture_output=True, text=True, timeout=900)
    finally:
        subprocess.run([BAZEL, "shutdown"], cwd=tmp_path / "myproject", env=env, capture_output=True, timeout=120)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    assert result.stdout.strip().splitlines()[-1] == "(1, 50)", result.stdout[-3000:]
    assert (tmp_path / "myproject" / "hubvendor.lock").is_file()


def test_the_readme_workspace_lines_are_those_the_getting_started_block_runs() -> None:
    """README's Bazel block is an excerpt (hubvendor itself is fetched as docs/bazel.md says): each of its
    lines is a line of the WORKSPACE the tested block writes, so what a reader copies from either has run."""
    readme = docs_block(REPO / "README.md", "## Bazel")
    workspace = docs_block(REPO / "docs" / "bazel.md", MARKER).split("cat > WORKSPACE <<'EOF'\n", 1)[1].split("\nEOF\n")[0]
    ran = {line.split("#")[0].strip() for line in workspace.splitlines()}
    copied = [line.split("#")[0].strip() for line in readme.splitlines() if line.split("#")[0].strip()]
    assert copied and [line for line in copied if line not in ran] == []
