"""What the daemon thinks, as one read-only value: the answer to ``lvsd status``.

:func:`virtuals` builds the per-service part of a :class:`Snapshot` from the
owner's state; the control socket sends :meth:`Snapshot.as_json`, and the
command line reads it back with :meth:`Snapshot.from_json` (``lvsd status``
renders it, ``plan --diff`` takes the health in it). The JSON keys and their
order are part of the interface: scripts read them. Reading back tolerates
missing keys, so a command line can ask a daemon of another version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lvsd.checks.base import CheckResult
from lvsd.config.model import MemberKey, SyncSettings
from lvsd.ecmp import maglev
from lvsd.health import Health, State
from lvsd.ipvs.sync import SyncDaemon
from lvsd.ipvs.table import Table
from lvsd.loaded import LoadedConfig
from lvsd.reconcile import kernel_port


@dataclass(frozen=True, slots=True)
class LastCheck:
    ok: bool
    reason: str
    latency_ms: float


@dataclass(frozen=True, slots=True)
class RealStatus:
    real: str  # IP:PORT as configured
    forward: str
    weight: int  # configured
    kernel_weight: int | None  # None: not in the kernel table
    state: State
    failures: int
    last_check: LastCheck | None
    since_change: float | None  # seconds since the last state change; None if never changed

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RealStatus:
        lc = d.get("last_check")
        state = d.get("state", "unknown")
        return cls(
            real=str(d.get("real", "")), forward=str(d.get("forward", "")), weight=int(d.get("weight", 0)),
            kernel_weight=d.get("kernel_weight"),
            state=State(state) if state in State._value2member_map_ else State.UNKNOWN,
            failures=int(d.get("failures", 0)),
            last_check=None if not lc else LastCheck(bool(lc.get("ok")), str(lc.get("reason", "")),
                                                     float(lc.get("latency_ms", 0.0))),
            since_change=d.get("since_change"),
        )

    def as_json(self) -> dict[str, Any]:
        lc = self.last_check
        return {
            "real": self.real, "forward": self.forward, "weight": self.weight, "kernel_weight": self.kernel_weight,
            "state": self.state.value, "failures": self.failures,
            "last_check": None if lc is None else {"ok": lc.ok, "reason": lc.reason, "latency_ms": lc.latency_ms},
            "since_change": self.since_change,
        }


@dataclass(frozen=True, slots=True)
class FallbackStatus:
    server: str
    active: bool  # in the kernel table now


@dataclass(frozen=True, slots=True)
class MhStatus:
    """An mh service's table as the kernel holds it (:mod:`lvsd.ecmp.maglev`): compare across directors."""

    fingerprint: str
    drift: tuple[str, ...]  # why it differs from a fresh director's; empty: it does not


@dataclass(frozen=True, slots=True)
class VirtualStatus:
    service: str  # "TCP VIP:PORT wrr"
    label: str  # VIP:PORT or the mark
    protocol: str
    in_kernel: bool
    fallback: FallbackStatus | None
    reals: tuple[RealStatus, ...]
    mh: MhStatus | None = None  # mh services: the table's fingerprint and drift

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> VirtualStatus:
        fb = d.get("fallback")
        mh = d.get("mh")
        return cls(
            service=str(d.get("service", "")), label=str(d.get("label", "")), protocol=str(d.get("protocol", "")),
            in_kernel=bool(d.get("in_kernel", False)),
            fallback=None if not fb else FallbackStatus(str(fb.get("server", "")), bool(fb.get("active"))),
            reals=tuple(RealStatus.from_json(r) for r in d.get("reals", ())),
            mh=None if not mh else MhStatus(str(mh.get("fingerprint", "")), tuple(str(x) for x in mh.get("drift", ()))),
        )

    def as_json(self) -> dict[str, Any]:
        fb = self.fallback
        return {
            "service": self.service, "label": self.label, "protocol": self.protocol, "in_kernel": self.in_kernel,
            "fallback": None if fb is None else {"server": fb.server, "active": fb.active},
            "reals": [r.as_json() for r in self.reals],
            "mh": None if self.mh is None else {"fingerprint": self.mh.fingerprint, "drift": list(self.mh.drift)},
        }


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """The connection sync daemons: the configured role, the VRRP state followed, what runs."""

    role: str  # both, master, backup, vrrp
    vrrp: str  # keepalived's last word on this node ("" before any)
    daemons: tuple[str, ...]  # each running daemon described: "master on eth1, syncid 5, group ..."
    degraded: bool

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SyncStatus:
        return cls(role=str(d.get("role", "")), vrrp=str(d.get("vrrp", "")),
                   daemons=tuple(str(x) for x in d.get("daemons", ())), degraded=bool(d.get("degraded")))

    def as_json(self) -> dict[str, Any]:
        return {"role": self.role, "vrrp": self.vrrp, "daemons": list(self.daemons), "degraded": self.degraded}


