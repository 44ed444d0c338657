"""``lvsd check-config FILE``: load FILE as the daemon would; a summary, or every error, then the exit code."""

from __future__ import annotations

import os

from lvsd.cli import exits
from lvsd.cli.options import Commands, add_daemon_options

HELP = "validate FILE: a summary, or every error (exit 2)"
DESCRIPTION = ("Load FILE as the daemon would: exit 0 and a summary, or exit 2 and every error as "
               "FILE:LINE:COL with the line and a caret. Warnings go to stderr.")


def register(commands: Commands) -> None:
    parser = commands.add_parser("check-config", help=HELP, description=DESCRIPTION)
    parser.add_argument("file", metavar="FILE")
    add_daemon_options(parser, shown=())  # ldirectord's options before the command are accepted and ignored
    parser.set_defaults(run=lambda args: check(args.file))


def check(path: str, quiet: bool = False) -> int:
    """Warnings to stderr; the summary to stdout unless ``quiet``; 0, or 2 with every error."""
    from lvsd.cli.loading import load_or_report

    d = load_or_report(os.path.abspath(path))
    if d is None:
        return exits.CONFIG
    if not quiet:
        print(f"{path}: OK: {d.config.summary()}")
    return exits.OK

