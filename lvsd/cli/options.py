"""What the command modules share: the type they register into, and the options of the LSB commands.

Every LSB command accepts every daemon option, wherever it stands on the
line (ldirectord's init scripts pass the same options to start, stop and
status); each command's ``--help`` shows the ones that matter to it.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection
from typing import Any, TypeAlias

from lvsd import __version__

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # what add_subparsers returns

START = ("debug", "foreground", "metrics", "log_format", "fallbackcommand_at_stop")  # what a new daemon is run with

_DAEMON_OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("-d", "--debug"), {"action": "store_true", "help": "stay in the foreground and log to stderr"}),
    (("-f", "--foreground"), {
        "action": "store_true", "help": "stay in the foreground, log to the logfile (for systemd Type=notify)"}),
    (("--metrics",), {
        "metavar": "[HOST:]PORT", "help": "serve Prometheus metrics on /metrics (host defaults to 127.0.0.1)"}),
    (("--log-format",), {
        "choices": ("text", "json"), "default": "text",
        "help": "log lines as ldirectord's text (default) or one JSON object per event"}),
    (("--fallbackcommand-at-stop",), {
        "action": "store_true", "help": "run 'fallbackcommand stop' for active fallbacks when lvsd stops"}),
    (("--json",), {"action": "store_true", "help": "print the daemon's view as JSON"}),
    (("--require",), {
        "choices": ("reconciled", "serving"),
        "help": "exit 1 unless the running daemon's table is reconciled (no kernel operation failing, every "
                "virtual service in the kernel), or serving (that, and every virtual service has a real server "
                "or its fallback in service): the OCF agent's deeper monitors"}),
)


def _dest(flags: tuple[str, ...]) -> str:
    return flags[-1].lstrip("-").replace("-", "_")


def add_daemon_options(parser: argparse.ArgumentParser, shown: Collection[str]) -> None:
    """Every daemon option on ``parser``; those not in ``shown`` (dest names) are accepted but not listed.

    ``-v``/``--version`` too: ldirectord's lines may carry it anywhere.
    """
    for flags, kwargs in _DAEMON_OPTIONS:
        extra = {} if _dest(flags) in shown else {"help": argparse.SUPPRESS}
        parser.add_argument(*flags, **{**kwargs, **extra})
    parser.add_argument("-v", "--version", action="version", version=f"lvsd {__version__}", help=argparse.SUPPRESS)


def takes_value(token: str) -> bool:
    """Whether the option ``token`` (``--metrics``, or an abbreviation argparse would accept) reads the next word."""
    if not token.startswith("--") or "=" in token:
        return False
    longs = [(flags[-1], "action" not in kwargs) for flags, kwargs in _DAEMON_OPTIONS]
    exact = [value for name, value in longs if name == token]
    if exact:
        return exact[0]
    matches = [value for name, value in longs if name.startswith(token)]
    return len(matches) == 1 and matches[0]
