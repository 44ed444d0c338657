"""Issue 5's acceptance: long-lived TCP connections through the VIP survive everything lvsd does.

A keep-alive connection from the client namespace is opened through the VIP
(masq, real backends in their own namespaces) and must keep being answered by
the same backend across ``lvsd restart``, ``kill -9`` and a new start, reloads
that change weights, the scheduler and persistence (edited in place, never
deleted and re-added), and a graceful drain of its own real server: weight 0
first (no new connections go there), deleted only once the connection has
closed, or at the drain's deadline; a restart in the middle resumes the drain.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from lab.lab import Lab

from tests.support.director import REALS, VIP, Director, config, record, start
from tests.support.kernel import ipvsadm_save, netlink_table, service_of

pytestmark = pytest.mark.lab


def same_backend(conn, first) -> None:  # type: ignore[no-untyped-def]
    again = conn.request()
    assert again.ok and again.backend == first.backend, again


def test_a_connection_survives_restart_kill_and_reloads(lab4: Lab, director: Director) -> None:
    start(director, config())
    conn = lab4.client.open_persistent()
    first = conn.request()
    assert first.ok
    director.cli("restart")
    same_backend(conn, first)
    os.kill(director.pid or 0, signal.SIGKILL)
    time.sleep(0.3)
    assert director.cli("start").returncode == 0
    same_backend(conn, first)
    for change, line in (
        (lambda t: t.replace(" masq 1", " masq 3"), f"-A -t {VIP}:80 -s wrr"),
        (lambda t: t.replace("scheduler=wrr", "scheduler=wlc"), f"-A -t {VIP}:80 -s wlc"),
        (lambda t: t.replace("scheduler=wlc", "scheduler=wlc\n\tpersistent=300"), f"-A -t {VIP}:80 -s wlc -p 300"),
    ):
        director.config.write_text(change(director.config.read_text()))
        mark = len(director.log())
        assert director.cli("reload").returncode == 0
        found = service_of(ipvsadm_save(), f"-t {VIP}:80")
        assert found is not None and found[0] == line
        after = director.log()[mark:]
        assert "Purged virtual server" not in after and "Added virtual server" not in after
        same_backend(conn, first)
    assert "Changed virtual server: 198.51.100.1:80" in director.log()
    assert all(w == 3 for _, w in director.service().values())
    assert netlink_table()[f"TCP {VIP}:80"] == director.service()
    conn.close()


DRAIN = "\tdrain=yes\n\tdraintimeout={timeout}\n"


def drain_config(timeout: int, without: str | None = None) -> str:
    text = config().replace("\tscheduler=wrr\n", "\tscheduler=wrr\n" + DRAIN.format(timeout=timeout))
    if without is not None:
        text = text.replace(f"\treal={without}:80 masq 1\n", "")
    return text


def test_a_drain_keeps_the_connection_until_it_closes_even_across_a_restart(lab4: Lab, director: Director) -> None:
    start(director, drain_config(60))
    conn = lab4.client.open_persistent()
    first = conn.request()
    assert first.ok and first.backend
    ip = lab4.backend(first.backend).ip
    real = f"{ip}:80"
    director.write(drain_config(60, without=ip))
    assert director.cli("reload").returncode == 0
    assert director.service()[real] == ("Masq", 0)  # draining: weight 0, still in the table
    same_backend(conn, first)
    tally = lab4.client.get_many(8)
    assert first.backend not in tally.backends and tally.failures == 0  # no new connection goes there
    # a restart in the middle of the drain resumes it from the kernel: not purged, not restored
    assert director.cli("restart").returncode == 0
    time.sleep(1.5)
    assert director.service()[real] == ("Masq", 0)
    same_backend(conn, first)
    conn.close()
    took = director.wait(lambda t: real not in t, 10)
    record("drain: deleted after the last connection closed", took)
    assert took < 5
    log = director.log()
    assert f"Draining real server: {real} (198.51.100.1:80) (Weight set to 0)" in log
    assert f"Purged real server (drained): {real} (198.51.100.1:80)" in log
    assert "Purged real server (start)" not in log


def test_a_drain_ends_at_its_deadline(lab4: Lab, director: Director) -> None:
    start(director, drain_config(3))
    conn = lab4.client.open_persistent()
    first = conn.request()
    ip = lab4.backend(first.backend or "").ip
    director.write(drain_config(3, without=ip))
    asked = time.monotonic()
    assert director.cli("reload").returncode == 0
    confirmed = time.monotonic()  # the daemon answered: the drain began between `asked` and now
    same_backend(conn, first)
    director.wait(lambda t: f"{ip}:80" not in t, 10)
    done = time.monotonic()
    record("drain: deleted at the deadline (draintimeout=3)", done - confirmed)
    assert done - asked >= 3, "deleted before its drain deadline"
    assert done - confirmed < 3 + 2.5, "not deleted soon after its drain deadline"
    assert f"Purged real server (drain timeout): {ip}:80 (198.51.100.1:80)" in director.log()
    assert set(director.service()) == {r for r in REALS if not r.startswith(ip + ":")}
    conn.close()
