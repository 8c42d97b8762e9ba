"""Hostile archives served by the real server and resolved through the full path (``hubvendor resolve``).

Every case of ``support.hostile.HOSTILE`` is stored as ``ROOT/hostile/<case>/1.tar.gz`` (served as is).
A rejected archive must fail with one clear line and leave the whole area around the cache
(cache dir, its parent and grandparent) exactly as it was: no entry, no lock, no staging, nothing
outside. An accepted one may add only its entry and descriptor, neutralised (no special bits, no links).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from support import hostile
from support.server import HubServer, write_mirror_config

from hubvendor.handle import parse

from . import figures
from .common import environment, hubvendor, snapshot

CASES = sorted(hostile.HOSTILE)
ABSOLUTE_TARGET = Path("/tmp/hubvendor-hostile-absolute.txt")


def handle_for(case: str) -> str:
    return f"https://tfhub.dev/hostile/{case}/1"


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hostile-root")
    for case in CASES:
        target = root / "hostile" / case / "1.tar.gz"
        target.parent.mkdir(parents=True)
        target.write_bytes(hostile.HOSTILE[case]())
    with HubServer(root) as server:
        yield server


def test_the_corpus_covers_the_required_kinds():
    required = {"traversal", "absolute_path", "symlink_escape", "hardlink_escape", "link_chain", "char_device",
                "block_device", "fifo", "setuid", "duplicate_member", "member_count_bomb", "unpacked_size_bomb",
                "gzip_bomb", "non_utf8_name", "overlong_component", "overlong_path", "case_collision", "tar_in_tar"}
    assert required <= set(CASES)
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES)
def test_hostile_archive(case: str, hostile_server: HubServer, tmp_path: Path):
    area = tmp_path / "area"
    cache = area / "home" / "cache"
    cache.mkdir(parents=True)
    (area / "home" / "keep.txt").write_text("a file that must survive\n")
    env = environment(cache, write_mirror_config(tmp_path / "m.cfg", hostile_server.url), HUBVENDOR_RETRIES="1",
                      HUBVENDOR_MAX_MEMBERS=str(hostile.CORPUS_LIMITS["max_members"]),
                      HUBVENDOR_MAX_UNPACKED_SIZE=str(hostile.CORPUS_LIMITS["max_unpacked_bytes"]))
    absolute_existed = ABSOLUTE_TARGET.exists()
    before = snapshot(area)
    handle = handle_for(case)
    result = hubvendor("resolve", handle, env=env, deadline=120)
    after = snapshot(area)

    sha1 = parse(handle).cache_name
    entry_prefix = os.path.join("home", "cache", sha1)
    allowed = {entry_prefix, f"{entry_prefix}.descriptor.txt"} if case in hostile.EXPECT_ACCEPT else set()
    escapes = sorted(
        path for path in set(after) - set(before)
        if path not in allowed and not path.startswith(entry_prefix + os.sep)
    )
    changed = sorted(path for path in before if after.get(path) != before[path] and path != os.path.join("home", "cache"))
    if not absolute_existed and ABSOLUTE_TARGET.exists():
        escapes.append(str(ABSOLUTE_TARGET))
    entry = cache / sha1

    if case in hostile.EXPECT_REJECT:
        reason = hostile.REJECT_REASON[case]
        clear = result.clean_failure and handle in result.error and reason in result.error
        figures.add("hostile archives", hostile_inputs=1, rejected=int(result.clean_failure), escapes=len(escapes) + len(changed),
                    unclear_errors=int(not clear))
        assert result.clean_failure, f"rc={result.returncode}: {result.stderr[-2000:]}"
        assert clear, f"expected {reason!r} and the handle in: {result.error}"
        assert len(result.error) < 600, result.error
        assert after == before, f"the area changed: new {sorted(set(after) - set(before))}, changed {changed}"
    else:
        special = [p for p in entry.rglob("*") if p.is_symlink() or p.lstat().st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX)
                   or not (p.is_file() or p.is_dir())]
        figures.add("hostile archives", hostile_inputs=1, neutralised=int(result.returncode == 0 and not special),
                    escapes=len(escapes) + len(changed))
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip() == str(entry)
        assert not special, special
        assert sorted(os.listdir(cache)) == [sha1, f"{sha1}.descriptor.txt"]
    assert not escapes, f"written outside the cache entry: {escapes}"
    assert not changed, f"changed outside the cache entry: {changed}"
