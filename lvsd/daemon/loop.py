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
4. on SIGTERM, withdraw the VIPs announced to ECMP routers and wait
   ``withdrawwait`` (:mod:`lvsd.daemon.routes`), then purge the managed
   services if ``cleanstop`` says so; on SIGUSR2 (``lvsd restart``) leave the
   table (and the announcements) for the next daemon to adopt.

The kernel side is :mod:`lvsd.daemon.kernel`; what is mailed and run on the
side, :mod:`lvsd.daemon.alert_routing`; the numbers, :mod:`lvsd.daemon.telemetry`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from lvsd import __version__, log, logtext, metrics, monitorfile
from lvsd import loaded as loading
from lvsd.checks.base import CheckResult, CheckSpec
from lvsd.checks.scheduler import Scheduler
from lvsd.config.model import MemberKey
from lvsd.control import ControlServer
from lvsd.daemon import status, systemd
from lvsd.daemon.alert_routing import AlertRouter
from lvsd.daemon.clock import Clock, SystemClock, next_item
from lvsd.daemon.events import Event, EventKind
from lvsd.daemon.kernel import KernelTable
from lvsd.daemon.reloading import reload_config
from lvsd.daemon.routes import RouteKeeper
from lvsd.daemon.syncd import SyncKeeper, TrackFile
from lvsd.daemon.telemetry import Telemetry, status_line
from lvsd.health import Health, TransitionKind, observe
from lvsd.ipvs.backend import Backend
from lvsd.ipvs.table import ServiceKey
from lvsd.pair.roles import VRRP_STATES
from lvsd.reconcile import Step, adopted_health, plan_virtual
from lvsd.watchfile import FileWatch

