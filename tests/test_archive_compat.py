"""Differential test: archives built the way people build them extract in hubvendor exactly as in
tensorflow_hub's own extraction (``resolver.DownloadManager.download_and_uncompress``), and a model
archived the way tensorflow_hub's own end-to-end tests do it (every file twice) loads through
hubvendor's resolver with unchanged ``hub.load``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Callable

import pytest
from support.models import HALF_PLUS_TWO, build_tf2_module
from support.server import HubServer, write_mirror_config

from hubvendor import archive
from hubvendor.errors import ArchiveError

HANDLE = "https://tfhub.dev/test/compat/1"
Builder = Callable[[Path, Path], None]


def tfhub_e2e_style(model: Path, out: Path) -> None:
    """As tensorflow_hub's e2e tests: ``tar.add`` of each top-level entry (recursive), then every file again."""
    with tarfile.open(out, "w:gz") as tar:
        for name in sorted(os.listdir(model)):
            tar.add(model / name, arcname=name)
        for path in sorted(model.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(model).as_posix())


def tarfile_dot(model: Path, out: Path) -> None:
    with tarfile.open(out, "w:gz") as tar:
        tar.add(model, arcname=".")


def tarfile_files_only(model: Path, out: Path) -> None:
    with tarfile.open(out, "w:gz") as tar:
        for path in sorted(model.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(model).as_posix())


def tarfile_dot_twice(model: Path, out: Path) -> None:
    """The whole tree added twice, ``./`` prefixed the second time: repeated directories and files."""
    with tarfile.open(out, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        tar.add(model, arcname="")
        tar.add(model, arcname=".")


def _command(*argv: str) -> Builder:
    def build(model: Path, out: Path) -> None:
        subprocess.run([arg.format(model=model, out=out) for arg in argv], check=True, capture_output=True)

    build.__name__ = "_".join(part for part in argv[:2]).replace("-", "")
    return build


def make_archive(kind: str) -> Builder:
    def build(model: Path, out: Path) -> None:
        made = shutil.make_archive(str(out.parent / "made"), kind, root_dir=model)
        os.replace(made, out)

    return build


# What tensorflow_hub does differently, by design: it writes files through tf.io.gfile, which needs a
# directory member before the files in it; GNU tar stores a file given twice as a hard link to itself
# the second time, which both refuse (links are never extracted).
TENSORFLOW_HUB_REFUSES = {"tarfile files only (no directory members)": "hubvendor creates missing parents",
                          "GNU tar files only": "hubvendor creates missing parents",
                          "GNU tar file twice": "hard link"}
BUILDERS: dict[str, tuple[Builder, str | None]] = {
    "tensorflow_hub e2e (every file twice)": (tfhub_e2e_style, None),
    "tarfile add('.')": (tarfile_dot, None),
    "tarfile files only (no directory members)": (tarfile_files_only, None),
    "tarfile tree twice (GNU format)": (tarfile_dot_twice, None),
    "shutil.make_archive gztar": (make_archive("gztar"), None),
    "shutil.make_archive tar": (make_archive("tar"), None),
    "GNU tar -C dir .": (_command("tar", "-czf", "{out}", "-C", "{model}", "."), "tar"),
    "GNU tar names": (_command("sh", "-c", "cd {model} && tar -czf {out} *"), "tar"),
    "GNU tar --format=posix": (_command("tar", "--format=posix", "-czf", "{out}", "-C", "{model}", "."), "tar"),
    "GNU tar --format=ustar": (_command("tar", "--format=ustar", "-czf", "{out}", "-C", "{model}", "."), "tar"),
    "GNU tar files only": (_command("sh", "-c", "cd {model} && find . -type f | sort | tar -czf {out} -T -"), "tar"),
    "GNU tar file twice": (_command("tar", "-czf", "{out}", "-C", "{model}", ".", "./saved_model.pb"), "tar"),
    "bsdtar -C dir .": (_command("bsdtar", "-czf", "{out}", "-C", "{model}", "."), "bsdtar"),
    "bsdtar --format=pax": (_command("bsdtar", "--format=pax", "-czf", "{out}", "-C", "{model}", "."), "bsdtar"),
    "bsdtar --format=ustar": (_command("bsdtar", "--format=ustar", "-czf", "{out}", "-C", "{model}", "."), "bsdtar"),
}


def tree(root: Path) -> tuple[dict[str, str], set[str]]:
    """(sha256 of each regular file, the set of directories) below ``root``, by relative POSIX path."""
    files = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*")
             if p.is_file()}
    dirs = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()}
    return files, dirs


