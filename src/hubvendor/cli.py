"""The ``hubvendor`` command line: one module per command under ``hubvendor.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import HubVendorError

COMMANDS = ("resolve", "fetch", "vendor", "which", "serve", "bazel", "lock", "cache", "doctor")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubvendor", description="TensorFlow Hub models as hermetic build inputs."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"hubvendor.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; exit codes: 0 success, 1 failure, 2 usage error."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HubVendorError as exc:
        if args.debug:
            raise
        print(f"hubvendor: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("hubvendor: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
