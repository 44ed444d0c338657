"""What the daemon thinks, as one read-only value: the answer to ``lvsd status``.

:func:`take` builds a :class:`Snapshot` from the owner's state; the control
socket sends :meth:`Snapshot.as_json` (the status command renders it, and
``plan --diff`` reads the health in it). The JSON keys and their order are
part of the interface: scripts read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lvsd.checks.base import CheckResult
from lvsd.config.model import MemberKey
from lvsd.health import Health, State
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
class VirtualStatus:
    service: str  # "TCP VIP:PORT wrr"
    label: str  # VIP:PORT or the mark
    protocol: str
    in_kernel: bool
    fallback: FallbackStatus | None
    reals: tuple[RealStatus, ...]

    def as_json(self) -> dict[str, Any]:
        fb = self.fallback
        return {
            "service": self.service, "label": self.label, "protocol": self.protocol, "in_kernel": self.in_kernel,
            "fallback": None if fb is None else {"server": fb.server, "active": fb.active},
            "reals": [r.as_json() for r in self.reals],
        }


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

    def as_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid, "version": self.version, "config": self.config, "status": self.status,
            "uptime": self.uptime, "degraded": self.degraded, "reloads": self.reloads,
            "last_reload": dict(self.last_reload), "virtuals": [v.as_json() for v in self.virtuals],
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
        out.append(VirtualStatus(
            service=str(v), label=v.label, protocol=v.protocol, in_kernel=key in actual.services,
            fallback=None if fb is None else FallbackStatus(
                str(fb), (fb.ip, kernel_port(v, fb.forward, fb.port)) in live),
            reals=tuple(reals),
        ))
    return tuple(out)
