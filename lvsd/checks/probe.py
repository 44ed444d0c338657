"""Run a set of check jobs once, outside the scheduler (``lvsd probe``).

Identical checks of one server by several virtuals run once, as in the
daemon; the maintenance directory is honoured; ``checktype=N`` runs its
negotiate step. All run concurrently, as many at a time as the scheduler
allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

from lvsd.checks.base import CheckResult
from lvsd.checks.context import CheckContext
from lvsd.checks.maintenance import Maintenance
from lvsd.checks.openfiles import concurrency_limit
from lvsd.checks.run import run_check
from lvsd.checks.scheduler import Job


async def _one(job: Job, maintenance: Maintenance, slots: asyncio.Semaphore, ctx: CheckContext) -> CheckResult:
    async with slots:
        if job.maintenancedir is not None:
            found = await maintenance.found(job.maintenancedir, job.spec.host, job.real_port)
            if found is not None:
                return CheckResult(False, f"Server in maintenance (file {found})", forced=True)
        return await run_check(job.spec, context=ctx)


async def probe(jobs: dict[Hashable, Job]) -> dict[Hashable, CheckResult]:
    """Every job's result, each distinct job run once, all concurrently (bounded), sharing one check context."""
    slots = asyncio.Semaphore(concurrency_limit())
    maintenance = Maintenance()
    distinct = list(dict.fromkeys(jobs.values()))
    ctx = CheckContext(asyncio.get_running_loop())
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = {job: tg.create_task(_one(job, maintenance, slots, ctx)) for job in distinct}
    finally:
        ctx.close()
    return {key: tasks[job].result() for key, job in jobs.items()}