@pytest.fixture(scope="module")
def model(model_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's SavedModel plus an asset below a directory of its own (a deeper tree)."""
    copy = tmp_path_factory.mktemp("compat") / "model"
    shutil.copytree(model_root / HALF_PLUS_TWO, copy)
    (copy / "assets" / "vocab").mkdir(parents=True, exist_ok=True)
    (copy / "assets" / "vocab" / "tokens.txt").write_text("a\nb\n")
    return copy


def tensorflow_hub_extract(path: Path, dest: Path) -> str | None:
    """tensorflow_hub 0.16's own extraction of ``path`` into ``dest``; its error, if any."""
    from tensorflow_hub import resolver

    try:
        with open(path, "rb") as fileobj:
            resolver.DownloadManager(HANDLE).download_and_uncompress(fileobj, str(dest))
    except Exception as error:  # what tensorflow_hub raises is the observation
        return f"{type(error).__name__}: {error}"
    return None


@pytest.mark.parametrize("how", sorted(BUILDERS))
def test_hubvendor_extracts_what_tensorflow_hub_extracts(how: str, model: Path, tmp_path: Path) -> None:
    build, tool = BUILDERS[how]
    if tool and shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    path = tmp_path / "model.tar.gz"
    build(model, path)
    theirs, ours = tmp_path / "tensorflow_hub", tmp_path / "hubvendor"
    theirs.mkdir()
    ours.mkdir()
    their_error = tensorflow_hub_extract(path, theirs)
    expected = TENSORFLOW_HUB_REFUSES.get(how)
    if expected == "hard link":
        assert their_error and "Unexpected object type" in their_error, their_error
        with pytest.raises(ArchiveError, match="hard link"):
            archive.extract_file(str(path), str(ours), name=HANDLE, parallel=False)
        return
    result = archive.extract_file(str(path), str(ours), name=HANDLE, parallel=False)

    assert tree(ours)[0] == tree(model)[0]  # every file, with its content: last copy wins, same bytes
    assert result.tree_digest == archive.tree_digest(str(model))
    assert (result.files, result.unpacked_bytes) == archive.tree_stats(str(model))
    if expected is None:
        assert their_error is None, their_error
        assert tree(ours) == tree(theirs)
    else:
        assert their_error is not None


@pytest.mark.parametrize("make, refusal", [
    (lambda tar, data: tar.addfile(_info("a", tarfile.SYMTYPE, link="/etc/passwd")), "symbolic link"),
    (lambda tar, data: tar.addfile(_info("a", tarfile.LNKTYPE, link="b")), "hard link"),
    (lambda tar, data: tar.addfile(_info("dev", tarfile.CHRTYPE)), "device"),
    (lambda tar, data: tar.addfile(_info("../up", size=4), data()), "'..'"),
    (lambda tar, data: (tar.addfile(_info("a", size=4), data()), tar.addfile(_info("a", tarfile.DIRTYPE))),
     "a directory where the archive already has a file"),
    (lambda tar, data: (tar.addfile(_info("a", tarfile.DIRTYPE)), tar.addfile(_info("a", size=4), data())),
     "a file where the archive already has a directory"),
    (lambda tar, data: (tar.addfile(_info("Model.pb", size=4), data()), tar.addfile(_info("model.pb", size=4), data())),
     "case-insensitive"),
])
def test_refusals_stay(make: Callable[[tarfile.TarFile, object], object], refusal: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        make(tar, lambda: io.BytesIO(b"data"))
    (tmp_path / "out").mkdir()
    with pytest.raises(ArchiveError, match=refusal):
        archive.extract_file(str(path), str(tmp_path / "out"), name=HANDLE, parallel=False)


def _info(name: str, kind: bytes = tarfile.REGTYPE, *, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, link
    return info


def test_hub_load_of_an_archive_with_every_file_twice(tmp_path: Path) -> None:
    """Must-show of issue 13: unchanged ``hub.load`` code, hubvendor installed, tensorflow_hub's e2e archive shape."""
    root = tmp_path / "root"
    source = build_tf2_module(tmp_path / "source")
    target = root / "test" / "twice" / "1.tar.gz"
    target.parent.mkdir(parents=True)
    tfhub_e2e_style(source, target)
    with tarfile.open(target) as tar:
        names = [member.name for member in tar.getmembers() if member.isfile()]
    assert len(names) == 2 * len(set(names))  # every file really is there twice
    cache = tmp_path / "cache"
    handle = "https://tfhub.dev/test/twice/1"
    code = (
        "import json, tensorflow as tf, tensorflow_hub as hub\n"
        f"print(json.dumps(hub.load({handle!r})(tf.constant([2.0])).numpy().tolist()))\n"
    )
    with HubServer(root) as server:
        env = {k: v for k, v in os.environ.items() if k not in ("HUBVENDOR_PATH", "HUBVENDOR_AUTOLOAD")}
        env.update(TFHUB_CACHE_DIR=str(cache), TF_CPP_MIN_LOG_LEVEL="2",
                   HUBVENDOR_DOWNLOADER_CONFIG=str(write_mirror_config(tmp_path / "mirror.cfg", server.url)))
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == [3.0]
    sha1 = hashlib.sha1(handle.encode()).hexdigest()
    descriptor = (cache / f"{sha1}.descriptor.txt").read_text()
    assert f"Hubvendor-Tree-Digest: {archive.tree_digest(str(source))}" in descriptor  # hubvendor's resolver did it
    assert archive.tree_digest(str(cache / sha1)) == archive.tree_digest(str(source))
