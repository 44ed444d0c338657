"""The owner loop end to end with real checks and the in-memory table (fast, no kernel).

The same behaviours are proven against the real kernel in tests/daemon/test_lab_*.py; these
runs pin down the daemon's decisions: nothing unchecked goes in, failures
leave the pool, fallback in and out, reload as a transaction.
"""

import asyncio

import pytest

from lvsd.daemon import Daemon
from lvsd.ipvs.memory import MemoryIPVS
from lvsd.ipvs.table import Dest, Service, ServiceKey, Table
from tests.support.daemon import daemon_config, http_virtual, start_daemon, stop_daemon
from tests.support.manual_clock import ManualClock
from tests.support.waiting import until

VKEY = ServiceKey.inet("tcp", "198.51.100.1", 80)


def write_config(path, servers, *, quiescent="no", weight2=1, extra=""):
    virtual = http_virtual([s.port for s in servers], weights=(1, weight2), fallback="127.0.0.9:80",
                           lines="\tscheduler=wrr\n")
    path.write_text(daemon_config(path.parent, virtual, globals_=f"quiescent={quiescent}\n{extra}"))


def weights(backend):
    return {d.port: d.weight for d in backend.table.dests_of(VKEY).values()}


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
    took = await until(lambda: servers[0].port not in weights(backend), 1 + 1 + 0.5)
    assert took <= 2.5
    await servers[0].set_mode("up")
    await until(lambda: servers[0].port in weights(backend), 1 + 0.5)
    for s in servers:
        await s.set_mode("refuse")
    await until(lambda: weights(backend) == {80: 1}, 2.5)  # only the fallback (127.0.0.9:80)
    await servers[1].set_mode("up")
    await until(lambda: weights(backend) == {servers[1].port: 1}, 1.5)
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
    await until(lambda: weights(backend).get(servers[0].port) == 0, 2.5)
    await servers[0].set_mode("up")
    await until(lambda: weights(backend).get(servers[0].port) == 1, 1.5)
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
    d.request_stop("USR2", clean=False)  # restart: hand over
    await asyncio.wait_for(task, 5)
    assert set(weights(backend)) == {s.port for s in servers}


async def test_reload_broken_config_keeps_running_config_and_checking(tmp_path, servers):
    cfg = tmp_path / "lvsd.cf"
    write_config(cfg, servers)
    backend = MemoryIPVS()
    d, task = await start_daemon(cfg, backend)
    cfg.write_text(cfg.read_text().replace("checktype", "x") + "\tchecktype=bogus\n")
    assert (await d.reload())["ok"] is False
    assert d.last_reload["ok"] is False and ":" in d.last_reload["errors"][0]
    await servers[0].set_mode("error500")  # health checking still drives the table
    await until(lambda: servers[0].port not in weights(backend), 2.5)
    await stop_daemon(d, task)
    assert "Reload failed: keeping the running configuration" in (tmp_path / "lvsd.log").read_text()


async def test_reload_weight_change_is_one_edit(tmp_path, servers):
    cfg = tmp_path / "lvsd.cf"
    write_config(cfg, servers)
    backend = MemoryIPVS()
    d, task = await start_daemon(cfg, backend)
    before = len(backend.applied)
    write_config(cfg, servers, weight2=5)
    assert (await d.reload())["ok"] is True
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
    await until(lambda: set(weights(backend)) == {s.port for s in servers}, 2.5)
    assert not d.degraded
    await stop_daemon(d, task)
    assert "ipvs.error" in (tmp_path / "lvsd.log").read_text()


# -- the kernel table: drain, readdquiescent, drift repair, batches (issue 5) ----------


def kernel_config(path, servers, *, keep=None, drain="", globals_=""):
    """A config naming ``servers`` (or the first ``keep`` of them), quick resync, optional drain lines."""
    chosen = servers if keep is None else servers[:keep]
    virtual = http_virtual([s.port for s in chosen], lines=f"\tscheduler=wrr\n{drain}")
    path.write_text(daemon_config(path.parent, virtual, globals_=f"resyncinterval=1\n{globals_}"))


def set_conns(backend, port, active):
    dests = backend.table.dests[VKEY]
    dests[("127.0.0.1", port)] = Dest(**{**_fields(dests[("127.0.0.1", port)]), "active": active})


def _fields(d):
    return {f: getattr(d, f) for f in ("addr", "port", "forward", "weight", "u_thresh", "l_thresh")}


