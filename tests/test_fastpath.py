"""The start-up pass of hubvendor.resolve (runtime.quick): derived from runtime.CHAIN, same answer as the full walk or none."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubvendor import entry as entry_files
from hubvendor import explanation, runtime
from hubvendor.handle import parse

HANDLE = "https://tfhub.dev/test/fast/1"
PROBE = (
    "import json, sys; from hubvendor import entry as entry_files, runtime; entry = runtime.quick(sys.argv[1]); "
    "import hubvendor; path = hubvendor.resolve(sys.argv[1]) if entry else None; "
    "from hubvendor import download; full = download.ensure(sys.argv[1], use=True) if entry else None; "
    "print(json.dumps([entry, path, full, sorted(entry_files._READERS)]))"
)


def make_entry(cache: Path, handle: str = HANDLE, *, hubvendor_lines: bool = True) -> Path:
    entry = cache / hashlib.sha1(handle.encode()).hexdigest()
    (entry / "variables").mkdir(parents=True)
    (entry / "saved_model.pb").write_bytes(b"pb")
    (entry / "variables" / "variables.index").write_bytes(b"index")
    files, size = entry_files.tree_stats(str(entry))
    lines = [f"Module: {handle}", "Download Time: now", "Downloader Hostname: h (PID:1)"]
    if hubvendor_lines:
        lines += ["Hubvendor-Tree-Digest: sha256:" + "0" * 64, f"Hubvendor-Tree-Files: {files}", f"Hubvendor-Tree-Bytes: {size}"]
    (cache / f"{entry.name}.descriptor.txt").write_text("\n".join(lines) + "\n")
    return entry


def clean_env(**env: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_", "RUNFILES_", "COLAB_"))}
    environ.update(env, HUBVENDOR_OFFLINE="1")
    return environ


def run(code: str, *args: str, cwd: Path | None = None, **env: str) -> list:
    out = subprocess.run([sys.executable, "-c", code, *args], env=clean_env(**env), cwd=cwd, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def probe(cache: Path | None, handle: str = HANDLE, cwd: Path | None = None, **env: str) -> list:
    if cache is not None:
        env["TFHUB_CACHE_DIR"] = str(cache)
    return run(PROBE, handle, cwd=cwd, **env)


def test_warm_entry_is_what_the_full_walk_returns_and_is_held(tmp_path: Path) -> None:
    entry = make_entry(tmp_path / "cache")
    os.utime(entry, (0, 0))
    fast, resolved, full, held = probe(tmp_path / "cache")
    assert fast == resolved == full == str(entry)
    assert held == [str(entry)]
    assert entry.stat().st_mtime > 0  # marked used, as Cache.use does


@pytest.mark.parametrize(
    "case",
    ["no cache dir", "tensorflow_hub entry", "incomplete", "vendor path", "uncompressed", "uncompressed flag",
     "colab", "runfiles", "site dir", "not http", "surrounding space"],
)
def test_falls_back_to_the_full_walk(tmp_path: Path, case: str) -> None:
    cache = tmp_path / "cache"
    entry = make_entry(cache, hubvendor_lines=case != "tensorflow_hub entry")
    env: dict[str, str] = {}
    handle, cwd = HANDLE, None
    if case == "incomplete":
        (entry / "variables" / "variables.index").unlink()
    elif case == "vendor path":
        env["HUBVENDOR_PATH"] = str(tmp_path)
    elif case == "uncompressed":
        env["TFHUB_MODEL_LOAD_FORMAT"] = "UNCOMPRESSED"
    elif case == "colab":
        env["COLAB_RELEASE_TAG"] = "release-colab_20240101"
    elif case == "runfiles":
        env["RUNFILES_DIR"] = str(tmp_path)
    elif case == "site dir":
        (tmp_path / "hubvendor.d").mkdir()
        cwd = tmp_path  # "" on sys.path under -c is the cwd
    elif case == "not http":
        handle = str(entry)
    elif case == "surrounding space":
        handle = HANDLE + " "
    code = "import json, sys; from hubvendor import runtime; print(json.dumps([runtime.quick(sys.argv[1])]))"
    args = [handle] + (["--tfhub_model_load_format=UNCOMPRESSED"] if case == "uncompressed flag" else [])
    env.update({} if case == "no cache dir" else {"TFHUB_CACHE_DIR": str(cache)})
    assert run(code, *args, cwd=cwd, **env) == [None]


def test_a_full_walk_does_not_switch_the_start_up_pass_off(tmp_path: Path) -> None:
    """A process that once resolves through the full walk keeps answering warm handles at start-up cost."""
    cache = tmp_path / "cache"
    warm = make_entry(cache)
    theirs = "https://tfhub.dev/test/theirs/1"
    theirs_entry = make_entry(cache, theirs, hubvendor_lines=False)  # tensorflow_hub wrote it: full walk
    code = (
        "import json, sys; from hubvendor import runtime; import hubvendor\n"
        "first = [runtime.quick(sys.argv[2]), hubvendor.resolve(sys.argv[2]), hubvendor.resolve(sys.argv[3])]\n"
        "print(json.dumps(first + [runtime.quick(sys.argv[1]), hubvendor.resolve(sys.argv[1])]))"
    )
    out = run(code, HANDLE, theirs, str(tmp_path), TFHUB_CACHE_DIR=str(cache))
    assert out == [None, str(theirs_entry), str(tmp_path), str(warm), str(warm)]


def test_start_up_pass_imports_only_what_the_steps_need(tmp_path: Path) -> None:
    make_entry(tmp_path / "cache")
    code = (
        "import json, sys; before = set(sys.modules); import hubvendor; path = hubvendor.resolve(sys.argv[1]); "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    added = set(run(code, HANDLE, TFHUB_CACHE_DIR=str(tmp_path / "cache")))
    assert added <= {"hubvendor", "hubvendor.runtime", "hubvendor.sources", "hubvendor.runfiles", "hubvendor.entry",
                     "_sha1", "fcntl"}, added


class _Extra(runtime.Step):
    """A step added to the chain with no quick(): the start-up pass cannot rule it out."""

    name = origin = "extra"

    def locate(self, handle):
        return None


class _ExtraSkipping(_Extra):
    def quick(self, raw):
        return runtime.SKIP


@pytest.mark.parametrize("step, answers", [(_Extra(), False), (_ExtraSkipping(), True)])
def test_a_new_step_is_one_entry_in_the_chain_and_the_start_up_pass_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: runtime.Step, answers: bool
) -> None:
    entry = make_entry(tmp_path / "cache")
    for name in ("HUBVENDOR_PATH", "RUNFILES_DIR", "RUNFILES_MANIFEST_FILE", "COLAB_RELEASE_TAG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TFHUB_MODEL_LOAD_FORMAT", "COMPRESSED")  # absl may be loaded by other tests: env wins
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "app")])
    monkeypatch.setattr(sys, "path", [p for p in sys.path if not os.path.isdir(os.path.join(p or ".", "hubvendor.d"))])
    assert runtime.quick(HANDLE) == str(entry)
    monkeypatch.setattr(runtime, "CHAIN", [*runtime.CHAIN[:-1], step, runtime.CHAIN[-1]])
    assert (runtime.quick(HANDLE) == str(entry)) is answers
    assert explanation.explain(HANDLE).looked[-2] == "extra"


ENVIRONMENTS = {
    "plain": {},
    "vendor path": {"HUBVENDOR_PATH": "VENDORED"},
    "runfiles": {"RUNFILES_DIR": "RUNFILES"},
    "compressed": {"TFHUB_MODEL_LOAD_FORMAT": "COMPRESSED"},
    "auto": {"TFHUB_MODEL_LOAD_FORMAT": "AUTO"},
    "uncompressed": {"TFHUB_MODEL_LOAD_FORMAT": "UNCOMPRESSED"},
    "colab tpu": {"COLAB_RELEASE_TAG": "release-colab", "COLAB_TPU_ADDR": "10.0.0.2:8470"},
    "colab tpu, compressed": {"COLAB_RELEASE_TAG": "r", "COLAB_TPU_ADDR": "a", "TFHUB_MODEL_LOAD_FORMAT": "COMPRESSED"},
    "flag": {"argv": "--tfhub_model_load_format=UNCOMPRESSED"},
    "site dir": {"site": "1"},
}


@pytest.mark.parametrize("name", sorted(ENVIRONMENTS))
def test_every_step_skips_only_where_the_full_walk_finds_nothing_there(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invariant the start-up pass rests on, for every step in CHAIN: SKIP => the step does not answer."""
    from hubvendor import manifest

    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"pb")
    text = manifest.Manifest()
    text.add(manifest.ManifestEntry(handle=HANDLE, path=str(model)))
    for where in ("VENDORED", "RUNFILES", "site/hubvendor.d"):
        (tmp_path / where).mkdir(parents=True)
    (tmp_path / "VENDORED" / manifest.FILENAME).write_text(text.to_json())
    (tmp_path / "site" / "hubvendor.d" / "pkg.json").write_text(text.to_json())
    runfiles_entry = manifest.Manifest()
    runfiles_entry.add(manifest.ManifestEntry(handle=HANDLE, path="model"))
    (tmp_path / "RUNFILES" / "m.hubvendor.json").write_text(runfiles_entry.to_json().replace('"path"', '"runfiles_path"'))
    (tmp_path / "RUNFILES" / "model").symlink_to(model)

    for variable in ("HUBVENDOR_PATH", "RUNFILES_DIR", "RUNFILES_MANIFEST_FILE", "TFHUB_MODEL_LOAD_FORMAT",
                     "COLAB_RELEASE_TAG", "COLAB_TPU_ADDR", "TPU_NAME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    environment = dict(ENVIRONMENTS[name])
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "app")] + ([environment.pop("argv")] if "argv" in environment else []))
    path = [p for p in sys.path if not os.path.isdir(os.path.join(p or ".", "hubvendor.d"))]
    monkeypatch.setattr(sys, "path", path + ([str(tmp_path / "site")] if environment.pop("site", None) else []))
    for variable, value in environment.items():
        monkeypatch.setenv(variable, str(tmp_path / value) if value in ("VENDORED", "RUNFILES") else value)

    handle = parse(HANDLE)
    verdicts = {step.name: step.quick(HANDLE) for step in runtime.CHAIN}
    for step in runtime.CHAIN:
        if verdicts[step.name] is runtime.SKIP:
            assert not step.applies(handle) or (not step.ends_walk and step.locate(handle) is None), (name, step.name)
    answered = next((step.name for step in runtime.CHAIN if step.applies(handle)
                     and (step.ends_walk or step.locate(handle))), None)
    assert verdicts[answered] is not runtime.SKIP, (name, answered)
