"""The ``hubvendor`` command line: one module per command under ``hubvendor.commands``.

Global options (``--debug``, ``--version``) are accepted before or after the command. Every
failure is one line, ``hubvendor: error: <input>: <cause>``, without a traceback (unless ``--debug``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__
from .errors import ConfigError, HubVendorError, InvalidHandleError

COMMANDS = ("resolve", "fetch", "vendor", "which", "serve", "bazel", "lock", "cache", "doctor")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubvendor", description="TensorFlow Hub and Kaggle models as hermetic build inputs."
    )
    _add_global_options(parser, default=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"hubvendor.commands.{name}").add_parser(subparsers)
    for sub in _subcommand_parsers(parser):
        _add_global_options(sub, default=argparse.SUPPRESS)  # SUPPRESS: do not undo a --debug given before
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument("--debug", action="store_true", default=default, help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"hubvendor {__version__}")


def _subcommand_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser below ``parser`` (commands and their actions, such as ``cache list``)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += [sub, *_subcommand_parsers(sub)]
    return found


def _check_arguments(argv: list[str]) -> None:
    """Arguments that were not valid UTF-8 (decoded with surrogates) are one clear error, not a traceback."""
    for arg in argv:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = repr(os.fsencode(arg))[1:]
            raise ConfigError(f"argument {shown}: not valid UTF-8; handles, paths and values must be UTF-8") from None


def _check_working_directory() -> None:
    """A current directory that was deleted under the caller is one clear error, not a traceback."""
    try:
        os.getcwd()
    except FileNotFoundError:
        raise ConfigError("the current directory no longer exists (it was removed or replaced); "
                          "cd to an existing directory and run again") from None


def _check_handles(args: argparse.Namespace) -> None:
    """A handle that reads as a missing local path but looks like a URL or a kagglehub handle: say so."""
    from .hints import hint

    handles = list(getattr(args, "handles", None) or []) + [getattr(args, "handle", None) or ""]
    for raw in filter(None, handles):
        advice = hint(raw)
        if advice:
            raise InvalidHandleError(f"handle {raw!r}: {advice}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; exit codes: 0 success, 1 failure, 2 usage error."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    try:
        _check_arguments(argv)
        _check_working_directory()
        _check_handles(args)
        return args.func(args)
    except HubVendorError as exc:
        if args.debug:
            raise
        print(f"hubvendor: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("hubvendor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hubvendor cache list | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