async def passes(d, clock, seconds):
    """Move the daemon's clock on and wait until it has run what fell due (its next timer is in the future)."""
    await clock.advance(seconds)
    await until(lambda: d.kernel.next_resync > clock.monotonic(), 2)


async def test_a_real_removed_with_drain_goes_to_weight_zero_then_leaves_when_idle(tmp_path, servers):
    cfg = tmp_path / "lvsd.cf"
    kernel_config(cfg, servers, drain="\tdrain=yes\n\tdraintimeout=60\n")
    backend = MemoryIPVS()
    d, task = await start_daemon(cfg, backend)
    gone = servers[1].port
    set_conns(backend, gone, 2)
    kernel_config(cfg, servers, keep=1, drain="\tdrain=yes\n\tdraintimeout=60\n")
    assert (await d.reload())["ok"]
    assert weights(backend)[gone] == 0  # draining: no new connections, the open ones live on
    await asyncio.sleep(1.5)
    assert weights(backend)[gone] == 0
    set_conns(backend, gone, 0)
    took = await until(lambda: gone not in weights(backend), 3)
    assert took < 2.5
    await stop_daemon(d, task)
    text = (tmp_path / "lvsd.log").read_text()
    assert f"Draining real server: 127.0.0.1:{gone} (198.51.100.1:80) (Weight set to 0)" in text
    assert f"Purged real server (drained): 127.0.0.1:{gone} (198.51.100.1:80)" in text


async def test_a_drain_ends_at_its_deadline_and_a_restart_resumes_it(tmp_path, servers):
    cfg = tmp_path / "lvsd.cf"
    kernel_config(cfg, servers, keep=1, drain="\tdrain=yes\n\tdraintimeout=2\n")
    live = Table()
    live.services[VKEY] = Service(key=VKEY, scheduler="wrr").normalized()
    live.dests[VKEY] = {
        ("127.0.0.1", s.port): Dest(addr="127.0.0.1", port=s.port, forward="masq", weight=w, active=a)
        for s, w, a in ((servers[0], 1, 0), (servers[1], 0, 5))  # servers[1]: left at weight 0 mid-drain
    }
    backend = MemoryIPVS(live)
    clock = ManualClock()
    d, task = await start_daemon(cfg, backend, clock=clock)
    assert weights(backend)[servers[1].port] == 0  # resumed, not purged, not restored
    await passes(d, clock, 1.0)  # a drain poll and a full pass: still carrying connections, 1 s of 2
    assert weights(backend)[servers[1].port] == 0
    await passes(d, clock, 1.0)
    assert servers[1].port not in weights(backend)  # the deadline, counted from when this daemon saw the drain
    await stop_daemon(d, task)
    text = (tmp_path / "lvsd.log").read_text()
    assert f"Purged real server (drain timeout): 127.0.0.1:{servers[1].port} (198.51.100.1:80)" in text
    assert "Purged real server (start)" not in text


@pytest.mark.parametrize("readd", ["no", "yes"])
async def test_readdquiescent_decides_whether_a_quiesced_real_deleted_by_hand_comes_back(tmp_path, servers, readd):
    cfg = tmp_path / "lvsd.cf"
    kernel_config(cfg, servers, globals_=f"quiescent=yes\nreaddquiescent={readd}\n")
    backend = MemoryIPVS()
    clock = ManualClock()
    d, task = await start_daemon(cfg, backend, clock=clock)
    await servers[0].set_mode("error500")
    await until(lambda: weights(backend).get(servers[0].port) == 0, 2.5)
    del backend.table.dests[VKEY][("127.0.0.1", servers[0].port)]  # ipvsadm -d by hand
    for _ in range(2):  # two resync intervals
        await passes(d, clock, 1.0)
    expected = {servers[1].port: 1, **({servers[0].port: 0} if readd == "yes" else {})}
    assert weights(backend) == expected
    await stop_daemon(d, task)


