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
import os
import re
import signal
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from lvsd import __version__, director, hooks, log, logtext, metrics, monitorfile, notify
from lvsd.checks.base import CheckResult, CheckSpec
from lvsd.checks.scheduler import Scheduler
from lvsd.config.errors import ConfigError
from lvsd.config.model import VirtualService
from lvsd.control import ControlServer
from lvsd.errors import IPVSError
from lvsd.health import Health, State, observe
from lvsd.ipvs.backend import apply_all, read_dests
from lvsd.ipvs.table import Op, ServiceKey, Table
from lvsd.reconcile import HealthKey, Step, draining, kernel_port, plan, plan_virtual, service_key
from lvsd.sync import SyncState
from lvsd.watchfile import FileWatch

RESYNC_INTERVAL = 30.0
RETRY_INTERVAL = 1.0
_PARENS = re.compile(r"\(([^()]*)\)")
MAX_BATCH = 4096  # events taken from the queue before the loop yields
# ldirectord's events that send an email alert (reference §3.10)
ALERT_PREFIXES = (
    "Quiescent real server", "Readd Quiescent real server", "Deleted real server", "Restored real server",
    "Added real server", "Added fallback server", "Deleted fallback server", "Restored fallback server",
    "Purged real server", "Purged virtual server",
)


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
    reply: asyncio.Future[dict[str, Any]] | None = None


