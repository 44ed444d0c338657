"""A reload as a transaction: load and validate, then swap, re-read the table and replan; on error change nothing.

The health of every member the new config keeps is kept; members it adds
are adopted from the kernel table as at start; services it drops are
removed. The answer (``last_reload``) says where the time went.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Protocol

from lvsd import loaded as loading
from lvsd.checks.base import CheckResult
from lvsd.checks.scheduler import Scheduler
from lvsd.config.errors import ConfigError
from lvsd.config.model import MemberKey
from lvsd.daemon.alert_routing import AlertRouter
from lvsd.daemon.clock import Clock
from lvsd.daemon.kernel import KernelTable
from lvsd.daemon.telemetry import Telemetry
from lvsd.health import Health
from lvsd.ipvs.table import ServiceKey


class Owner(Protocol):
    """What a reload reads and swaps: the owner loop's state (:class:`lvsd.daemon.loop.Daemon`)."""

    path: str
    clock: Clock
    log: Any
    loaded: loading.LoadedConfig
    health: dict[MemberKey, Health]
    results: dict[MemberKey, CheckResult]
    telemetry: Telemetry
    alerts: AlertRouter
    kernel: KernelTable
    scheduler: Scheduler

    def configure_log(self) -> None: ...
    def adopt(self, keys: list[MemberKey]) -> None: ...
    def publish(self, keys: Iterable[MemberKey] | None = None) -> None: ...
    async def resync(self, removed: set[ServiceKey] | None = None) -> None: ...


async def reload_config(d: Owner) -> dict[str, Any]:
    """Re-read ``d``'s config file and make it the running one, or report why not (the old one runs on)."""
    clock = d.clock
    t0 = clock.monotonic()
    try:
        new = loading.load(d.path)
    except ConfigError as exc:
        for diag in exc.diagnostics:
            where = f"reading file {diag.file} at line {diag.line}"
            d.log.error("config.error", msg=f"Error [{os.getpid()}] {where}: {diag.message}")
        d.log.error("config.reload_failed", msg="Reload failed: keeping the running configuration")
        d.telemetry.reload(ok=False)
        return {"ok": False, "errors": [diag.format() for diag in exc.diagnostics], "time": clock.time()}
    old = d.loaded
    removed = {v.key for v in old.config.virtuals} - {v.key for v in new.config.virtuals}
    d.loaded = d.alerts.loaded = new
    if (old.config.logfile, old.config.name) != (new.config.logfile, new.config.name):
        d.configure_log()
    t_read = clock.monotonic()
    await d.kernel.read()
    read_ms = round((clock.monotonic() - t_read) * 1000, 1)
    d.health = {k: h for k, h in d.health.items() if k in new.members}
    d.results = {k: r for k, r in d.results.items() if k in new.members}
    d.alerts.keep(new.members)
    d.telemetry.reloaded(old, new)
    d.adopt([k for k in new.members if k not in d.health])
    d.scheduler.sync(new.jobs)
    await d.resync(removed)
    d.alerts.fallback_commands(d.health)
    d.telemetry.reload(ok=True)
    d.publish([k for k in new.members if k not in old.members])  # the others' state is unchanged
    # where the time went: reading the config, reading the kernel table, planning, the edits
    last = d.kernel.last_pass
    took = {"parse_ms": round((t_read - t0) * 1000, 1), "read_ms": read_ms,
            "plan_ms": last.get("plan_ms"), "apply_ms": last.get("apply_ms"),
            "total_ms": round((clock.monotonic() - t0) * 1000, 1)}
    answer = {"ok": True, "errors": [], "time": clock.time(), "edits": last.get("edits", 0),
              "took": took, "warnings": [w.format() for w in new.config.warnings]}
    d.log.info("config.reloaded", summary=new.config.summary(), edits=answer["edits"], **took)
    return answer
