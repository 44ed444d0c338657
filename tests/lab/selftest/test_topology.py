"""Self-tests of topology teardown and of the routed (bridge-less) layout.

Runs after test_lab.py's module lab is stopped, so it can check that the stop left
nothing behind and build its own labs.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from lab.lab import Lab
from lab.topology import LinkMode, Topology

pytestmark = pytest.mark.lab


def lab_leftovers() -> tuple[list[str], str]:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True,
                           check=True, timeout=10).stdout
    names = [ln.split(":")[1].strip() for ln in links.splitlines()]
    netns = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    run_dirs = [d for d in os.listdir("/run") if d.startswith("lvsd-lab.")]
    return [n for n in names if n.startswith("lab")] + netns + run_dirs, links


def test_nothing_left_before() -> None:
    leftovers, links = lab_leftovers()
    assert leftovers == [], links


@pytest.mark.parametrize("link", ["routed", "bridge"])
def test_lab_builds_serves_and_cleans_up(link: LinkMode) -> None:
    with Lab(n_reals=2, link=link, vips=("198.51.100.7",)) as lab:
        lab.add_vip("198.51.100.8")
        assert lab.vips == ["198.51.100.7", "198.51.100.8"]
        for vip in lab.vips:
            lab.ipvsadm(f"-A -t {vip}:80 -s rr")
            for ip in lab.real_ips:
                lab.ipvsadm(f"-a -t {vip}:80 -r {ip}:80 -m")
        try:
            for vip in lab.vips:
                tally = lab.client.get_many(4, host=vip)
                assert tally.backends == {"rs1": 2, "rs2": 2}, tally
            lab.set_link("rs1", False)  # unplugged: no route (routed) or no ARP (bridge)
            tally = lab.client.get_many(2, host="198.51.100.7", timeout=0.5)
            assert tally.backends == {"rs2": 1} and tally.failures == 1, tally
            assert set(tally.errors) <= {"timeout", "unreachable"}, tally
        finally:
            for vip in lab.vips:
                lab.ipvsadm(f"-D -t {vip}:80")
        procs = [b.proc for b in lab.backends] + [lab.client.proc]
    assert all(p.poll() is not None for p in procs)
    leftovers, links = lab_leftovers()
    assert leftovers == [], links


def test_teardown_removes_leftovers_of_a_crashed_lab() -> None:
    crashed = Topology(n_reals=3)
    crashed.build()
    fresh = Topology(n_reals=1)
    fresh.build()  # must first clear rs2, rs3 and the old links
    assert sorted(os.listdir("/run/netns")) == ["client", "rs1"]
    fresh.teardown()
    leftovers, links = lab_leftovers()
    assert leftovers == [], links
