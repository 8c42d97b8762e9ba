"""Every command block a user would copy from README.md, docs/*.md and examples/*/README.md runs as printed.

A document's ``sh`` and ``python`` blocks run in order in one shell session, as a reader pasting them into one
terminal would: ``cd`` and ``export`` carry over, a ``python`` block runs as ``python <block>.py`` where the
session stands. The session starts at the top of a fresh copy of the repository (its tracked files), with
hubvendor and the test extras on ``PATH`` (what the README's set-up installs), ``HOME`` and ``TMPDIR`` in a
temporary directory, and the loopback world the charter gives tests: ``HUBVENDOR_DOWNLOADER_CONFIG`` names a
file rewriting tfhub.dev and kaggle.com to a local ``hubvendor serve``, which serves real SavedModels under
the handles the documents use. The blocks themselves are not edited.

Blocks of other languages (``console`` output samples, ``toml``, ``starlark``, ``json``, ``text``) are not run.
An HTML comment on the line before a block changes how it runs:
``<!-- doc-test: slow -->`` runs it only under ``make soak``; ``<!-- doc-test: elsewhere tests/x.py::test_y -->``
leaves it to the named test, which runs it as printed in a set-up of its own (a Bazel workspace, a fresh
project); ``<!-- doc-test: skip REASON -->`` never runs it and says why.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.kaggle_models import build_gpt2_preset
from support.models import build_tf2_module, build_text_embedding
from support.server import HubServer

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(
    [REPO / "README.md", *REPO.glob("docs/*.md"), *REPO.glob("examples/*/README.md")], key=lambda p: str(p)
)
RUN_LANGUAGES = {"sh": "sh", "bash": "sh", "shell": "sh", "python": "python"}
SOAK = bool(os.environ.get("HUBVENDOR_SOAK"))
_FENCE = re.compile(r"^(```+)\s*([\w+-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*doc-test:\s*(slow|skip|elsewhere)\s*(.*?)\s*-->\s*$")
# Stand-ins for the public models the documents name, served on loopback under their canonical paths.
NNLM = "google/nnlm-en-dim50/2"
KAGGLE_TF, KAGGLE_PRESET = "testorg/half-plus-two/tensorflow2/tiny/3", "keras/gpt2/keras/gpt2_tiny/2"
EXAMPLE_MODELS = REPO / "examples" / "bazel_app" / "models"


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the opening fence, 1-based
    language: str  # "sh" or "python"
    text: str
    marker: str  # "", "slow", "elsewhere" or "skip"
    reason: str

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(REPO)}:{self.line}"


def blocks(document: Path) -> list[Block]:
    """The fenced blocks of ``document`` in a language this test runs, in order."""
    found: list[Block] = []
    lines = document.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        end = next((j for j in range(index + 1, len(lines)) if lines[j].startswith(fence.group(1))), len(lines))
        language = RUN_LANGUAGES.get(fence.group(2).lower())
        marker = _MARKER.match(lines[index - 1]) if index else None
        if language:
            found.append(Block(document, index + 1, language, "\n".join(lines[index + 1:end]) + "\n",
                               marker.group(1) if marker else "", marker.group(2) if marker else ""))
        index = end + 1
    return found


def session_script(document_blocks: list[Block], scratch: Path) -> str:
    """One bash script running the blocks in order, announcing each so a failure names its block."""
    parts = ["set -euo pipefail"]
    for number, block in enumerate(document_blocks):
        parts.append(f"echo '>>> doc-test block {block.where}' >&2")
        if block.language == "python":
            script = scratch / f"block_{number}.py"
            script.write_text(block.text)
            parts.append(f"python {script}")
        else:
            parts.append(block.text)
    return "\n".join(parts) + "\n"


def runnable(document: Path) -> list[Block]:
    return [b for b in blocks(document) if b.marker in ("", "slow") and (SOAK or b.marker != "slow")]


def fresh_copy(destination: Path) -> Path:
    """The repository's tracked (and new, unignored) files, as a fresh clone has them."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO, check=True,
        capture_output=True,
    ).stdout.decode().split("\0")
    for name in filter(None, names):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


