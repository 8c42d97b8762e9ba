"""``hubvendor vendor --output DIR HANDLE...``: write a self-contained vendored directory."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("vendor", help="write extracted models plus a manifest into DIR")
    parser.add_argument("handles", nargs="+", metavar="HANDLE", help="archive handles (http(s) URLs, kaggle://..., gs://...tar.gz)")
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="vendored directory to (re)write")
    parser.add_argument("--jobs", "-j", type=int, default=4, help="parallel downloads (default 4)")
    parser.add_argument("--lock", metavar="FILE",
                        help="pins to fetch and verify against (default ./hubvendor.lock when present)")
    parser.add_argument("--json", action="store_true", help="print the written manifest")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..pins import specs_for
    from ..vendor import vendor

    result = vendor(specs_for(args.handles, args.lock), args.output, jobs=args.jobs)
    if args.json:
        print(result.to_json(), end="")
        return 0
    for key, entry in sorted(result.models.items()):
        print(f"{key}\t{entry.path}\t{entry.tree_digest}")
    return 0
