"""Reconcile planning: minimal, ordered edits; quiescent vs delete; fallback; ownership; drain."""

from dataclasses import replace

import pytest

from lvsd.config.model import Config, Fallback, RealServer, VirtualService
from lvsd.health import Health, State
from lvsd.ipvs.table import Dest, Service, ServiceKey, Table
from lvsd.reconcile import desired_service, draining, plan, plan_virtual

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


# -- the full IPVS model ------------------------------------------------------


def test_service_attributes_from_the_config():
    from lvsd.ipvs.table import F_ONEPACKET, F_PERSISTENT, F_SCHED1, F_SCHED2

    v = virtual(protocol="udp", port=53, scheduler="sh", schedflags="sh-fallback,sh-port", ops=True,
                persistent=600, netmask="255.255.255.0")
    svc = desired_service(v)
    assert svc.flags == F_SCHED1 | F_SCHED2 | F_ONEPACKET | F_PERSISTENT
    assert (svc.timeout, svc.netmask) == (600, "255.255.255.0")
    assert svc.ipvsadm() == "-u 198.51.100.1:53 -s sh -p 600 -M 255.255.255.0 -o -b sh-fallback,sh-port"


def test_ops_only_for_udp_and_netmask_only_with_persistence():
    svc = desired_service(virtual(ops=True, netmask="255.255.0.0"))
    assert svc.flags == 0 and svc.netmask == "255.255.255.255" and svc.timeout == 0


def test_ipv6_persistence_prefix_and_fwmark6():
    v6 = VirtualService(protocol="tcp", ip="2001:db8::1", port=80, ipv6=True, persistent=30, netmask="64",
                        scheduler="mh", schedflags="mh-port", quiescent=True)
    assert desired_service(v6).ipvsadm() == "-t [2001:db8::1]:80 -s mh -p 30 -M 64 -b mh-port"
    fw6 = VirtualService(protocol="fwm", ip=None, port=0, fwmark=9, ipv6=True, scheduler="wlc")
    assert desired_service(fw6).ipvsadm() == "-f 9 -6 -s wlc"
    assert desired_service(fw6).netmask == "128"


def test_generic_flags_and_a_flag_of_another_scheduler_is_left_out():
    from lvsd.ipvs.table import F_SCHED1, F_SCHED3, sched_flags

    assert desired_service(virtual(scheduler="rr", schedflags="flag-1,flag-3")).flags == F_SCHED1 | F_SCHED3
    assert desired_service(virtual(scheduler="rr", schedflags="sh-port")).flags == 0
    with pytest.raises(ValueError, match="needs scheduler=sh"):
        sched_flags("sh-port", "rr")
    with pytest.raises(ValueError, match="unknown scheduler flag"):
        sched_flags("fast", "sh")


def test_a_kernel_rewrite_is_not_an_edit():
    """HASHED, a non-persistent service's timeout/netmask and a LOCALNODE dest compare equal."""
    from lvsd.ipvs.table import F_HASHED

    v = virtual(fallback=None)
    live = table_of(v, Dest(addr=R1.ip, port=80, forward="local", weight=1),
                    Dest(addr=R2.ip, port=80, forward="masq", weight=2))
    svc = live.services[v.key]
    live.services[svc.key] = Service(key=svc.key, scheduler="wrr", flags=F_HASHED, timeout=300, netmask="255.0.0.0")
    assert plan(cfg(v), health(v, State.UP, State.UP), live) == []


def test_thresholds_and_tunnel_fields_are_compared():
    r = RealServer(ip="203.0.113.11", port=80, forward="ipip", upper=100, lower=10)
    v = virtual(reals=(r,), fallback=None)
    live = table_of(v, Dest(addr=r.ip, port=80, forward="ipip", weight=1, u_thresh=100, l_thresh=10, tun_type=1))
    assert ops(plan(cfg(v), {(v.key, r.key): Health(State.UP)}, live)) == [
        "ipvsadm -e -t 198.51.100.1:80 -r 203.0.113.11:80 -i -w 1 --tun-type ipip -x 100 -y 10"
    ]


