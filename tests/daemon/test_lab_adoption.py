"""Issue 5, point 2: ownership and adoption in the real kernel, with live traffic.

The table lvsd finds at start holds a foreign service (with its own reals), the
managed service with healthy reals, a stale real, a stale fallback and a real
someone quiesced, and a gate service whose reals the kernel stores on the
virtual's port. lvsd leaves the foreign service exactly as it was, purges the
stale entries, restores the quiesced real, and keeps the healthy ones in
place: a connection made through the VIP before the start is still served by
the same backend afterwards.
"""

from __future__ import annotations

import re

import pytest
from lab.lab import Lab

from tests.support.director import VIP, Director, config
from tests.support.kernel import ipvsadm_save, service_of

pytestmark = pytest.mark.lab

GATE = """
virtual={vip}:81
	real=203.0.113.11:8081 gate
	real=203.0.113.12:8082 gate 2
	checktype=on
	scheduler=wrr
"""


def edits(log: str) -> list[str]:
    return re.findall(r"\] ((?:Added|Deleted|Restored|Purged|Quiescent|Changed)[^\n]*)", log)


def test_start_adopts_purges_stale_entries_and_never_touches_a_foreign_service(lab4: Lab, director: Director) -> None:
    lab4.ipvsadm(f"-A -t {VIP}:80 -s wrr")
    lab4.ipvsadm(f"-a -t {VIP}:80 -r 203.0.113.11:80 -m -w 1")
    lab4.ipvsadm(f"-a -t {VIP}:80 -r 203.0.113.12:80 -m -w 1")
    lab4.ipvsadm(f"-a -t {VIP}:80 -r 203.0.113.13:80 -m -w 0")  # quiesced by hand, healthy
    conn = lab4.client.open_persistent()
    first = conn.request()
    assert first.ok
    lab4.ipvsadm(f"-a -t {VIP}:80 -r 203.0.113.14:80 -m -w 1")  # the fallback, stale: reals are up
    lab4.ipvsadm(f"-a -t {VIP}:80 -r 203.0.113.99:80 -m -w 1")  # a real no config names
    lab4.ipvsadm(f"-A -t {VIP}:81 -s wrr")  # gate reals, stored on the virtual's port as ipvsadm does
    lab4.ipvsadm(f"-a -t {VIP}:81 -r 203.0.113.11:8081 -g -w 1")
    lab4.ipvsadm(f"-a -t {VIP}:81 -r 203.0.113.12:8082 -g -w 2")
    lab4.ipvsadm(f"-A -t {VIP}:8080 -s rr -p 120")  # foreign: not in the config
    lab4.ipvsadm(f"-a -t {VIP}:8080 -r 203.0.113.99:80 -m -w 5")
    lab4.ipvsadm("-A -f 99 -s wlc")
    lab4.ipvsadm("-a -f 99 -r 203.0.113.98:0 -g -w 1")
    foreign = [service_of(ipvsadm_save(), ident) for ident in (f"-t {VIP}:8080", "-f 99")]

    director.write(config() + GATE.format(vip=VIP))
    res = director.cli("start")
    assert res.returncode == 0, res.stderr + director.log()
    director.wait(lambda t: set(t) == {f"203.0.113.1{i}:80" for i in (1, 2, 3)}
                  and all(w == 1 for _, w in t.values()), 10)
    log = director.log()
    # every edit made (ldirectord would also -E the unchanged service and -e nothing else)
    assert sorted(edits(log)) == [
        "Deleted fallback server: 203.0.113.14:80 (198.51.100.1:80)",
        "Purged real server (start): 203.0.113.99:80 (198.51.100.1:80)",
        "Restored real server: 203.0.113.13:80 (198.51.100.1:80) (Weight set to 1)",
    ], log
    # the foreign services are exactly as they were; the gate service was adopted without an edit
    assert [service_of(ipvsadm_save(), ident) for ident in (f"-t {VIP}:8080", "-f 99")] == foreign
    assert service_of(ipvsadm_save(), f"-t {VIP}:81") == (
        f"-A -t {VIP}:81 -s wrr",
        [f"-a -t {VIP}:81 -r 203.0.113.11:81 -g -w 1", f"-a -t {VIP}:81 -r 203.0.113.12:81 -g -w 2"],
    )
    # the healthy reals stayed in place: the connection made before the start is served by the same backend
    again = conn.request()
    assert again.ok and again.backend == first.backend
    conn.close()
    # a reload that drops the gate virtual purges it (it was lvsd's); the foreign ones stay
    director.write(config())
    assert director.cli("reload").returncode == 0
    assert service_of(ipvsadm_save(), f"-t {VIP}:81") is None
    assert "Purged virtual server (start): 198.51.100.1:81" in director.log()
    assert [service_of(ipvsadm_save(), ident) for ident in (f"-t {VIP}:8080", "-f 99")] == foreign
