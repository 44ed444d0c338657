"""Issue 13, point 2 (pure, in-memory kernel): every director builds the same mh table, whatever the history.

The in-memory kernel lists a new dest of an mh service first, as the kernel does (the order
decides ties in the Maglev table); tests/ecmp/test_lab_mh.py proves the same mapping in the
real kernel by sending the same flows through two directors.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from lvsd.config.model import Config, Fallback, MemberKey, RealServer, VirtualService
from lvsd.ecmp import maglev
from lvsd.health import Health, State
from lvsd.ipvs.memory import MemoryIPVS
from lvsd.ipvs.table import F_SCHED1, F_SCHED2, Table
from lvsd.reconcile import desired_service, plan

VIP = "198.51.100.1"
REALS = tuple(RealServer(ip=f"203.0.113.2{i}", port=80, forward="gate", weight=w)
              for i, w in ((1, 1), (2, 2), (3, 1), (4, 3)))


def virtual(reals: tuple[RealServer, ...] = REALS, **kw: object) -> VirtualService:
    base: dict[str, object] = dict(protocol="tcp", ip=VIP, port=80, reals=reals, scheduler="mh",
                                   schedflags="mh-port", quiescent=True)
    base.update(kw)
    return VirtualService(**base)  # type: ignore[arg-type]


def health(v: VirtualService, down: set[str] = frozenset()) -> dict[MemberKey, Health]:  # type: ignore[assignment]
    return {v.member(r): Health(State.DOWN if r.ip in down else State.UP) for r in v.reals}


def step(kernel: MemoryIPVS, v: VirtualService, down: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    steps = plan(Config(path="/x.cf", virtuals=(v,)), health(v, down), kernel.table)
    asyncio.run(kernel.apply_many([s.op for s in steps]))
    return [s.op.ipvsadm() for s in steps]


def fp(kernel: MemoryIPVS, v: VirtualService) -> str:
    return maglev.fingerprint(v, kernel.table.services[v.key], kernel.table.dests_of(v.key))


def order(kernel: MemoryIPVS, v: VirtualService) -> list[str]:
    return [a for a, _ in kernel.table.dests_of(v.key)]


def test_reals_are_added_in_config_order_and_a_down_one_at_its_weight_then_quiesced() -> None:
    k = MemoryIPVS()
    v = virtual()
    assert step(k, v, down={"203.0.113.22"}) == [
        "ipvsadm -A -t 198.51.100.1:80 -s mh -b mh-port",
        "ipvsadm -a -t 198.51.100.1:80 -r 203.0.113.21:80 -g -w 1",
        "ipvsadm -a -t 198.51.100.1:80 -r 203.0.113.22:80 -g -w 2",  # never at weight 0: it would own no slots
        "ipvsadm -a -t 198.51.100.1:80 -r 203.0.113.23:80 -g -w 1",
        "ipvsadm -a -t 198.51.100.1:80 -r 203.0.113.24:80 -g -w 3",
        "ipvsadm -e -t 198.51.100.1:80 -r 203.0.113.22:80 -g -w 0",
    ]
    assert order(k, v) == ["203.0.113.24", "203.0.113.23", "203.0.113.22", "203.0.113.21"]  # as the kernel lists


def test_a_failed_real_is_quiesced_never_deleted_and_quiescent_no_sets_mh_fallback() -> None:
    v = virtual(quiescent=False, schedflags=None)
    assert desired_service(v).flags & F_SCHED1
    k = MemoryIPVS()
    step(k, v)
    assert step(k, v, down={"203.0.113.23"}) == ["ipvsadm -e -t 198.51.100.1:80 -r 203.0.113.23:80 -g -w 0"]
    assert len(k.table.dests_of(v.key)) == 4
    # quiescent=yes without a fallback server: the operator's flags stand (flows of a failed real wait for it)
    assert desired_service(virtual(schedflags=None)).flags & (F_SCHED1 | F_SCHED2) == 0
    assert desired_service(virtual(schedflags=None, fallback=Fallback(ip="127.0.0.1", port=80))).flags & F_SCHED1


def test_directors_with_different_histories_end_with_the_same_fingerprint() -> None:
    v = virtual()
    steady = MemoryIPVS()
    step(steady, v)
    # started while rs2 and rs4 were down, both came back later
    late = MemoryIPVS()
    step(late, v, down={"203.0.113.22", "203.0.113.24"})
    assert fp(late, v) != fp(steady, v)  # health differs: so does the mapping
    step(late, v, down={"203.0.113.24"})
    step(late, v)
    assert fp(late, v) == fp(steady, v)
    # started with three reals; the fourth appended to the config later (a reload)
    grown = MemoryIPVS()
    step(grown, virtual(REALS[:3]))
    step(grown, v)
    assert fp(grown, v) == fp(steady, v) and maglev.drift(v, grown.table.dests_of(v.key)) == []
    # a restarted lvsd adopts the table: nothing to do, nothing changes
    assert step(steady, v) == []


def test_a_real_inserted_mid_config_is_reported_as_drift() -> None:
    v = virtual()
    k = MemoryIPVS()
    step(k, virtual(REALS[:1] + REALS[2:]))
    step(k, v)  # rs2 inserted between rs1 and rs3: the kernel puts it first, a fresh director does not
    fresh = MemoryIPVS()
    step(fresh, v)
    assert fp(k, v) != fp(fresh, v)
    (why,) = maglev.drift(v, k.table.dests_of(v.key))
    assert "out of config order" in why and "203.0.113.22:80" in why
    assert maglev.drift(v, fresh.table.dests_of(v.key)) == []


def test_the_fingerprint_covers_order_weights_flags_and_availability() -> None:
    v = virtual()
    k = MemoryIPVS()
    step(k, v)
    base = fp(k, v)
    dests = k.table.dests_of(v.key)
    svc = k.table.services[v.key]
    assert maglev.fingerprint(v, svc, dict(reversed(dests.items()))) != base
    assert maglev.fingerprint(v, replace(svc, flags=svc.flags ^ F_SCHED2), dests) != base
    heavier = {**dests, ("203.0.113.21", 80): replace(dests[("203.0.113.21", 80)], weight=5)}
    assert maglev.fingerprint(v, svc, heavier) != base
    quiesced = {**dests, ("203.0.113.21", 80): replace(dests[("203.0.113.21", 80)], weight=0)}
    assert maglev.fingerprint(v, svc, quiesced) not in (base, maglev.fingerprint(v, svc, heavier))


def test_other_schedulers_keep_their_order_and_their_deletes() -> None:
    t = Table()
    v = virtual(scheduler="wlc", schedflags=None, quiescent=False)
    k = MemoryIPVS(t)
    step(k, v)
    assert order(k, v) == [r.ip for r in REALS]
    assert step(k, v, down={"203.0.113.21"}) == ["ipvsadm -d -t 198.51.100.1:80 -r 203.0.113.21:80"]
