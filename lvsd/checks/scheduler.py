"""Run every real server's check concurrently, each on its own fixed-rate schedule.

A *job* is what one (virtual, real) pair asks for: a check spec, an
interval and the maintenance directory. Pairs whose jobs are equal share one
*probe*: the server is checked once and the result is handed to each pair
(their health counters stay separate). Each probe is one task that checks
every ``interval`` seconds, measured from slot to slot (a slow or hung check
delays nobody else; a check longer than the interval skips the slots it
overran). The first checks run at once (spread over at most half a second),
so start-up and reload decide quickly; after that each probe keeps its own
phase within the interval, spread evenly (a golden-ratio sequence), so
thousands of servers do not wake together; they wait on the checks' one
timer heap (lvsd.checks.timerheap), not on a loop timer each. A semaphore
bounds the checks (and so the sockets) in flight (lvsd.checks.openfiles).
The scheduler owns its tasks and its :class:`CheckContext` (the hot checks'
epoll, that timer heap, the HTTP plans of the specs it runs): :meth:`close`
cancels and awaits every task, then closes the context.

With ``freeze_gc`` (the daemon asks for it; off by default) the scheduler also
moves what is alive after each :meth:`sync`, and after the first round of
results, out of the cyclic collector's sight (``gc.freeze``, process-wide):
the config and the probes live until the next reload, and a full collection
walking them every few thousand checks would stall the loop.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from lvsd import log
from lvsd.checks.base import CheckResult, CheckSpec
from lvsd.checks.context import CheckContext
from lvsd.checks.maintenance import Maintenance
from lvsd.checks.openfiles import checks_in_flight
from lvsd.checks.run import run_check

OnResult = Callable[[Hashable, CheckSpec, CheckResult], None]

FIRST_SPREAD = 0.5  # seconds over which the first checks are spread
MAX_TICK = 0.05  # seconds: the longest a check waits for its tick (and never more than a twentieth of its interval)
CHECKS_PER_TICK = 10  # the tick is sized so that about this many checks start together
MIN_TICK = 0.005  # a shorter tick is no tick at all
GOLDEN = (math.sqrt(5) - 1) / 2
COMBINED_RESET = 999_999  # ldirectord: the next check of checktype=N is a negotiate


@dataclass(frozen=True, slots=True)
class Job:
    spec: CheckSpec
    interval: float
    maintenancedir: str | None = None
    real_port: int = 0  # the real's configured port, for the maintenance file names


@dataclass(slots=True, eq=False)
class _Probe:
    job: Job
    members: list[Hashable]
    phase: float
    connects: int = COMBINED_RESET  # checktype=N: connect checks passed since the last negotiate
    task: asyncio.Task[None] | None = None
    reported: bool = False  # has handed over its first result


@dataclass(slots=True)
class Stats:
    """What the scheduler did, for metrics and the benchmark."""

    checks: int = 0
    shared: int = 0  # results handed to more than one (virtual, real)
    lateness: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))  # seconds after the slot
    # of that, seconds after the wake-up the scheduler planned: what a busy loop or host added, not the tick
    lag: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))


class Scheduler:
    def __init__(self, on_result: OnResult, *, max_concurrent: int | None = None, freeze_gc: bool = False) -> None:
        """``max_concurrent``: the bound on checks in flight; None sizes it to the open-files limit as it is now
        (:func:`~lvsd.checks.openfiles.checks_in_flight`). Raising that limit is the process owner's start-up
        step (:func:`~lvsd.checks.openfiles.raise_open_files_limit`: the daemon's command does it), never this one's.
        """
        self._on_result = on_result
        self._jobs: dict[Hashable, Job] = {}
        self._probes: dict[Job, _Probe] = {}
        self.max_concurrent = max_concurrent or checks_in_flight()
        self.freeze_gc = freeze_gc
        self._context: CheckContext | None = None  # made at the first sync, on the running loop
        self._slots = asyncio.Semaphore(self.max_concurrent)
        self._maintenance = Maintenance()
        self._retiring: set[asyncio.Task[None]] = set()
        self._unreported = 0  # probes started that have not reported yet
        self._started = 0  # probes ever started: their index in the phase sequence
        self.stats = Stats()
        self.tick = MAX_TICK  # set by sync() from the checks per second

    @property
    def jobs(self) -> dict[Hashable, Job]:
        return dict(self._jobs)

    @property
    def probes(self) -> int:
        return len(self._probes)

    def job(self, key: Hashable) -> Job | None:
        return self._jobs.get(key)

    def sync(self, jobs: dict[Hashable, Job]) -> None:
        """Make the running jobs exactly ``jobs``; an unchanged probe keeps running undisturbed."""
        groups: dict[Job, list[Hashable]] = {}
        for key, job in jobs.items():
            groups.setdefault(job, []).append(key)
        removed = [j for j in self._probes if j not in groups]
        for job in removed:
            probe = self._probes.pop(job)
            if not probe.reported:
                self._unreported -= 1
            if probe.task is not None:
                probe.task.cancel()
                self._retiring.add(probe.task)  # still owned: close() awaits it if it has not ended by then
                probe.task.add_done_callback(self._retiring.discard)
                probe.task = None  # no probe <-> task cycle left behind
        loop = asyncio.get_running_loop()
        if self._context is None:
            self._context = CheckContext(loop)
        elif removed:
            self._context.retain({job.spec for job in groups})
        for job, keys in groups.items():
            running = self._probes.get(job)
            if running is not None:
                running.members = keys
                continue
            phase = (self._started * GOLDEN) % 1.0
            self._started += 1
            probe = _Probe(job, keys, phase)
            probe.task = loop.create_task(self._run(probe), name=f"check {job.spec.describe()}")
            self._probes[job] = probe
            self._unreported += 1
        self._jobs = dict(jobs)
        # Checks start on tick boundaries, so a few share each wake-up of the loop (a wake-up costs more than a
        # check at low rates); the tick holds about CHECKS_PER_TICK checks, so a burst never delays the next.
        # Above MIN_TICK's rate (2,000 checks/s) the slots are dense enough to share wake-ups unaided: 2 ms ticks
        # at 5,000 checks/s saved little CPU and some runs showed p99 lateness near 190 ms (A/B runs overlapped
        # with the machine's noise), so high rates keep their exact slots.
        rate = sum(1 / p.job.interval for p in self._probes.values() if p.job.interval > 0)
        tick = min(MAX_TICK, CHECKS_PER_TICK / rate) if rate > 0 else MAX_TICK
        self.tick = tick if tick >= MIN_TICK else 0.0
        if self.freeze_gc:
            _freeze_long_lived(thaw=bool(removed))

    async def _run(self, probe: _Probe) -> None:
        loop = asyncio.get_running_loop()
        interval = probe.job.interval
        now = loop.time()
        due = now + min(FIRST_SPREAD, interval / 2) * probe.phase
        anchor = now + probe.phase * interval  # this probe's slots: anchor + k * interval
        context = self._context
        assert context is not None  # made by sync(), which started this task
        timers = context.timers
        while True:
            wake = due
            if due > loop.time():
                # wake on the next tick: probes whose slots fall in one tick share one wake-up of the loop
                tick = min(self.tick, interval / 20)
                wake = math.ceil(due / tick) * tick if tick > 0 else due
                await timers.wait_until(wake)
            started = loop.time()
            try:
                async with self._slots:
                    started = loop.time()
                    self.stats.lateness.append(started - due)  # against the slot itself, the tick included
                    self.stats.lag.append(started - wake)
                    result = await self._check(probe, context)
                self._fan_out(probe, result)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end this server's checks
                log.get().exception("check.failed", check=probe.job.spec.describe())
            # the next slot at least half an interval after this check started
            k = math.ceil((started + interval / 2 - anchor) / interval)
            due = anchor + k * interval
            now = loop.time()
            if due < now:  # the check overran: skip the slots it missed
                due += math.ceil((now - due) / interval) * interval

    async def _check(self, probe: _Probe, context: CheckContext) -> CheckResult:
        job = probe.job
        self.stats.checks += 1
        if job.maintenancedir is not None:
            t = time.monotonic()
            found = await self._maintenance.found(job.maintenancedir, job.spec.host, job.real_port)
            if found is not None:
                return CheckResult(False, "Server in maintenance", time.monotonic() - t, forced=True)
        spec = job.spec
        if spec.connects is None or probe.connects >= spec.connects:
            result = await run_check(spec, context=context)
            if spec.connects is not None and result.ok:
                probe.connects = 0
            return result
        result = await run_check(spec, connect_step=True, context=context)
        probe.connects = probe.connects + 1 if result.ok else COMBINED_RESET
        return result

    def _fan_out(self, probe: _Probe, result: CheckResult) -> None:
        if not probe.reported:
            probe.reported = True
            self._unreported -= 1
            if self._unreported == 0 and self.freeze_gc:  # the first round is in: what it built is long-lived too
                gc.freeze()
        members = probe.members
        if len(members) > 1:
            self.stats.shared += 1
        for key in members:
            try:
                self._on_result(key, probe.job.spec, result)
            except Exception:  # the owner's bug must not stop this server's checks
                log.get().exception("check.callback_failed", check=probe.job.spec.describe())

    async def close(self) -> None:
        tasks = [p.task for p in self._probes.values() if p.task is not None] + list(self._retiring)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._probes.clear()
        self._jobs.clear()
        if self._context is not None:
            self._context.close()
            self._context = None


def _freeze_long_lived(*, thaw: bool) -> None:
    """Keep what is alive now (the config, the probes: they live until the next reload) out of the cyclic
    collector's full passes, which would otherwise walk it every few thousand checks and stall the loop.
    ``thaw``: a reload dropped probes; the collector first sees what the last freeze kept, and frees it.
    """
    if thaw:
        gc.unfreeze()
        gc.collect()
    gc.freeze()

