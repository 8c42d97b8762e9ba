"""Integrity of what builds take from the cache: pins checked against every entry, locks that parse."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hubvendor import archive
from hubvendor.build import core, wheel
from hubvendor.errors import IntegrityError


def test_wheel_tree_check_uses_the_archive_digest_format(tmp_path: Path):
    tree = tmp_path / "model"
    (tree / "variables").mkdir(parents=True)
    (tree / "saved_model.pb").write_bytes(b"graph")
    (tree / "variables" / "variables.index").write_bytes(b"index")
    hashes = [
        wheel.FileHash(f"models/m/{p.relative_to(tree).as_posix()}", hashlib.sha256(p.read_bytes()).hexdigest(),
                       p.stat().st_size)
        for p in sorted(tree.rglob("*"), reverse=True) if p.is_file()
    ]
    expected = archive.tree_digest(str(tree))
    digest = archive.TreeDigest()
    for h in hashes:
        digest.add(h.arcname[len("models/m/"):].encode(), h.size, h.sha256)
    assert digest.hexdigest() == expected
    model = core.Model("https://tfhub.dev/a/m/1", "k", "m", str(tree), "0" * 64, 1, expected, "u")
    core._verify_trees([model], "models", hashes)
    hashes[0] = wheel.FileHash(hashes[0].arcname, hashes[0].sha256, hashes[0].size + 1)
    with pytest.raises(IntegrityError, match=f"https://tfhub.dev/a/m/1: .* expected {expected}"):
        core._verify_trees([model], "models", hashes)
