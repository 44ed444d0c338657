"""Issue 5, point 3: drift and kernel failures in the real kernel leave lvsd running and converging.

Someone runs ``ipvsadm`` behind lvsd's back: every kind of change is repaired by
the next full pass, within one resync interval (resyncinterval=2). Then
failures are injected in the middle of lvsd's own passes: the service it is
editing is deleted by hand (ESRCH), the real it is adding was added by hand
(EEXIST), the scheduler module it asks for is missing (ENOENT, by unloading
it from the kernel). Each refusal is logged with its operation and marks
lvsd degraded; the rest of the batch still applies; lvsd keeps running and
the table converges without anyone touching it again.
"""

from __future__ import annotations

import glob
import os
import subprocess
import time

import pytest
from lab.lab import Lab

from tests.support.director import DOWN_BOUND, FALLBACK, REALS, VIP, Director, config, record, start
from tests.support.kernel import ipvsadm_save, service_of
from tests.support.waiting import wait_until

pytestmark = pytest.mark.lab

RESYNC = 2  # resyncinterval of the configs that measure drift repair
SLACK = 0.6  # one pass, plus polling and exec latency in UML


def converged(t: dict[str, tuple[str, int]]) -> bool:
    return set(t) == set(REALS) and all(fwd == "Masq" and w == 1 for fwd, w in t.values())


def test_hand_edits_are_repaired_within_one_resync_interval(lab4: Lab, director: Director) -> None:
    start(director, f"resyncinterval={RESYNC}\n" + config())
    for what, argv in (
        ("weight changed", [f"-e -t {VIP}:80 -r 203.0.113.11:80 -m -w 7"]),
        ("real deleted", [f"-d -t {VIP}:80 -r 203.0.113.12:80"]),
        ("stale real added", [f"-a -t {VIP}:80 -r 203.0.113.99:80 -m -w 1"]),
        ("forwarding changed", [f"-e -t {VIP}:80 -r 203.0.113.13:80 -g -w 1"]),
        ("fallback added", [f"-a -t {VIP}:80 -r {FALLBACK} -m -w 1"]),
        ("service deleted", [f"-D -t {VIP}:80"]),
    ):
        for args in argv:
            lab4.ipvsadm(args)
        assert not converged(director.service()), what
        took = director.wait(converged, RESYNC + 3)
        record(f"drift repaired: {what}", took)
        assert took <= RESYNC + SLACK, f"{what}: repaired after {took:.2f}s"
    lab4.ipvsadm(f"-E -t {VIP}:80 -s rr -p 60")

    def service_line(_: object) -> bool:
        found = service_of(ipvsadm_save(), f"-t {VIP}:80")
        return found is not None and found[0] == f"-A -t {VIP}:80 -s wrr"

    took = director.wait(service_line, RESYNC + 3)
    assert took <= RESYNC + SLACK
    assert director.cli("status").returncode == 0


def _module(name: str) -> str:
    (path,) = glob.glob(f"/usr/lib/uml/modules/*/kernel/net/netfilter/ipvs/{name}.ko")
    return path


def test_failures_mid_pass_are_logged_retried_and_never_fatal(lab4: Lab, director: Director) -> None:
    # resyncinterval=30: only lvsd's retry after a failure can repair these within the test
    start(director, "resyncinterval=30\n" + config())
    pid = director.pid
    # ESRCH: the service goes away behind lvsd's back, then a real fails: lvsd's edit hits nothing
    lab4.ipvsadm(f"-D -t {VIP}:80")
    lab4.backend("rs3").set_mode("refuse")
    took = director.wait(lambda t: set(t) == set(REALS[:2]), DOWN_BOUND + 5)
    record("ESRCH mid-pass: service rebuilt", took)
    log = director.log()
    assert 'ipvs.error op="ipvsadm -d -t 198.51.100.1:80 -r 203.0.113.13:80" errno=3' in log, log[-3000:]
    assert "IPVS table in sync again" in log
    # EEXIST: the real lvsd is about to add was added by hand (at another weight)
    lab4.ipvsadm(f"-a -t {VIP}:80 -r 203.0.113.13:80 -m -w 7")
    lab4.backend("rs3").set_mode("up")
    took = director.wait(converged, 10)
    record("EEXIST mid-pass: weight put right", took)
    assert 'ipvs.error op="ipvsadm -a -t 198.51.100.1:80 -r 203.0.113.13:80 -m -w 1" errno=17' in director.log()
    # ENOENT: a reload asks for a scheduler whose module is not in the kernel; the rest of the batch applies
    ovf = _module("ip_vs_ovf")
    subprocess.run(["rmmod", "ip_vs_ovf"], check=True, timeout=30)
    try:
        director.config.write_text(director.config.read_text().replace(" masq 1", " masq 2") + (
            f"\nvirtual={VIP}:8000\n\treal=203.0.113.11:80 masq\n\tchecktype=on\n\tscheduler=ovf\n"))
        assert director.cli("reload").returncode == 0
        time.sleep(0.5)
        assert all(w == 2 for _, w in director.service().values())  # the weight edits of the batch went in
        log = director.log()
        assert 'ipvs.error op="ipvsadm -A -t 198.51.100.1:8000 -s ovf" errno=2' in log
        assert "is module ip_vs_ovf loaded?" in log
        status = director.cli("status")
        assert status.returncode == 0 and "DEGRADED" in status.stdout
    finally:
        subprocess.run(["insmod", ovf], check=True, timeout=30)
    took = director.wait(lambda _: service_of(ipvsadm_save(), f"-t {VIP}:8000") is not None, 30)
    record("ENOENT (module missing): converged after the module came back", took)
    assert director.pid == pid and os.path.exists(f"/proc/{pid}")
    assert service_of(ipvsadm_save(), f"-t {VIP}:8000") == (
        f"-A -t {VIP}:8000 -s ovf", [f"-a -t {VIP}:8000 -r 203.0.113.11:80 -m -w 1"])
    wait_until(lambda: "DEGRADED" not in director.cli("status").stdout, 5, poll=0.2)


@pytest.mark.parametrize("readd", ["no", "yes"])
def test_readdquiescent_decides_whether_a_quiesced_real_deleted_by_hand_comes_back(
        lab4: Lab, director: Director, readd: str) -> None:
    text = config(quiescent="yes").replace("quiescent=yes", f"quiescent=yes\nreaddquiescent={readd}")
    start(director, f"resyncinterval={RESYNC}\n" + text)
    lab4.backend("rs3").set_mode("refuse")
    director.wait(lambda t: t.get("203.0.113.13:80") == ("Masq", 0), DOWN_BOUND + 2)
    lab4.ipvsadm(f"-d -t {VIP}:80 -r 203.0.113.13:80")  # the operator takes the failed real out by hand
    time.sleep(2 * RESYNC + SLACK)  # two full passes
    if readd == "no":
        assert "203.0.113.13:80" not in director.service()  # the hand deletion stands
    else:
        assert director.service()["203.0.113.13:80"] == ("Masq", 0)  # put back, quiesced
        assert "Readd Quiescent real server: 203.0.113.13:80 (198.51.100.1:80) (Weight set to 0)" in director.log()
    lab4.backend("rs3").set_mode("up")  # passing its check again brings it back in either case
    director.wait(lambda t: t.get("203.0.113.13:80") == ("Masq", 1), 5)