async def test_drift_is_repaired_within_one_resync_interval(tmp_path, servers):
    cfg = tmp_path / "lvsd.cf"
    kernel_config(cfg, servers)
    backend = MemoryIPVS()
    clock = ManualClock()
    d, task = await start_daemon(cfg, backend, clock=clock)
    want = dict(backend.table.dests[VKEY])
    backend.table.dests[VKEY][("127.0.0.1", servers[0].port)] = Dest(
        addr="127.0.0.1", port=servers[0].port, forward="masq", weight=9)
    del backend.table.dests[VKEY][("127.0.0.1", servers[1].port)]
    backend.table.dests[VKEY][("127.0.0.1", 1)] = Dest(addr="127.0.0.1", port=1, forward="masq")
    backend.table.services[VKEY] = Service(key=VKEY, scheduler="rr").normalized()
    await passes(d, clock, 0.5)  # no pass is due yet: the drift stands
    assert backend.table.dests[VKEY] != want
    await passes(d, clock, 0.5)  # one resync interval after start
    assert backend.table.dests[VKEY] == want and backend.table.services[VKEY].scheduler == "wrr"
    backend.table.services.pop(VKEY)
    backend.table.dests.pop(VKEY)
    await passes(d, clock, 1.0)
    assert backend.table.dests.get(VKEY) == want
    await stop_daemon(d, task)


async def test_one_refused_edit_in_a_batch_does_not_lose_the_others(tmp_path, servers):
    import errno

    cfg = tmp_path / "lvsd.cf"
    kernel_config(cfg, servers)
    backend = MemoryIPVS()
    backend.fail_next["add-dest"] = errno.EEXIST  # the first add of the start-up batch
    d, task = await start_daemon(cfg, backend)
    assert d.degraded
    assert [op.kind for op in backend.applied] == ["add-service", "add-dest"]  # the rest of the batch went in
    assert backend.writes == 1
    await until(lambda: len(weights(backend)) == 2 and not d.degraded, 2.5)
    await stop_daemon(d, task)
    text = (tmp_path / "lvsd.log").read_text()
    assert "ipvs.error" in text and "File exists (EEXIST)" in text and "ipvsadm -a -t 198.51.100.1:80" in text


class CountingIPVS(MemoryIPVS):
    """Counts the batched writes the daemon makes (one netlink exchange each in the real backend)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    async def apply_many(self, ops):
        self.batches.append(len(ops))
        return await super().apply_many(ops)


async def test_a_burst_of_state_changes_is_planned_and_written_as_one_batch(tmp_path):
    """A thousand reals failing together (a switch dies) cost one batched write, not one each.

    Applied one result at a time, every result replanned its service and
    refreshed every real's gauge: 10,000 reals coming up after start took
    456 s in the UML kernel. Folded as a batch, the burst is one write.
    """
    lines = [f'logfile="{tmp_path}/lvsd.log"', "checkinterval=3600", "quiescent=no", "cleanstop=no"]
    for port in (80, 81):
        lines += [f"virtual=198.51.100.1:{port}", *(f"\treal=203.0.113.{i}:80 masq" for i in range(1, 201)),
                  "\tchecktype=on", ""]
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text("\n".join(lines) + "\n")
    backend = CountingIPVS()
    d, task = await start_daemon(cfg, backend)
    assert sum(len(x) for x in backend.table.dests.values()) == 400
    backend.batches.clear()
    from lvsd.checks.base import CheckResult

    down = CheckResult(False, "injected: the switch died", 0.0)
    for key in d.loaded.members:  # what the scheduler hands over, all queued before the loop runs
        d.on_result(key, d.scheduler.job(key).spec, down)
    await until(lambda: sum(len(x) for x in backend.table.dests.values()) == 0, 5)
    assert backend.batches == [400]  # both services' 200 deletions, one exchange
    assert d.status_line() == "0/400 real servers up"
    assert d.registry.gauges["lvsd_real_up"][(("virtual", "tcp:198.51.100.1:81"), ("real", "203.0.113.7:80"))] == 0.0
    await stop_daemon(d, task)


async def test_start_hands_the_config_it_validated_to_the_daemon_instead_of_reading_it_again(tmp_path):
    """`lvsd start` validates, forks and runs the daemon, which takes that reading (10,000 reals: 0.45 s in UML)."""
    from lvsd import loaded as loading

    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(
        f'logfile="{tmp_path}/lvsd.log"\nvirtual=198.51.100.1:80\n\treal=203.0.113.1:80 masq\n\tchecktype=on\n'
    )
    loaded = loading.load(str(cfg))
    cfg.write_text("this is not a config\n")  # were it read again, the daemon would fail here
    d = Daemon(str(cfg), MemoryIPVS(), loaded=loaded)
    assert d.loaded is loaded