class Daemon:
    def __init__(
        self,
        config_path: str,
        backend: Backend,
        *,
        resync_interval: float = RESYNC_INTERVAL,
        on_ready: Callable[[], None] | None = None,
        sink_factory: Callable[[str, str], log.Sink] | None = None,
        control_path: str | None = None,
        metrics_address: tuple[str, int] | None = None,
        fallbackcommand_at_stop: bool = False,
        loaded: director.Director | None = None,
    ) -> None:
        self.path = config_path
        self.backend = backend
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
        self.control_path = control_path
        self.metrics_address = metrics_address
        self.fallbackcommand_at_stop = fallbackcommand_at_stop
        self.registry = metrics.new_registry()
        self.hooks = hooks.Hooks()
        self.status = "starting"  # ldirectord's daemon states: starting, running, reloading, stopping
        self.started = time.time()
        self._fallback_active: dict[tuple[str, str, int], bool] = {}
        self._resend: dict[HealthKey, float] = {}  # "Inaccessible real server" email due times
        self._watchdog = notify.watchdog_interval()
        self._next_watchdog = 0.0
        self.log = log.get()
        self.watch = FileWatch(config_path)
        # ``loaded``: what the CLI has just read and validated (start forks; reading 10,000 reals twice costs)
        self.d = loaded if loaded is not None else director.load(config_path)  # a failure here is fatal at start
        self._next_poll = 0.0
        self._status_sent = ""  # the last STATUS= line systemd was sent
        self.last_pass: dict[str, Any] = {}  # the last reconcile pass: edits, ok, plan_ms, apply_ms
        self._kernel_sync = SyncState()  # when to re-read the table, retry backoff, drains in progress (lvsd.sync)
        # per (virtual, real): its latency labels and its checks_total labels by result, made once
        self._check_labels: dict[HealthKey, tuple[metrics.Labels, dict[bool, metrics.Labels]]] = {}
        self._configure_log()

    # -- plumbing ---------------------------------------------------------

    def _configure_log(self) -> None:
        log.configure(self.sink_factory(self.d.config.logfile, self.d.config.name), self._observe)

    # -- alerts, hooks and metrics (derived from events and transitions) --

    def _observe(self, event: Any) -> None:
        """Every log event passes here first: kernel edits feed metrics and email alerts."""
        name = event.get("event", "")
        if name == "ipvs.edit":
            op = str(event.get("op", "")).split(" ")[1:2]
            self.registry.inc("lvsd_ipvs_operations_total", (("op", op[0] if op else "?"),))
            text = str(event.get("msg", ""))
            if text.startswith(ALERT_PREFIXES):
                self._alert(text)
        elif name == "ipvs.error":
            op = str(event.get("op", "")).split(" ")[1:2]
            self.registry.inc("lvsd_ipvs_errors_total", (("op", op[0] if op else str(event.get("op"))),))

    def _virtual_of(self, text: str) -> VirtualService | None:
        """The virtual a log line names in parentheses ("... 203.0.113.5:80 (198.51.100.1:80)")."""
        for label in _PARENS.findall(text):
            v = self.d.by_label.get(label)
            if v is not None:
                return v
        return None

    def _alert(self, subject: str, v: VirtualService | None = None) -> None:
        v = v or self._virtual_of(subject)
        cfg = self.d.config
        to = v.emailalert if v is not None else cfg.emailalert
        statuses = v.emailalertstatus if v is not None else cfg.emailalertstatus
        if not to or self.status not in statuses:
            return
        msg = hooks.alert_message(
            to=to, sender=cfg.emailalertfrom or hooks.default_sender(), subject=subject, status=self.status,
            servicename=v.servicename if v else None, comment=v.comment if v else None,
        )
        self.hooks.email(msg, v.smtp if v is not None else cfg.smtp)

    def _fallback_commands(self, stopping: bool = False) -> None:
        """Run ``fallbackcommand start|stop`` when a virtual's "no real up" state changes."""
        for v in self.d.config.virtuals:
            if not v.fallbackcommand:
                continue
            active = not stopping and not any(self.health.get((v.key, r.key), Health()).up for r in v.reals)
            if self._fallback_active.get(v.key, False) == active:  # never started: no "stop" at start-up
                continue
            self._fallback_active[v.key] = active
            target = hooks.fallback_argument(v.label, v.fwmark)
            self.hooks.fallback_command(v.fallbackcommand, "start" if active else "stop", target, v.protocol)

    def _publish(self, keys: Iterable[HealthKey] | None = None) -> None:
        """Refresh the gauges and systemd's status line after a change.

        ``keys`` names the reals whose state changed (a batch of check
        results); without it every real's gauge is refreshed (start, reload,
        resync). Either way the cost of a batch does not grow with the table
        times the batches: 10,000 reals coming up one by one stay linear.
        """
        members = self.d.members
        for key in members if keys is None else keys:
            vr = members.get(key)
            if vr is None:
                continue
            v, r = vr
            is_up = self.health.get(key, Health()).up
            self.registry.gauge("lvsd_real_up", 1.0 if is_up else 0.0, (("virtual", v.ident), ("real", str(r))))
        self.registry.gauge("lvsd_degraded", 1.0 if self.degraded else 0.0)
        line = self._status_line()
        if line != self._status_sent:  # systemd is told of changes only
            self._status_sent = line
            notify.status(line)

    def _on_result(self, key: Hashable, spec: CheckSpec, result: CheckResult) -> None:
        self.events.put_nowait(Event("result", key=key, spec=spec, result=result))

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, self.events.put_nowait, Event("stop", signame=sig.name[3:], clean=True))
        loop.add_signal_handler(signal.SIGUSR2, self.events.put_nowait, Event("stop", signame="USR2", clean=False))
        loop.add_signal_handler(signal.SIGHUP, self.events.put_nowait, Event("reload", signame="HUP"))

    # -- kernel -----------------------------------------------------------

    async def _apply(self, steps: list[Step], phase: str = "start") -> bool:
        """Apply ``steps`` in one batch; log each edit, or each refusal with its operation.

        A refusal never stops the rest of the batch. It marks the daemon
        degraded and brings the next full pass (which re-reads the kernel)
        forward, backing off while passes keep failing.
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
                continue
            self.actual.apply(step.op)
            self.log.info("ipvs.edit", msg=logtext.step_text(step, phase), op=op, role=step.op.role)
        if not ok:
            self.degraded = True
            due = self._kernel_sync.failed(time.monotonic(), self._resync_period())
            self._next_resync = min(self._next_resync, due)
        return ok

    def _resync_period(self) -> float:
        return self.d.config.resyncinterval or self.resync_interval

    async def resync(self, removed: set[ServiceKey] | None = None) -> None:
        """Bring the kernel table to what the config and health ask for.

        A full pass re-reads the whole table: at start, every resync interval
        (repairing edits made behind lvsd's back) and soon after a failed edit.
        Between full passes, while real servers drain, only their services'
        dests are re-read for fresh connection counts. A reload (``removed``
        given) has just read the table and does not read it again. Start,
        reload and a retry put back quiesced reals missing from the kernel; a
        periodic pass does so only with readdquiescent=yes.
        """
        ks = self._kernel_sync
        now = time.monotonic()
        interval = self._resync_period()
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
            self.log.error("ipvs.error", op="dump", errno=exc.errno, detail=exc.detail)
            self._next_resync = ks.failed(now, interval)
            self._publish(())
            return
        if full or reload:
            ks.reread(now, interval)
        ks.track(draining(self.d.config, self.actual), now)
        t_plan = time.monotonic()
        steps = plan(
            self.d.config, self.health, self.actual, removed=removed or set(),
            readd=forced or self.d.config.readdquiescent, now=now, drain_since=ks.drain_since,
        )
        t_apply = time.monotonic()
        ok = await self._apply(steps)
        self.last_pass = {"edits": len(steps), "ok": ok, "plan_ms": round((t_apply - t_plan) * 1000, 1),
                          "apply_ms": round((time.monotonic() - t_apply) * 1000, 1)}
        if steps:
            self.log.info("ipvs.pass", read="reload" if reload else "full" if full else "drains", **self.last_pass)
        ks.track(draining(self.d.config, self.actual), now)
        if ok and (full or reload):
            ks.succeeded()
            if self.degraded:
                self.degraded = False
                self.log.info("ipvs.recovered", msg="IPVS table in sync again")
        self._next_resync = ks.next_pass(time.monotonic())
        self._publish(())  # a pass changes no real's state, only (perhaps) degraded

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
        if job is None or (job.spec is not ev.spec and job.spec != ev.spec):  # identity first: this runs per check
            return None  # a result of a check the last reload replaced
        v, r = self.d.members[key]
        res = ev.result
        self.results[key] = res
        # metric labels, made once per (virtual, real): the key names both, so they never go stale
        made = self._check_labels.get(key)
        if made is None:
            pair = (("virtual", v.ident), ("real", str(r)))
            made = self._check_labels[key] = (pair, {ok: (*pair, ("result", "up" if ok else "down"))
                                                     for ok in (True, False)})
        labels, by_result = made
        self.registry.inc("lvsd_checks_total", by_result[res.ok])
        self.registry.observe("lvsd_check_latency_seconds", res.latency, labels)
        # ldirectord writes no monitorfile line for ping (a udp connect), external-perl and on, except maintenance
        logged = res.forced or ev.spec is None or ev.spec.kind not in ("ping", "external-perl", "on")
        if v.monitorfile and logged:
            try:
                monitorfile.append(v.monitorfile, monitorfile.line(v, r, res.ok, res.message))
            except OSError as exc:
                self.log.error("monitorfile.error", path=v.monitorfile, error=str(exc))
        old = self.health.get(key, Health())
        new, tr = observe(old, res.ok, res.message, time.monotonic(), failurecount=v.failurecount,
                          risecount=v.risecount, reentry=v.reentry, forced=res.forced)
        self.health[key] = new
        if tr is None:
            return None
        fields = {"virtual": v.label, "real": str(r), "reason": res.message}
        if tr.kind == "soft-failure":
            self.log.info("real.soft_failure", msg=logtext.soft_failure(v, r, tr.failures), **fields)
            return None
        if tr.kind == "reset":
            self.log.info("real.reset", msg=logtext.reset_failures(v, r), **fields)
            return None
        self.log.info(f"real.{tr.kind}", check=ev.spec.describe() if ev.spec else "", **fields)
        self.registry.inc("lvsd_real_transitions_total", (*labels, ("to", tr.kind)))
        if tr.kind == "down" and v.emailalert and v.emailalertfreq > 0:
            self._resend[key] = time.monotonic() + v.emailalertfreq
        else:
            self._resend.pop(key, None)
        return key

    async def _initial_round(self) -> Event | None:
        """Collect first results until every check has reported (or its deadline passed)."""
        jobs = self.scheduler.jobs
        deadline = time.monotonic() + max((j.spec.timeout for j in jobs.values()), default=0.0) + 1.0
        pending = set(jobs)
        deferred: Event | None = None
        while True:
            if pending and time.monotonic() < deadline:
                try:
                    async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                        ev = await self.events.get()
                except TimeoutError:
                    continue
            elif not self.events.empty():
                # results already queued when the round ended are decided: the first pass programs them too
                # (a slow machine or a large table must not leave them to one edit each)
                ev = self.events.get_nowait()
            else:
                return deferred
            if ev.kind == "stop":
                return ev
            if ev.kind == "reload":
                deferred = ev  # acted on once running, never dropped
                continue
            self._fold(ev)
            pending.discard(ev.key)

    async def reload(self, signame: str = "HUP") -> dict[str, Any]:
        """Re-read the config as a transaction; on error keep running the old one unchanged."""
        self.log.info("config.reload", msg="Reloading Linux Director Daemon config on signal", signal=signame)
        self.reloads += 1
        previous, self.status = self.status, "reloading"
        notify.reloading()
        try:
            return await self._reload()
        finally:
            self.status = previous
            self.watch.remember()
            notify.ready(self._status_line())

    async def _reload(self) -> dict[str, Any]:
        t0 = time.monotonic()
        try:
            new = director.load(self.path)
        except ConfigError as exc:
            for d in exc.diagnostics:
                self.log.error(
                    "config.error", msg=f"Error [{os.getpid()}] reading file {d.file} at line {d.line}: {d.message}"
                )
            self.log.error("config.reload_failed", msg="Reload failed: keeping the running configuration")
            self.registry.inc("lvsd_config_reloads_total", (("result", "error"),))
            self.last_reload = {"ok": False, "errors": [d.format() for d in exc.diagnostics], "time": time.time()}
            return self.last_reload
        old = self.d
        removed = {service_key(v) for v in old.config.virtuals} - {service_key(v) for v in new.config.virtuals}
        self.d = new
        if (old.config.logfile, old.config.name) != (new.config.logfile, new.config.name):
            self._configure_log()
        t_read = time.monotonic()
        try:
            self.actual = await self.backend.dump()
        except IPVSError as exc:
            self.log.error("ipvs.error", op="dump", errno=exc.errno, detail=exc.detail)
        read_ms = round((time.monotonic() - t_read) * 1000, 1)
        self.health = {k: h for k, h in self.health.items() if k in new.members}
        self.results = {k: r for k, r in self.results.items() if k in new.members}
        self._resend = {k: t for k, t in self._resend.items() if k in new.members}
        self._check_labels = {k: lb for k, lb in self._check_labels.items() if k in new.members}
        self._adopt([k for k in new.members if k not in self.health])
        self.scheduler.sync(new.jobs)
        self.registry.forget({(("virtual", v.ident), ("real", str(r))) for k, (v, r) in old.members.items()
                              if k not in new.members})
        await self.resync(removed)
        self._fallback_commands()
        self.registry.inc("lvsd_config_reloads_total", (("result", "ok"),))
        self._publish([k for k in new.members if k not in old.members])  # the others' state is unchanged
        # where the time went: reading the config, reading the kernel table, planning, the edits
        took = {"parse_ms": round((t_read - t0) * 1000, 1), "read_ms": read_ms,
                "plan_ms": self.last_pass.get("plan_ms"), "apply_ms": self.last_pass.get("apply_ms"),
                "total_ms": round((time.monotonic() - t0) * 1000, 1)}
        self.last_reload = {"ok": True, "errors": [], "time": time.time(), "edits": self.last_pass.get("edits", 0),
                            "took": took, "warnings": [w.format() for w in new.config.warnings]}
        self.log.info("config.reloaded", summary=new.config.summary(), edits=self.last_reload["edits"], **took)
        return self.last_reload

    # -- status -------------------------------------------------------------

    def _status_line(self) -> str:
        up = sum(1 for h in self.health.values() if h.up)
        return f"{up}/{len(self.d.members)} real servers up" + ("; degraded" if self.degraded else "")

    def snapshot(self) -> dict[str, Any]:
        """What the daemon thinks, for `lvsd status` (read-only)."""
        now = time.monotonic()
        virtuals = []
        for v in self.d.config.virtuals:
            key = service_key(v)
            live = self.actual.dests_of(key)
            reals = []
            for r in v.reals:
                hk = (v.key, r.key)
                h = self.health.get(hk, Health())
                res = self.results.get(hk)
                dest = live.get((r.ip, kernel_port(v, r.forward, r.port)))
                reals.append({
                    "real": str(r), "forward": r.forward, "weight": r.weight,
                    "kernel_weight": dest.weight if dest is not None else None,
                    "state": h.state.value, "failures": h.failures,
                    "last_check": None if res is None else {
                        "ok": res.ok, "reason": res.message, "latency_ms": round(res.latency * 1000, 1)},
                    "since_change": round(now - h.since, 1) if h.since else None,
                })
            fb = v.fallback
            virtuals.append({
                "service": str(v), "label": v.label, "protocol": v.protocol, "in_kernel": key in self.actual.services,
                "fallback": None if fb is None else {
                    "server": str(fb), "active": (fb.ip, kernel_port(v, fb.forward, fb.port)) in live},
                "reals": reals,
            })
        return {
            "pid": os.getpid(), "version": __version__, "config": self.path, "status": self.status,
            "uptime": round(time.time() - self.started, 1), "degraded": self.degraded,
            "reloads": self.reloads, "last_reload": self.last_reload, "virtuals": virtuals,
        }

    async def _control(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        if cmd == "status":
            return {"ok": True, **self.snapshot()}
        if cmd == "reload":
            reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self.events.put_nowait(Event("reload", signame="control", reply=reply))
            return await reply
        return {"ok": False, "error": f"unknown command {cmd!r} (expected status or reload)"}

    async def stop(self, signame: str, clean: bool) -> None:
        """Stop checking; remove the services whose cleanstop says so, or leave the table exactly as it is.

        The table is read first so the purge lines name what is really
        removed; a service is removed in one edit (its dests go with it).
        """
        await self.scheduler.close()
        purge = [v for v in self.d.config.virtuals if v.cleanstop] if clean else []
        if purge:
            try:
                self.actual = await self.backend.dump()
            except IPVSError as exc:
                self.log.error("ipvs.error", op="dump", errno=exc.errno, detail=exc.detail)
            steps = [
                Step(Op(kind="del-service", service=svc), v)
                for v in purge
                if (svc := self.actual.services.get(service_key(v))) is not None
            ]
            results = await apply_all(self.backend, [s.op for s in steps])
            for step, err in zip(steps, results, strict=True):
                op = step.op.ipvsadm()
                if err is not None:
                    self.log.error("ipvs.error", op=op, errno=err.errno, detail=err.detail)
                    continue
                label = step.virtual.label if step.virtual is not None else str(step.op.service.key)
                for dest in self.actual.dests_of(step.op.service.key).values():
                    self.log.info("ipvs.purge", msg=f"Purged real server (stop): {dest} ({label})")
                self.actual.apply(step.op)
                self.log.info("ipvs.edit", msg=logtext.step_text(step, "stop"), op=op, role=step.op.role)
        elif not clean:
            self.log.info("daemon.handover", msg="Leaving the IPVS table in place for the next lvsd")
        self.log.info("daemon.stop", msg=f"Linux Director Daemon terminated on signal: {signame}")

    # -- main -------------------------------------------------------------

    async def _timers(self) -> float:
        """Run what is due (watchdog, autoreload poll, email resends, resync); return the next deadline."""
        now = time.monotonic()
        if self._watchdog is not None and now >= self._next_watchdog:
            notify.watchdog()  # sent by the owner loop itself: a hung loop stops the pings
            self._next_watchdog = now + self._watchdog
        if now >= self._next_poll:
            self._next_poll = now + self.d.config.checkinterval
            if self.watch.changed():
                await self._config_changed()
        for key, due in list(self._resend.items()):
            if now >= due and key in self.d.members:
                v, r = self.d.members[key]
                self._resend[key] = now + max(v.emailalertfreq, 1)
                self._alert(f"Inaccessible real server: {r} ({v.label})", v)
        if now >= self._next_resync:
            await self.resync()
        deadlines = [self._next_resync, self._next_poll, *self._resend.values()]
        if self._watchdog is not None:
            deadlines.append(self._next_watchdog)
        return min(deadlines)

    async def _config_changed(self) -> None:
        cfg = self.d.config
        self.log.info("config.changed", msg=f"Configuration file '{self.path}' has changed on disk")
        if cfg.callback and os.access(cfg.callback, os.X_OK):
            self.hooks.fallback_command(cfg.callback, "", self.path, "")  # "PATH CONFIGFILE" through the shell
        if cfg.autoreload:
            self.log.info("config.autoreload", msg=" - reread new configuration")
            await self.reload("autoreload")
        else:
            self.log.info("config.autoreload", msg=" - ignore new configuration")
            self.watch.remember()

    async def _shutdown(self, ev: Event) -> int:
        self.status = "stopping"
        notify.stopping()
        if self.fallbackcommand_at_stop and ev.clean:
            self._fallback_commands(stopping=True)
        await self.stop(ev.signame, ev.clean)
        await self.hooks.close()
        return 0

    async def run(self) -> int:
        self._install_signals()
        self.log.info(
            "daemon.start", msg=f"Starting Linux Director lvsd {__version__} with pid: {os.getpid()}", config=self.path
        )
        self.watch.remember()
        try:
            self.actual = await self.backend.dump()
        except IPVSError as exc:
            self.log.error("ipvs.error", op="dump", errno=exc.errno, detail=exc.detail)
            return 1
        control = ControlServer(self.control_path, self._control) if self.control_path else None
        server = metrics.MetricsServer(self.registry, *self.metrics_address) if self.metrics_address else None
        try:
            if server is not None:
                await server.start()
            return await self._serve(control)
        finally:
            if control is not None:
                await control.close()
            if server is not None:
                await server.close()

    async def _serve(self, control: ControlServer | None) -> int:
        self._adopt(list(self.d.members))
        self.scheduler.sync(self.d.jobs)
        pending = await self._initial_round()
        if pending is not None and pending.kind == "stop":
            return await self._shutdown(pending)
        await self.resync()
        self._fallback_commands()
        self._publish()
        if control is not None:
            await control.start()
        self.status = "running"
        notify.ready(self._status_line())
        if self.on_ready is not None:
            self.on_ready()
        if pending is not None:
            await self.reload(pending.signame)
        while True:
            deadline = await self._timers()
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    ev = await self.events.get()
            except TimeoutError:
                continue
            # take every event already queued: results are folded as a batch and their virtual
            # services replanned once, so a burst (start-up, a switch failing under a thousand
            # reals) costs one plan per service and one batched write, not one per result
            batch = [ev]
            while len(batch) < MAX_BATCH and not self.events.empty():
                batch.append(self.events.get_nowait())
            changed: dict[HealthKey, None] = {}
            for ev in batch:
                if ev.kind == "result":
                    key = self._fold(ev)
                    if key is not None:
                        changed[key] = None
                    continue
                await self._settle(changed)  # results before a reload or stop are acted on first
                changed = {}
                if ev.kind == "stop":
                    return await self._shutdown(ev)
                if ev.kind == "reload":
                    result = await self.reload(ev.signame)
                    if ev.reply is not None and not ev.reply.done():
                        ev.reply.set_result(result)
            await self._settle(changed)

    async def _settle(self, changed: dict[HealthKey, None]) -> None:
        """Replan the virtual services whose reals changed state, and apply the edits in one batch."""
        if not changed:
            return
        touched = {vkey for vkey, _ in changed}
        steps: list[Step] = []
        for v in self.d.config.virtuals:  # config order, as a full pass would
            if v.key in touched:
                steps += plan_virtual(v, self.health, self.actual)
        await self._apply(steps)
        self._fallback_commands()
        self._publish(changed)