def test_sctp_service():
    r = RealServer(ip="203.0.113.11", port=3868, forward="masq")
    v = VirtualService(protocol="sctp", ip=VIP, port=3868, reals=(r,), scheduler="wlc")
    assert ops(plan(cfg(v), {(v.key, r.key): Health(State.UP)}, Table())) == [
        "ipvsadm -A --sctp-service 198.51.100.1:3868 -s wlc",
        "ipvsadm -a --sctp-service 198.51.100.1:3868 -r 203.0.113.11:3868 -m -w 1",
    ]


# -- readdquiescent -------------------------------------------------------------


def test_quiesced_real_deleted_by_hand_is_readded_only_when_asked():
    v = virtual(quiescent=True, fallback=None)
    live = table_of(v, Dest(addr=R2.ip, port=80, forward="masq", weight=2))  # R1 (down) was deleted by hand
    h = health(v, State.DOWN, State.UP)
    assert plan(cfg(v), h, live, readd=False) == []
    assert ops(plan(cfg(v), h, live, readd=True)) == ["ipvsadm -a -t 198.51.100.1:80 -r 203.0.113.11:80 -m -w 0"]
    # a health transition alone never re-adds it (the periodic pass decides, knowing readdquiescent)
    assert plan_virtual(v, h, live) == []


# -- graceful drain -------------------------------------------------------------


def test_drain_starts_with_weight_zero_and_ends_when_idle_or_at_the_deadline():
    v = virtual(reals=(R2,), fallback=None, drain=True, draintimeout=60)
    gone = Dest(addr=R1.ip, port=80, forward="masq", weight=1, active=3)
    live = table_of(v, gone, Dest(addr=R2.ip, port=80, forward="masq", weight=2))
    h = {(v.key, R2.key): Health(State.UP)}
    steps = plan(cfg(v), h, live, now=100.0, drain_since={})
    assert ops(steps) == ["ipvsadm -e -t 198.51.100.1:80 -r 203.0.113.11:80 -m -w 0"]
    assert steps[0].op.role == "drain"
    for step in steps:
        live.apply(step.op)
    assert draining(cfg(v), live) == {(v.key, (R1.ip, 80))}
    since = {(v.key, (R1.ip, 80)): 100.0}
    assert plan(cfg(v), h, live, now=159.0, drain_since=since) == []  # 3 active connections left
    steps = plan(cfg(v), h, live, now=160.0, drain_since=since)
    assert ops(steps) == ["ipvsadm -d -t 198.51.100.1:80 -r 203.0.113.11:80"] and steps[0].reason == "drain timeout"
    live.dests[v.key][(R1.ip, 80)] = replace(live.dests[v.key][(R1.ip, 80)], active=0)
    steps = plan(cfg(v), h, live, now=101.0, drain_since=since)
    assert ops(steps) == ["ipvsadm -d -t 198.51.100.1:80 -r 203.0.113.11:80"] and steps[0].reason == "drained"
    # without fresh counters (a health transition's plan) a drain is never ended
    assert plan_virtual(v, h, live) == []


def test_drain_off_purges_at_once_and_a_returning_real_is_restored_in_place():
    v = virtual(reals=(R2,), fallback=None)
    live = table_of(v, Dest(addr=R1.ip, port=80, forward="masq", weight=0, active=3),
                    Dest(addr=R2.ip, port=80, forward="masq", weight=2))
    h = {(v.key, R2.key): Health(State.UP)}
    assert ops(plan(cfg(v), h, live)) == ["ipvsadm -d -t 198.51.100.1:80 -r 203.0.113.11:80"]
    back = virtual(fallback=None, drain=True)  # R1 is in the config again while it drains
    steps = plan(cfg(back), health(back, State.UP, State.UP), live, drain_since={})
    assert ops(steps) == ["ipvsadm -e -t 198.51.100.1:80 -r 203.0.113.11:80 -m -w 1"]


def test_udp_drain_waits_for_inactive_flows_too():
    from lvsd.reconcile import drained

    v = virtual(protocol="udp", port=53)
    assert not drained(v, Dest(addr=R1.ip, port=53, weight=0, inactive=2))
    assert drained(virtual(), Dest(addr=R1.ip, port=80, weight=0, inactive=2))
