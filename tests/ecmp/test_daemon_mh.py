"""Issue 13, point 2 in the daemon (in-memory kernel): the mh fingerprint and drift in status and metrics."""

from __future__ import annotations

from pathlib import Path

from lvsd.cli.status import print_status
from lvsd.daemon.status import Snapshot
from lvsd.ipvs.memory import MemoryIPVS
from lvsd.ipvs.table import Dest, Service, ServiceKey, Table
from tests.support.daemon import daemon_config, start_daemon, stop_daemon

VIRTUAL = ("virtual=198.51.100.1:80\n\treal=203.0.113.21:80 gate\n\treal=203.0.113.22:80 gate\n"
           "\treal=203.0.113.23:80 gate\n\tchecktype=on\n\tscheduler=mh\n\tschedflags=mh-port\n")
KEY = ServiceKey(protocol="tcp", addr="198.51.100.1", port=80)


async def test_status_and_metrics_show_the_fingerprint_and_a_table_out_of_config_order(
        tmp_path: Path, capsys: object) -> None:
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(daemon_config(tmp_path, VIRTUAL))
    fresh = MemoryIPVS()
    d, task = await start_daemon(cfg, fresh)
    try:
        mh = d.snapshot().as_json()["virtuals"][0]["mh"]
        assert mh["drift"] == [] and len(mh["fingerprint"]) == 16
        assert [a for a, _ in fresh.table.dests_of(KEY)] == ["203.0.113.23", "203.0.113.22", "203.0.113.21"]
        assert 'lvsd_mh_drift{virtual="tcp:198.51.100.1:80"} 0' in d.registry.render()
        good = mh["fingerprint"]
    finally:
        await stop_daemon(d, task, clean=False)
    # a table someone built in another order: adopted as it is (nothing is deleted and re-added), reported
    t = Table(services={KEY: Service(key=KEY, scheduler="mh", flags=0x18)})
    t.dests[KEY] = {(ip, 80): Dest(addr=ip, port=80, forward="gate", weight=1)
                    for ip in ("203.0.113.21", "203.0.113.22", "203.0.113.23")}
    other = MemoryIPVS(t)
    d, task = await start_daemon(cfg, other)
    try:
        snap = d.snapshot()
        mh = snap.as_json()["virtuals"][0]["mh"]
        assert mh["fingerprint"] != good and "out of config order" in mh["drift"][0]
        assert other.applied == []
        assert 'lvsd_mh_drift{virtual="tcp:198.51.100.1:80"} 1' in d.registry.render()
        print_status(Snapshot.from_json(snap.as_json()))
        out = capsys.readouterr().out  # type: ignore[attr-defined]
        assert f"mh table {mh['fingerprint']}  DRIFT: real servers listed out of config order" in out
    finally:
        await stop_daemon(d, task)
