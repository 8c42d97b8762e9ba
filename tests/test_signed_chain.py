"""Issue 13 must-show 4: nothing hubvendor writes carries a signed storage URL.

tfhub.dev handles now end at Kaggle: ``https://tfhub.dev/o/m/f/v/n`` -> 302 kaggle.com's long form -> 302
``/_signed/...?X-Goog-...&X-Goog-Signature=<hex>`` (the test server, ``support/fault_server.py``, emulates
it behind a downloader-config rewrite). ``hubvendor lock``, ``vendor -o``, ``fetch`` and ``pip wheel`` run
as real subprocesses through that chain; every file they write and everything they print is grepped for
the signature parameters and for each signature the server issued. Expired signatures then must not
matter: the lock and the descriptors record the canonical URL, so a rebuild into an empty cache works.
"""

from __future__ import annotations

import os
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from support import server as support_server
from support.models import build_tf2_module
from support.server import HubServer
from test_wheels import build_wheel, run, wheelhouse, write_project  # noqa: F401 (fixture)

HANDLE = "https://tfhub.dev/owner/half/tensorflow2/default/1"
MODEL = "owner/half/tensorflow2/default/1"
MARKERS = ("X-Goog-Signature", "X-Goog-Credential", "_signed")


def recording_server_script(path: Path, log: Path) -> Path:
    """``support/fault_server.py`` with every signature it issues appended to ``log`` (one hex a line)."""
    path.write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(Path(support_server.FAULT_SERVER).parent)!r})
        import fault_server

        issue = fault_server.Controls.sign

        def sign(self):
            signature = issue(self)
            with open({str(log)!r}, "a") as out:
                out.write(signature + "\\n")
            return signature

        fault_server.Controls.sign = sign
        sys.exit(fault_server.main())
        """))
    return path


def hubvendor(*args: str, env: dict[str, str], cwd: Path | None = None):
    return run([sys.executable, "-m", "hubvendor", *args], env=env, cwd=cwd)


def written_texts(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` and every member of every wheel there, by name."""
    found: dict[str, bytes] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        found[str(path.relative_to(root))] = path.read_bytes()
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as whl:
                for name in whl.namelist():
                    found[f"{path.relative_to(root)}!{name}"] = whl.read(name)
    return found


def signed_traces(texts: dict[str, bytes], signatures: list[str]) -> list[str]:
    needles = [m.encode() for m in MARKERS] + [s.encode() for s in signatures] + [s.upper().encode() for s in signatures]
    return [f"{name}: {needle.decode()}" for name, data in texts.items() for needle in needles if needle in data]


def test_tfhub_handles_through_kaggle_signed_redirects_record_no_signature(tmp_path, wheelhouse):
    root = tmp_path / "served"
    build_tf2_module(root / MODEL)
    log = tmp_path / "issued-signatures.txt"
    script = recording_server_script(tmp_path / "recording_server.py", log)
    out = tmp_path / "written"  # everything the commands write lives here
    out.mkdir()
    printed: dict[str, str] = {}
    mp = pytest.MonkeyPatch()
    mp.setattr(support_server, "FAULT_SERVER", str(script))
    try:
        server = HubServer(root)
    finally:
        mp.undo()
    with server:
        config = out / "downloader.cfg"
        config.write_text(f"rewrite tfhub.dev/(.*) {server.url}/_kaggle_hub/$1\n")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_", "KAGGLE"))}
        base.update(HUBVENDOR_DOWNLOADER_CONFIG=str(config), HOME=str(out / "home"), PIP_NO_CACHE_DIR="1")

        def env(cache: str) -> dict[str, str]:
            return dict(base, TFHUB_CACHE_DIR=str(out / cache))

        def through_chain(name: str, command) -> None:
            before = server.stats()["signed_downloads"]
            printed[name] = command().stdout
            assert server.stats()["signed_downloads"] > before, f"{name} did not download through the signed chain"

        project = write_project(out / "proj", "signed-app", "hatchling", [HANDLE], keras=False)
        through_chain("lock", lambda: hubvendor("lock", "--project", str(project), env=env("cache-lock")))
        through_chain("vendor", lambda: hubvendor("vendor", "-o", str(out / "vendored"), HANDLE, env=env("cache-vendor")))
        through_chain("fetch", lambda: hubvendor("fetch", HANDLE, env=env("cache-fetch")))
        through_chain("pip wheel", lambda: build_wheel(project, out / "dist1", env("cache-wheel"), wheelhouse))
        stats = server.stats()
        assert stats["signed_downloads"] >= 1 and stats["expired_signatures"] == 0
        assert (project / "hubvendor.lock").is_file() and (out / "vendored" / "hubvendor-manifest.json").is_file()
        assert list((out / "cache-fetch").glob("*.descriptor.txt")) and list((out / "cache-wheel").glob("*.descriptor.txt"))
        (first,) = (out / "dist1").glob("*.whl")
        with zipfile.ZipFile(first) as whl:
            assert "hubvendor.d/signed_app.json" in whl.namelist()
            assert any(n.endswith(".dist-info/RECORD") for n in whl.namelist())

        # Old signatures expire; the lock names the canonical URL, so a rebuild into an empty cache
        # takes the chain afresh (never an expired URL) and gives the same bytes.
        server.expire_signatures()
        through_chain("rebuild", lambda: build_wheel(project, out / "dist2", env("cache-rebuild"), wheelhouse))
        assert server.stats()["expired_signatures"] == 0, "the rebuild tried a signed URL recorded earlier"
        (second,) = (out / "dist2").glob("*.whl")
        assert second.read_bytes() == first.read_bytes()

    signatures = log.read_text().split()
    assert len(signatures) >= 5
    texts = written_texts(out)
    texts.update({f"output of {name}": text.encode() for name, text in printed.items()})
    assert any(HANDLE.encode() in data for name, data in texts.items() if name.endswith("hubvendor.d/signed_app.json"))
    assert signed_traces(texts, signatures) == []
