"""The checks inside the daemon (in-memory kernel table, real HTTP servers on 127.0.0.1).

maintenancedir forces a real out whatever failurecount says, risecount holds
a failed real back, one probe serves two virtuals while their counters stay
apart, and the monitorfile gets ldirectord's line for each result.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from lvsd.daemon import Daemon
from lvsd.ipvs.memory import MemoryIPVS
from lvsd.ipvs.table import ServiceKey
from tests.support.daemon import daemon_config, http_virtual, start_daemon, stop_daemon
from tests.support.switchable import Switchable
from tests.support.waiting import until

V1 = ServiceKey.inet("tcp", "198.51.100.1", 80)
V2 = ServiceKey.inet("tcp", "198.51.100.2", 80)


async def running(cfg: Path) -> tuple[Daemon, MemoryIPVS, asyncio.Task[int]]:
    backend = MemoryIPVS()
    d, task = await start_daemon(cfg, backend)
    return d, backend, task


def in_service(backend: MemoryIPVS, key: ServiceKey) -> set[int]:
    return {dest.port for dest in backend.table.dests_of(key).values() if dest.weight > 0}


def config(tmp_path: Path, server: Switchable, *, extra: str = "", block: str = "",
           second: str | None = None) -> Path:
    virtuals = [http_virtual([server.port], lines=block)]
    if second is not None:
        virtuals.append(http_virtual([server.port], vip="198.51.100.2", lines=second))
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(daemon_config(tmp_path, *virtuals, globals_=extra))
    return cfg


async def test_maintenance_file_takes_a_real_out_at_once(tmp_path: Path, server: Switchable) -> None:
    maint = tmp_path / "maint"
    maint.mkdir()
    monitor = tmp_path / "monitor.log"
    cfg = config(tmp_path, server, extra=f"maintenancedir={maint}",
                 block=f"\tfailurecount=3\n\tmonitorfile={monitor}\n")
    d, backend, task = await running(cfg)
    try:
        assert in_service(backend, V1) == {server.port}
        (maint / f"127.0.0.1:{server.port}").touch()
        await until(lambda: in_service(backend, V1) == set(), 2.5)  # no soft failures first
        assert "[down] Server in maintenance" in monitor.read_text()
        (maint / f"127.0.0.1:{server.port}").unlink()
        await until(lambda: in_service(backend, V1) == {server.port}, 2.5)
    finally:
        await stop_daemon(d, task)
    lines = monitor.read_text().splitlines()
    assert all(" http tcp 127.0.0.1 " in line for line in lines), lines
    assert lines[0].endswith("[up] GET /: status 200, receive matched")


async def test_risecount_holds_a_failed_real_back(tmp_path: Path, server: Switchable) -> None:
    cfg = config(tmp_path, server, block="\trisecount=3\n")
    d, backend, task = await running(cfg)
    try:
        await server.set_mode("error500")
        await until(lambda: in_service(backend, V1) == set(), 2.5)
        await server.set_mode("up")
        t0 = time.monotonic()
        await until(lambda: in_service(backend, V1) == {server.port}, 5)
        assert time.monotonic() - t0 > 1.5  # three passed checks, one a second
    finally:
        await stop_daemon(d, task)


async def test_one_probe_for_two_virtuals_with_their_own_counters(tmp_path: Path, server: Switchable) -> None:
    cfg = config(tmp_path, server, block="\tfailurecount=1\n", second="\tfailurecount=3\n")
    d, backend, task = await running(cfg)
    try:
        assert d.scheduler.probes == 1
        served = server.served
        await asyncio.sleep(2.05)
        assert server.served - served in (2, 3)  # one request a second for both virtuals
        await server.set_mode("error500")
        await until(lambda: in_service(backend, V1) == set(), 2.5)
        assert in_service(backend, V2) == {server.port}  # one failure of three there
        await until(lambda: in_service(backend, V2) == set(), 3.5)
    finally:
        await stop_daemon(d, task)
