"""``hubvendor fetch [--jobs N] HANDLE...``: prefetch models into the cache in parallel."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("fetch", help="download models into the cache (parallel prefetch)")
    parser.add_argument("handles", nargs="+", metavar="HANDLE")
    parser.add_argument("--jobs", "-j", type=int, default=4, help="parallel downloads (default 4)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..vendor import ModelSpec, fetch_all

    for item in fetch_all([ModelSpec(h) for h in args.handles], jobs=args.jobs):
        print(f"{item.spec.handle}\t{item.path}")
    return 0
