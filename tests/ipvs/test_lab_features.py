"""Issue 5, point 1: every IPVS feature lvsd configures round-trips through the real kernel.

One lvsd daemon (the real program) is started with a config holding one virtual
service per feature (checktype=on: every real is up, no backends needed). Each
feature is then read back three ways and compared with what was meant, written
out here by hand: ``ipvsadm-save -n`` and ``ipvsadm -Ln [--thresholds]`` (the
kernel's own client) and lvsd's netlink reader. A table the kernel rewrote must
not be edited back and forth: passes over it, and a restarted lvsd adopting
it, make no edit at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lvsd import loaded as loading
from lvsd.cli.planview import assumed_health
from lvsd.config.model import RealServer, VirtualService
from lvsd.health import Health, State
from lvsd.ipvs.netlink import NetlinkIPVS
from lvsd.ipvs.table import F_SCHED3, Dest, ServiceKey, Table
from lvsd.reconcile import desired_dests, desired_service, plan
from tests.support.director import Director
from tests.support.kernel import (
    group,
    ipvsadm_save,
    listing,
    netlink_dump,
    run,
    service_of,
    thresholds,
)
from tests.support.skipping import in_lab, not_in_lab

pytestmark = pytest.mark.lab

SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh")

CONFIG = """\
logfile="@LOG@"
checkinterval=1
resyncinterval=1
quiescent=no

virtual=198.51.100.1:80
	real=203.0.113.11:8080 masq 3 l:10 u:100
	real=203.0.113.12:80 masq 0
	checktype=on
	scheduler=wrr

virtual=198.51.100.1:81
	real=203.0.113.11:8081 gate 2
	real=203.0.113.12 ipip 1 u:50
	checktype=on
	scheduler=wlc

virtual=198.51.100.1:53
	protocol=udp
	real=203.0.113.11:5353 masq
	ops=yes
	persistent=60
	netmask=255.255.255.0
	scheduler=rr
	checktype=on

virtual=198.51.100.1:443
	real=203.0.113.11:443 gate
	persistent=300
	scheduler=wlc
	checktype=on

virtual=198.51.100.1:82
	real=203.0.113.11:82 gate
	scheduler=sh
	schedflags=sh-fallback,sh-port
	checktype=on

virtual=198.51.100.1:83
	real=203.0.113.11:83 gate
	scheduler=mh
	schedflags=mh-port
	quiescent=yes
	checktype=on

virtual=198.51.100.1:84
	real=203.0.113.11:84 gate
	scheduler=rr
	schedflags=flag-1,flag-2,flag-3
	checktype=on

virtual=7
	real=203.0.113.11:8080 gate
	real=203.0.113.12:0 masq 4
	scheduler=wlc
	checktype=on

virtual6=8
	real6=[2001:db8::11]:0 gate
	persistent=30
	netmask=64
	scheduler=wlc
	checktype=on

virtual6=[2001:db8::1]:80
	real6=[2001:db8::11]:80 masq 3 l:5 u:50
	real6=[2001:db8::12]:8080 masq
	persistent=100
	netmask=48
	scheduler=wlc
	checktype=on
