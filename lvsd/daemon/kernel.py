"""The kernel side of the daemon: the cached IPVS table, and every read and edit of it.

:class:`KernelTable` holds lvsd's copy of the live table and is the only
place that edits it. Start, a health change, a resync pass, a reload and the
purge at stop all go through :meth:`KernelTable.apply`, which writes a batch,
logs each edit with ldirectord's line (or each refusal with its ipvsadm form)
and hands the applied steps and refusals on as values, for metrics and
alerts. A refusal never stops the rest of a batch and is never fatal: it
marks the table degraded and brings the next full pass forward
(:mod:`lvsd.daemon.resync` says when passes run).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from lvsd import log, logtext
from lvsd.config.model import Config, MemberKey, VirtualService
from lvsd.daemon.clock import Clock
from lvsd.daemon.resync import ResyncSchedule
from lvsd.errors import IPVSError
from lvsd.health import Health
from lvsd.ipvs.backend import Backend, apply_all, read_dests
from lvsd.ipvs.table import Op, ServiceKey, Table
from lvsd.reconcile import Step, draining, plan

OnEdit = Callable[[Step, str], None]  # an applied step and its ldirectord line
OnError = Callable[[Op | None], None]  # a refused edit, or None for a failed read of the table


class KernelTable:
    def __init__(self, backend: Backend, clock: Clock, *, on_edit: OnEdit, on_error: OnError) -> None:
        self.backend = backend
        self.clock = clock
        self.on_edit = on_edit
        self.on_error = on_error
        self.actual = Table()  # lvsd's copy of the live table
        self.degraded = False  # an edit or read failed and no full pass has gone through since
        self.last_pass: dict[str, object] = {}  # the last reconcile pass: edits, ok, plan_ms, apply_ms
        self.schedule = ResyncSchedule()  # when to re-read the table, retry backoff, drains in progress
        self.next_resync = 0.0
        self.log = log.get()

    async def read(self) -> bool:
        """Re-read the whole table into the copy; a failure is logged and leaves the copy as it was."""
        try:
            self.actual = await self.backend.dump()
        except IPVSError as exc:
            self._read_failed(exc)
            return False
        return True

    def _read_failed(self, exc: IPVSError) -> None:
        self.log.error("ipvs.error", op="dump", errno=exc.errno, detail=exc.detail)
        self.on_error(None)

    async def apply(
        self, steps: Sequence[Step], *, phase: str = "start", interval: float = 0.0,
        before: Callable[[Step], None] | None = None,
    ) -> bool:
        """Apply ``steps`` in one batch; log each edit, or each refusal with its operation.

        ``interval`` is the resync interval: a refusal brings the next full
        pass forward, backing off from there while passes keep failing. At stop
        (``phase="stop"``) nothing is retried. ``before`` runs for each applied
        step before the copy is changed (the purge names the dests it removes).
        """
        if not steps:
            return True
        results = await apply_all(self.backend, [s.op for s in steps])
        ok = True
        for step, err in zip(steps, results, strict=True):
            op = step.op.ipvsadm()
            if err is not None:
                ok = False
                self.log.error("ipvs.error", op=op, errno=err.errno, detail=err.detail)
                self.on_error(step.op)
                continue
            if before is not None:
                before(step)
            self.actual.apply(step.op)
            text = logtext.step_text(step, phase)
            self.log.info("ipvs.edit", msg=text, op=op, role=step.op.role)
            self.on_edit(step, text)
        if not ok and phase != "stop":
            self.degraded = True
            due = self.schedule.failed(self.clock.monotonic(), interval)
            self.next_resync = min(self.next_resync, due)
        return ok

    async def resync(
        self, config: Config, health: Mapping[MemberKey, Health], interval: float,
        removed: set[ServiceKey] | None = None,
    ) -> None:
        """Bring the kernel table to what the config and health ask for.

        A full pass re-reads the whole table: at start, every resync interval
        (repairing edits made behind lvsd's back) and soon after a failed edit.
        Between full passes, while real servers drain, only their services'
        dests are re-read for fresh connection counts. A reload (``removed``
        given) has just read the table and does not read it again. Start,
        reload and a retry put back quiesced reals missing from the kernel; a
        periodic pass does so only with readdquiescent=yes.
        """
        ks = self.schedule
        clock = self.clock
        now = clock.monotonic()
        reload = removed is not None
        forced = reload or not ks.synced or ks.retry > 0
        full = not reload and (not ks.synced or now >= ks.full_due)
        try:
            if full:
                self.actual = await self.backend.dump()
            elif not reload:
                for key in sorted({svc for svc, _ in ks.drain_since}):
                    if key in self.actual.services:
                        self.actual.dests[key] = await read_dests(self.backend, key)
        except IPVSError as exc:
            self.degraded = True
            self._read_failed(exc)
            self.next_resync = ks.failed(now, interval)
            return
        if full or reload:
            ks.reread(now, interval)
        ks.track(draining(config, self.actual), now)
        t_plan = clock.monotonic()
        steps = plan(
            config, health, self.actual, removed=removed or set(),
            readd=forced or config.readdquiescent, now=now, drain_since=ks.drain_since,
        )
        t_apply = clock.monotonic()
        ok = await self.apply(steps, interval=interval)
        self.last_pass = {"edits": len(steps), "ok": ok, "plan_ms": round((t_apply - t_plan) * 1000, 1),
                          "apply_ms": round((clock.monotonic() - t_apply) * 1000, 1)}
        if steps:
            self.log.info("ipvs.pass", read="reload" if reload else "full" if full else "drains", **self.last_pass)
        ks.track(draining(config, self.actual), now)
        if ok and (full or reload):
            ks.succeeded()
            if self.degraded:
                self.degraded = False
                self.log.info("ipvs.recovered", msg="IPVS table in sync again")
        self.next_resync = ks.next_pass(clock.monotonic())

    async def purge(self, virtuals: Sequence[VirtualService]) -> None:
        """Remove these services (``cleanstop``), each in one edit: its dests go with it.

        The table is read first so the purge lines name what is really removed.
        """
        if not virtuals:
            return
        await self.read()
        steps = [
            Step(Op(kind="del-service", service=svc), v)
            for v in virtuals
            if (svc := self.actual.services.get(v.key)) is not None
        ]
        await self.apply(steps, phase="stop", before=self._log_purged_dests)

    def _log_purged_dests(self, step: Step) -> None:
        label = step.virtual.label if step.virtual is not None else str(step.op.service.key)
        for dest in self.actual.dests_of(step.op.service.key).values():
            self.log.info("ipvs.purge", msg=f"Purged real server (stop): {dest} ({label})")
