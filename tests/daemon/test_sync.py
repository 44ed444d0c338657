"""Issue 12, point 1 inside the daemon: the sync daemons kept as the config and the VRRP state ask.

In-memory kernel (its sync daemons answer with the kernel's refusals); tests/ipvs/test_lab_sync.py
and tests/daemon/test_lab_sync.py prove the same against the real kernel.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from lvsd.daemon import syncd
from lvsd.ipvs.memory import MemoryIPVS
from lvsd.ipvs.sync import SyncDaemon
from tests.support.daemon import daemon_config, http_virtual, start_daemon, stop_daemon
from tests.support.switchable import Switchable
from tests.support.waiting import until

VIRTUAL = "virtual=198.51.100.1:80\n\treal=203.0.113.11:80 masq\n\tchecktype=on\n"


@pytest.fixture(autouse=True)
def sysctls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "sysctl"
    root.mkdir()
    (root / "backup_only").write_text("1\n")
    monkeypatch.setattr(syncd, "SYSCTL_ROOT", root)
    return root


def config(tmp_path: Path, sync: str) -> Path:
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(daemon_config(tmp_path, VIRTUAL, globals_=sync))
    return cfg


def states(backend: MemoryIPVS) -> dict[str, int]:
    return {state: d.syncid for state, d in backend.sync.items()}


async def test_both_roles_start_with_the_daemon_and_show_in_status_and_metrics(tmp_path: Path, sysctls: Path) -> None:
    backend = MemoryIPVS()
    d, task = await start_daemon(config(tmp_path, "syncinterface=eth1\nsyncid=7"), backend)
    try:
        assert states(backend) == {"master": 7, "backup": 7}
        snap = d.snapshot().as_json()["sync"]
        assert snap["role"] == "both" and not snap["degraded"]
        assert snap["daemons"] == ["master on eth1, syncid 7, group 224.0.0.81:8848 ttl 1",
                                   "backup on eth1, syncid 7, group 224.0.0.81:8848 ttl 1"]
        text = d.registry.render()
        assert 'lvsd_sync_daemon_running{state="master"} 1' in text
        assert 'lvsd_sync_daemon_running{state="backup"} 1' in text
        assert (sysctls / "backup_only").read_text().strip() == "0"  # with a backup always running, 1 stops forwarding
    finally:
        await stop_daemon(d, task)
    assert backend.sync == {}  # a clean stop that purged the whole table stops them too
    assert "Started sync daemon master on eth1, syncid 7" in (tmp_path / "lvsd.log").read_text()


async def test_a_daemon_running_as_configured_is_adopted_and_a_restart_leaves_both(tmp_path: Path) -> None:
    backend = MemoryIPVS()
    backend.sync = {"master": SyncDaemon("master", "eth1", syncid=7, maxlen=1472, group="224.0.0.81", port=8848,
                                         ttl=1)}
    d, task = await start_daemon(config(tmp_path, "syncinterface=eth1\nsyncid=7\nsyncrole=master"), backend)
    try:
        assert backend.sync_steps == []  # adopted, never restarted
    finally:
        await stop_daemon(d, task, clean=False)  # lvsd restart: the table and its sync stay
    assert set(backend.sync) == {"master"}


async def test_vrrp_role_follows_keepalived_and_a_standby_starts_as_backup(tmp_path: Path) -> None:
    backend = MemoryIPVS()
    d, task = await start_daemon(config(tmp_path, "syncinterface=eth1\nsyncrole=vrrp\nsyncid=3"), backend)
    try:
        assert set(backend.sync) == {"backup"}  # no word from VRRP yet: a standby
        answer = await d.follow_vrrp("master")
        assert answer["ok"] and set(backend.sync) == {"master"}
        assert [(s.kind, s.daemon.state) for s in backend.sync_steps[-2:]] == [("stop", "backup"), ("start", "master")]
        await d.follow_vrrp("FAULT")
        assert set(backend.sync) == {"backup"}
        assert d.snapshot().sync is not None and d.snapshot().sync.vrrp == "FAULT"  # type: ignore[union-attr]
        refused = await d.follow_vrrp("PRIMARY")
        assert not refused["ok"] and "unknown VRRP state 'PRIMARY'" in refused["error"]
        assert set(backend.sync) == {"backup"}
    finally:
        await stop_daemon(d, task)


async def test_reload_restarts_a_changed_daemon_and_stops_dropped_ones(tmp_path: Path) -> None:
    backend = MemoryIPVS()
    cfg = config(tmp_path, "syncinterface=eth1\nsyncid=7")
    d, task = await start_daemon(cfg, backend)
    try:
        cfg.write_text(daemon_config(tmp_path, VIRTUAL, globals_="syncinterface=eth1\nsyncid=8\nsyncrole=backup"))
        assert (await d.reload())["ok"]
        assert states(backend) == {"backup": 8}
        cfg.write_text(daemon_config(tmp_path, VIRTUAL))
        assert (await d.reload())["ok"]
        assert backend.sync == {} and d.snapshot().sync is None
    finally:
        await stop_daemon(d, task)


async def test_a_refused_start_degrades_checking_goes_on_and_the_next_pass_repairs(tmp_path: Path) -> None:
    backend = MemoryIPVS()
    backend.interfaces = {"eth0"}
    d, task = await start_daemon(config(tmp_path, "syncinterface=eth1"), backend, resync_interval=0.2)
    try:
        assert backend.sync == {} and d.degraded and d.sync.degraded
        log = (tmp_path / "lvsd.log").read_text()
        assert "ipvsadm --start-daemon master --mcast-interface eth1" in log and "no interface 'eth1'" in log
        assert 'lvsd_degraded 1' in d.registry.render()
        backend.interfaces.add("eth1")  # the interface comes up
        await until(lambda: set(backend.sync) == {"master", "backup"}, 3)
        await until(lambda: not d.degraded, 3)
        # a daemon stopped behind lvsd's back is put back at the next pass
        del backend.sync["backup"]
        await until(lambda: "backup" in backend.sync, 3)
        backend.fail_next["sync-start"] = errno.EINVAL
        del backend.sync["master"]
        await until(lambda: "master" in backend.sync, 3)  # one refusal, then the pass after
    finally:
        await stop_daemon(d, task)


async def test_without_sync_settings_the_daemons_are_left_alone(tmp_path: Path) -> None:
    backend = MemoryIPVS()
    backend.sync = {"backup": SyncDaemon("backup", "eth9", syncid=1)}  # someone else's
    d, task = await start_daemon(config(tmp_path, ""), backend)
    try:
        assert d.snapshot().sync is None or d.snapshot().sync.daemons == ()  # type: ignore[union-attr]
    finally:
        await stop_daemon(d, task)
    assert set(backend.sync) == {"backup"} and backend.sync_steps == []


async def test_keepalived_notify_arguments_switch_the_role_through_the_command_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from lvsd.cli import main
    from lvsd.cli.paths import Paths

    monkeypatch.setenv("LVSD_RUNDIR", str(tmp_path))
    cfg = config(tmp_path, "syncinterface=eth1\nsyncrole=vrrp")
    backend = MemoryIPVS()
    d, task = await start_daemon(cfg, backend, control_path=Paths(str(cfg)).socket)
    try:
        # keepalived runs: notify "/usr/sbin/lvsd vrrp -c CONFIG" + INSTANCE "VI_1" MASTER 100
        code = await asyncio.to_thread(main, ["vrrp", "-c", str(cfg), "INSTANCE", "VI_1", "MASTER", "100"])
        assert code == 0 and set(backend.sync) == {"master"}
        assert "lvsd: VRRP MASTER; sync daemons: master on eth1" in capsys.readouterr().out
        code = await asyncio.to_thread(main, ["vrrp", "-c", str(cfg), "backup"])
        assert code == 0 and set(backend.sync) == {"backup"}
        assert await asyncio.to_thread(main, ["vrrp", "-c", str(cfg), "INSTANCE", "VI_1", "PRIMARY"]) == 255
        assert "no VRRP state in 'INSTANCE VI_1 PRIMARY'" in capsys.readouterr().err
    finally:
        await stop_daemon(d, task)
    assert await asyncio.to_thread(main, ["vrrp", "-c", str(cfg), "MASTER"]) == 1  # nobody answers


async def test_status_prints_the_role_the_vrrp_state_and_each_daemon(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from lvsd.cli.status import print_status
    from lvsd.daemon.status import Snapshot

    backend = MemoryIPVS()
    d, task = await start_daemon(config(tmp_path, "syncinterface=eth1\nsyncrole=vrrp\nsyncid=4"), backend)
    try:
        await d.follow_vrrp("MASTER")
        back = Snapshot.from_json(d.snapshot().as_json())  # as lvsd status reads it off the socket
        assert back == d.snapshot()
        print_status(back)
    finally:
        await stop_daemon(d, task)
    out = capsys.readouterr().out
    assert "  sync: role vrrp, VRRP MASTER\n    master on eth1, syncid 4, group 224.0.0.81:8848 ttl 1\n" in out
    assert Snapshot.from_json({"pid": 1}).sync is None  # an older daemon says nothing of sync


async def test_the_track_file_counts_unserved_virtuals_for_keepalived(tmp_path: Path, server: Switchable) -> None:
    track = tmp_path / "vrrp-track"
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(daemon_config(tmp_path, VIRTUAL, http_virtual([server.port], vip="198.51.100.2"),
                                 globals_=f"vrrptrackfile={track}"))
    d, task = await start_daemon(cfg, MemoryIPVS())
    try:
        assert track.read_text() == "0\n"  # every virtual has a real in service
        await server.set_mode("error500")
        await until(lambda: track.read_text() == "1\n", 3)  # 198.51.100.2:80 has nowhere to send a connection
        assert "1 virtual services unserved" in (tmp_path / "lvsd.log").read_text()
        await server.set_mode("up")
        await until(lambda: track.read_text() == "0\n", 3)
    finally:
        await stop_daemon(d, task)
    assert track.read_text() == "2\n"  # the clean stop purged both: a healthy peer should take the VIP
    assert not list(tmp_path.glob("*.lvsd-tmp"))


def test_unserved_counts_a_fallback_as_served() -> None:
    from lvsd.config.ldirectord import parse
    from lvsd.ipvs.table import Dest, Service, Table
    from lvsd.pair.track import unserved

    config = parse("virtual=198.51.100.1:80\n\treal=203.0.113.11:80 masq\n\tfallback=127.0.0.1:80\n"
                   "virtual=198.51.100.2:80\n\treal=203.0.113.12:80 masq\n", "/x.cf")
    one, two = config.virtuals
    table = Table()
    for v in config.virtuals:
        table.services[v.key] = Service(key=v.key, scheduler="wrr")
    table.dests[one.key] = {("127.0.0.1", 80): Dest(addr="127.0.0.1", port=80, forward="gate", weight=1)}
    quiesced = Dest(addr="203.0.113.12", port=80, forward="masq", weight=0)
    table.dests[two.key] = {("203.0.113.12", 80): quiesced}
    assert unserved(config, table) == ["198.51.100.2:80"]
    assert unserved(config, Table()) == ["198.51.100.1:80", "198.51.100.2:80"]
