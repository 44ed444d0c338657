"""The daemon's side of a director pair: the sync daemons kept as asked, and the health keepalived reads.

:class:`SyncKeeper` reads the running daemons, plans (:func:`lvsd.ipvs.sync.plan`: one that runs
as wanted is adopted, never restarted) and applies, logging each start and stop. It runs at
start, at every full pass over the kernel table (repairing a daemon stopped behind lvsd's
back), on reload, and when the VRRP state it follows changes. A refusal is logged, marks the
keeper degraded and is retried at the next pass; checking never stops for it.

It also keeps the one sysctl a pair's roles depend on: ``net.ipv4.vs.backup_only`` disables the
director while a backup sync daemon runs, so with ``syncrole=both`` (a backup always runs) it
must be 0, or this director would forward nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lvsd import log
from lvsd.config.model import Config, SyncSettings
from lvsd.errors import IPVSError
from lvsd.ipvs import sync
from lvsd.ipvs.backend import SyncsConnections
from lvsd.ipvs.sync import SyncDaemon, SyncStep
from lvsd.ipvs.table import Table
from lvsd.pair.roles import VrrpState, wanted_daemons
from lvsd.pair.track import unserved
from lvsd.pair.trackfile import write_track_file

SYSCTL_ROOT = Path("/proc/sys/net/ipv4/vs")

OnStep = Callable[[SyncStep], None]


class SyncKeeper:
    def __init__(self, backend: object, *, on_step: OnStep | None = None, on_error: Callable[[], None] | None = None,
                 sysctl_root: Path | None = None) -> None:
        self.backend = backend
        self.on_step = on_step or (lambda step: None)
        self.on_error = on_error or (lambda: None)
        self.sysctl_root = sysctl_root or SYSCTL_ROOT
        self.settings: SyncSettings | None = None
        self.vrrp: VrrpState | None = None  # keepalived's last word on this node (syncrole=vrrp)
        self.running: list[SyncDaemon] = []  # as last read back, with the steps applied since
        self.managed = False  # lvsd has sync settings to keep (a reload that drops them stops the daemons)
        self.degraded = False
        self.log = log.get()

    def wanted(self) -> list[SyncDaemon]:
        return wanted_daemons(self.settings, self.vrrp)

    async def converge(self, settings: SyncSettings | None) -> bool:
        """Make the running sync daemons what ``settings`` (and the VRRP state) ask for; False if a step failed.

        Without settings lvsd leaves the daemons alone, unless it kept some until now: then the
        config dropped them, and they are stopped.
        """
        if settings is None and not self.managed:
            self.settings = None
            return True
        self.settings = settings
        backend = self.backend
        if not isinstance(backend, SyncsConnections):
            self.log.error("sync.error", op="sync", detail="this kernel backend cannot run sync daemons")
            self.degraded = True
            return False
        try:
            running = await backend.daemons()
        except IPVSError as exc:
            self.log.error("sync.error", op="dump sync daemons", errno=exc.errno, detail=exc.detail)
            self.on_error()
            self.degraded = True
            return False
        self._keep_backup_only(settings)
        done: list[SyncStep] = []
        ok = True
        for step in sync.plan(running, self.wanted()):
            try:
                await backend.sync_step(step)
            except IPVSError as exc:
                ok = False
                self.log.error("sync.error", op=step.ipvsadm(), errno=exc.errno, detail=exc.detail)
                self.on_error()
                continue
            done.append(step)
            verb = "Started" if step.kind == "start" else "Stopped"
            self.log.info(f"sync.{step.kind}", msg=f"{verb} sync daemon {step.daemon.describe()}",
                          op=step.ipvsadm(), vrrp=self.vrrp or "")
            self.on_step(step)
        self.running = sync.apply_to(running, done)
        self.managed = settings is not None
        if ok and self.degraded:
            self.log.info("sync.recovered", msg="Sync daemons as configured again")
        self.degraded = not ok
        return ok

    async def follow(self, state: VrrpState) -> bool:
        """keepalived says this node is now in ``state``: switch the sync role if ``syncrole=vrrp``."""
        if state != self.vrrp:
            self.log.info("vrrp.state", msg=f"VRRP state {state} (was {self.vrrp or 'unknown'})", state=state)
        self.vrrp = state
        return await self.converge(self.settings)

    async def stop_all(self) -> None:
        """Stop the daemons lvsd keeps (at a stop that purged the whole table)."""
        if self.managed:
            await self.converge(None)

    def _keep_backup_only(self, settings: SyncSettings | None) -> None:
        if settings is None or settings.role != "both":
            return
        path = self.sysctl_root / "backup_only"
        try:
            if path.read_text().strip() != "0":
                path.write_text("0\n")
                self.log.info("sync.sysctl", msg="Set net.ipv4.vs.backup_only=0: with syncrole=both a backup sync "
                              "daemon always runs, and backup_only=1 would stop this director forwarding")
        except OSError as exc:
            self.log.error("sync.sysctl", msg=f"cannot keep net.ipv4.vs.backup_only at 0: {exc}")


class TrackFile:
    """The count of unserved virtual services, written to ``vrrptrackfile`` whenever it changes."""

    def __init__(self) -> None:
        self.written: tuple[str, int] | None = None  # the file and the count last written there
        self.log = log.get()

    def update(self, config: Config, table: Table) -> None:
        path = config.vrrptrackfile
        if path is None:
            return
        missing = unserved(config, table)
        if (path, len(missing)) == self.written:
            return
        try:
            write_track_file(path, len(missing))
        except OSError as exc:
            self.log.error("vrrp.track", msg=f"cannot write {path}: {exc}")
            return
        self.written = (path, len(missing))
        self.log.info("vrrp.track", msg=f"{len(missing)} virtual services unserved, written to {path}",
                      unserved=missing)
