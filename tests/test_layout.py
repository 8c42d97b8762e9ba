"""Issue 17's layout rules over the whole of src/hubvendor (every module, whoever owns it).

No two modules import each other (top level or inside functions), no module over 500 lines, no
package named ``build``. Until every redesign branch is merged, other modules may still fail here.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "hubvendor"
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = ["hubvendor", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """hubvendor modules ``name`` imports anywhere in its source (``from . import x`` names module x)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(0, node.level - 1)):
                base = base.rpartition(".")[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}
    return {m for m in found if m in known and m != name}


def test_no_two_modules_import_each_other():
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    pairs = sorted({tuple(sorted((a, b))) for a, targets in graph.items() for b in targets if a in graph.get(b, ())})
    assert pairs == [], pairs


def test_the_import_check_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from . import other\n    from .pkg.sub import thing\n")
    known = {"hubvendor.other", "hubvendor.pkg.sub"}
    assert _imports("hubvendor.mod", source, known) == known


def test_no_module_over_500_lines():
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, long


def test_no_package_named_build():
    assert [str(p) for p in PACKAGE.rglob("build") if p.is_dir()] == []
