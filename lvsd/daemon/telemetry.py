"""The daemon's numbers: Prometheus series and systemd's status line, fed typed values.

Check results, transitions, applied edits, kernel errors and reloads arrive as
values (a :class:`~lvsd.checks.base.CheckResult`, a
:class:`~lvsd.health.TransitionKind`, an :class:`~lvsd.ipvs.table.Op`), never
as log text. Label tuples are made once per member and dropped when a reload
removes it, so a series never outlives its real server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from lvsd import metrics
from lvsd.checks.base import CheckResult
from lvsd.config.model import Config, MemberKey, RealServer, VirtualService
from lvsd.daemon import systemd
from lvsd.ecmp import maglev
from lvsd.ecmp.announce import Route
from lvsd.health import Health, TransitionKind
from lvsd.ipvs.sync import STATES, SyncDaemon, SyncStep
from lvsd.ipvs.table import Op, Table
from lvsd.loaded import LoadedConfig


def member_labels(v: VirtualService, r: RealServer) -> metrics.Labels:
    return (("virtual", v.ident), ("real", str(r)))


class Telemetry:
    def __init__(self) -> None:
        self.registry = metrics.new_registry()
        # per member: its latency labels and its checks_total labels by result, made once
        self._labels: dict[MemberKey, tuple[metrics.Labels, dict[bool, metrics.Labels]]] = {}
        self._status_sent = ""  # the last STATUS= line systemd was sent

    def check(self, key: MemberKey, v: VirtualService, r: RealServer, res: CheckResult) -> None:
        made = self._labels.get(key)
        if made is None:
            pair = member_labels(v, r)
            made = self._labels[key] = (pair, {ok: (*pair, ("result", "up" if ok else "down")) for ok in (True, False)})
        labels, by_result = made
        self.registry.inc("lvsd_checks_total", by_result[res.ok])
        self.registry.observe("lvsd_check_latency_seconds", res.latency, labels)

    def transition(self, key: MemberKey, v: VirtualService, r: RealServer, kind: TransitionKind) -> None:
        labels = self._labels[key][0] if key in self._labels else member_labels(v, r)
        self.registry.inc("lvsd_real_transitions_total", (*labels, ("to", kind.value)))

    def kernel_edit(self, op: Op) -> None:
        self.registry.inc("lvsd_ipvs_operations_total", (("op", op.flag),))

    def kernel_error(self, op: Op | None) -> None:
        """A refused edit, by its flag; a failed read of the table (``op`` None) as "dump"."""
        self.registry.inc("lvsd_ipvs_errors_total", (("op", op.flag if op is not None else "dump"),))

    def sync_step(self, step: SyncStep) -> None:
        self.registry.inc("lvsd_sync_daemon_changes_total", (("state", step.daemon.state), ("change", step.kind)))

    def sync(self, running: Sequence[SyncDaemon]) -> None:
        by_state = {d.state: d for d in running}
        for state in STATES:
            d = by_state.get(state)
            self.registry.gauge("lvsd_sync_daemon_running", 1.0 if d is not None else 0.0, (("state", state),))
            if d is not None:
                self.registry.gauge("lvsd_sync_daemon_syncid", float(d.syncid), (("state", state),))

    def routes(self, routes: Iterable[Route], warnings: Sequence[str]) -> None:
        for name in ("lvsd_route_announced", "lvsd_route_servable"):
            self.registry.gauges[name].clear()  # a VIP a reload removed has no route left to show
        for r in routes:
            self.registry.gauge("lvsd_route_announced", 1.0 if r.announced else 0.0, (("prefix", r.prefix),))
            self.registry.gauge("lvsd_route_servable", 1.0 if r.servable else 0.0, (("prefix", r.prefix),))
        self.registry.gauge("lvsd_sysctl_problems", float(len(warnings)))

    def mh_tables(self, config: Config, table: Table) -> None:
        """Per mh service: 1 while its table differs from what a fresh director would build (lvsd.ecmp.maglev)."""
        self.registry.gauges["lvsd_mh_drift"].clear()
        for v in config.virtuals:
            if v.scheduler == "mh" and v.key in table.services:
                drifted = bool(maglev.drift(v, table.dests_of(v.key)))
                self.registry.gauge("lvsd_mh_drift", 1.0 if drifted else 0.0, (("virtual", v.ident),))

    def reload(self, ok: bool) -> None:
        self.registry.inc("lvsd_config_reloads_total", (("result", "ok" if ok else "error"),))

    def reloaded(self, old: LoadedConfig, new: LoadedConfig) -> None:
        """Drop every series of the members a reload removed."""
        self._labels = {k: lb for k, lb in self._labels.items() if k in new.members}
        self.registry.forget({member_labels(v, r) for k, (v, r) in old.members.items() if k not in new.members})

    def publish(self, loaded: LoadedConfig, health: Mapping[MemberKey, Health], degraded: bool,
                keys: Iterable[MemberKey] | None = None) -> None:
        """Refresh the gauges and systemd's status line after a change.

        ``keys`` names the reals whose state changed (a batch of check
        results); without it every real's gauge is refreshed (start, reload,
        resync). Either way the cost of a batch does not grow with the table
        times the batches: 10,000 reals coming up one by one stay linear.
        """
        members = loaded.members
        for key in members if keys is None else keys:
            vr = members.get(key)
            if vr is None:
                continue
            h = health.get(key)
            self.registry.gauge("lvsd_real_up", 1.0 if h is not None and h.up else 0.0, member_labels(*vr))
        self.registry.gauge("lvsd_degraded", 1.0 if degraded else 0.0)
        line = status_line(loaded, health, degraded)
        if line != self._status_sent:  # systemd is told of changes only
            self._status_sent = line
            systemd.status(line)


def status_line(loaded: LoadedConfig, health: Mapping[MemberKey, Health], degraded: bool) -> str:
    up = sum(1 for h in health.values() if h.up)
    return f"{up}/{len(loaded.members)} real servers up" + ("; degraded" if degraded else "")
