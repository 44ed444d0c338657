"""The commands of active-active directors: ``lvsd exabgp``, ``lvsd leave`` and ``lvsd join``.

``lvsd exabgp [-c CONFIG]`` is the process ExaBGP runs (its process API)::

    process lvsd {
        run /usr/sbin/lvsd exabgp -c /etc/lvsd/lvsd.cf;
        encoder text;
    }

It asks the running daemon for its routes every ``--poll`` seconds and prints an ``announce
route`` or ``withdraw route`` line for each change; ExaBGP sends them to its neighbors. While
the daemon cannot be reached (a restart), the last routes stand; after ``--hold`` seconds
without it they are withdrawn (a director whose lvsd is gone must not draw traffic for long).
It reads and drops what ExaBGP writes back, and ends when ExaBGP closes its standard input.

``lvsd leave [-c CONFIG]``: a planned leave. The daemon withdraws every VIP, waits
``withdrawwait`` seconds for the routers to move the flows, then this command returns: the
director can now be stopped or worked on with nothing lost. It stays withdrawn (checks go on)
until ``lvsd join``. Exit 0 done, 1 no daemon answered or it announces nothing.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import time

from lvsd.cli import exits
from lvsd.cli.options import Commands

POLL = 0.2
HOLD = 30.0


def register(commands: Commands) -> None:
    p = commands.add_parser("exabgp", help="the process ExaBGP runs: lvsd's routes as API lines",
                            description="Print ExaBGP process-API lines (announce route / withdraw route) for the VIPs "
                                        "the running lvsd daemon can serve.")
    p.add_argument("-c", "--config", metavar="CONFIG", help="the daemon's config (as for start)")
    p.add_argument("--poll", type=float, default=POLL, metavar="SECONDS", help=f"how often to ask (default {POLL})")
    p.add_argument("--hold", type=float, default=HOLD, metavar="SECONDS",
                   help=f"withdraw everything after this long without an answer from lvsd (default {HOLD:g})")
    p.set_defaults(run=run_exabgp)
    for name, help_text in (("leave", "withdraw every VIP, wait for the routers"),
                            ("join", "announce the servable VIPs again")):
        q = commands.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        q.add_argument("-c", "--config", metavar="CONFIG", help="the daemon's config (as for start)")
        q.set_defaults(run=run_leave if name == "leave" else run_join)


def diff(printed: dict[str, str], want: dict[str, str]) -> list[str]:
    """The lines that take ExaBGP from ``printed`` to ``want`` (prefix: announce line), withdraws first."""
    out = [f"withdraw route {prefix} next-hop self" for prefix in printed if prefix not in want]
    out += [line for prefix, line in want.items() if printed.get(prefix) != line]
    return out


def run_exabgp(args: argparse.Namespace) -> int:
    from lvsd.cli.paths import Paths, find_config
    from lvsd.cli.running import ask

    paths = Paths(find_config(args.config))
    printed: dict[str, str] = {}
    last_answer = time.monotonic()
    stdin = sys.stdin.fileno()
    while True:
        answer = ask(paths, "routes", timeout=max(1.0, args.poll * 5))
        now = time.monotonic()
        if answer is not None and answer.get("ok"):
            last_answer = now
            want = {str(line).split()[2]: str(line) for line in answer.get("lines", ())}
        elif now - last_answer > args.hold:
            want = {}
        else:
            want = printed
        for line in diff(printed, want):
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        printed = want
        ready, _, _ = select.select([stdin], [], [], args.poll)
        if ready and not os.read(stdin, 65536):
            return exits.OK  # ExaBGP is gone


def _ask_announcer(args: argparse.Namespace, cmd: str) -> int:
    from lvsd.cli.paths import Paths, find_config
    from lvsd.cli.running import ask

    paths = Paths(find_config(args.config))
    answer = ask(paths, cmd, timeout=3700.0)
    if answer is None:
        sys.stderr.write(f"lvsd {cmd}: no lvsd answers for {paths.config}\n")
        return exits.FAIL
    if not answer.get("ok"):
        sys.stderr.write(f"lvsd {cmd}: {answer.get('error')}\n")
        return exits.FAIL
    if cmd == "leave":
        gone = answer.get("withdrawn") or []
        print(f"lvsd: withdrew {', '.join(gone) or 'nothing (nothing was announced)'}"
              + (f"; waited {answer.get('waited', 0):g} s for the routers" if gone else "") + "; staying withdrawn")
    else:
        print(f"lvsd: announcing {', '.join(answer.get('announced') or []) or 'nothing (nothing servable yet)'}")
    return exits.OK


def run_leave(args: argparse.Namespace) -> int:
    return _ask_announcer(args, "leave")


def run_join(args: argparse.Namespace) -> int:
    return _ask_announcer(args, "join")