RESYNC_INTERVAL = 30.0
MAX_BATCH = 4096  # events taken from the queue before the loop yields
STOP, RELOAD, RESULT = EventKind.STOP, EventKind.RELOAD, EventKind.RESULT


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
        loaded: loading.LoadedConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.path = config_path
        self.clock: Clock = clock or SystemClock()
        self.resync_interval = resync_interval
        self.on_ready = on_ready
        self.sink_factory = sink_factory or (lambda logfile, name: log.Sink(logfile, name))
        self.control_path = control_path
        self.metrics_address = metrics_address
        self.fallbackcommand_at_stop = fallbackcommand_at_stop
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.scheduler = Scheduler(self.on_result, freeze_gc=True)  # a long-lived process: see Scheduler
        self.health: dict[MemberKey, Health] = {}
        self.results: dict[MemberKey, CheckResult] = {}
        self.status = "starting"  # ldirectord's daemon states: starting, running, reloading, stopping
        self.started = self.clock.time()
        self.reloads = 0
        self.last_reload: dict[str, Any] = {}
        self.log = log.get()
        self.watch = FileWatch(config_path)
        # ``loaded``: what the CLI has just read and validated (start forks; reading 10,000 reals twice costs)
        self.loaded = loaded if loaded is not None else loading.load(config_path)  # a failure here is fatal
        self.telemetry = Telemetry()
        self.alerts = AlertRouter(self.loaded, lambda: self.status, self.clock.monotonic)
        self.kernel = KernelTable(backend, self.clock, on_edit=self._edited, on_error=self.telemetry.kernel_error)
        self.sync = SyncKeeper(backend, on_step=self.telemetry.sync_step,
                               on_error=lambda: self.telemetry.kernel_error(None))
        self._watchdog = systemd.watchdog_interval()
        self._next_watchdog = 0.0
        self._next_poll = 0.0
        self.track = TrackFile()  # lvsd's health for keepalived's VRRP (vrrptrackfile)
        self.routes = RouteKeeper(lambda: (self.loaded.config, self.kernel.actual), self.clock,  # announce=
                                  on_update=lambda k: self.telemetry.routes(k.announcer.routes.values(), k.warnings))
        self.routes.configure(self.loaded.config)
        self.configure_log()

    # -- what others may read or ask ------------------------------------------

    @property
    def registry(self) -> metrics.Registry:
        return self.telemetry.registry

    @property
    def degraded(self) -> bool:
        return self.kernel.degraded or self.sync.degraded or self.routes.degraded

    def status_line(self) -> str:
        return status_line(self.loaded, self.health, self.degraded)

    def snapshot(self) -> status.Snapshot:
        """What the daemon thinks, for ``lvsd status`` (read-only)."""
        clock = self.clock
        return status.Snapshot(
            pid=os.getpid(), version=__version__, config=self.path, status=self.status,
            uptime=round(clock.time() - self.started, 1), degraded=self.degraded, reloads=self.reloads,
            last_reload=self.last_reload,
            virtuals=status.virtuals(self.loaded, self.health, self.results, self.kernel.actual, clock.monotonic()),
            sync=status.sync_status(self.sync.settings, self.sync.vrrp, self.sync.running, self.sync.degraded),
            announce=self.routes.view(clock.monotonic()) if self.routes.settings is not None else None,
        )

    def on_result(self, key: Hashable, spec: CheckSpec, result: CheckResult) -> None:
        """A check result for member ``key`` (the scheduler calls this; so may a test)."""
        self.events.put_nowait(Event(RESULT, key=key, spec=spec, result=result))

    def request_stop(self, signame: str = "TERM", *, clean: bool = True) -> None:
        """Stop as on a signal: ``clean`` as SIGTERM (cleanstop applies), else as SIGUSR2 (hand over)."""
        self.events.put_nowait(Event(STOP, signame=signame, clean=clean))

    def request_reload(self, signame: str = "HUP") -> asyncio.Future[dict[str, Any]]:
        """Reload as on SIGHUP, once the loop gets to it; the future gets the reload's answer."""
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.events.put_nowait(Event(RELOAD, signame=signame, reply=reply))
        return reply

    # -- plumbing -------------------------------------------------------------

    def configure_log(self) -> None:
        log.configure(self.sink_factory(self.loaded.config.logfile, self.loaded.config.name))

    def _edited(self, step: Step, text: str) -> None:
        try:
            self.telemetry.kernel_edit(step.op)
            self.alerts.kernel_edit(step, text)
        except Exception:  # an alert or a metric must never stop the table's edits
            sys.stderr.write("lvsd: alert or metric failed\n")

    def publish(self, keys: Iterable[MemberKey] | None = None) -> None:
        self.telemetry.publish(self.loaded, self.health, self.degraded, keys)
        self.track.update(self.loaded.config, self.kernel.actual)

    def _resync_period(self) -> float:
        return self.loaded.config.resyncinterval or self.resync_interval

    async def resync(self, removed: set[ServiceKey] | None = None) -> None:
        """A pass over the kernel table (:meth:`KernelTable.resync`) and the sync daemons, then the gauges."""
        await self.kernel.resync(self.loaded.config, self.health, self._resync_period(), removed)
        await self.sync.converge(self.loaded.config.sync)
        self.telemetry.sync(self.sync.running)
        self.routes.configure(self.loaded.config)
        await self.routes.announce(repair=True)
        self.telemetry.mh_tables(self.loaded.config, self.kernel.actual)
        self.publish(())  # a pass changes no real's state, only (perhaps) degraded

    def adopt(self, keys: list[MemberKey]) -> None:
        members = self.loaded.members
        self.health.update(adopted_health(self.kernel.actual, (members[k] for k in keys), self.clock.monotonic()))

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, self.request_stop, sig.name[3:])
        loop.add_signal_handler(signal.SIGUSR2, lambda: self.request_stop("USR2", clean=False))
        loop.add_signal_handler(signal.SIGHUP, self.events.put_nowait, Event(RELOAD, signame="HUP"))

    async def _next_event(self, deadline: float) -> Event | None:
        """The next queued event, or None once ``deadline`` (on the daemon's clock) has passed."""
        return await next_item(self.events, self.clock, deadline)

    # -- events ---------------------------------------------------------------

    def _fold(self, ev: Event) -> MemberKey | None:
        """Fold a check result into health; return the key if its service changed state."""
        key = ev.key
        members = self.loaded.members
        if not isinstance(key, MemberKey) or key not in members or ev.result is None:
            return None
        job = self.scheduler.job(key)
        if job is None or (job.spec is not ev.spec and job.spec != ev.spec):  # identity first: this runs per check
            return None  # a result of a check the last reload replaced
        v, r = members[key]
        res = ev.result
        self.results[key] = res
        self.telemetry.check(key, v, r, res)
        # ldirectord writes no monitorfile line for ping (a udp connect), external-perl and on, except maintenance
        logged = res.forced or ev.spec is None or ev.spec.kind not in ("ping", "external-perl", "on")
        if v.monitorfile and logged:
            try:
                monitorfile.append(v.monitorfile, monitorfile.line(v, r, res.ok, res.message))
            except OSError as exc:
                self.log.error("monitorfile.error", path=v.monitorfile, error=str(exc))
        new, tr = observe(self.health.get(key, Health()), res.ok, res.message, self.clock.monotonic(),
                          failurecount=v.failurecount, risecount=v.risecount, reentry=v.reentry, forced=res.forced)
        self.health[key] = new
        if tr is None:
            return None
        fields = {"virtual": v.label, "real": str(r), "reason": res.message}
        if tr.kind is TransitionKind.SOFT_FAILURE:
            self.log.info("real.soft_failure", msg=logtext.soft_failure(v, r, tr.failures), **fields)
            return None
        if tr.kind is TransitionKind.RESET:
            self.log.info("real.reset", msg=logtext.reset_failures(v, r), **fields)
            return None
        self.log.info(f"real.{tr.kind.value}", check=ev.spec.describe() if ev.spec else "", **fields)
        self.telemetry.transition(key, v, r, tr.kind)
        self.alerts.transition(key, v, tr.kind)
        return key

    async def _initial_round(self) -> Event | None:
        """Collect first results until every check has reported (or its deadline passed)."""
        jobs = self.scheduler.jobs
        deadline = self.clock.monotonic() + max((j.spec.timeout for j in jobs.values()), default=0.0) + 1.0
        pending = set(jobs)
        deferred: Event | None = None
        while True:
            if pending and self.clock.monotonic() < deadline:
                ev = await self._next_event(deadline)
                if ev is None:
                    continue
            elif not self.events.empty():
                # results already queued when the round ended are decided: the first pass programs them too
                # (a slow machine or a large table must not leave them to one edit each)
                ev = self.events.get_nowait()
            else:
                return deferred
            if ev.kind is STOP:
                return ev
            if ev.kind is RELOAD:
                deferred = ev  # acted on once running, never dropped
                continue
            self._fold(ev)
            pending.discard(ev.key)

    async def reload(self, signame: str = "HUP") -> dict[str, Any]:
        """Re-read the config as a transaction; on error keep running the old one unchanged."""
        self.log.info("config.reload", msg="Reloading Linux Director Daemon config on signal", signal=signame)
        self.reloads += 1
        previous, self.status = self.status, "reloading"
        systemd.reloading()
        try:
            self.last_reload = await reload_config(self)
            return self.last_reload
        finally:
            self.status = previous
            self.watch.remember()
            systemd.ready(self.status_line())

    async def _control(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        if cmd == "status":
            return {"ok": True, **self.snapshot().as_json()}
        if cmd == "reload":
            return await self.request_reload("control")
        if cmd == "vrrp":
            return await self.follow_vrrp(str(request.get("state", "")))
        if cmd == "routes":
            return {"ok": True, **self.routes.view(self.clock.monotonic())}
        if cmd in ("leave", "join"):
            return await self.routes.leave() if cmd == "leave" else await self.routes.join()
        return {"ok": False, "error": f"unknown command {cmd!r} (expected status, reload, vrrp, routes, leave or join)"}

    async def follow_vrrp(self, state: str) -> dict[str, Any]:
        """keepalived's VRRP says this node is now ``state`` (MASTER, BACKUP, FAULT, STOP, in any case)."""
        state = state.upper()
        if state not in VRRP_STATES:
            return {"ok": False, "error": f"unknown VRRP state {state!r} (expected {', '.join(VRRP_STATES)})"}
        ok = await self.sync.follow(state)
        self.telemetry.sync(self.sync.running)
        self.publish(())
        return {"ok": ok, "state": state, "sync": [d.describe() for d in self.sync.running]}

    async def stop(self, signame: str, clean: bool) -> None:
        """Stop checking; remove the services whose cleanstop says so, or leave the table exactly as it is."""
        await self.scheduler.close()
        purge = [v for v in self.loaded.config.virtuals if v.cleanstop] if clean else []
        if purge:
            await self.kernel.purge(purge)
        if clean and len(purge) == len(self.loaded.config.virtuals):
            await self.sync.stop_all()  # nothing left to sync; otherwise the daemons stay with the table
        if purge:
            self.track.update(self.loaded.config, self.kernel.actual)  # what is gone is unserved: a peer takes over
        elif not clean:
            self.log.info("daemon.handover", msg="Leaving the IPVS table in place for the next lvsd")
        self.log.info("daemon.stop", msg=f"Linux Director Daemon terminated on signal: {signame}")

    # -- main -----------------------------------------------------------------

    async def _timers(self) -> float:
        """Run what is due (watchdog, autoreload poll, email resends, resync); return the next deadline."""
        now = self.clock.monotonic()
        if self._watchdog is not None and now >= self._next_watchdog:
            systemd.watchdog()  # sent by the owner loop itself: a hung loop stops the pings
            self._next_watchdog = now + self._watchdog
        if now >= self._next_poll:
            self._next_poll = now + self.loaded.config.checkinterval
            if self.watch.changed():
                await self._config_changed()
        self.alerts.send_due()
        if now >= self.kernel.next_resync:
            await self.resync()
        due = self.routes.next_due()
        if due is not None and now >= due:
            await self.routes.announce()  # a rise or fall has run its time
            due = self.routes.next_due()
        deadlines = [self.kernel.next_resync, self._next_poll, *self.alerts.resend.values()]
        if due is not None:
            deadlines.append(due)
        if self._watchdog is not None:
            deadlines.append(self._next_watchdog)
        return min(deadlines)

    async def _config_changed(self) -> None:
        cfg = self.loaded.config
        self.log.info("config.changed", msg=f"Configuration file '{self.path}' has changed on disk")
        if cfg.callback and os.access(cfg.callback, os.X_OK):
            self.alerts.callback(cfg.callback, self.path)
        if cfg.autoreload:
            self.log.info("config.autoreload", msg=" - reread new configuration")
            await self.reload("autoreload")
        else:
            self.log.info("config.autoreload", msg=" - ignore new configuration")
            self.watch.remember()

    async def _shutdown(self, ev: Event) -> int:
        self.status = "stopping"
        systemd.stopping()
        if ev.clean:  # withdraw first and let the routers move the flows; a handover (restart) keeps announcing
            await self.routes.leave("stop")
        if self.fallbackcommand_at_stop and ev.clean:
            self.alerts.fallback_commands(self.health, stopping=True)
        await self.stop(ev.signame, ev.clean)
        await self.alerts.close()
        return 0

    async def run(self) -> int:
        self._install_signals()
        self.log.info(
            "daemon.start", msg=f"Starting Linux Director lvsd {__version__} with pid: {os.getpid()}", config=self.path
        )
        self.watch.remember()
        if not await self.kernel.read():
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
        self.adopt(list(self.loaded.members))
        await self.sync.converge(self.loaded.config.sync)  # a standby learns connections from its first second
        self.scheduler.sync(self.loaded.jobs)
        pending = await self._initial_round()
        if pending is not None and pending.kind is STOP:
            return await self._shutdown(pending)
        await self.resync()
        self.alerts.fallback_commands(self.health)
        self.publish()
        if control is not None:
            await control.start()
        self.status = "running"
        systemd.ready(self.status_line())
        if self.on_ready is not None:
            self.on_ready()
        if pending is not None:
            await self.reload(pending.signame)
        while True:
            ev = await self._next_event(await self._timers())
            if ev is None:
                continue
            # take every event already queued: results are folded as a batch and their virtual
            # services replanned once, so a burst (start-up, a switch failing under a thousand
            # reals) costs one plan per service and one batched write, not one per result
            batch = [ev]
            while len(batch) < MAX_BATCH and not self.events.empty():
                batch.append(self.events.get_nowait())
            changed: dict[MemberKey, None] = {}
            for ev in batch:
                if ev.kind is RESULT:
                    key = self._fold(ev)
                    if key is not None:
                        changed[key] = None
                    continue
                await self._settle(changed)  # results before a reload or stop are acted on first
                changed = {}
                if ev.kind is STOP:
                    return await self._shutdown(ev)
                if ev.kind is RELOAD:
                    result = await self.reload(ev.signame)
                    if ev.reply is not None and not ev.reply.done():
                        ev.reply.set_result(result)
            await self._settle(changed)

    async def _settle(self, changed: dict[MemberKey, None]) -> None:
        """Replan the virtual services whose reals changed state, and apply the edits in one batch."""
        if not changed:
            return
        touched = {key.virtual for key in changed}
        steps: list[Step] = []
        for v in self.loaded.config.virtuals:  # config order, as a full pass would
            if v.key in touched:
                steps += plan_virtual(v, self.health, self.kernel.actual)
        await self.kernel.apply(steps, interval=self._resync_period())
        self.alerts.fallback_commands(self.health)
        await self.routes.announce()
        self.publish(changed)
