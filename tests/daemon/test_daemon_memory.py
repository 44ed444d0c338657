"""The owner loop end to end with real checks and the in-memory table (fast, no kernel).

The same behaviours are proven against the real kernel in tests/lab/; these
runs pin down the daemon's decisions: nothing unchecked goes in, failures
leave the pool, fallback in and out, reload as a transaction.
"""

import asyncio
import time

import pytest

from lvsd.daemon import Daemon, Event
from lvsd.ipvs.memory import MemoryIPVS
from lvsd.ipvs.table import Dest, Service, ServiceKey, Table
from tests.daemon.switchable import Switchable

VKEY = ServiceKey.inet("tcp", "198.51.100.1", 80)


def write_config(path, servers, *, quiescent="no", weight2=1, extra=""):
    reals = "".join(
        f"\treal=127.0.0.1:{s.port} masq {weight2 if i == 1 else 1}\n" for i, s in enumerate(servers)
    )
    path.write_text(
        f"checktimeout=1\ncheckinterval=1\nquiescent={quiescent}\nlogfile=\"{path.parent}/lvsd.log\"\n{extra}\n"
        f"virtual=198.51.100.1:80\n{reals}\tfallback=127.0.0.9:80 masq\n\tservice=http\n"
        f"\treceive=\"OK\"\n\tscheduler=wrr\n"
    )


@pytest.fixture
async def servers():
    ss = [Switchable(f"rs{i}") for i in (1, 2)]
    for s in ss:
        await s.start()
    yield ss
    for s in ss:
        await s.stop()


async def start_daemon(cfg, backend):
    ready = asyncio.Event()
    d = Daemon(str(cfg), backend, on_ready=ready.set)
    task = asyncio.get_running_loop().create_task(d.run())
    async with asyncio.timeout(5):
        await ready.wait()
    return d, task


async def stop_daemon(d, task):
    d.events.put_nowait(Event("stop", signame="TERM"))
    async with asyncio.timeout(5):
        return await task


def weights(backend):
    return {d.port: d.weight for d in backend.table.dests_of(VKEY).values()}


async def wait_for(pred, limit):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if pred():
            return time.monotonic() - t0
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def test_start_checks_first_then_programs_only_healthy_reals(tmp_path, servers):
    await servers[1].set_mode("error500")
    cfg = tmp_path / "lvsd.cf"
    write_config(cfg, servers)
    backend = MemoryIPVS()
    d, task = await start_daemon(cfg, backend)
    assert weights(backend) == {servers[0].port: 1}
    # nothing was ever added and then pulled (no start-up churn)
    assert [op.kind for op in backend.applied] == ["add-service", "add-dest"]
    assert await stop_daemon(d, task) == 0
    assert VKEY not in backend.table.services  # cleanstop=yes (ldirectord's default)
    text = (tmp_path / "lvsd.log").read_text()
    assert "Added virtual server: 198.51.100.1:80" in text
    assert f"Added real server: 127.0.0.1:{servers[0].port} (198.51.100.1:80) (Weight set to 1)" in text
    assert "Purged virtual server (stop): 198.51.100.1:80" in text


async def test_failure_removes_then_restores_and_fallback_comes_and_goes(tmp_path, servers):
    cfg = tmp_path / "lvsd.cf"
    write_config(cfg, servers)
    backend = MemoryIPVS()
    d, task = await start_daemon(cfg, backend)
    assert set(weights(backend)) == {s.port for s in servers}
    await servers[0].set_mode("slow")
    took = await wait_for(lambda: servers[0].port not in weights(backend), 1 + 1 + 0.5)
    assert took <= 2.5
    await servers[0].set_mode("up")
    await wait_for(lambda: servers[0].port in weights(backend), 1 + 0.5)
    for s in servers:
        await s.set_mode("refuse")
    await wait_for(lambda: weights(backend) == {80: 1}, 2.5)  # only the fallback (127.0.0.9:80)
    await servers[1].set_mode("up")
    await wait_for(lambda: weights(backend) == {servers[1].port: 1}, 1.5)
    await stop_daemon(d, task)
    text = (tmp_path / "lvsd.log").read_text()
    assert "Added fallback server: 127.0.0.9:80 (198.51.100.1:80) (Weight set to 1)" in text
    assert "Deleted fallback server: 127.0.0.9:80 (198.51.100.1:80)" in text
    assert f"Deleted real server: 127.0.0.1:{servers[0].port} (198.51.100.1:80)" in text
    assert "real.down" in text and "reason=" in text