""" + "".join(
    f"\nvirtual=198.51.100.1:{1000 + i}\n\treal=203.0.113.11:{1000 + i} masq\n\tscheduler={s}\n\tchecktype=on\n"
    for i, s in enumerate(SCHEDULERS)
)

# What ipvsadm-save -n must print for each feature, written by hand from ipvsadm's rules:
# gate/ipip reals take the virtual's port, masq and fwmark reals keep theirs; ops is udp only.
FEATURES: dict[str, tuple[str, list[str]]] = {
    "tcp masq: real ports, weights (0 too)": (
        "-A -t 198.51.100.1:80 -s wrr",
        ["-a -t 198.51.100.1:80 -r 203.0.113.11:8080 -m -w 3", "-a -t 198.51.100.1:80 -r 203.0.113.12:80 -m -w 0"],
    ),
    "gate and ipip take the virtual's port": (
        "-A -t 198.51.100.1:81 -s wlc",
        ["-a -t 198.51.100.1:81 -r 203.0.113.11:81 -g -w 2",
         "-a -t 198.51.100.1:81 -r 203.0.113.12:81 -i -w 1 --tun-type ipip"],
    ),
    "udp, one-packet scheduling, persistence netmask": (
        "-A -u 198.51.100.1:53 -s rr -p 60 -M 255.255.255.0 -o",
        ["-a -u 198.51.100.1:53 -r 203.0.113.11:5353 -m -w 1"],
    ),
    "persistence with the host mask": (
        "-A -t 198.51.100.1:443 -s wlc -p 300",
        ["-a -t 198.51.100.1:443 -r 203.0.113.11:443 -g -w 1"],
    ),
    "sh scheduler flags": (
        "-A -t 198.51.100.1:82 -s sh -b sh-fallback,sh-port",
        ["-a -t 198.51.100.1:82 -r 203.0.113.11:82 -g -w 1"],
    ),
    "mh scheduler flags": (
        "-A -t 198.51.100.1:83 -s mh -b mh-port",
        ["-a -t 198.51.100.1:83 -r 203.0.113.11:83 -g -w 1"],
    ),
    "generic scheduler flags": (
        "-A -t 198.51.100.1:84 -s rr -b flag-1,flag-2,flag-3",
        ["-a -t 198.51.100.1:84 -r 203.0.113.11:84 -g -w 1"],
    ),
    "fwmark IPv4 keeps real ports": (
        "-A -f 7 -s wlc",
        ["-a -f 7 -r 203.0.113.11:8080 -g -w 1", "-a -f 7 -r 203.0.113.12:0 -m -w 4"],
    ),
    "fwmark IPv6 with a persistence prefix": (
        "-A -f 8 -6 -s wlc -p 30 -M 64",
        ["-a -f 8 -6 -r [2001:db8::11]:0 -g -w 1"],
    ),
    "IPv6 service and reals": (
        "-A -t [2001:db8::1]:80 -s wlc -p 100 -M 48",
        ["-a -t [2001:db8::1]:80 -r [2001:db8::11]:80 -m -w 3",
         "-a -t [2001:db8::1]:80 -r [2001:db8::12]:8080 -m -w 1"],
    ),
    **{
        # mh with quiescent=no (the default): lvsd adds mh-fallback (lvsd.reconcile.mh_fallback, docs/ecmp.md)
        f"scheduler {s}": (f"-A -t 198.51.100.1:{1000 + i} -s {s}" + (" -b mh-fallback" if s == "mh" else ""),
                           [f"-a -t 198.51.100.1:{1000 + i} -r 203.0.113.11:{1000 + i} -m -w 1"])
        for i, s in enumerate(SCHEDULERS)
    },
}

THRESHOLDS = {  # ipvsadm -Ln --thresholds: (upper, lower)
    ("TCP 198.51.100.1:80", "203.0.113.11:8080"): (100, 10),
    ("TCP 198.51.100.1:81", "203.0.113.12:81"): (50, 0),
    ("TCP [2001:db8::1]:80", "[2001:db8::11]:80"): (50, 5),
}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Director]:
    if not in_lab():
        not_in_lab()
    run("ipvsadm", "-C")
    d = Director(Path(tmp_path_factory.mktemp("features")))
    d.write(CONFIG)
    res = d.cli("start")
    assert res.returncode == 0, res.stderr + d.log()
    deadline = time.monotonic() + 15
    while len(ipvsadm_save()) < len(FEATURES) and time.monotonic() < deadline:
        time.sleep(0.1)
    yield d
    d.stop()
    run("ipvsadm", "-C")


def _ident(service_line: str) -> str:
    words = service_line.split()
    return " ".join(words[1:4] if words[3:4] == ["-6"] else words[1:3])


@pytest.mark.parametrize("feature", list(FEATURES))
def test_feature_round_trips(running: Director, feature: str) -> None:
    service_line, dest_lines = FEATURES[feature]
    ident = _ident(service_line)
    # 1. the kernel's own client reads back exactly what ipvsadm would have been asked for
    assert service_of(ipvsadm_save(), ident) == (service_line, sorted(dest_lines)), running.log()[-2000:]
    # 2. lvsd's netlink reader reads the same
    assert service_of(group(netlink_dump().save()), ident) == (service_line, sorted(dest_lines))
    # 3. and what was read is what lvsd meant, attribute by attribute (counters aside)
    config = loading.load(str(running.config)).config
    table = netlink_dump()
    (v,) = [v for v in config.virtuals if f"-A {ident} " in "-A " + desired_service(v).ipvsadm() + " "]
    key = v.key
    assert table.services[key] == desired_service(v)
    want = {k: w.dest for k, w in desired_dests(v, assumed_health(config, up=True)).items()}
    assert set(table.dests_of(key)) == set(want)
    assert all(table.dests_of(key)[k].same(d) for k, d in want.items())


def test_thresholds_round_trip(running: Director) -> None:
    seen = thresholds()
    table = netlink_dump()
    for (svc, real), (upper, lower) in THRESHOLDS.items():
        assert seen[svc][real] == (upper, lower)
    v4 = table.dests_of(ServiceKey.inet("tcp", "198.51.100.1", 80))[("203.0.113.11", 8080)]
    assert (v4.u_thresh, v4.l_thresh) == (100, 10)
    v6 = table.dests_of(ServiceKey.inet("tcp", "2001:db8::1", 80))[("2001:db8::11", 80)]
    assert (v6.u_thresh, v6.l_thresh) == (50, 5)


def test_listing_shows_flags_and_persistence(running: Director) -> None:
    text = listing()
    for line in ("TCP  198.51.100.1:82 sh (sh-fallback,sh-port)", "TCP  198.51.100.1:83 mh (mh-port)",
                 "UDP  198.51.100.1:53 rr persistent 60 mask 255.255.255.0 ops",
                 "FWM  8 IPv6 wlc persistent 30 mask 64", "TCP  [2001:db8::1]:80 wlc persistent 100 mask 48"):
        assert line in text, text


def test_no_edit_loop_and_a_restart_adopts_the_whole_table_untouched(running: Director) -> None:
    config = loading.load(str(running.config)).config
    assert plan(config, assumed_health(config, up=True), netlink_dump(), readd=False) == []
    edits = running.log().count("ipvs.edit") + running.log().count(" server: ")
    time.sleep(2.5)  # two resync intervals: full passes over a table the kernel normalised
    assert running.log().count(" server: ") + running.log().count("ipvs.edit") == edits
    before = ipvsadm_save()
    mark = len(running.log())
    res = running.cli("restart")
    assert res.returncode == 0, res.stderr
    time.sleep(1.5)
    after = running.log()[mark:]
    assert "server:" not in after.replace("Linux Director", ""), after  # no Added/Changed/Restored/Deleted
    assert ipvsadm_save() == before


def test_a_localnode_dest_is_not_edited_back(running: Director) -> None:
    """Older kernels stored LOCALNODE for a dest on a local address; the meaning is the same."""
    config = loading.load(str(running.config)).config
    (v,) = [v for v in config.virtuals if v.port == 80 and not v.ipv6 and v.protocol == "tcp"]
    svc = desired_service(v)
    local = Dest(addr="203.0.113.12", port=80, forward="local", weight=0)

    async def edit() -> None:
        from lvsd.ipvs.table import Op

        async with NetlinkIPVS() as nl:
            await nl.apply(Op(kind="edit-dest", service=svc, dest=local))

    asyncio.run(edit())
    assert "203.0.113.12:80              Local   0" in listing()
    mark = len(running.log())
    time.sleep(2.5)
    assert "203.0.113.12:80" not in running.log()[mark:]
    assert "203.0.113.12:80              Local   0" in listing()


def test_sctp_and_the_mh_flag_ipvsadm_cannot_show_round_trip_over_netlink(running: Director) -> None:
    """The config reader has no protocol=sctp (ldirectord has none); the model, reconcile and netlink do."""
    r = RealServer(ip="203.0.113.11", port=3868, forward="masq", weight=2)
    sctp = VirtualService(protocol="sctp", ip="198.51.100.1", port=3868, reals=(r,), scheduler="wlc")
    mh = VirtualService(protocol="tcp", ip="198.51.100.1", port=85, reals=(), scheduler="mh",
                        schedflags="mh-fallback,mh-port,flag-3")
    health = {(sctp.key, r.key): Health(State.UP)}

    async def program() -> Table:
        async with NetlinkIPVS() as nl:
            from lvsd.config.model import Config

            steps = plan(Config(path="/x", virtuals=(sctp, mh)), health, Table())
            assert not any(await nl.apply_many([s.op for s in steps]))
            return await nl.dump()

    table = asyncio.run(program())
    assert service_of(ipvsadm_save(), "--sctp-service 198.51.100.1:3868") == (
        "-A --sctp-service 198.51.100.1:3868 -s wlc",
        ["-a --sctp-service 198.51.100.1:3868 -r 203.0.113.11:3868 -m -w 2"],
    )
    assert "SCTP 198.51.100.1:3868 wlc" in listing()
    assert table.services[sctp.key] == desired_service(sctp)
    assert table.dests_of(sctp.key)[("203.0.113.11", 3868)].same(
        Dest(addr="203.0.113.11", port=3868, forward="masq", weight=2))
    assert table.services[mh.key].flags & F_SCHED3  # ipvsadm prints no flag-3 for mh; netlink has it
    run("ipvsadm", "-D", "--sctp-service", "198.51.100.1:3868")
    run("ipvsadm", "-D", "-t", "198.51.100.1:85")
