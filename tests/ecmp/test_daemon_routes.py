"""Issue 13, point 1 in the daemon (in-memory kernel, real check targets): routes follow health.

The daemon announces a VIP while it can serve it, withdraws it after ``announcefall`` when no
real server is left, announces it again after ``announcerise``; ``leave`` withdraws and waits
``withdrawwait``, a stop does the same before it purges the table, a handover (restart) does
not withdraw. ``lvsd exabgp`` prints what ExaBGP must send. The interface mode runs ``ip``; here a
stand-in keeps the interface's addresses in a file (the real one: tests/ecmp/test_lab_ecmp.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

from lvsd import control
from lvsd.cli.status import print_status
from lvsd.config.loader import load
from lvsd.daemon.routes import RouteKeeper
from lvsd.daemon.status import Snapshot
from lvsd.ipvs.table import Dest, Service, ServiceKey, Table
from tests.support.daemon import daemon_config, http_virtual, start_daemon, stop_daemon
from tests.support.switchable import Switchable
from tests.support.waiting import until

PREFIX = "198.51.100.1/32"


def config(tmp_path: Path, servers: list[Switchable], announce: str) -> Path:
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(daemon_config(tmp_path, http_virtual([s.port for s in servers]), globals_=announce))
    return cfg


def route(d: object) -> dict[str, object]:
    snap = d.snapshot().as_json()  # type: ignore[attr-defined]
    (r,) = snap["announce"]["routes"]
    return r  # type: ignore[no-any-return]


async def test_routes_follow_health_with_rise_and_fall(tmp_path: Path, servers: list[Switchable]) -> None:
    cfg = config(tmp_path, servers, "announce=exabgp\nannouncerise=1\nannouncefall=1\nwithdrawwait=0")
    d, task = await start_daemon(cfg)
    try:
        assert route(d)["announced"] is True  # the first decision is immediate
        assert 'lvsd_route_announced{prefix="198.51.100.1/32"} 1' in d.registry.render()
        for s in servers:
            await s.set_mode("error500")
        await until(lambda: route(d)["servable"] is False, 5)
        assert route(d)["announced"] is True and route(d)["pending"] is not None  # fall running
        t = await until(lambda: route(d)["announced"] is False, 3)
        assert "no real server in service" in str(route(d)["reason"])
        assert 'lvsd_route_announced{prefix="198.51.100.1/32"} 0' in d.registry.render()
        await servers[0].set_mode("up")
        await until(lambda: route(d)["servable"] is True, 5)
        assert route(d)["announced"] is False  # rise running
        await until(lambda: route(d)["announced"] is True, 3)
        assert t < 2.5
    finally:
        await stop_daemon(d, task)
    text = (tmp_path / "lvsd.log").read_text()
    assert "Withdraw 198.51.100.1/32: no real server in service" in text
    assert text.count("Announce 198.51.100.1/32") == 2


async def test_leave_join_and_a_stop_withdraw_first(tmp_path: Path, servers: list[Switchable],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, servers, "announce=exabgp\nannouncerise=0\nwithdrawwait=1")
    sock = str(tmp_path / "lvsd.sock")
    d, task = await start_daemon(cfg, control_path=sock)
    try:
        t0 = time.monotonic()
        answer = await asyncio.to_thread(control.ask, sock, "leave")
        assert time.monotonic() - t0 >= 1.0  # the answer comes once the routers had withdrawwait
        assert answer == {"ok": True, "withdrawn": [PREFIX], "waited": 1.0}
        assert route(d)["announced"] is False and d.snapshot().as_json()["announce"]["held"] == "leave"
        print_status(Snapshot.from_json(d.snapshot().as_json()))
        out = capsys.readouterr().out
        assert "announce: exabgp, held withdrawn (leave)" in out and "198.51.100.1/32" in out and "withdrawn" in out
        routes = await asyncio.to_thread(control.ask, sock, "routes")
        assert routes["lines"] == [] and routes["mode"] == "exabgp"
        assert (await asyncio.to_thread(control.ask, sock, "join")) == {"ok": True, "announced": [PREFIX]}
        routes = await asyncio.to_thread(control.ask, sock, "routes")
        assert routes["lines"] == [f"announce route {PREFIX} next-hop self"]
    finally:
        t0 = time.monotonic()
        await stop_daemon(d, task)
    assert time.monotonic() - t0 >= 1.0
    text = (tmp_path / "lvsd.log").read_text()
    assert text.index("Withdraw 198.51.100.1/32: stop") < text.index("terminated on signal")


async def test_a_handover_keeps_announcing_and_a_director_without_announce_refuses_leave(
        tmp_path: Path, servers: list[Switchable]) -> None:
    cfg = config(tmp_path, servers, "announce=exabgp\nwithdrawwait=30")
    d, task = await start_daemon(cfg)
    t0 = time.monotonic()
    await stop_daemon(d, task, clean=False)
    assert time.monotonic() - t0 < 5 and route(d)["announced"] is True
    plain = tmp_path / "plain.cf"
    plain.write_text(daemon_config(tmp_path, http_virtual([servers[0].port])))
    d, task = await start_daemon(plain)
    try:
        assert (await d.routes.leave())["ok"] is False and d.snapshot().as_json()["announce"] is None
    finally:
        await stop_daemon(d, task)


async def test_lvsd_exabgp_prints_the_changes_and_ends_with_exabgp(tmp_path: Path, servers: list[Switchable],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config(tmp_path, servers, "announce=exabgp\nannouncerise=0\nannounceattributes=med 100\nwithdrawwait=0")
    rundir = tmp_path / "run"
    rundir.mkdir()
    d, task = await start_daemon(cfg, control_path=str(rundir / "lvsd.lvsd.cf.sock"))
    helper = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lvsd", "exabgp", "-c", str(cfg), "--poll", "0.05", "--hold", "1",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env={**os.environ, "LVSD_RUNDIR": str(rundir)})
    assert helper.stdout is not None and helper.stdin is not None

    async def line() -> str:
        return (await asyncio.wait_for(helper.stdout.readline(), 10)).decode().strip()  # type: ignore[union-attr]

    try:
        assert await line() == f"announce route {PREFIX} next-hop self med 100"
        helper.stdin.write(b"done\n")  # ExaBGP's acknowledgements are read and dropped
        for s in servers:
            await s.set_mode("error500")
        assert await line() == f"withdraw route {PREFIX} next-hop self"
        await servers[1].set_mode("up")
        assert await line() == f"announce route {PREFIX} next-hop self med 100"
        await stop_daemon(d, task, clean=False)  # a handover: the helper holds the route ...
        t0 = time.monotonic()
        assert await line() == f"withdraw route {PREFIX} next-hop self"  # ... until --hold has passed
        assert 0.9 <= time.monotonic() - t0 < 5
        helper.stdin.close()
        assert await asyncio.wait_for(helper.wait(), 5) == 0
    finally:
        if helper.returncode is None:
            helper.kill()
            await helper.wait()
        if not task.done():
            await stop_daemon(d, task)


FAKE_IP = """\
import json, sys
state = sys.argv[1]; args = sys.argv[2:]
try:
    have = json.load(open(state))
