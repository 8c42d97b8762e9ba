"""``hubvendor which HANDLE``: explain where a handle resolves from, without downloading."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("which", help="explain where a handle resolves from (no download)")
    parser.add_argument("handle", metavar="HANDLE")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..runtime import explain

    explanation = explain(args.handle)
    if args.json:
        print(json.dumps(asdict(explanation), indent=2))
        return 0
    print(f"{explanation.handle}\n  key:      {explanation.key}\n  origin:   {explanation.origin}")
    print(f"  location: {explanation.location}\n  why:      {explanation.reason}")
    if explanation.looked:
        print("  looked:   " + "; ".join(explanation.looked))
    return 0
