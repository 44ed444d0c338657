"""Plan the kernel edits that make the live table what the config and health ask for (pure).

``desired(config, health)`` computes, per configured virtual service, the
service entry and the dests it should have: an up real at its weight; a down
(or never checked) real at weight 0 when ``quiescent`` or absent otherwise;
the fallback only while no real is up. ``plan(...)`` diffs that against the
live table and returns the smallest ordered list of edits:

1. services added or edited in place (SET, never delete-and-add);
2. dests added or edited to a non-zero weight (new capacity first);
3. dests edited to weight 0, then dests deleted (capacity removed last);
4. services that left the config deleted.

Services that are not in the config (and were not in the previous one) are
never touched: lvsd owns only what it is configured to manage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lvsd.config.model import Config, RealServer, VirtualService
from lvsd.health import Health
from lvsd.ipvs.table import F_PERSISTENT, Dest, Op, Role, Service, ServiceKey, Table

HealthKey = tuple[tuple[str, str, int], tuple[str, int]]  # (virtual key, real key)


def service_key(v: VirtualService) -> ServiceKey:
    if v.fwmark is not None:
        return ServiceKey.mark(v.fwmark, v.ipv6)
    assert v.ip is not None
    return ServiceKey(protocol=v.protocol, addr=v.ip, port=v.port, ipv6=v.ipv6)


def desired_service(v: VirtualService) -> Service:
    flags = F_PERSISTENT if v.persistent is not None else 0
    netmask = v.netmask if (v.persistent is not None and v.netmask) else ""
    return Service(
        key=service_key(v), scheduler=v.scheduler, flags=flags, timeout=v.persistent or 0, netmask=netmask
    ).normalized()


def kernel_port(v: VirtualService, forward: str, port: int) -> int:
    """The port the kernel stores for a dest, as ipvsadm (and so ldirectord) would send it.

    On a non-fwmark service, gate and ipip forward to the virtual's port
    whatever port is written (ipvsadm rewrites it); an omitted port (0) means
    the virtual's port too. Fwmark services keep every port as written.
    """
    if v.fwmark is not None:
        return port
    if forward in ("gate", "ipip") or port == 0:
        return v.port
    return port


def real_dest(v: VirtualService, r: RealServer, weight: int) -> Dest:
    return Dest(
        addr=r.ip,
        port=kernel_port(v, r.forward, r.port),
        forward=r.forward,
        weight=weight,
        u_thresh=r.upper,
        l_thresh=r.lower,
    )


@dataclass(frozen=True, slots=True)
class Wanted:
    """One dest a service should have, and why (for the log line)."""

    dest: Dest
    role: Role
    real: RealServer | None = None


def desired_dests(v: VirtualService, health: Mapping[HealthKey, Health]) -> dict[tuple[str, int], Wanted]:
    out: dict[tuple[str, int], Wanted] = {}
    any_up = False
    for r in v.reals:
        h = health.get((v.key, r.key))
        if h is not None and h.up:
            any_up = True
            d = real_dest(v, r, r.weight)
        elif v.quiescent:
            d = real_dest(v, r, 0)
        else:
            continue
        out.setdefault(d.key, Wanted(d, "real", r))
    if not any_up and v.fallback is not None:
        fb = v.fallback
        d = Dest(addr=fb.ip, port=kernel_port(v, fb.forward, fb.port), forward=fb.forward, weight=1)
        if d.key not in out:
            out[d.key] = Wanted(d, "fallback")
    return out


def _dest_role(v: VirtualService, key: tuple[str, int]) -> tuple[Role, RealServer | None]:
    for r in v.reals:
        if (r.ip, kernel_port(v, r.forward, r.port)) == key:
            return "real", r
    fb = v.fallback
    if fb is not None and (fb.ip, kernel_port(v, fb.forward, fb.port)) == key:
        return "fallback", None
    return "stale", None


@dataclass(frozen=True, slots=True)
class Step:
    """A planned edit with what the log needs to describe it."""

    op: Op
    virtual: VirtualService | None
    real: RealServer | None = None


def plan_virtual(v: VirtualService, health: Mapping[HealthKey, Health], actual: Table) -> list[Step]:
    """The edits for one virtual service, in safe order."""
    svc = desired_service(v)
    steps: list[Step] = []
    live = actual.services.get(svc.key)
    if live is None:
        steps.append(Step(Op(kind="add-service", service=svc), v))
    elif live.normalized() != svc:
        steps.append(Step(Op(kind="edit-service", service=svc), v))
    want = desired_dests(v, health)
    have = actual.dests_of(svc.key) if live is not None else {}
    grow: list[Step] = []
    shrink: list[Step] = []
    for key, w in want.items():
        cur = have.get(key)
        if cur is None:
            (grow if w.dest.weight > 0 else shrink).append(
                Step(Op(kind="add-dest", service=svc, dest=w.dest, role=w.role), v, w.real)
            )
        elif cur != w.dest:
            (grow if w.dest.weight > 0 else shrink).append(
                Step(Op(kind="edit-dest", service=svc, dest=w.dest, role=w.role), v, w.real)
            )
    removals = []
    for key, cur in have.items():
        if key not in want:
            role, real = _dest_role(v, key)
            removals.append(Step(Op(kind="del-dest", service=svc, dest=cur, role=role), v, real))
    return steps + grow + shrink + removals


def plan(
    config: Config,
    health: Mapping[HealthKey, Health],
    actual: Table,
    *,
    removed: Iterable[ServiceKey] = (),
) -> list[Step]:
    """Every edit that brings ``actual`` to what ``config`` and ``health`` ask for.

    ``removed`` names services lvsd managed before (the previous config) that
    are no longer configured: they are deleted if still present.
    """
    steps: list[Step] = []
    for v in config.virtuals:
        steps += plan_virtual(v, health, actual)
    configured = {service_key(v) for v in config.virtuals}
    for key in removed:
        if key in actual.services and key not in configured:
            steps.append(Step(Op(kind="del-service", service=actual.services[key]), None))
    return steps
