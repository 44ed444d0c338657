"""Issue 2's acceptance, in the real kernel with real backends and real client traffic.

lvsd runs as a real daemon (``lvsd CONFIG start``) in the UML director; three
masq real servers and a fallback live in their own network namespaces; a
client namespace sends HTTP through the VIP. The table is read back with
``ipvsadm -Ln`` and with netlink. Bounds (checkinterval=1, checktimeout=3):
out of service within 1 + 3 + 0.5 s of failing, back within 1 + 0.5 s.
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest
from lab.lab import Lab

from tests.support.director import (
    DOWN_BOUND,
    FALLBACK,
    MODES,
    REALS,
    SVC,
    UP_BOUND,
    VIP,
    Director,
    config,
    record,
    start,
)
from tests.support.kernel import netlink_table

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("quiescent", ["no", "yes"])
def test_every_failure_mode_leaves_and_rejoins_the_pool_in_bound(lab4: Lab, director: Director, quiescent: str) -> None:
    start(director, config(quiescent=quiescent))
    rs1 = "203.0.113.11:80"
    for mode in MODES:
        lab4.backend("rs1").set_mode(mode)
        if quiescent == "yes":
            took = director.wait(lambda t: t.get(rs1, ("", 1))[1] == 0, DOWN_BOUND + 2)
        else:
            took = director.wait(lambda t: rs1 not in t, DOWN_BOUND + 2)
        record(f"down quiescent={quiescent} {mode}", took)
        assert took <= DOWN_BOUND, f"{mode}: out of service after {took:.2f}s"
        # the table as lvsd's netlink reader sees it agrees with ipvsadm's
        assert netlink_table()[SVC] == director.service()
        lab4.backend("rs1").set_mode("up")
        took = director.wait(lambda t: t.get(rs1, ("", 0))[1] == 1, UP_BOUND + 2)
        record(f"up quiescent={quiescent} after {mode}", took)
        assert took <= UP_BOUND, f"{mode}: restored after {took:.2f}s"
    tally = lab4.client.get_many(30)
    assert set(tally.backends) == {"rs1", "rs2", "rs3"} and tally.failures == 0
    log = director.log()
    if quiescent == "yes":
        assert "Quiescent real server: 203.0.113.11:80 (198.51.100.1:80) (Weight set to 0)" in log
        assert "Restored real server: 203.0.113.11:80 (198.51.100.1:80) (Weight set to 1)" in log
    else:
        assert "Deleted real server: 203.0.113.11:80 (198.51.100.1:80)" in log
        assert "Added real server: 203.0.113.11:80 (198.51.100.1:80) (Weight set to 1)" in log
    assert 'reason="GET /: status 500, expected 2xx"' in log
    assert 'reason="GET /: no answer within 3s"' in log


def test_all_down_brings_the_fallback_and_one_back_removes_it(lab4: Lab, director: Director) -> None:
    start(director, config())
    for name in ("rs1", "rs2", "rs3"):
        lab4.backend(name).set_mode("error500")
    took = director.wait(lambda t: list(t) == [FALLBACK], DOWN_BOUND + 2)
    record("fallback in", took)
    assert took <= DOWN_BOUND
    tally = lab4.client.get_many(10)
    assert tally.backends == {"rs4": 10}
    lab4.backend("rs2").set_mode("up")
    took = director.wait(lambda t: list(t) == ["203.0.113.12:80"], UP_BOUND + 2)
    record("fallback out", took)
    assert took <= UP_BOUND
    assert lab4.client.get_many(5).backends == {"rs2": 5}
    log = director.log()
    assert "Added fallback server: 203.0.113.14:80 (198.51.100.1:80) (Weight set to 1)" in log
    assert "Deleted fallback server: 203.0.113.14:80 (198.51.100.1:80)" in log


def test_start_adopts_live_table_and_connections_survive_restart_and_reload(lab4: Lab, director: Director) -> None:
    # The table already holds the service (say, from a previous lvsd or by hand),
    # plus a stale real server and a foreign service lvsd must not touch.
    lab4.ipvsadm(f"-A -t {VIP}:80 -s wrr")
    for ip in ("203.0.113.11", "203.0.113.12", "203.0.113.13"):
        lab4.ipvsadm(f"-a -t {VIP}:80 -r {ip}:80 -m -w 1")
    conn = lab4.client.open_persistent()
    first = conn.request()
    assert first.ok
    # added after the connection is made: 203.0.113.99 does not exist and would take new connections
    lab4.ipvsadm(f"-a -t {VIP}:80 -r 203.0.113.99:80 -m -w 1")
    lab4.ipvsadm(f"-A -t {VIP}:8080 -s rr")

    start(director, config())
    log = director.log()
    assert "Added real server" not in log and "Deleted real server" not in log, log
    assert "Purged real server (start): 203.0.113.99:80 (198.51.100.1:80)" in log
    assert f"TCP {VIP}:8080" in director.ipvsadm()
    again = conn.request()
    assert again.ok and again.backend == first.backend

    # restart: the new daemon adopts the table; nothing is removed and re-added
    old_pid = director.pid
    mark = len(director.log())
    res = director.cli("restart")
    assert res.returncode == 0, res.stderr
    assert director.pid != old_pid
    after = director.log()[mark:]
    assert "Added real server" not in after and "Deleted real server" not in after, after
    assert "Purged virtual server" not in after
    again = conn.request()
    assert again.ok and again.backend == first.backend

    # kill -9 and start again: the same
    os.kill(director.pid or 0, signal.SIGKILL)
    time.sleep(0.3)
    mark = len(director.log())
    assert director.cli("start").returncode == 0
    after = director.log()[mark:]
    assert "Added real server" not in after and "Deleted real server" not in after, after
    assert conn.request().ok

    # reload changing the weights: edited in place, the connection lives on
    director.write(config(w=3))
    res = director.cli("reload")
    assert res.returncode == 0, res.stderr
    director.wait(lambda t: all(t.get(r, ("", 0))[1] == 3 for r in REALS), 5)
    again = conn.request()
    assert again.ok and again.backend == first.backend
    assert "Restored real server: 203.0.113.11:80 (198.51.100.1:80) (Weight set to 3)" in director.log()
    conn.close()
    assert f"TCP {VIP}:8080" in director.ipvsadm()


def test_broken_reload_keeps_table_and_checking(lab4: Lab, director: Director) -> None:
    start(director, config())
    before = director.ipvsadm()
    good = director.config.read_text()
    director.config.write_text(good.replace("\tscheduler=wrr", "\tscheduler=wrr\n\tchecktype=negotiatex"))
    res = director.cli("reload")
    assert res.returncode == 2
    assert f"{director.config}:17:12: error: unknown checktype 'negotiatex'" in res.stderr
    assert director.ipvsadm() == before
    # SIGHUP straight to the daemon: the same transaction
    os.kill(director.pid or 0, signal.SIGHUP)
    time.sleep(0.5)
    assert director.ipvsadm() == before
    assert director.log().count("Reload failed: keeping the running configuration") == 2
    assert f"reading file {director.config} at line 17: unknown checktype" in director.log()
    # health checking still drives the table
    lab4.backend("rs3").set_mode("refuse")
    took = director.wait(lambda t: "203.0.113.13:80" not in t, DOWN_BOUND + 2)
    assert took <= DOWN_BOUND
    assert director.cli("status").returncode == 0


def test_status_stop_and_cleanstop(lab4: Lab, director: Director) -> None:
    director.write(config())
    assert director.cli("status").returncode == 3
    start(director, config())
    res = director.cli("status")
    assert res.returncode == 0 and f"is running with pid: {director.pid}" in res.stdout
    assert re.search(r"-> 203\.0\.113\.11:80\s+up\s+weight 1 ", res.stdout), res.stdout
    # a broken config does not stop status/stop from working, nor remove the PID file
    director.config.write_text("garbage\n")
    assert director.cli("status").returncode == 0
    assert director.pid is not None
    director.write(config())
    assert director.cli("stop").returncode == 0
    assert SVC not in director.ipvsadm()  # cleanstop=yes: the managed service is purged
    assert "Purged virtual server (stop): 198.51.100.1:80" in director.log()
    assert "Linux Director Daemon terminated on signal: TERM" in director.log()
    assert director.cli("status").returncode == 3


def test_cleanstop_no_leaves_the_table(lab4: Lab, director: Director) -> None:
    start(director, config(cleanstop="no"))
    before = director.ipvsadm()
    assert director.cli("stop").returncode == 0
    assert director.ipvsadm() == before
