"""``lvsd probe FILE [--json]``: run every configured check once, touching no kernel table.

Per real server: the check, up or down, the reason an operator can act on
(``GET /health: status 503, expected 2xx``) and the latency. Identical
checks of one server by several virtuals run once, as in the daemon
(:mod:`lvsd.checks.probe`). Exit 0 when the checks ran (whatever they
found), 2 on a config error.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from lvsd.cli import exits
from lvsd.cli.options import Commands
from lvsd.config.errors import ConfigError

HELP = "run every check once; no kernel table is touched"
DESCRIPTION = ("Run every check of FILE once and print each real server's verdict, its reason and latency; "
               "no kernel table is touched.")


def register(commands: Commands) -> None:
    parser = commands.add_parser("probe", help=HELP, description=DESCRIPTION)
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--json", action="store_true", help="one JSON list of results")
    parser.set_defaults(run=lambda args: show(args.file, as_json=args.json))


def report(path: str) -> list[dict[str, Any]]:
    from lvsd.checks.probe import probe
    from lvsd.loaded import load

    d = load(path)
    results = asyncio.run(probe(d.jobs))
    rows: list[dict[str, Any]] = []
    for key, (v, r) in d.members.items():
        job = d.jobs.get(key)
        res = results.get(key)
        rows.append({
            "virtual": str(v), "real": str(r),
            "check": job.spec.describe() if job else "off",
            "state": "off" if res is None else "up" if res.ok else "down",
            "reason": "checktype=off: never put in service" if res is None else res.message,
            "latency_ms": None if res is None else round(res.latency * 1000, 1),
        })
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    virtual = None
    for row in rows:
        if row["virtual"] != virtual:
            virtual = row["virtual"]
            print(virtual)
        latency = "-" if row["latency_ms"] is None else f"{row['latency_ms']:.1f}ms"
        print(f"  {row['real']:<24} {row['state']:<5} {latency:>9}  {row['reason']}  [{row['check']}]")


def show(path: str, *, as_json: bool) -> int:
    try:
        rows = report(path)
    except ConfigError as exc:
        print(exc.format(), file=sys.stderr)
        return exits.CONFIG
    except OSError as exc:
        print(f"lvsd probe: {exc}", file=sys.stderr)
        return exits.CONFIG
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)
    return exits.OK
