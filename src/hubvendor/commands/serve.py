"""``hubvendor serve ROOT``: a TF Hub- and Kaggle-protocol mirror over a directory of models."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from ..errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a directory of models as tfhub.dev and Kaggle do (internal mirrors, demos)",
        description="Serve ROOT/<publisher>/<model>/<version>/ (SavedModel directories or "
        "<version>.tar.gz archives) as tfhub.dev does, and ROOT/<owner>/<model>/<framework>/<variation>/<version>/ "
        "at Kaggle's /api/v1/models/.../download paths. Only files inside ROOT are served (symlinks leaving "
        "it are not followed). Loopback only unless --host says otherwise.",
    )
    parser.add_argument("root", metavar="ROOT", help="directory laid out like tfhub.dev handles' paths")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", default="0", help="port to bind, 0-65535 (default 0: any free port)")
    parser.add_argument(
        "--redirect", action="store_true", help="answer compressed requests with 302 to /_storage/<path>.tar.gz"
    )
    parser.add_argument(
        "--uncompressed-base", default="", metavar="URL",
        help="UNCOMPRESSED loads get <URL>/<path>/uncompressed (default: the local path ROOT/<path>)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..server import make_server

    root = Path(args.root)
    if not root.is_dir():
        raise ConfigError(f"serve ROOT {args.root!r}: not a directory")
    port = _port(args.port)
    try:
        server = make_server(root, args.host, port, redirect=args.redirect, uncompressed_base=args.uncompressed_base)
    except (OSError, UnicodeError) as exc:  # address in use, not an address of this host, unknown host name, ...
        raise ConfigError(
            f"serve --host/--port {args.host}:{port}: cannot listen there ({getattr(exc, 'strerror', None) or exc})"
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


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit() and int(text) <= 65535):
        raise ConfigError(f"serve --port {text!r}: expected a port number from 0 to 65535")
    return int(text)
