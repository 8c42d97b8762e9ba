"""``hubvendor doctor``: healthy and broken environments, each problem with a fix, no TensorFlow import."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from support.server import HALF_PLUS_TWO_HANDLE, HubServer

from hubvendor.commands import doctor

REPO = Path(__file__).parents[1]
# Runs doctor in a process whose site directories include one holding the start-up hook, as a wheel install does.
WITH_HOOK = (
    "import site, sys\n"
    "site.addsitedir(sys.argv[1])\n"
    "from hubvendor.cli import main\n"
    "code = main(['doctor', '--json'])\n"
    "print('IMPORTED', [m for m in ('tensorflow', 'tensorflow_hub') if m in sys.modules])\n"
    "sys.exit(code)\n"
)


def run_doctor(env: dict[str, str], hook_dir: Path | None = None) -> tuple[int, dict, list[str]]:
    args = ["-c", WITH_HOOK, str(hook_dir)] if hook_dir else ["-m", "hubvendor", "doctor", "--json"]
    result = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)
    out, _, imported = result.stdout.partition("IMPORTED ")
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(out), json.loads(imported.replace("'", '"')) if imported else []


def by_name(report: dict) -> dict[str, list[dict]]:
    checks: dict[str, list[dict]] = {}
    for check in report["checks"]:
        checks.setdefault(check["name"], []).append(check)
    return checks


def problems(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"] if c["status"] == "problem"}


def hook_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "site"
    directory.mkdir()
    shutil.copy(REPO / "src" / doctor.PTH_FILE, directory / doctor.PTH_FILE)
    return directory


def test_healthy_environment(hub_server: HubServer, hub_env, tmp_path):
    assert subprocess.run([sys.executable, "-m", "hubvendor", "resolve", HALF_PLUS_TWO_HANDLE], env=hub_env,
                          capture_output=True, timeout=120).returncode == 0
    code, report, imported = run_doctor(hub_env, hook_dir(tmp_path))
    assert code == 0 and report["healthy"], problems(report)
    assert imported == []  # versions come from package metadata: no TensorFlow import
    checks = by_name(report)
    import importlib.metadata

    assert checks["tensorflow"][0]["detail"].startswith(importlib.metadata.version("tensorflow"))
    assert checks["tensorflow_hub"][0]["detail"].startswith(importlib.metadata.version("tensorflow-hub"))
    assert checks["python"][0]["detail"].startswith(".".join(map(str, sys.version_info[:2])))
    assert "writable, 1 entries" in checks["cache"][0]["detail"]
    assert hub_env["TFHUB_CACHE_DIR"] in checks["cache"][0]["detail"]
    assert checks["mirrors"][0]["detail"] == f"{hub_env['HUBVENDOR_DOWNLOADER_CONFIG']} parses"
    assert checks["offline"][0]["detail"] == "False"
    assert checks["autoload"][0]["status"] == "ok" and "ran at start-up" in checks["autoload"][0]["detail"]
    assert {"vendored (HUBVENDOR_PATH)", "vendored (installed wheels)", "vendored (Bazel runfiles)"} <= set(checks)


def test_missing_autoload_hook_is_a_problem_unless_autoload_is_off(hub_env):
    env = {k: v for k, v in hub_env.items() if k != "HUBVENDOR_AUTOLOAD"}
    code, report, _ = run_doctor(env)  # this dev install has no hook in site-packages
    autoload = by_name(report)["autoload"][0]
    if autoload["status"] == "ok":  # an installed wheel put the hook in place
        assert "ran at start-up" in autoload["detail"]
        return
    assert code == 1 and autoload["status"] == "problem" and "hubvendor.install()" in autoload["fix"]
    code, report, _ = run_doctor({**env, "HUBVENDOR_AUTOLOAD": "0"})
    assert by_name(report)["autoload"][0]["status"] == "ok"


def test_each_problem_is_reported_with_a_fix(hub_env, tmp_path):
    broken_config = tmp_path / "broken.cfg"
    broken_config.write_text("rewrite (unclosed $1\nfrobnicate everything\n")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    empty_vendor_dir = tmp_path / "vendored"
    empty_vendor_dir.mkdir()
    env = {
        **hub_env,
        "HUBVENDOR_AUTOLOAD": "0",
        "TFHUB_MODEL_LOAD_FORMAT": "FAST",
        "HUBVENDOR_OFFLINE": "maybe",
        "HUBVENDOR_CACHE_MAX_SIZE": "lots",
        "HUBVENDOR_INFLATE": "fast",
        "HUBVENDOR_LOCK_TIMEOUT": "soon",
        "SOURCE_DATE_EPOCH": "yesterday",
        "HUBVENDOR_DOWNLOADER_CONFIG": str(broken_config),
        "HUBVENDOR_PATH": str(empty_vendor_dir),
        "TFHUB_CACHE_DIR": str(not_a_dir / "cache"),
    }
    code, report, _ = run_doctor(env)
    assert code == 1 and not report["healthy"]
    found = problems(report)
    assert set(found) >= {"load format", "offline", "cache max size", "mirrors", "HUBVENDOR_PATH", "cache",
                          "inflate", "lock timeout", "source date epoch"}
    assert "'FAST'" in found["load format"]["detail"] and "COMPRESSED" in found["load format"]["fix"]
    assert "HUBVENDOR_OFFLINE" in found["offline"]["detail"]
    assert str(broken_config) in found["mirrors"]["detail"] + found["mirrors"]["fix"]
    assert "hubvendor vendor -o" in found["HUBVENDOR_PATH"]["fix"]
    assert "is not a directory" in found["cache"]["detail"] and "TFHUB_CACHE_DIR" in found["cache"]["fix"]
    assert all(check["fix"] for check in found.values())

    text = subprocess.run([sys.executable, "-m", "hubvendor", "doctor"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert text.returncode == 1 and "[FAIL] load format" in text.stdout and "fix: " in text.stdout
    assert text.stdout.rstrip().endswith("problem(s)")

    missing = run_doctor({**env, "HUBVENDOR_DOWNLOADER_CONFIG": str(tmp_path / "absent.cfg")})[1]
    assert "cannot read it" in problems(missing)["mirrors"]["detail"]


def test_cache_entries_needing_attention(hub_server: HubServer, hub_env):
    handle = f"{hub_server.url}/test/tf1_module/1"
    code = f"import tensorflow_hub as hub\nprint(hub.resolve({handle!r}))"
    theirs = subprocess.run([sys.executable, "-c", code], env={**hub_env, "HUBVENDOR_AUTOLOAD": "0"},
                            capture_output=True, text=True, timeout=300)
    assert theirs.returncode == 0, theirs.stderr[-2000:]
    env = {**hub_env, "HUBVENDOR_AUTOLOAD": "0"}
    code, report, _ = run_doctor(env)
    entries = by_name(report)["cache entries"]
    assert code == 0 and [e["status"] for e in entries] == ["warning"]
    assert entries[0]["fix"] == "hubvendor cache adopt --all"

    os.unlink(os.path.join(theirs.stdout.strip().splitlines()[-1], "saved_model.pb"))
    code, report, _ = run_doctor(env)
    assert code == 1 and problems(report)["cache entries"]["fix"] == "hubvendor cache verify --repair"
    assert handle in problems(report)["cache entries"]["detail"]


def test_read_only_cache_is_a_problem_online_and_a_warning_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("HUBVENDOR_OFFLINE", raising=False)
    monkeypatch.setattr(doctor.os, "access", lambda path, mode: False)  # tests run as root: simulate
    (check,) = doctor.check_cache()
    assert check.status == "problem" and "not writable" in check.detail and "HUBVENDOR_OFFLINE=1" in check.fix
    monkeypatch.setenv("HUBVENDOR_OFFLINE", "1")
    (check,) = doctor.check_cache()
    assert check.status == "warning"


def test_uv_venv_without_pkg_resources_is_a_problem_with_the_fix(tmp_path):
    """A real `uv venv` installs no setuptools; tensorflow_hub 0.16 then fails at import, and doctor says why."""
    import sysconfig

    packages = tmp_path / "packages"  # this environment's packages, setuptools (pkg_resources) left out
    packages.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(("setuptools", "pkg_resources", "_distutils_hack")) and entry.suffix != ".pth":
            (packages / entry.name).symlink_to(entry)
    venv = tmp_path / "uv-venv"
    subprocess.run(["uv", "venv", "-q", "--python", getattr(sys, "_base_executable", sys.executable), str(venv)],
                   check=True, capture_output=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "_packages.pth").write_text(f"{packages}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "PYTHON"))}
    env.update(HUBVENDOR_AUTOLOAD="0", TFHUB_CACHE_DIR=str(tmp_path / "cache"))

    broken = subprocess.run([python, "-c", "import tensorflow_hub"], env=dict(env, TF_CPP_MIN_LOG_LEVEL="3"),
                            capture_output=True, text=True, timeout=300)
    assert broken.returncode != 0 and "No module named 'pkg_resources'" in broken.stderr

    result = subprocess.run([python, "-m", "hubvendor", "doctor", "--json"], env=env, capture_output=True, text=True,
                            timeout=120)
    report = json.loads(result.stdout)
    assert result.returncode == 1, report
    check = problems(report)["pkg_resources"]
    assert "tensorflow_hub 0.16" in check["detail"] and "pkg_resources" in check["detail"]
    assert 'setuptools<81' in check["fix"] and "uv pip install" in check["fix"]
    assert "pkg_resources" not in problems(run_doctor({**env, "PATH": os.environ["PATH"]})[1])


def test_a_relative_or_tilde_cache_dir_not_created_yet_is_fine(hub_env, tmp_path):
    """attack4 #4: `dirname("relcache") == ""` read as "exists and is not a directory"; fetch uses it as is."""
    for root in ("relcache", "~/cache"):
        result = subprocess.run([sys.executable, "-m", "hubvendor", "doctor", "--json"],
                                env={**hub_env, "TFHUB_CACHE_DIR": root}, cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        checks = by_name(json.loads(result.stdout))
        assert result.returncode == 0, problems(json.loads(result.stdout))
        cache = checks["cache"][0]
        assert cache["status"] == "ok" and "not created yet; its parent is writable" in cache["detail"]
        assert str(tmp_path / root) in cache["detail"]
    assert checks["cache path"][0]["status"] == "warning" and "not expanded" in checks["cache path"][0]["detail"]


def test_hubvendor_path_fixes_name_what_vendor_would_accept(hub_env, tmp_path):
    """attack4 #12: no `vendor -o` advice for a user's file or directory; a missing dir does not exist;
    a corrupt manifest's message without a class name."""
    notes, user_dir, empty = tmp_path / "notes.txt", tmp_path / "mine", tmp_path / "empty"
    notes.write_text("mine\n")
    user_dir.mkdir()
    (user_dir / "README").write_text("mine\n")
    empty.mkdir()
    missing = tmp_path / "nonexistent"
    env = {**hub_env, "HUBVENDOR_PATH": os.pathsep.join(map(str, (notes, user_dir, empty, missing)))}
    code, report, _ = run_doctor(env)
    found = {c["detail"].split(":")[0]: c for c in report["checks"] if c["name"] == "HUBVENDOR_PATH"}
    assert code == 1
    for refused in (notes, user_dir):
        assert "vendor -o " + str(refused) not in found[str(refused)]["fix"]
        assert "remove it from HUBVENDOR_PATH" in found[str(refused)]["fix"]
    assert "a file" in found[str(notes)]["detail"]
    assert f"hubvendor vendor -o {empty} " in found[str(empty)]["fix"]
    assert found[str(missing)]["detail"] == f"{missing}: does not exist"

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "hubvendor-manifest.json").write_text("{not json")
    _, report, _ = run_doctor({**hub_env, "HUBVENDOR_PATH": str(bad)})
    (check,) = [c for c in problems(report).values() if c["name"] == "vendored (HUBVENDOR_PATH)"]
    assert check["detail"].startswith(str(bad)) and "Error:" not in check["detail"].split(" ")[0]
