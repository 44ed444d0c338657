"""``lvsd keepalived FILE [--node NAME] [--out DIR]``: keepalived's VRRP configuration for each node of the pair.

Every node's file comes from the one lvsd config (its ``vrrp*`` and ``sync*`` directives and
the VIPs of its virtual services), so the operator keeps one file. Without ``--out`` the
files go to standard output, each after a ``# ---- NODE ----`` line; with it, one
``DIR/keepalived-NODE.conf`` per node. Exit 0, 2 on a config error or a config that does
not describe a pair.
"""

from __future__ import annotations

import argparse
import os
import sys

from lvsd.cli import exits
from lvsd.cli.options import Commands

HELP = "write keepalived's VRRP config for each node of the pair"


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "keepalived", help=HELP,
        description="Write keepalived's VRRP-only configuration for each director of the pair (its vrrpnode "
                    "lines), from FILE: the VIPs, the priorities, lvsd's health as a track file, and a notify "
                    "line that tells lvsd the VRRP state.")
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--node", metavar="NAME", help="only this node's file")
    parser.add_argument("--out", metavar="DIR", help="write DIR/keepalived-NODE.conf instead of printing")
    parser.add_argument("--lvsd", metavar="PATH", default="/usr/sbin/lvsd",
                        help="the lvsd program keepalived's notify runs (default /usr/sbin/lvsd)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lvsd.cli.loading import load_or_report
    from lvsd.pair.keepalived import PairError, node_config, node_names

    loaded = load_or_report(os.path.abspath(args.file), warnings=False)
    if loaded is None:
        return exits.CONFIG
    config = loaded.config
    try:
        names = [args.node] if args.node else node_names(config)
        texts = {name: node_config(config, name, notify=args.lvsd) for name in names}
    except PairError as exc:
        sys.stderr.write(f"lvsd keepalived: {exc}\n")
        return exits.CONFIG
    for name, text in texts.items():
        if args.out:
            path = os.path.join(args.out, f"keepalived-{name}.conf")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(path)
        else:
            print(f"# ---- {name} ----")
            sys.stdout.write(text)
    return exits.OK