@pytest.fixture(scope="module")
def docs_world(model_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """A loopback hub serving the session's models plus stand-ins for the public ones the documents name."""
    root = tmp_path_factory.mktemp("docs_models")
    for publisher in model_root.iterdir():
        shutil.copytree(publisher, root / publisher.name)
    for archive in EXAMPLE_MODELS.glob("*/*/*.tar.gz"):  # the bytes examples/pip_app/hubvendor.lock pins
        model = root / archive.relative_to(EXAMPLE_MODELS)
        shutil.rmtree(model.with_name(model.name.split(".")[0]), ignore_errors=True)
        shutil.copy(archive, model)
    build_text_embedding(root / NNLM, dimensions=50)
    build_tf2_module(root / "tensorflow/half_plus_two/1")
    build_tf2_module(root / KAGGLE_TF)  # Kaggle models: <owner>/<model>/<framework>/<variation>/<version>/
    build_gpt2_preset(root / KAGGLE_PRESET)
    with HubServer(root) as server:
        config = tmp_path_factory.mktemp("docs_config") / "downloader.cfg"
        config.write_text(
            "# the documents' public handles -> a local hubvendor serve\n"
            f"rewrite tfhub.dev/(.*) {server.url}/$1\n"
            f"rewrite www.kaggle.com/(.*) {server.url}/$1\n"
            f"rewrite kaggle.com/(.*) {server.url}/$1\n"
        )
        yield config


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_document_blocks_run_as_printed(document: Path, docs_world: Path, tmp_path: Path) -> None:
    document_blocks = runnable(document)
    if not document_blocks:
        pytest.skip("no command blocks")
    work = fresh_copy(tmp_path / "clone")
    home = tmp_path / "home"
    (home / "tmp").mkdir(parents=True)
    scratch = tmp_path / "blocks"
    scratch.mkdir()
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "HUBVENDOR_DOWNLOADER_CONFIG": str(docs_world),
        "VIRTUAL_ENV": str(Path(sys.executable).parent.parent),
    }
    stdout, stderr = scratch / "stdout", scratch / "stderr"
    with stdout.open("w") as out, stderr.open("w") as err:  # files, not pipes: a block's background job may outlive it
        session = subprocess.Popen(["bash", "-c", session_script(document_blocks, scratch)], cwd=work, env=env,
                                   stdout=out, stderr=err, start_new_session=True)
        try:
            returncode = session.wait(timeout=1200)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(session.pid, signal.SIGTERM)  # what the blocks left running
    if returncode != 0:
        errors = stderr.read_text(errors="replace")
        announced = re.findall(r">>> doc-test block (\S+)", errors)
        failed = announced[-1] if announced else "?"
        pytest.fail(
            f"block {failed} exited {returncode}\n--- stdout (tail)\n{stdout.read_text(errors='replace')[-3000:]}\n"
            f"--- stderr (tail)\n{errors[-4000:]}"
        )


def test_every_document_block_is_tagged() -> None:
    """An untagged fence could be a command nobody runs: every fence names its language."""
    untagged = []
    for document in DOCUMENTS:
        inside = False
        for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), 1):
            fence = _FENCE.match(line)
            if fence and not inside:
                inside = True
                if not fence.group(2):
                    untagged.append(f"{document.relative_to(REPO)}:{number}")
            elif line.startswith("```") and inside:
                inside = False
    assert not untagged, f"fenced blocks without a language: {untagged}"


def test_skipped_blocks_say_why_and_name_real_tests() -> None:
    marked = [b for d in DOCUMENTS for b in blocks(d) if b.marker in ("skip", "elsewhere")]
    assert all(b.reason for b in marked), [b.where for b in marked if not b.reason]
    for block in (b for b in marked if b.marker == "elsewhere"):
        path, _, name = block.reason.partition("::")
        assert f"def {name}(" in (REPO / path).read_text(encoding="utf-8"), f"{block.where}: no test {block.reason}"
