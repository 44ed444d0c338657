"""Issue 13, point 1 (pure): which VIPs a director announces, with hysteresis, and the lines ExaBGP reads."""

from __future__ import annotations

from lvsd.config.model import Config, Fallback, RealServer, VirtualService
from lvsd.ecmp.announce import Announcer, RouteChange, Servable, exabgp_line, host_prefix, servable
from lvsd.ipvs.table import Dest, Service, Table

VIP = "198.51.100.1"
R1 = RealServer(ip="203.0.113.21", port=80, forward="gate")
R2 = RealServer(ip="203.0.113.22", port=80, forward="gate")
FB = Fallback(ip="127.0.0.1", port=80, forward="gate")
UP = {"198.51.100.1/32": Servable(True, "up", ("tcp:198.51.100.1:80",))}
DOWN = {"198.51.100.1/32": Servable(False, "down", ("tcp:198.51.100.1:80",))}


def virtual(port: int = 80, **kw: object) -> VirtualService:
    base: dict[str, object] = dict(protocol="tcp", ip=VIP, port=port, reals=(R1, R2), scheduler="mh")
    base.update(kw)
    return VirtualService(**base)  # type: ignore[arg-type]


def table(v: VirtualService, *dests: tuple[str, int]) -> Table:
    t = Table()
    t.services[v.key] = Service(key=v.key, scheduler=v.scheduler)
    t.dests[v.key] = {(ip, v.port): Dest(addr=ip, port=v.port, forward="gate", weight=w) for ip, w in dests}
    return t


def test_host_prefixes() -> None:
    assert host_prefix("198.51.100.1") == "198.51.100.1/32"
    assert host_prefix("2001:db8::0:1") == "2001:db8::1/128"


def test_a_vip_is_servable_while_every_service_on_it_has_a_real_at_a_non_zero_weight() -> None:
    web, tls = virtual(), virtual(443)
    cfg = Config(path="/x.cf", virtuals=(web, tls))
    t = table(web, (R1.ip, 1), (R2.ip, 0))
    t.services[tls.key] = Service(key=tls.key, scheduler="mh")
    t.dests[tls.key] = {(R1.ip, 443): Dest(addr=R1.ip, port=443, forward="gate", weight=0)}
    got = servable(cfg, t)["198.51.100.1/32"]
    assert not got.ok and "tcp:198.51.100.1:443" in got.reason and "tcp:198.51.100.1:80" not in got.reason
    assert got.services == ("tcp:198.51.100.1:80", "tcp:198.51.100.1:443")
    t.dests[tls.key][(R1.ip, 443)] = Dest(addr=R1.ip, port=443, forward="gate", weight=1)
    assert servable(cfg, t)["198.51.100.1/32"].ok


def test_the_fallback_counts_only_when_the_operator_says_so() -> None:
    v = virtual(fallback=FB)
    cfg = Config(path="/x.cf", virtuals=(v,))
    t = table(v, (R1.ip, 0), ("127.0.0.1", 1))
    assert not servable(cfg, t)["198.51.100.1/32"].ok
    assert servable(cfg, t, fallback=True)["198.51.100.1/32"].ok


def test_fwmark_services_have_no_address_to_announce() -> None:
    fw = VirtualService(protocol="fwm", ip=None, port=0, fwmark=3, reals=(R1,))
    assert servable(Config(path="/x.cf", virtuals=(fw,)), Table()) == {}


def test_the_first_decision_is_immediate_then_rise_and_fall_hold_changes_back() -> None:
    a = Announcer(rise=3, fall=1)
    assert a.observe(UP, 0.0) == [RouteChange("announce", "198.51.100.1/32", "up")]  # a restart keeps announcing
    assert a.observe(DOWN, 10.0) == []  # fall running
    assert a.next_due() == 11.0
    assert a.observe(UP, 10.5) == []  # back before the fall ended: nothing was withdrawn
    assert a.next_due() is None
    assert a.observe(DOWN, 12.0) == []
    assert a.observe(DOWN, 13.0) == [RouteChange("withdraw", "198.51.100.1/32", "down")]
    assert a.observe(UP, 14.0) == [] and a.next_due() == 17.0
    assert a.observe(UP, 16.9) == []
    assert a.observe(UP, 17.0)[0].kind == "announce"
    assert a.routes["198.51.100.1/32"].announced


def test_zero_delays_act_at_once_and_a_withdrawn_start_waits_for_rise() -> None:
    a = Announcer(rise=2, fall=0)
    assert a.observe(DOWN, 0.0) == []  # never announced: nothing to withdraw
    assert a.observe(UP, 1.0) == []
    assert a.observe(UP, 3.0)[0].kind == "announce"
    assert a.observe(DOWN, 3.5)[0].kind == "withdraw"


def test_hold_withdraws_everything_and_keeps_it_withdrawn_until_release() -> None:
    a = Announcer(rise=5)
    a.observe(UP, 0.0)
    a.hold("leave")
    assert a.observe(UP, 1.0) == [RouteChange("withdraw", "198.51.100.1/32", "leave")]
    assert a.observe(UP, 100.0) == [] and a.announced() == []
    assert a.routes["198.51.100.1/32"].reason == "leave"
    a.release()  # the operator's join: health is current (checks went on), so no rise to wait
    assert [c.kind for c in a.observe(UP, 101.0)] == ["announce"]
    a.hold("leave")
    a.observe(UP, 102.0)
    a.release()
    assert a.observe(DOWN, 103.0) == [] and a.announced() == []  # ... and nothing unservable is announced
    assert a.observe(UP, 104.0) == [] and a.next_due() == 109.0  # later changes have their hysteresis again


def test_a_vip_that_left_the_config_is_withdrawn_and_forgotten() -> None:
    a = Announcer()
    a.observe({**UP, "198.51.100.2/32": Servable(True, "up", ())}, 0.0)
    changes = a.observe(UP, 1.0)
    assert changes == [RouteChange("withdraw", "198.51.100.2/32", "no virtual service on this address any more")]
    assert list(a.routes) == ["198.51.100.1/32"]


def test_withdraws_come_before_announces() -> None:
    a = Announcer()
    both = {"198.51.100.1/32": Servable(True, "", ()), "198.51.100.2/32": Servable(False, "", ())}
    a.observe(both, 0.0)
    flipped = {"198.51.100.1/32": Servable(False, "", ()), "198.51.100.2/32": Servable(True, "", ())}
    assert [c.kind for c in a.observe(flipped, 1.0)] == ["withdraw", "announce"]


def test_exabgp_lines() -> None:
    assert exabgp_line(RouteChange("announce", "198.51.100.1/32", "")) == \
        "announce route 198.51.100.1/32 next-hop self"
    assert exabgp_line(RouteChange("announce", "198.51.100.1/32", ""), "med 100") == \
        "announce route 198.51.100.1/32 next-hop self med 100"
    assert exabgp_line(RouteChange("withdraw", "198.51.100.1/32", "")) == \
        "withdraw route 198.51.100.1/32 next-hop self"
