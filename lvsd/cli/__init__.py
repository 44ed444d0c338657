"""The command line: the only place that prints for humans and chooses exit codes.

ldirectord's forms and exit codes (:mod:`lvsd.cli.lsb`)::

    lvsd [-d] [CONFIG] start|stop|restart|try-restart|reload|force-reload|status

Plus lvsd's own tools, one module each::

    lvsd check-config FILE                                        (check_config)
    lvsd plan FILE --assume-up|--assume-down [--format ipvsadm-save]   (plan, planview)
    lvsd plan FILE --diff                                         (plan, plandiff)
    lvsd convert FILE --to yaml|ldirectord                        (convert)
    lvsd probe FILE [--json]                                      (probe)

One parser (:mod:`lvsd.cli.parser`), one set of exit codes
(:mod:`lvsd.cli.exits`; a usage error is 255, as ldirectord's). Nothing
outside this package imports it.
"""

from __future__ import annotations

import sys

from lvsd.cli import exits


def main(argv: list[str] | None = None) -> int:
    """Run one command line (``sys.argv[1:]`` by default) and return its exit code."""
    from lvsd.cli.parser import build, command_first

    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build().parse_args(command_first(words))
    except SystemExit as exc:  # argparse: --help and --version exit 0, a usage error 2 (ours: 255)
        return exits.OK if exc.code == 0 else exits.USAGE
    code: int = args.run(args)
    return code


__all__ = ["main"]
