"""``hubvendor serve ROOT``: a TF Hub-protocol server over a directory of models."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from ..errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a directory of models over the TF Hub protocol (tests, internal mirrors)",
        description="Serve ROOT/<publisher>/<model>/<version>/ (SavedModel directories or "
        "<version>.tar.gz archives) as tfhub.dev does. Loopback only unless --host says otherwise.",
    )
    parser.add_argument("root", metavar="ROOT", help="directory laid out like tfhub.dev handles' paths")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: any free port)")
    parser.add_argument(
        "--redirect", action="store_true", help="answer compressed requests with 302 to /_storage/<path>.tar.gz"
    )
    parser.add_argument(
        "--uncompressed-base", default="", metavar="URL",
        help="UNCOMPRESSED loads get <URL>/<path>/uncompressed (default: the local path ROOT/<path>)",
    )
    parser.add_argument(
        "--test-controls", action="store_true",
        help="enable the unauthenticated test endpoints GET /_stats, POST /_reset and POST /_faults (fault "
        "injection: any client could change what others download); for tests only, never on a shared mirror",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..server import make_server

    root = Path(args.root)
    if not root.is_dir():
        raise ConfigError(f"serve ROOT {args.root!r}: not a directory")
    try:
        server = make_server(
            root, args.host, args.port, redirect=args.redirect, uncompressed_base=args.uncompressed_base,
            test_controls=args.test_controls,
        )
    except OSError as exc:  # address in use, not an address of this host, unknown host name, ...
        raise ConfigError(
            f"serve --host/--port {args.host}:{args.port}: cannot listen there ({exc.strerror or exc})"
        ) from None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    host, port = server.server_address[:2]
    url_host = f"[{host}]" if ":" in host else host
    print(f"Serving {args.root} at http://{url_host}:{port}/", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
