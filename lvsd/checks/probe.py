"""``lvsd probe FILE [--json]``: run every configured check once, touching no kernel table.

Per real server: the check, up or down, the reason an operator can act on
(``GET /health: status 503, expected 2xx``) and the latency. Identical
checks of one server by several virtuals run once, as in the daemon; the
maintenance directory is honoured; ``checktype=N`` runs its negotiate step.
Exit 0 when the checks ran (whatever they found), 2 on a config error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Hashable
from typing import Any

from lvsd.checks.base import CheckResult
from lvsd.checks.maintenance import Maintenance
from lvsd.checks.run import run_check
from lvsd.checks.scheduler import Job, concurrency_limit

EXIT_OK, EXIT_CONFIG, EXIT_USAGE = 0, 2, 255


async def _one(job: Job, maintenance: Maintenance, slots: asyncio.Semaphore) -> CheckResult:
    async with slots:
        if job.maintenancedir is not None:
            found = await maintenance.found(job.maintenancedir, job.spec.host, job.real_port)
            if found is not None:
                return CheckResult(False, f"Server in maintenance (file {found})", forced=True)
        return await run_check(job.spec)


async def probe(jobs: dict[Hashable, Job]) -> dict[Hashable, CheckResult]:
    """Every job's result, each distinct job run once, all concurrently (bounded)."""
    slots = asyncio.Semaphore(concurrency_limit())
    maintenance = Maintenance()
    distinct = list(dict.fromkeys(jobs.values()))
    async with asyncio.TaskGroup() as tg:
        tasks = {job: tg.create_task(_one(job, maintenance, slots)) for job in distinct}
    return {key: tasks[job].result() for key, job in jobs.items()}


def report(path: str) -> list[dict[str, Any]]:
    from lvsd import director

    d = director.load(path)
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


def main(argv: list[str]) -> int:
    from lvsd.config.errors import ConfigError

    parser = argparse.ArgumentParser(prog="lvsd probe", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("file")
    parser.add_argument("--json", action="store_true", help="one JSON list of results")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    try:
        rows = report(args.file)
    except ConfigError as exc:
        print(exc.format(), file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"lvsd probe: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)
    return EXIT_OK
