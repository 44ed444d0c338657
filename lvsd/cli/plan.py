"""``lvsd plan FILE --assume-up|--assume-down [--format ipvsadm-save]`` and ``lvsd plan FILE --diff``.

With an assumption, ``plan`` prints, without touching the kernel, the IPVS
table lvsd would program with every real server healthy (or every one
failed), in ``ipvsadm-save -n`` form (:mod:`lvsd.cli.planview`). With
``--diff`` it prints the edits lvsd would make to the live table now
(:mod:`lvsd.cli.plandiff`). FILE is loaded exactly as the daemon does (any
format); an invalid config prints every error and exits 2. Warnings go to
stderr, the result to stdout.
"""

from __future__ import annotations

import argparse
import sys

from lvsd.cli import exits
from lvsd.cli.options import Commands

HELP = "the table lvsd would program, or its edits to the live one"
DESCRIPTION = ("The IPVS table lvsd would program from FILE with every real server up or down, in "
               "ipvsadm-save -n form; or, with --diff, the edits it would make to the live table now. "
               "Nothing is changed.")


def register(commands: Commands) -> None:
    parser = commands.add_parser("plan", help=HELP, description=DESCRIPTION)
    parser.add_argument("file", metavar="FILE")
    state = parser.add_mutually_exclusive_group(required=True)
    state.add_argument("--assume-up", dest="up", action="store_true", help="every real server healthy")
    state.add_argument("--assume-down", dest="down", action="store_true", help="every real server failed")
    state.add_argument("--diff", action="store_true",
                       help="the edits to the live kernel table, health from the running lvsd or the kernel")
    parser.add_argument("--format", choices=["ipvsadm-save"], help="with an assumption: ipvsadm-save (the default)")
    parser.set_defaults(run=lambda args: run(args, parser))


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.diff:
        if args.format is not None:  # as argparse says it of --assume-up with --diff
            parser.print_usage(sys.stderr)
            sys.stderr.write("lvsd plan: error: argument --format: not allowed with argument --diff\n")
            return exits.USAGE
        from lvsd.cli import plandiff

        return plandiff.show(args.file)
    return _plan(args.file, up=bool(args.up))


def _plan(path: str, *, up: bool) -> int:
    from lvsd.cli import planview
    from lvsd.cli.loading import load_or_report

    loaded = load_or_report(path)
    if loaded is None:
        return exits.CONFIG
    sys.stdout.write(planview.render(loaded.config, up=up))
    return exits.OK
