"""``hubvendor bazel``: print or write hub_model() stanzas pinning the bytes of hubvendor.lock."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bazel",
        help="print hub_model() WORKSPACE stanzas for a lock file",
        description="Print (or write) Bazel hub_model() stanzas for every model in the lock file, so "
        "pip and Bazel builds pin the same archive bytes.",
    )
    parser.add_argument("--lock", default="hubvendor.lock", metavar="FILE", help="lock file (default hubvendor.lock)")
    parser.add_argument("--output", "-o", default="", metavar="FILE", help="write to FILE instead of stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import lockfile
    from ..bazel import Pin, stanzas

    lock = lockfile.load(args.lock)
    text = stanzas((Pin(m.handle, m.sha256) for m in lock.models), source=os.path.basename(args.lock))
    if not args.output:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise ConfigError(f"--output {args.output}: cannot write ({exc.strerror or exc})") from None
    return 0
