"""Run every real server's check concurrently, each on its own fixed-rate schedule.

Each job checks one (virtual, real) pair every ``interval`` seconds, measured
from the start of one check to the start of the next, so a hung server delays
nobody and a failure is seen within ``interval + timeout``. First runs are
spread over a short window so a large config does not start in one burst.
The scheduler owns its tasks: :meth:`close` cancels and awaits every one.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import aiohttp

from lvsd import log
from lvsd.checks import http
from lvsd.checks.base import CheckResult, CheckSpec
from lvsd.checks.run import run_check

OnResult = Callable[[Hashable, CheckSpec, CheckResult], None]


@dataclass(frozen=True, slots=True)
class Job:
    spec: CheckSpec
    interval: float


class Scheduler:
    def __init__(self, on_result: OnResult, *, max_concurrent: int = 1024) -> None:
        self._on_result = on_result
        self._jobs: dict[Hashable, Job] = {}
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(max_concurrent)

    @property
    def jobs(self) -> dict[Hashable, Job]:
        return dict(self._jobs)

    def job(self, key: Hashable) -> Job | None:
        return self._jobs.get(key)

    def sync(self, jobs: dict[Hashable, Job]) -> None:
        """Make the running jobs exactly ``jobs``; unchanged jobs keep running undisturbed."""
        if self._session is None:
            self._session = http.new_session()
        for key in list(self._tasks):
            if jobs.get(key) != self._jobs.get(key):
                self._tasks.pop(key).cancel()
                self._jobs.pop(key, None)
        for key, job in jobs.items():
            if key not in self._tasks:
                self._jobs[key] = job
                self._tasks[key] = asyncio.get_running_loop().create_task(self._loop(key, job), name=f"check {key}")

    async def _loop(self, key: Hashable, job: Job) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + random.uniform(0.0, min(job.interval * 0.1, 0.5))
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            started = loop.time()
            async with self._slots:
                result = await run_check(job.spec, self._session)
            try:
                self._on_result(key, job.spec, result)
            except Exception:  # the owner's bug must not stop this server's checks
                log.get().exception("check.callback_failed", check=job.spec.describe())
            next_at = max(started + job.interval, loop.time())

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._jobs.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
