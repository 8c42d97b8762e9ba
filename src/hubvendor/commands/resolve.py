"""``hubvendor resolve HANDLE...``: print where each handle resolves, downloading on a miss."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("resolve", help="resolve handles to local model directories")
    parser.add_argument("handles", nargs="+", metavar="HANDLE")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..runtime import resolve

    for handle in args.handles:
        print(resolve(handle))
    return 0
