"""The one command-line parser: a subcommand per command, and ldirectord's word order turned into it.

ldirectord (and every init script written for it) puts the config before
the command and the options anywhere: ``lvsd -d CONFIG start``,
``lvsd CONFIG status --json``. argparse wants the subcommand first, so
:func:`command_first` moves the command word to the front of such a line
and leaves everything else where it was; the command's own parser then
reads CONFIG and the options in any order.
"""

from __future__ import annotations

import argparse

from lvsd import __version__
from lvsd.cli import announce, check_config, convert, keepalived, lsb, plan, probe, vrrp
from lvsd.cli.options import takes_value

USAGE = ("lvsd [OPTIONS] [CONFIG] start|stop|restart|try-restart|reload|force-reload|status\n"
         "       lvsd check-config|plan|convert|probe FILE [OPTIONS]\n"
         "       lvsd keepalived FILE [--node NAME] [--out DIR]\n"
         "       lvsd vrrp [-c CONFIG] [TYPE NAME] STATE [PRIORITY]\n"
         "       lvsd exabgp|leave|join [-c CONFIG]\n"
         "       lvsd COMMAND --help")
EPILOG = ("OPTIONS of the daemon (-d, -f, --metrics, --log-format, --fallbackcommand-at-stop, --json) may stand "
          "anywhere on an ldirectord command's line; 'lvsd start --help' lists them.")
# lvsd's own tools: their name first, as always
TOOLS = ("plan", "convert", "probe", "keepalived", "vrrp", "exabgp", "leave", "join")


class _Formatter(argparse.HelpFormatter):
    """Lines the command list up (argparse measures command names without their indent)."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):
            longest = max(len(name) for name in action.choices)
            self._action_max_length = max(self._action_max_length,
                                          longest + self._current_indent + self._indent_increment)


def build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lvsd", usage=USAGE, epilog=EPILOG, formatter_class=_Formatter,
        description="Health-checking director for Linux Virtual Server (IPVS), compatible with ldirectord.",
    )
    parser.add_argument("-v", "--version", action="version", version=f"lvsd {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, title="commands",
                                     prog="lvsd", help="one of these; 'lvsd COMMAND --help' for its options")
    for module in (lsb, check_config, plan, convert, probe, keepalived, vrrp, announce):
        module.register(commands)
    return parser


def _word_indices(argv: list[str]) -> list[int]:
    """Where the words that are neither options nor an option's value stand."""
    words: list[int] = []
    skip = False
    for i, token in enumerate(argv):
        if skip:
            skip = False
        elif token.startswith("-") and token != "-":
            skip = takes_value(token)
        else:
            words.append(i)
    return words


def command_first(argv: list[str]) -> list[str]:
    """``[OPTIONS] [CONFIG] [OPTIONS] COMMAND [OPTIONS]`` with COMMAND moved to the front.

    Only ldirectord's forms are moved: one of its commands as the last of at
    most two words, or ``check-config`` as the first (and ``CONFIG TYPO``, so
    that the error names the typo). A line starting with one of lvsd's tools,
    or any other line, is left for the parser to read or refuse.
    """
    if argv[:1] and argv[0] in TOOLS:
        return argv
    where = _word_indices(argv)
    words = [argv[i] for i in where]
    if words and words[0] == "check-config":
        at = where[0]
    elif 0 < len(words) <= 2 and words[-1] in lsb.COMMANDS:
        at = where[-1]
    elif len(words) == 2 and not {*words} & {*lsb.COMMANDS, "check-config", *TOOLS}:
        at = where[-1]  # CONFIG TYPO: so that the parser's error names TYPO, not CONFIG
    else:
        return argv
    return [argv[at], *argv[:at], *argv[at + 1:]]
