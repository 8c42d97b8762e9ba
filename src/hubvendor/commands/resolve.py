"""``hubvendor resolve HANDLE...``: print where each handle resolves, downloading on a miss."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("resolve", help="resolve handles to local model directories")
    parser.add_argument("handles", nargs="+", metavar="HANDLE", help="a TF Hub handle, e.g. https://tfhub.dev/google/nnlm-en-dim50/2")
    parser.add_argument("--json", action="store_true", help="print a JSON object: handle -> directory")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..runtime import resolve

    paths = {handle: resolve(handle) for handle in args.handles}
    print(json.dumps(paths, indent=2) if args.json else "\n".join(paths.values()))
    return 0
