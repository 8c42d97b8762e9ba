"""Figures the reliability suites record, printed and written at the end of the session.

Each suite adds counts under its own name with :func:`add`; ``conftest.py`` renders them.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict

# suite -> ordered column names (the table's layout); suites record only these columns.
COLUMNS: dict[str, tuple[str, ...]] = {
    "network faults": ("faults", "recovered", "failed cleanly", "corrupt entries", "hangs", "unclean failures"),
    "crash chaos": ("crashes", "recovered", "corrupt", "half-written outputs", "slowest recovery s",
                    "tensorflow_hub runs"),
    "concurrency": ("concurrent runs", "downloads", "expected downloads", "partial reads", "in-use removed"),
    "hostile archives": ("hostile inputs", "rejected", "neutralised", "escapes", "unclear errors"),
    "fuzzing": ("fuzz examples", "foreign exceptions", "unnamed inputs", "idempotence failures"),
    "resource exhaustion": ("cases", "failed cleanly", "partial left", "no advice"),
    "offline": ("paths", "connections attempted", "unclear errors"),
}
_MAXIMA = {"slowest recovery s"}  # columns that keep the largest value instead of a sum
_lock = threading.Lock()
_figures: dict[str, dict[str, float]] = defaultdict(dict)


def add(suite: str, **counts: float) -> None:
    """Add ``counts`` to ``suite``'s figures (keyword ``half_written_outputs`` is column ``half-written outputs``)."""
    with _lock:
        row = _figures[suite]
        known = {c.replace("_", " ").replace("-", " "): c for c in COLUMNS[suite]}
        for name, value in counts.items():
            column = known.get(name.replace("_", " "))
            if column is None:
                raise KeyError(f"{suite}: unknown figure column {name!r}")
            if column in _MAXIMA:
                row[column] = max(row.get(column, 0), value)
            else:
                row[column] = row.get(column, 0) + value


def snapshot() -> dict[str, dict[str, float]]:
    with _lock:
        return {suite: dict(row) for suite, row in _figures.items() if row}


def _number(value: float) -> str:
    return f"{value:.1f}" if isinstance(value, float) and not value.is_integer() else str(int(value))


def markdown(figures: dict[str, dict[str, float]]) -> str:
    """One markdown table per suite that ran."""
    blocks = []
    for suite, columns in COLUMNS.items():
        row = figures.get(suite)
        if not row:
            continue
        blocks.append(
            f"**{suite}**\n\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n| "
            + " | ".join(_number(row.get(c, 0)) for c in columns) + " |\n"
        )
    return "\n".join(blocks)


def text(figures: dict[str, dict[str, float]]) -> str:
    """A plain-text table for the terminal."""
    lines = []
    for suite, columns in COLUMNS.items():
        row = figures.get(suite)
        if row:
            cells = ", ".join(f"{c}: {_number(row.get(c, 0))}" for c in columns)
            lines.append(f"{suite:<20} {cells}")
    return "\n".join(lines)


def to_json(figures: dict[str, dict[str, float]], **meta: object) -> str:
    return json.dumps({**meta, "figures": figures}, indent=2, sort_keys=True) + "\n"
