"""``lvsd convert FILE --to yaml|ldirectord``: print the config in another format.

FILE is loaded exactly as the daemon does (ldirectord.cf, YAML or piranha
lvs.cf); an invalid config prints every error and exits 2. Warnings and
conversion notes go to stderr, the result to stdout.
"""

from __future__ import annotations

import sys

from lvsd.cli import exits
from lvsd.cli.options import Commands
from lvsd.config.errors import ConfigError

HELP = "print FILE as YAML or as ldirectord.cf"
DESCRIPTION = "Print FILE (ldirectord.cf, YAML or piranha lvs.cf) as YAML or ldirectord.cf; notes go to stderr."


def register(commands: Commands) -> None:
    parser = commands.add_parser("convert", help=HELP, description=DESCRIPTION)
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--to", required=True, choices=["yaml", "ldirectord"])
    parser.set_defaults(run=lambda args: print_converted(args.file, args.to))


def print_converted(path: str, to: str) -> int:
    from lvsd.config import convert, loader

    try:
        config = loader.load(path)
        text, notes = convert.convert(config, to)
    except ConfigError as exc:
        sys.stderr.write(exc.format() + "\n")
        return exits.CONFIG
    for warning in (*config.warnings, *notes):
        sys.stderr.write(warning.format() + "\n")
    sys.stdout.write(text)
    return exits.OK