except FileNotFoundError:
    have = {}
if args[:3] == ["-o", "address", "show"]:
    dev = args[4]
    if dev not in have:
        sys.stderr.write('Device "%s" does not exist.' % dev); sys.exit(1)
    for p in have[dev]:
        print("9: %s    inet %s scope global %s" % (dev, p, dev))
    sys.exit(0)
verb, prefix, dev = args[1], args[2], args[4]
have.setdefault(dev, [])
if verb == "add" and prefix not in have[dev]:
    have[dev].append(prefix)
elif verb == "del":
    have[dev].remove(prefix)
json.dump(have, open(state, "w"))
"""


async def test_the_interface_mode_keeps_exactly_the_announced_vips_on_the_interface(tmp_path: Path) -> None:
    state = tmp_path / "ifaces.json"
    state.write_text(json.dumps({"announce0": ["192.0.2.99/32"], "lo": []}))
    ip = tmp_path / "ip"
    ip.write_text(f"#!/bin/sh\nexec {sys.executable} {tmp_path / 'fake_ip.py'} {state} \"$@\"\n")
    ip.chmod(0o755)
    (tmp_path / "fake_ip.py").write_text(FAKE_IP)
    cfg = tmp_path / "a.cf"
    cfg.write_text("announce=interface\nannounceinterface=announce0\nannouncerise=0\n"
                   "virtual=198.51.100.1:80\n\treal=203.0.113.21:80 gate\n\tscheduler=mh\n")
    config = load(str(cfg))
    keeper = RouteKeeper(ip=str(ip), sysctl_root=tmp_path)
    keeper.configure(config)
    key = ServiceKey(protocol="tcp", addr="198.51.100.1", port=80)
    table = Table(services={key: Service(key=key, scheduler="mh")},
                  dests={key: {("203.0.113.21", 80): Dest(addr="203.0.113.21", port=80, forward="gate", weight=1)}})

    def have() -> list[str]:
        return list(json.loads(state.read_text())["announce0"])

    assert [c.kind for c in await keeper.update(config, table, 0.0)] == ["announce"]
    assert have() == ["192.0.2.99/32", PREFIX]  # another address there is left alone
    state.write_text(json.dumps({"announce0": ["192.0.2.99/32"]}))  # someone removed it: the next pass repairs
    await keeper.converge()
    assert have() == ["192.0.2.99/32", PREFIX] and not keeper.degraded
    table.dests[key][("203.0.113.21", 80)] = Dest(addr="203.0.113.21", port=80, forward="gate", weight=0)
    assert [c.kind for c in await keeper.update(config, table, 1.0)] == ["withdraw"]
    assert have() == ["192.0.2.99/32"]
    assert keeper.warnings == ["net.ipv4.vs.sloppy_tcp cannot be read (is ip_vs loaded?)"]
    (tmp_path / "sloppy_tcp").write_text("0\n")
    keeper.recheck(config)
    assert keeper.warnings == ["net.ipv4.vs.sloppy_tcp is 0, wants 1: a TCP flow the routers move here "
                               "mid-connection is dropped"]
    (tmp_path / "sloppy_tcp").write_text("1\n")
    keeper.recheck(config)
    assert keeper.warnings == []
    # a missing interface: logged, degraded, and checking goes on
    cfg.write_text(cfg.read_text().replace("announce0", "nosuch0"))
    config = load(str(cfg))
    keeper.configure(config)
    table.dests[key][("203.0.113.21", 80)] = Dest(addr="203.0.113.21", port=80, forward="gate", weight=1)
    await keeper.update(config, table, 2.0)
    assert keeper.degraded
