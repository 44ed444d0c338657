"""``lvsd vrrp [-c CONFIG] [TYPE NAME] STATE [PRIORITY]``: tell the running daemon keepalived's VRRP state.

Written for keepalived's ``notify`` script line, which appends ``TYPE NAME STATE PRIORITY``
(``INSTANCE "VI_1" MASTER 100``) to the command it runs::

    vrrp_instance VI_1 {
        notify "/usr/sbin/lvsd vrrp -c /etc/lvsd/lvsd.cf"
    }

A bare ``lvsd vrrp MASTER`` works too. With ``syncrole=vrrp`` the daemon switches its sync
daemons (master while MASTER, backup otherwise) before this command returns. Exit 0 done,
1 no daemon answered or it could not apply the change, 255 an unknown state.
"""

from __future__ import annotations

import argparse
import sys

from lvsd.cli import exits
from lvsd.cli.options import Commands

HELP = "pass keepalived's VRRP state to the daemon"
STATES = ("MASTER", "BACKUP", "FAULT", "STOP")


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "vrrp", help=HELP, usage="lvsd vrrp [-c CONFIG] [TYPE NAME] STATE [PRIORITY]",
        description="Tell the running daemon that keepalived's VRRP put this node in STATE (MASTER, BACKUP, "
                    "FAULT or STOP); it takes keepalived's notify arguments as they come.")
    parser.add_argument("-c", "--config", metavar="CONFIG", help="the daemon's config (as for start)")
    parser.add_argument("words", nargs="+", metavar="WORD")
    parser.set_defaults(run=run)


def state_of(words: list[str]) -> str | None:
    """The state in ``[TYPE NAME] STATE [PRIORITY]`` (keepalived quotes NAME; a bare STATE is fine)."""
    found = [w.upper() for w in words if w.upper() in STATES]
    return found[-1] if found else None


def run(args: argparse.Namespace) -> int:
    from lvsd.cli.paths import Paths, find_config
    from lvsd.cli.running import ask

    state = state_of(args.words)
    if state is None:
        sys.stderr.write(f"lvsd vrrp: no VRRP state in {' '.join(args.words)!r} (expected {', '.join(STATES)})\n")
        return exits.USAGE
    paths = Paths(find_config(args.config))
    answer = ask(paths, "vrrp", state=state)
    if answer is None:
        sys.stderr.write(f"lvsd vrrp: no lvsd answers for {paths.config}\n")
        return exits.FAIL
    if not answer.get("ok"):
        sys.stderr.write(f"lvsd vrrp: {answer.get('error') or 'the sync daemons did not all change (see the log)'}\n")
        return exits.FAIL
    print(f"lvsd: VRRP {state}; sync daemons: {', '.join(answer.get('sync', [])) or 'none'}")
    return exits.OK
