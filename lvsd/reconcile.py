"""Plan the kernel edits that make the live table what the config and health ask for (pure).

``desired_service`` is a virtual's service entry (scheduler, scheduler flags,
persistence and its netmask, one-packet scheduling); ``desired_dests`` the
dests it should have: an up real at its weight; a down (or never checked)
real at weight 0 when ``quiescent`` or absent otherwise; the fallback only
while no real is up. ``plan(...)`` diffs that against the live table and
returns the smallest ordered list of edits:

1. services added or edited in place (SET, never delete-and-add);
2. dests added or edited to a non-zero weight (new capacity first);
3. dests edited to weight 0 (quiesced, or starting to drain);
4. dests deleted (capacity removed last);
5. services that left the config deleted.

Services that are not in the config (and were not in the previous one) are
never touched: lvsd owns only what it is configured to manage. A dest under a
managed service that the config does not name is purged, or, with
``drain=yes``, drained: set to weight 0, then deleted once it carries no
active connection or ``draintimeout`` has passed since the drain began. The
drain is read from the kernel (a weight-0 dest the config does not name), so
a restarted lvsd resumes it.

``readd`` says whether a quiesced real missing from the kernel is put back at
weight 0: always at start and reload (as ldirectord does), otherwise only
with ``readdquiescent=yes``, so an operator's hand deletion of a failed real
stands (ldirectord's use case for readdquiescent=no).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from lvsd.config.model import Config, MemberKey, RealServer, VirtualService
from lvsd.health import Health, State
from lvsd.ipvs.table import (
    F_ONEPACKET,
    F_PERSISTENT,
    F_SCHED1,
    Dest,
    Op,
    OpKind,
    Role,
    Service,
    ServiceKey,
    Table,
    sched_flags,
)

DestId = tuple[ServiceKey, tuple[str, int]]  # a dest of a service, for drain bookkeeping
HealthMap = Mapping[MemberKey, Health]  # health by member


def in_service(table: Table, v: VirtualService, r: RealServer) -> bool:
    """The adoption rule: a configured real the kernel holds at a non-zero weight is taken as up, unchecked."""
    dest = table.dests_of(v.key).get((r.ip, kernel_port(v, r.forward, r.port)))
    return dest is not None and dest.weight > 0


def adopted_health(
    table: Table, members: Iterable[tuple[VirtualService, RealServer]], now: float = 0.0
) -> dict[MemberKey, Health]:
    """Health as lvsd adopts it from a kernel table: up by :func:`in_service`, else unknown (never checked).

    The daemon adopts this way at start and for the reals a reload adds, so a
    restart touches nothing that works; ``plan --diff`` uses it for the reals
    no running daemon knows. Unknown and down plan alike: out of service.
    """
    return {
        v.member(r): Health(State.UP, since=now, reason="adopted from the kernel table")
        if in_service(table, v, r) else Health(since=now)
        for v, r in members
    }


def schedflag_bits(v: VirtualService) -> int:
    """The virtual's ``schedflags`` as flag bits; a flag ipvsadm would refuse is left out."""
    bits = 0
    for word in (v.schedflags or "").split(","):
        try:
            bits |= sched_flags(word, v.scheduler)
        except ValueError:
            continue  # the config check reports it; the kernel never sees it
    return bits


def mh_fallback(v: VirtualService) -> bool:
    """An ``mh`` service gets ``mh-fallback`` when its config asks, or when lvsd must send a failed real's flows on.

    Under ``mh`` a failed real server stays in the table at weight 0 (:mod:`lvsd.ecmp.maglev`);
    with ``quiescent=no`` (take it out) or a fallback server, its flows must then go elsewhere
    rather than be dropped, which is what the flag does.
    """
    return v.scheduler == "mh" and (not v.quiescent or v.fallback is not None)