def sync_status(settings: SyncSettings | None, vrrp: str | None, running: list[SyncDaemon],
                degraded: bool) -> SyncStatus | None:
    if settings is None and not running:
        return None
    return SyncStatus(role=settings.role if settings is not None else "", vrrp=vrrp or "",
                      daemons=tuple(d.describe() for d in running), degraded=degraded)


@dataclass(frozen=True, slots=True)
class Snapshot:
    pid: int
    version: str
    config: str  # the config file's path
    status: str  # starting, running, reloading, stopping
    uptime: float
    degraded: bool
    reloads: int
    last_reload: Mapping[str, Any]  # ok, errors, time, and on success edits, took, warnings
    virtuals: tuple[VirtualStatus, ...]
    sync: SyncStatus | None = None  # None: lvsd keeps no sync daemons
    announce: Mapping[str, Any] | None = None  # the routes announced to ECMP routers; None: announce= not set

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Snapshot:
        sync = d.get("sync")
        return cls(
            pid=int(d.get("pid", 0)), version=str(d.get("version", "")), config=str(d.get("config", "")),
            status=str(d.get("status", "")), uptime=float(d.get("uptime", 0.0)), degraded=bool(d.get("degraded")),
            reloads=int(d.get("reloads", 0)), last_reload=dict(d.get("last_reload") or {}),
            virtuals=tuple(VirtualStatus.from_json(v) for v in d.get("virtuals", ())),
            sync=SyncStatus.from_json(sync) if sync else None,
            announce=d.get("announce") or None,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid, "version": self.version, "config": self.config, "status": self.status,
            "uptime": self.uptime, "degraded": self.degraded, "reloads": self.reloads,
            "last_reload": dict(self.last_reload), "virtuals": [v.as_json() for v in self.virtuals],
            "sync": None if self.sync is None else self.sync.as_json(),
            "announce": None if self.announce is None else dict(self.announce),
        }


def virtuals(
    loaded: LoadedConfig, health: Mapping[MemberKey, Health], results: Mapping[MemberKey, CheckResult],
    actual: Table, now: float,
) -> tuple[VirtualStatus, ...]:
    """Every configured virtual with its reals: configured, checked, and as the kernel holds them."""
    out = []
    for v in loaded.config.virtuals:
        key = v.key
        live = actual.dests_of(key)
        reals = []
        for r in v.reals:
            member = MemberKey(key, r.key)
            h = health.get(member, Health())
            res = results.get(member)
            dest = live.get((r.ip, kernel_port(v, r.forward, r.port)))
            reals.append(RealStatus(
                real=str(r), forward=r.forward, weight=r.weight,
                kernel_weight=dest.weight if dest is not None else None, state=h.state, failures=h.failures,
                last_check=None if res is None else LastCheck(res.ok, res.message, round(res.latency * 1000, 1)),
                since_change=round(now - h.since, 1) if h.since else None,
            ))
        fb = v.fallback
        mh = None
        if v.scheduler == "mh" and key in actual.services:
            mh = MhStatus(maglev.fingerprint(v, actual.services[key], live), tuple(maglev.drift(v, live)))
        out.append(VirtualStatus(
            service=str(v), label=v.label, protocol=v.protocol, in_kernel=key in actual.services,
            fallback=None if fb is None else FallbackStatus(
                str(fb), (fb.ip, kernel_port(v, fb.forward, fb.port)) in live),
            reals=tuple(reals), mh=mh,
        ))
    return tuple(out)
