"""The owner loop: check results, signals and timers in; kernel edits and log lines out.

One task owns all state (config, health, the cached kernel table). Signal
handlers and the check scheduler only enqueue events. The lifecycle:

1. adopt the kernel table (a configured real already in service is kept as
   up, so a restart touches nothing that works), start every check;
2. wait for the first round of results (bounded by the longest check
   timeout), then reconcile: nothing unchecked is ever put in service;
3. loop: a state change replans its virtual service against the cached
   table; SIGHUP reloads as a transaction; a periodic resync re-reads the
   kernel and repairs drift; a kernel error is logged, marks the daemon
   degraded and is retried at the next resync, never fatal;
4. on SIGTERM, purge the managed services if ``cleanstop`` says so; on
   SIGUSR2 (``lvsd restart``) leave the table for the next daemon to adopt.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from lvsd import __version__, director, log, logtext
from lvsd.checks.base import CheckResult, CheckSpec
from lvsd.checks.scheduler import Scheduler
from lvsd.config.errors import ConfigError
from lvsd.errors import IPVSError
from lvsd.health import Health, State, observe
from lvsd.ipvs.table import Op, ServiceKey, Table
from lvsd.reconcile import HealthKey, Step, kernel_port, plan, plan_virtual, service_key

RESYNC_INTERVAL = 30.0
RETRY_INTERVAL = 1.0


class Backend(Protocol):
    async def dump(self) -> Table: ...
    async def apply(self, op: Op) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # "result" | "reload" | "stop"
    key: Hashable = None
    spec: CheckSpec | None = None
    result: CheckResult | None = None
    signame: str = ""
    clean: bool = True


class Daemon:
    def __init__(
        self,
        config_path: str,
        backend: Backend,
        *,
        state_file: str | None = None,
        resync_interval: float = RESYNC_INTERVAL,
        on_ready: Callable[[], None] | None = None,
        sink_factory: Callable[[str, str], log.Sink] | None = None,
    ) -> None:
        self.path = config_path
        self.backend = backend
        self.state_file = state_file
        self.resync_interval = resync_interval
        self.on_ready = on_ready
        self.sink_factory = sink_factory or (lambda logfile, name: log.Sink(logfile, name))
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.scheduler = Scheduler(self._on_result)
        self.health: dict[HealthKey, Health] = {}
        self.results: dict[HealthKey, CheckResult] = {}
        self.actual = Table()
        self.degraded = False
        self.reloads = 0
        self.last_reload: dict[str, Any] = {}
        self._next_resync = 0.0
        self.log = log.get()
        self.d = director.load(config_path)  # the CLI has validated it; a failure here is fatal at start
        self._configure_log()

    # -- plumbing ---------------------------------------------------------

    def _configure_log(self) -> None:
        log.configure(self.sink_factory(self.d.config.logfile, self.d.config.name))

    def _on_result(self, key: Hashable, spec: CheckSpec, result: CheckResult) -> None:
        self.events.put_nowait(Event("result", key=key, spec=spec, result=result))

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, self.events.put_nowait, Event("stop", signame=sig.name[3:], clean=True))
        loop.add_signal_handler(signal.SIGUSR2, self.events.put_nowait, Event("stop", signame="USR2", clean=False))
        loop.add_signal_handler(signal.SIGHUP, self.events.put_nowait, Event("reload", signame="HUP"))

    def _write_state(self) -> None:
        if not self.state_file:
            return
        reals = []
        for key, (v, r) in self.d.members.items():
            h = self.health.get(key, Health())
            res = self.results.get(key)
            reals.append(
                {
                    "virtual": v.label,
                    "protocol": v.protocol,
                    "real": str(r),
                    "state": h.state.value,
                    "failures": h.failures,
                    "reason": h.reason,
                    "latency": round(res.latency, 4) if res else None,
                    "since": h.since,
                }
            )
        state = {
            "pid": os.getpid(),
            "config": self.path,
            "degraded": self.degraded,
            "reloads": self.reloads,
            "last_reload": self.last_reload,
            "reals": reals,
            "written": time.time(),
        }
        tmp = f"{self.state_file}.tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, self.state_file)

    # -- kernel -----------------------------------------------------------

    async def _apply(self, steps: list[Step], phase: str = "start") -> bool:
        ok = True
        for step in steps:
            try:
                await self.backend.apply(step.op)
            except IPVSError as exc:
                ok = False
                self.degraded = True
                self._next_resync = min(self._next_resync, time.monotonic() + RETRY_INTERVAL)
                self.log.error("ipvs.error", op=step.op.ipvsadm(), errno=exc.errno, detail=exc.detail)
                continue
            self.actual.apply(step.op)
            self.log.info(
                "ipvs.edit", msg=logtext.step_text(step, phase), op=step.op.ipvsadm(), role=step.op.role
            )
        return ok

    async def resync(self, removed: set[ServiceKey] | None = None) -> None:
        """Re-read the kernel table and apply whatever differs from what is wanted."""
        self._next_resync = time.monotonic() + self.resync_interval
        try:
            self.actual = await self.backend.dump()
        except IPVSError as exc:
            self.degraded = True
            self._next_resync = time.monotonic() + RETRY_INTERVAL
            self.log.error("ipvs.error", op="dump", errno=exc.errno, detail=exc.detail)
            return
        ok = await self._apply(plan(self.d.config, self.health, self.actual, removed=removed or set()))
        if ok and self.degraded:
            self.degraded = False
            self.log.info("ipvs.recovered", msg="IPVS table in sync again")
        self._write_state()

    def _adopt(self, keys: list[HealthKey]) -> None:
        """A configured real already in the kernel at a non-zero weight is taken as up, unchecked."""
        now = time.monotonic()
        for key in keys:
            v, r = self.d.members[key]
            dest = self.actual.dests_of(service_key(v)).get((r.ip, kernel_port(v, r.forward, r.port)))
            if dest is not None and dest.weight > 0:
                self.health[key] = Health(State.UP, since=now, reason="adopted from the kernel table")
            else:
                self.health[key] = Health(since=now)

    # -- events -----------------------------------------------------------

    def _fold(self, ev: Event) -> HealthKey | None:
        """Fold a check result into health; return the key if its service changed state."""
        key = ev.key
        if key not in self.d.members or ev.result is None:
            return None
        job = self.scheduler.job(key)
        if job is None or job.spec != ev.spec:
            return None  # a result of a check the last reload replaced
        v, r = self.d.members[key]
        self.results[key] = ev.result
        old = self.health.get(key, Health())
        new, tr = observe(old, ev.result.ok, ev.result.message, time.monotonic(), failurecount=v.failurecount)
        self.health[key] = new
        if tr is None:
            return None
        fields = {"virtual": v.label, "real": str(r), "reason": ev.result.message}
        if tr.kind == "soft-failure":
            self.log.info("real.soft_failure", msg=logtext.soft_failure(v, r, tr.failures), **fields)
            return None
        if tr.kind == "reset":
            self.log.info("real.reset", msg=logtext.reset_failures(v, r), **fields)
            return None
        self.log.info(f"real.{tr.kind}", check=ev.spec.describe() if ev.spec else "", **fields)
        return key

    async def _initial_round(self) -> Event | None:
        """Collect first results until every check has reported (or its deadline passed)."""
        jobs = self.scheduler.jobs
        deadline = time.monotonic() + max((j.spec.timeout for j in jobs.values()), default=0.0) + 1.0
        pending = set(jobs)
        deferred: Event | None = None
        while pending and time.monotonic() < deadline:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    ev = await self.events.get()
            except TimeoutError:
                break
            if ev.kind == "stop":
                return ev
            if ev.kind == "reload":
                deferred = ev  # acted on once running, never dropped
                continue
            self._fold(ev)
            pending.discard(ev.key)
        return deferred

    async def reload(self, signame: str = "HUP") -> bool:
        self.log.info("config.reload", msg="Reloading Linux Director Daemon config on signal", signal=signame)
        self.reloads += 1
        try:
            new = director.load(self.path)
        except ConfigError as exc:
            for d in exc.diagnostics:
                self.log.error(
                    "config.error", msg=f"Error [{os.getpid()}] reading file {d.file} at line {d.line}: {d.message}"
                )
            self.log.error("config.reload_failed", msg="Reload failed: keeping the running configuration")
            self.last_reload = {"ok": False, "errors": [d.format() for d in exc.diagnostics], "time": time.time()}
            self._write_state()
            return False
        old = self.d
        removed = {service_key(v) for v in old.config.virtuals} - {service_key(v) for v in new.config.virtuals}
        self.d = new
        if (old.config.logfile, old.config.name) != (new.config.logfile, new.config.name):
            self._configure_log()
        try:
            self.actual = await self.backend.dump()
        except IPVSError as exc:
            self.log.error("ipvs.error", op="dump", errno=exc.errno, detail=exc.detail)
        self.health = {k: h for k, h in self.health.items() if k in new.members}
        self.results = {k: r for k, r in self.results.items() if k in new.members}
        self._adopt([k for k in new.members if k not in self.health])
        self.scheduler.sync(new.jobs)
        await self.resync(removed)
        self.last_reload = {"ok": True, "errors": [], "time": time.time()}
        self.log.info("config.reloaded", summary=new.config.summary())
        self._write_state()
        return True

    async def stop(self, signame: str, clean: bool) -> None:
        await self.scheduler.close()
        if clean:
            for v in self.d.config.virtuals:
                key = service_key(v)
                svc = self.actual.services.get(key)
                if not v.cleanstop or svc is None:
                    continue
                for dest in self.actual.dests_of(key).values():
                    self.log.info("ipvs.purge", msg=f"Purged real server (stop): {dest} ({v.label})")
                await self._apply([Step(Op(kind="del-service", service=svc), v)], phase="stop")
        else:
            self.log.info("daemon.handover", msg="Leaving the IPVS table in place for the next lvsd")
        self.log.info("daemon.stop", msg=f"Linux Director Daemon terminated on signal: {signame}")

    # -- main -------------------------------------------------------------

    async def run(self) -> int:
        self._install_signals()
        self.log.info(
            "daemon.start", msg=f"Starting Linux Director lvsd {__version__} with pid: {os.getpid()}", config=self.path
        )
        try:
            self.actual = await self.backend.dump()
        except IPVSError as exc:
            self.log.error("ipvs.error", op="dump", errno=exc.errno, detail=exc.detail)
            return 1
        self._adopt(list(self.d.members))
        self.scheduler.sync(self.d.jobs)
        pending = await self._initial_round()
        if pending is not None and pending.kind == "stop":
            await self.stop(pending.signame, pending.clean)
            return 0
        await self.resync()
        if self.on_ready is not None:
            self.on_ready()
        if pending is not None:
            await self.reload(pending.signame)
        while True:
            try:
                async with asyncio.timeout(max(0.0, self._next_resync - time.monotonic())):
                    ev = await self.events.get()
            except TimeoutError:
                await self.resync()
                continue
            if ev.kind == "stop":
                await self.stop(ev.signame, ev.clean)
                return 0
            if ev.kind == "reload":
                await self.reload(ev.signame)
                continue
            key = self._fold(ev)
            if key is not None:
                v, _ = self.d.members[key]
                await self._apply(plan_virtual(v, self.health, self.actual))
                self._write_state()
