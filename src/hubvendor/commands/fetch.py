"""``hubvendor fetch [--jobs N] HANDLE...``: prefetch models into the cache in parallel."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("fetch", help="download models into the cache (parallel prefetch)")
    parser.add_argument("handles", nargs="+", metavar="HANDLE", help="archive handles (http(s) URLs, kaggle://..., gs://...tar.gz)")
    parser.add_argument("--jobs", "-j", type=int, default=4, help="parallel downloads (default 4)")
    parser.add_argument("--lock", metavar="FILE",
                        help="pins to fetch and verify against (default ./hubvendor.lock when present)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of what each handle fetched")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..pins import specs_for
    from ..vendor import fetch_all

    fetched = fetch_all(specs_for(args.handles, args.lock), jobs=args.jobs)
    if args.json:
        print(json.dumps([
            {"handle": item.spec.handle, "path": item.path, "sha256": item.sha256, "size": item.size,
             "tree_digest": item.tree_digest, "url": item.url}
            for item in fetched
        ], indent=2))
    else:
        for item in fetched:
            print(f"{item.spec.handle}\t{item.path}")
    return 0
