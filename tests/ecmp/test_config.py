"""Issue 13's directives: values, defaults, errors at file:line, and conversion both ways."""

from __future__ import annotations

from lvsd.config.model import AnnounceSettings
from tests.config.helpers import REAL, VIRTUAL, cf, error, load
from tests.config.test_roundtrip import both_ways


def test_defaults_and_values() -> None:
    assert load(cf(VIRTUAL, REAL)).announce is None
    assert load(cf("announce=exabgp", VIRTUAL, REAL)).announce == AnnounceSettings(
        mode="exabgp", rise=2.0, fall=0.0, fallback=False, withdrawwait=5.0)
    got = load(cf("announce=interface", "announceinterface=announce0", "announcerise=3", "announcefall=1",
                  "announcefallback=yes", "withdrawwait=10", VIRTUAL, REAL)).announce
    assert got == AnnounceSettings(mode="interface", interface="announce0", rise=3.0, fall=1.0, fallback=True,
                                   withdrawwait=10.0)
    assert load(cf("announce=exabgp", 'announceattributes="med 100 community [65000:1]"', VIRTUAL,
                   REAL)).announce.attributes == "med 100 community [65000:1]"  # type: ignore[union-attr]


def test_errors_name_the_line() -> None:
    assert error(cf("announce=bgp", VIRTUAL, REAL)).startswith("1:")
    assert "exabgp" in error(cf("announce=bgp", VIRTUAL, REAL))
    assert error(cf("checkinterval=2", "withdrawwait=5", VIRTUAL, REAL)) == (
        "2:1: withdrawwait needs announce (exabgp or interface: how this director announces its VIPs)")
    assert error(cf("announce=interface", VIRTUAL, REAL)).startswith("1:1: announce=interface needs announceinterface")
    assert error(cf("announce=exabgp", "announceinterface=dummy0", VIRTUAL, REAL)).startswith(
        "2:1: announceinterface is for announce=interface")
    assert "from 0 to 3600" in error(cf("announce=exabgp", "announcerise=9999", VIRTUAL, REAL))
    assert "ExaBGP route attributes" in error(cf("announce=exabgp", "announceattributes=med;reboot", VIRTUAL, REAL))
    assert "interface name" in error(cf("announce=exabgp", "announceinterface=a/b", VIRTUAL, REAL))


def test_both_ways() -> None:
    both_ways(load(cf("announce=interface", "announceinterface=announce0", "announcerise=3", "announcefall=1",
                      "announcefallback=yes", "withdrawwait=10", VIRTUAL, REAL, "\tscheduler=mh",
                      "\tschedflags=mh-port")))
    both_ways(load(cf("announce=exabgp", "announceattributes=med 100", VIRTUAL, REAL)))


def test_warnings_for_settings_that_defeat_active_active() -> None:
    from tests.config.helpers import warnings

    assert warnings(cf("announce=exabgp", VIRTUAL, REAL, "\tscheduler=mh")) == []
    (w,) = warnings(cf("announce=exabgp", VIRTUAL, REAL, "\tscheduler=wlc"))
    assert w.startswith("2:9: announce with scheduler=wlc: a flow the routers move")
    (w,) = warnings(cf(VIRTUAL, REAL, "\tscheduler=mh", "\tquiescent=yes"))
    assert "no mh-fallback: a new flow hashed to a failed real server is dropped" in w
    assert warnings(cf(VIRTUAL, REAL, "\tscheduler=mh", "\tquiescent=yes", "\tschedflags=mh-fallback")) == []


def test_withdrawwait_fits_in_a_stop() -> None:
    assert "from 0 to 50" in error(cf("announce=exabgp", "withdrawwait=60", VIRTUAL, REAL))
