"""The config tools of the command line: ``lvsd plan`` and ``lvsd convert``.

    lvsd plan FILE --assume-up|--assume-down [--format ipvsadm-save]
    lvsd convert FILE --to yaml|ldirectord

``plan`` prints, without touching the kernel, the IPVS table lvsd would
program with every real server healthy (or every one failed). ``convert``
prints the config in another format. Both load the file exactly as the daemon
does (any format: ldirectord.cf, YAML, piranha lvs.cf); an invalid config
prints every error and exits 2. Warnings go to stderr, the result to stdout.
"""

from __future__ import annotations

import argparse
import sys

from lvsd.config.errors import ConfigError

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_USAGE = 255


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lvsd", description="lvsd config tools")
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="print the IPVS table lvsd would program")
    plan.add_argument("file")
    state = plan.add_mutually_exclusive_group(required=True)
    state.add_argument("--assume-up", dest="up", action="store_true", help="every real server healthy")
    state.add_argument("--assume-down", dest="down", action="store_true", help="every real server failed")
    plan.add_argument("--format", choices=["ipvsadm-save"], default="ipvsadm-save")
    convert = sub.add_parser("convert", help="print the config in another format")
    convert.add_argument("file")
    convert.add_argument("--to", required=True, choices=["yaml", "ldirectord"])
    return parser


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    if args.command == "plan":
        return _plan(args.file, up=bool(args.up))
    return _convert(args.file, args.to)


def _plan(path: str, *, up: bool) -> int:
    from lvsd import director, planview

    try:
        config = director.load(path).config
    except ConfigError as exc:
        sys.stderr.write(exc.format() + "\n")
        return EXIT_CONFIG
    for warning in config.warnings:
        sys.stderr.write(warning.format() + "\n")
    sys.stdout.write(planview.render(config, up=up))
    return EXIT_OK


def _convert(path: str, to: str) -> int:
    from lvsd.config import convert, loader

    try:
        config = loader.load(path)
        text, notes = convert.convert(config, to)
    except ConfigError as exc:
        sys.stderr.write(exc.format() + "\n")
        return EXIT_CONFIG
    for warning in (*config.warnings, *notes):
        sys.stderr.write(warning.format() + "\n")
    sys.stdout.write(text)
    return EXIT_OK
