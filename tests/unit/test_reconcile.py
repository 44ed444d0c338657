"""Reconcile planning: minimal, ordered edits; quiescent vs delete; fallback; ownership."""

from lvsd.config.model import Config, Fallback, RealServer, VirtualService
from lvsd.health import Health, State
from lvsd.ipvs.table import Dest, Service, ServiceKey, Table
from lvsd.reconcile import desired_service, plan

VIP = "198.51.100.1"
R1 = RealServer(ip="203.0.113.11", port=80, forward="masq", weight=1)
R2 = RealServer(ip="203.0.113.12", port=80, forward="masq", weight=2)
FB = Fallback(ip="127.0.0.1", port=80, forward="gate")


def virtual(**kw):
    base = dict(protocol="tcp", ip=VIP, port=80, reals=(R1, R2), scheduler="wrr", fallback=FB)
    base.update(kw)
    return VirtualService(**base)


def cfg(*vs):
    return Config(path="/etc/lvsd/test.cf", virtuals=vs)


def health(v, *states):
    return {(v.key, r.key): Health(s) for r, s in zip(v.reals, states, strict=True)}


def table_of(v, *dests):
    t = Table()
    svc = desired_service(v)
    t.services[svc.key] = svc
    t.dests[svc.key] = {d.key: d for d in dests}
    return t


def ops(steps):
    return [s.op.ipvsadm() for s in steps]


def test_empty_kernel_all_up_creates_service_then_reals():
    v = virtual()
    steps = plan(cfg(v), health(v, State.UP, State.UP), Table())
    assert ops(steps) == [
        "ipvsadm -A -t 198.51.100.1:80 -s wrr",
        "ipvsadm -a -t 198.51.100.1:80 -r 203.0.113.11:80 -m -w 1",
        "ipvsadm -a -t 198.51.100.1:80 -r 203.0.113.12:80 -m -w 2",
    ]


def test_converged_table_needs_nothing_and_counters_do_not_matter():
    v = virtual()
    live = table_of(v, Dest(addr=R1.ip, port=80, forward="masq", weight=1, active=7),
                    Dest(addr=R2.ip, port=80, forward="masq", weight=2, inactive=3))
    assert plan(cfg(v), health(v, State.UP, State.UP), live) == []


def test_down_real_is_deleted_without_quiescent():
    v = virtual()
    live = table_of(v, Dest(addr=R1.ip, port=80, forward="masq", weight=1),
                    Dest(addr=R2.ip, port=80, forward="masq", weight=2))
    steps = plan(cfg(v), health(v, State.DOWN, State.UP), live)
    assert ops(steps) == ["ipvsadm -d -t 198.51.100.1:80 -r 203.0.113.11:80"]
    assert steps[0].op.role == "real"


def test_down_real_is_set_to_weight_zero_with_quiescent():
    v = virtual(quiescent=True)
    live = table_of(v, Dest(addr=R1.ip, port=80, forward="masq", weight=1),
                    Dest(addr=R2.ip, port=80, forward="masq", weight=2))
    steps = plan(cfg(v), health(v, State.DOWN, State.UP), live)
    assert ops(steps) == ["ipvsadm -e -t 198.51.100.1:80 -r 203.0.113.11:80 -m -w 0"]


def test_all_down_adds_fallback_before_removing_the_last_real():
    v = virtual()
    live = table_of(v, Dest(addr=R1.ip, port=80, forward="masq", weight=1))
    steps = plan(cfg(v), health(v, State.DOWN, State.DOWN), live)
    assert ops(steps) == [
        "ipvsadm -a -t 198.51.100.1:80 -r 127.0.0.1:80 -g -w 1",
        "ipvsadm -d -t 198.51.100.1:80 -r 203.0.113.11:80",
    ]
    assert [s.op.role for s in steps] == ["fallback", "real"]


def test_a_real_returning_is_added_before_the_fallback_goes():
    v = virtual()
    live = table_of(v, Dest(addr="127.0.0.1", port=80, forward="gate", weight=1))
    steps = plan(cfg(v), health(v, State.UP, State.DOWN), live)
    assert ops(steps) == [
        "ipvsadm -a -t 198.51.100.1:80 -r 203.0.113.11:80 -m -w 1",
        "ipvsadm -d -t 198.51.100.1:80 -r 127.0.0.1:80",
    ]
    assert steps[1].op.role == "fallback"


