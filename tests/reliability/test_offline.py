"""HUBVENDOR_OFFLINE=1: no path opens a socket. A guard installed before hubvendor is imported records
and refuses every connection and name lookup; the server must see no request either.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support.server import HubServer

from . import figures
from .common import environment, hubvendor, run
from .conftest import SMALL, tfhub

GUARD = (
    "import os, socket\n"
    "def _refuse(*args, **kwargs):\n"
    "    with open(os.environ['SOCKET_GUARD_LOG'], 'a') as log:\n"
    "        log.write(repr(args[1:] or args)[:200] + '\\n')\n"
    "    raise SystemExit('socket guard: connection attempted')\n"
    "socket.socket.connect = socket.socket.connect_ex = _refuse\n"
    "socket.create_connection = socket.getaddrinfo = _refuse\n"
    "import sys\n"
    "from hubvendor.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
HANDLE = tfhub(SMALL)
# name -> (CLI arguments, extra environment, expected exit code, a substring of the output)
PATHS = {
    "resolve miss": (["resolve", HANDLE], {}, 1, "HUBVENDOR_OFFLINE"),
    "resolve hit": (["resolve", "WARM"], {}, 0, ""),
    "vendor": (["vendor", "--output", "OUT", HANDLE], {}, 1, "HUBVENDOR_OFFLINE"),
    "fetch": (["fetch", HANDLE], {}, 1, "HUBVENDOR_OFFLINE"),
    "lock": (["lock", "--project", "PROJECT"], {}, 1, "HUBVENDOR_OFFLINE"),
    "lock --check --verify": (["lock", "--project", "PROJECT", "--check", "--verify"], {}, 1, "HUBVENDOR_OFFLINE"),
    "which": (["which", HANDLE], {}, 0, "HUBVENDOR_OFFLINE"),
    "UNCOMPRESSED load format": (["resolve", HANDLE], {"TFHUB_MODEL_LOAD_FORMAT": "UNCOMPRESSED"}, 1, "HUBVENDOR_OFFLINE"),
    "gs:// archive handle": (["resolve", "gs://hubvendor-test-bucket/models/m.tar.gz"], {}, 1, "HUBVENDOR_OFFLINE"),
    "tensorflow.google.cn handle": (["resolve", "https://hub.tensorflow.google.cn/google/m/1"], {}, 1, "HUBVENDOR_OFFLINE"),
}


@pytest.fixture(scope="module")
def warm(rel_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A cache holding the handle ``<server>/test/half_plus_two/1`` (filled online, before the test)."""
    cache = tmp_path_factory.mktemp("warm-cache")
    with HubServer(rel_root) as server:
        handle = f"{server.url}/{SMALL}"
        assert hubvendor("resolve", handle, env=environment(cache)).returncode == 0
    return cache, handle


@pytest.mark.parametrize("name", sorted(PATHS))
def test_offline_path_opens_no_socket(name: str, warm, rel_server: HubServer, rel_mirror: Path, tmp_path: Path):
    args, extra, code, expected = PATHS[name]
    cache, warm_handle = warm
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(f'[project]\nname = "app"\n\n[tool.hubvendor]\nmodels = ["{HANDLE}"]\n')
    (project / "hubvendor.lock").write_text(
        "version = 1\n\n[[model]]\n"
        f'handle = "{HANDLE}"\nkey = "{HANDLE}"\nurl = "{HANDLE}?tf-hub-format=compressed"\nsha256 = "{"0" * 64}"\n'
        f'size = 1\ntree_digest = "sha256:{"0" * 64}"\n'
    )
    substitutions = {"WARM": warm_handle, "OUT": str(tmp_path / "vendored"), "PROJECT": str(project)}
    args = [substitutions.get(a, a) for a in args]
    log = tmp_path / "socket-guard.log"
    env = environment(cache, rel_mirror, HUBVENDOR_OFFLINE="1", SOCKET_GUARD_LOG=str(log), **extra)
    if name == "lock":
        (project / "hubvendor.lock").unlink()
    result = run([sys.executable, "-c", GUARD, *args], env, deadline=60)
    attempts = log.read_text().splitlines() if log.exists() else []
    output = result.stdout + result.stderr
    clear = expected in output and (code == 0 or result.clean_failure)
    figures.add("offline", paths=1, connections_attempted=len(attempts), unclear_errors=int(not clear))
    assert not attempts, f"{name}: connections attempted: {attempts}"
    assert rel_server.stats()["requests"] == 0
    assert result.returncode == code, output[-2000:]
    assert clear, output[-2000:]
    if name == "resolve hit":
        assert result.stdout.strip().startswith(str(cache))