async def test_quiescent_sets_weight_zero_and_restores(tmp_path, servers):
    cfg = tmp_path / "lvsd.cf"
    write_config(cfg, servers, quiescent="yes")
    backend = MemoryIPVS()
    d, task = await start_daemon(cfg, backend)
    await servers[0].set_mode("wrongpage")
    await wait_for(lambda: weights(backend).get(servers[0].port) == 0, 2.5)
    await servers[0].set_mode("up")
    await wait_for(lambda: weights(backend).get(servers[0].port) == 1, 1.5)
    await stop_daemon(d, task)
    text = (tmp_path / "lvsd.log").read_text()
    assert f"Quiescent real server: 127.0.0.1:{servers[0].port} (198.51.100.1:80) (Weight set to 0)" in text
    assert f"Restored real server: 127.0.0.1:{servers[0].port} (198.51.100.1:80) (Weight set to 1)" in text


async def test_adopts_live_table_without_touching_healthy_reals(tmp_path, servers):
    cfg = tmp_path / "lvsd.cf"
    write_config(cfg, servers)
    live = Table()
    svc = Service(key=VKEY, scheduler="wrr").normalized()
    live.services[VKEY] = svc
    live.dests[VKEY] = {("127.0.0.1", s.port): Dest(addr="127.0.0.1", port=s.port, forward="masq") for s in servers}
    live.dests[VKEY][("127.0.0.1", 1)] = Dest(addr="127.0.0.1", port=1, forward="masq")  # stale
    foreign = Service(key=ServiceKey.inet("tcp", "198.51.100.2", 80), scheduler="rr").normalized()
    live.services[foreign.key] = foreign
    live.dests[foreign.key] = {}
    backend = MemoryIPVS(live)
    d, task = await start_daemon(cfg, backend)
    assert [(op.kind, op.role) for op in backend.applied] == [("del-dest", "stale")]
    assert foreign.key in backend.table.services
    d.events.put_nowait(Event("stop", signame="USR2", clean=False))  # restart: hand over
    await asyncio.wait_for(task, 5)
    assert set(weights(backend)) == {s.port for s in servers}


async def test_reload_broken_config_keeps_running_config_and_checking(tmp_path, servers):
    cfg = tmp_path / "lvsd.cf"
    write_config(cfg, servers)
    backend = MemoryIPVS()
    d, task = await start_daemon(cfg, backend)
    cfg.write_text(cfg.read_text().replace("checktype", "x") + "\tchecktype=bogus\n")
    assert await d.reload() is False
    assert d.last_reload["ok"] is False and ":" in d.last_reload["errors"][0]
    await servers[0].set_mode("error500")  # health checking still drives the table
    await wait_for(lambda: servers[0].port not in weights(backend), 2.5)
    await stop_daemon(d, task)
    assert "Reload failed: keeping the running configuration" in (tmp_path / "lvsd.log").read_text()


async def test_reload_weight_change_is_one_edit(tmp_path, servers):
    cfg = tmp_path / "lvsd.cf"
    write_config(cfg, servers)
    backend = MemoryIPVS()
    d, task = await start_daemon(cfg, backend)
    before = len(backend.applied)
    write_config(cfg, servers, weight2=5)
    assert await d.reload() is True
    assert [(op.kind, op.dest.weight) for op in backend.applied[before:]] == [("edit-dest", 5)]
    await stop_daemon(d, task)


async def test_kernel_error_is_logged_and_retried_not_fatal(tmp_path, servers):
    import errno

    cfg = tmp_path / "lvsd.cf"
    write_config(cfg, servers)
    backend = MemoryIPVS()
    backend.fail_next["add-dest"] = errno.EINVAL
    d, task = await start_daemon(cfg, backend)
    assert d.degraded
    await wait_for(lambda: set(weights(backend)) == {s.port for s in servers}, 2.5)
    assert not d.degraded
    await stop_daemon(d, task)
    assert "ipvs.error" in (tmp_path / "lvsd.log").read_text()