def test_unknown_reals_are_never_put_in_service():
    v = virtual()
    steps = plan(cfg(v), {}, Table())
    assert ops(steps) == [
        "ipvsadm -A -t 198.51.100.1:80 -s wrr",
        "ipvsadm -a -t 198.51.100.1:80 -r 127.0.0.1:80 -g -w 1",
    ]


def test_weight_change_is_an_edit_in_place():
    v = virtual(reals=(R1, RealServer(ip=R2.ip, port=80, forward="masq", weight=5)))
    live = table_of(v, Dest(addr=R1.ip, port=80, forward="masq", weight=1),
                    Dest(addr=R2.ip, port=80, forward="masq", weight=2))
    steps = plan(cfg(v), health(v, State.UP, State.UP), live)
    assert ops(steps) == ["ipvsadm -e -t 198.51.100.1:80 -r 203.0.113.12:80 -m -w 5"]


def test_scheduler_and_persistence_change_edit_the_service_in_place():
    v = virtual(scheduler="rr", persistent=300)
    live = table_of(virtual(), Dest(addr=R1.ip, port=80, forward="masq", weight=1),
                    Dest(addr=R2.ip, port=80, forward="masq", weight=2))
    steps = plan(cfg(v), health(v, State.UP, State.UP), live)
    assert ops(steps) == ["ipvsadm -E -t 198.51.100.1:80 -s rr -p 300"]


def test_unknown_dest_under_managed_service_is_purged_as_stale():
    v = virtual()
    live = table_of(v, Dest(addr=R1.ip, port=80, forward="masq", weight=1),
                    Dest(addr=R2.ip, port=80, forward="masq", weight=2),
                    Dest(addr="203.0.113.99", port=80, forward="masq", weight=1))
    steps = plan(cfg(v), health(v, State.UP, State.UP), live)
    assert ops(steps) == ["ipvsadm -d -t 198.51.100.1:80 -r 203.0.113.99:80"]
    assert steps[0].op.role == "stale"


def test_foreign_services_are_never_touched():
    v = virtual()
    live = table_of(v, Dest(addr=R1.ip, port=80, forward="masq", weight=1),
                    Dest(addr=R2.ip, port=80, forward="masq", weight=2))
    foreign = Service(key=ServiceKey.inet("tcp", "198.51.100.9", 443), scheduler="rr").normalized()
    live.services[foreign.key] = foreign
    live.dests[foreign.key] = {}
    assert plan(cfg(v), health(v, State.UP, State.UP), live) == []


def test_services_removed_from_the_config_are_deleted_only_if_named():
    v = virtual()
    old = virtual(port=8080)
    live = table_of(v, Dest(addr=R1.ip, port=80, forward="masq", weight=1),
                    Dest(addr=R2.ip, port=80, forward="masq", weight=2))
    old_svc = desired_service(old)
    live.services[old_svc.key] = old_svc
    steps = plan(cfg(v), health(v, State.UP, State.UP), live, removed={old_svc.key})
    assert ops(steps) == ["ipvsadm -D -t 198.51.100.1:8080"]


def test_gate_real_port_is_the_virtual_port_as_the_kernel_stores_it():
    r = RealServer(ip="203.0.113.11", port=8080, forward="gate")
    v = virtual(reals=(r,), fallback=None)
    live = table_of(v, Dest(addr=r.ip, port=80, forward="gate", weight=1))
    assert plan(cfg(v), {(v.key, r.key): Health(State.UP)}, live) == []
    steps = plan(cfg(v), {(v.key, r.key): Health(State.UP)}, table_of(v))
    assert ops(steps) == ["ipvsadm -a -t 198.51.100.1:80 -r 203.0.113.11:80 -g -w 1"]


def test_fwmark_service_keeps_real_ports():
    r = RealServer(ip="203.0.113.11", port=0, forward="gate")
    v = VirtualService(protocol="fwm", ip=None, port=0, fwmark=7, reals=(r,), scheduler="wlc")
    steps = plan(cfg(v), {(v.key, r.key): Health(State.UP)}, Table())
    assert ops(steps) == ["ipvsadm -A -f 7 -s wlc", "ipvsadm -a -f 7 -r 203.0.113.11:0 -g -w 1"]