def desired_service(v: VirtualService) -> Service:
    flags = schedflag_bits(v)
    if mh_fallback(v):
        flags |= F_SCHED1
    if v.persistent is not None:
        flags |= F_PERSISTENT
    if v.ops and v.protocol == "udp":  # as ldirectord: one-packet scheduling for udp services only
        flags |= F_ONEPACKET
    netmask = v.netmask if (v.persistent is not None and v.netmask) else ""
    return Service(
        key=v.key, scheduler=v.scheduler, flags=flags, timeout=v.persistent or 0, netmask=netmask
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


def _wanted(
    v: VirtualService,
    health: HealthMap,
    live: Mapping[tuple[str, int], Dest] | None,
    readd: bool,
) -> Iterator[tuple[tuple[str, int], int, RealServer | None]]:
    """(dest key, weight, real or None for the fallback) of every dest ``v`` should have."""
    vkey = v.key
    keep_ports = v.fwmark is not None  # kernel_port(), inlined: this loop runs once per real
    seen: set[tuple[str, int]] = set()
    any_up = False
    quiescent = v.quiescent or v.scheduler == "mh"  # mh: a failed real keeps its place (lvsd.ecmp.maglev)
    for r in v.reals:
        h = health.get(MemberKey(vkey, (r.ip, r.port)))
        if h is not None and h.state is State.UP:
            any_up = True
            weight = r.weight
        elif quiescent:
            weight = 0
        else:
            continue
        port = r.port if keep_ports or (r.forward == "masq" and r.port != 0) else v.port
        key = (r.ip, port)
        if key in seen:
            continue
        seen.add(key)
        if weight == 0 and not readd and live is not None and key not in live:
            continue  # readdquiescent=no: a quiesced real deleted by hand stays deleted
        yield key, weight, r
    fb = v.fallback
    if not any_up and fb is not None:
        key = (fb.ip, kernel_port(v, fb.forward, fb.port))
        if key not in seen:
            yield key, 1, None


def _fallback_dest(v: VirtualService, key: tuple[str, int]) -> Dest:
    assert v.fallback is not None
    return Dest(addr=key[0], port=key[1], forward=v.fallback.forward, weight=1)


def desired_dests(
    v: VirtualService,
    health: HealthMap,
    live: Mapping[tuple[str, int], Dest] | None = None,
    *,
    readd: bool = True,
) -> dict[tuple[str, int], Wanted]:
    out: dict[tuple[str, int], Wanted] = {}
    for key, weight, r in _wanted(v, health, live, readd):
        if r is None:
            out[key] = Wanted(_fallback_dest(v, key), "fallback")
        else:
            out[key] = Wanted(real_dest(v, r, weight), "real", r)
    return out


def _unchanged(cur: Dest, r: RealServer, weight: int) -> bool:
    """``cur`` already is real ``r`` at ``weight`` (the fast path of a large table: no object built)."""
    return (
        cur.weight == weight
        and cur.u_thresh == r.upper
        and cur.l_thresh == r.lower
        and (cur.forward == r.forward or cur.forward == "local")
        and (r.forward != "ipip" or (cur.tun_type, cur.tun_port, cur.tun_flags) == (0, 0, 0))
    )


def _dest_role(v: VirtualService, key: tuple[str, int]) -> tuple[Role, RealServer | None]:
    for r in v.reals:
        if (r.ip, kernel_port(v, r.forward, r.port)) == key:
            return "real", r
    fb = v.fallback
    if fb is not None and (fb.ip, kernel_port(v, fb.forward, fb.port)) == key:
        return "fallback", None
    return "stale", None


def drained(v: VirtualService, dest: Dest) -> bool:
    """A draining dest carries no more connections worth waiting for.

    Active (established) connections count; a UDP service's flows are never
    active, so its inactive ones count too (they expire with the UDP timeout).
    """
    return dest.active == 0 and (v.protocol != "udp" or dest.inactive == 0)


@dataclass(frozen=True, slots=True)
class Step:
    """A planned edit with what the log needs to describe it."""

    op: Op
    virtual: VirtualService | None
    real: RealServer | None = None
    reason: str = ""  # why a drain ended: "drained" or "drain timeout"


def _drain_step(
    v: VirtualService, svc: Service, cur: Dest, now: float, drain_since: Mapping[DestId, float] | None
) -> tuple[str, Step] | None:
    """The next drain edit of a dest the config no longer names: ("shrink"|"remove", step) or None (wait).

    Without ``drain_since`` the caller's counters may be stale, so a drain is
    begun but never ended.
    """
    if cur.weight > 0:
        return "shrink", Step(Op(kind="edit-dest", service=svc, dest=replace(cur, weight=0), role="drain"), v)
    if drain_since is None:
        return None
    since = drain_since.get((svc.key, cur.key))
    if drained(v, cur):
        return "remove", Step(Op(kind="del-dest", service=svc, dest=cur, role="drain"), v, reason="drained")
    if since is not None and now - since >= v.draintimeout:
        return "remove", Step(Op(kind="del-dest", service=svc, dest=cur, role="drain"), v, reason="drain timeout")
    return None


def plan_virtual(
    v: VirtualService,
    health: HealthMap,
    actual: Table,
    *,
    readd: bool = False,
    now: float = 0.0,
    drain_since: Mapping[DestId, float] | None = None,
) -> list[Step]:
    """The edits for one virtual service, in safe order.

    Called alone (a health transition) it re-adds no quiesced real missing
    from the kernel and ends no drain: the periodic pass, which has fresh
    counters and knows readdquiescent, does those.
    """
    svc = desired_service(v)
    steps: list[Step] = []
    live = actual.services.get(svc.key)
    if live is None:
        steps.append(Step(Op(kind="add-service", service=svc), v))
    elif live.normalized() != svc:
        steps.append(Step(Op(kind="edit-service", service=svc), v))
    have = actual.dests_of(svc.key) if live is not None else {}
    grow: list[Step] = []
    shrink: list[Step] = []
    removals: list[Step] = []
    want: set[tuple[str, int]] = set()
    for key, weight, r in _wanted(v, health, have, readd):
        want.add(key)
        cur = have.get(key)
        if cur is not None and r is not None and _unchanged(cur, r, weight):
            continue
        dest = _fallback_dest(v, key) if r is None else real_dest(v, r, weight)
        kind: OpKind
        if cur is None and weight == 0 and r is not None and r.weight > 0 and v.scheduler == "mh":
            # mh: added at weight 0 a real would own no slots, unlike one quiesced later: add it at its
            # weight (in config order, with the others) and quiesce it in the same batch (lvsd.ecmp.maglev)
            role: Role = "real"
            grow.append(Step(Op(kind="add-dest", service=svc, dest=real_dest(v, r, r.weight), role=role), v, r))
            shrink.append(Step(Op(kind="edit-dest", service=svc, dest=dest, role=role), v, r))
            continue
        if cur is None:
            kind = "add-dest"
        elif not cur.same(dest):
            kind = "edit-dest"
        else:
            continue
        (grow if weight > 0 else shrink).append(
            Step(Op(kind=kind, service=svc, dest=dest, role="real" if r is not None else "fallback"), v, r)
        )
    for key, cur in have.items():
        if key in want:
            continue
        role, real = _dest_role(v, key)
        if role == "stale" and v.drain:
            found = _drain_step(v, svc, cur, now, drain_since)
            if found is not None:
                (shrink if found[0] == "shrink" else removals).append(found[1])
            continue
        removals.append(Step(Op(kind="del-dest", service=svc, dest=cur, role=role), v, real))
    return steps + grow + shrink + removals


def draining(config: Config, actual: Table) -> set[DestId]:
    """The dests being drained: weight 0, under a ``drain=yes`` virtual, not named by the config."""
    out: set[DestId] = set()
    for v in config.virtuals:
        if not v.drain:
            continue
        key = v.key
        for dkey, dest in actual.dests_of(key).items():
            if dest.weight == 0 and _dest_role(v, dkey)[0] == "stale":
                out.add((key, dkey))
    return out


def plan(
    config: Config,
    health: HealthMap,
    actual: Table,
    *,
    removed: Iterable[ServiceKey] = (),
    readd: bool = True,
    now: float = 0.0,
    drain_since: Mapping[DestId, float] | None = None,
) -> list[Step]:
    """Every edit that brings ``actual`` to what ``config`` and ``health`` ask for.

    ``removed`` names services lvsd managed before (the previous config) that
    are no longer configured: they are deleted if still present.
    """
    steps: list[Step] = []
    for v in config.virtuals:
        steps += plan_virtual(v, health, actual, readd=readd, now=now, drain_since=drain_since)
    configured = {v.key for v in config.virtuals}
    for key in removed:
        if key in actual.services and key not in configured:
            steps.append(Step(Op(kind="del-service", service=actual.services[key]), None))
    return steps
