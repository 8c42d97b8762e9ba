"""``hubvendor which HANDLE``: explain where a handle resolves from, without downloading.

Shows the resolution chain's steps in the order ``resolve`` tries them, the one that answers, and,
when the answer needs the network, the URL after the downloader config's rewrites (or why the config
cannot be used) and that ``HUBVENDOR_OFFLINE=1`` would make it fail; the vendored copies later in the
chain that the answer hides (a wheel under Bazel runfiles, say); and whether a vendored answer is damaged
(``vendoredcopies.check``: files missing or changed in size).
"""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("which", help="explain where a handle resolves from (no download)")
    parser.add_argument("handle", metavar="HANDLE")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..explanation import explain

    explanation = explain(args.handle).shown()  # what is printed: URLs without credentials or signatures
    damage = _damage(explanation.key, explanation.location) if explanation.origin == "vendored" else ""
    if args.json:
        print(json.dumps({**explanation.as_dict(), "damage": damage}, indent=2))
        return 0
    lines = [
        explanation.handle,
        f"  key:      {explanation.key}",
        f"  origin:   {explanation.origin}",
        f"  location: {explanation.location}",
        f"  why:      {explanation.reason}",
        *([f"  damaged:  {damage} (the cheap check; `hubvendor cache verify --vendored` hashes it)"] if damage else []),
        "  order:    " + " -> ".join(explanation.looked),
    ]
    if explanation.url:
        lines.append(f"  requests: {explanation.url}")
        fetch_from = explanation.fetch_from
        if fetch_from and fetch_from != [explanation.url]:
            lines.append("  via:      " + ", then ".join(fetch_from))
        lines.append(f"  mirrors:  {explanation.downloader_config}")
    lines.append("  offline:  " + ("resolves with HUBVENDOR_OFFLINE=1" if explanation.offline_ok
                                  else "would fail with HUBVENDOR_OFFLINE=1 (the model is not local)"))
    for shadowed in explanation.shadows:
        lines.append(f"  shadows:  {shadowed} (not used while the answer above is there)")
    if explanation.tensorflow_hub_answers:
        lines.append("  hub.load: tensorflow_hub's own resolvers answer (hubvendor adds nothing here)")
    print("\n".join(lines))
    return 0


def _damage(key: str, model_dir: str) -> str:
    """What the cheap check finds wrong with the vendored copy that answers, "" when nothing."""
    import os

    from .. import vendoredcopies

    for copy in vendoredcopies.copies():
        if copy.key == key and os.path.normpath(copy.model_dir) == os.path.normpath(model_dir):
            state, detail = vendoredcopies.check(copy)
            return "" if state == "complete" else f"{state}: {detail}"
    return ""
