"""Self-tests of the kernel lab: the IPVS kernel, the network, the backends' modes, the client.

Run: ``tests/lab/run -- .venv/bin/python -m pytest -q tests/lab/selftest``
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest
from lab import probe
from lab.lab import Lab

pytestmark = pytest.mark.lab

SERVICE = f"{Lab.VIP}:80"
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "sh", "dh", "sed", "nq", "lblc", "lblcr", "fo", "ovf",
              "mh")


@pytest.fixture
def fresh(lab: Lab) -> Iterator[Lab]:
    """The module's lab, put back to every backend up with zeroed counters after the test."""
    lab.reset()
    try:
        yield lab
    finally:
        lab.reset()


@pytest.fixture(scope="module")
def service(lab: Lab) -> Iterator[str]:
    """A masq round-robin service on VIP:80 over the three reals, made with ipvsadm."""
    lab.ipvsadm(f"-A -t {SERVICE} -s rr")
    try:
        for ip in lab.real_ips:
            lab.ipvsadm(f"-a -t {SERVICE} -r {ip}:80 -m -w 1")
        yield SERVICE
    finally:
        lab.ipvsadm(f"-D -t {SERVICE}")
    assert SERVICE not in lab.ipvsadm("-Ln")


def raw_get(ip: str, timeout: float = 2.0) -> bytes:
    """The full raw response to one GET (status line, headers and body)."""
    with socket.create_connection((ip, 80), timeout=timeout) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_inside_the_lab() -> None:
    assert os.environ["LVSD_LAB"] == "1"
    assert os.geteuid() == 0


def test_kernel_has_ipvs(lab: Lab) -> None:
    out = lab.ipvsadm("-Ln")
    assert out.startswith("IP Virtual Server version")
    for sched in SCHEDULERS:
        assert os.path.isdir(f"/sys/module/ip_vs_{sched}"), sched
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == "1"


def test_topology(lab: Lab) -> None:
    addrs = lab.exec(None, ["ip", "-br", "addr"]).stdout
    assert f"{Lab.VIP}/32" in addrs and f"{Lab.DIRECTOR_IP}/24" in addrs
    assert f"{Lab.CLIENT_IP}/24" in lab.exec("client", ["ip", "-br", "addr"]).stdout
    assert lab.real_ips == ["203.0.113.11", "203.0.113.12", "203.0.113.13"]
    for real in lab.reals:
        assert "default via 203.0.113.1" in lab.exec(real.name, ["ip", "route"]).stdout
        reply = probe.get(real.ip)
        assert reply.ok and reply.body == f"{real.name} OK\n", reply


def test_masq_service_spreads_client_requests(fresh: Lab, service: str) -> None:
    tally = fresh.client.get_many(30)
    assert tally.failures == 0, tally
    assert set(tally.backends) == {"rs1", "rs2", "rs3"}, tally
    assert sum(tally.backends.values()) == 30
    assert max(tally.backends.values()) - min(tally.backends.values()) <= 1, tally
    # The backends saw the client's own address: NAT rewrote only the destination.
    for b in fresh.backends:
        assert b.served(peer=Lab.CLIENT_IP) == tally.backends[b.name]
    # IPVS folds its per-CPU counters into --stats every 2 s: poll, bounded.
    conns, deadline = 0, time.monotonic() + 6
    while conns < 30 and time.monotonic() < deadline:
        time.sleep(0.25)
        stats = fresh.ipvsadm("-Ln --stats")
        line = next(ln for ln in stats.splitlines() if ln.startswith(f"TCP  {service}"))
        conns = int(line.split()[2])
    assert conns >= 30, stats


def test_refuse(fresh: Lab) -> None:
    fresh.backend("rs1").set_mode("refuse")
    start = time.monotonic()
    assert probe.connect("203.0.113.11") == "refused"
    assert time.monotonic() - start < 1.0
    assert probe.get("203.0.113.11").error == "refused"


def test_wrongpage(fresh: Lab) -> None:
    fresh.backend("rs1").set_mode("wrongpage")
    reply = probe.get("203.0.113.11")
    assert reply.status == 200 and not reply.ok and "OK" not in reply.body, reply
    assert b"OK" not in raw_get("203.0.113.11")  # not even in the status line


def test_error500(fresh: Lab) -> None:
    fresh.backend("rs1").set_mode("error500")
    reply = probe.get("203.0.113.11")
    assert reply.status == 500 and not reply.ok, reply


def test_slow(fresh: Lab) -> None:
    fresh.backend("rs1").set_mode("slow")
    assert probe.connect("203.0.113.11") == "connected"
    start = time.monotonic()
    reply = probe.get("203.0.113.11", timeout=2.0)
    assert reply.error == "timeout", reply
    assert time.monotonic() - start >= 1.9


def test_blackhole(fresh: Lab) -> None:
    fresh.backend("rs1").set_mode("blackhole")
    start = time.monotonic()
    assert probe.connect("203.0.113.11", timeout=2.0) == "timeout"  # no RST, no ICMP
    assert time.monotonic() - start >= 1.9
    assert probe.get("203.0.113.12").ok  # only rs1 is gone


@pytest.mark.parametrize("mode", ["refuse", "wrongpage", "error500", "slow", "blackhole"])
def test_back_to_up(fresh: Lab, mode: str) -> None:
    backend = fresh.backend("rs2")
    backend.set_mode(mode)
    assert not probe.get(backend.ip, timeout=0.5).ok
    backend.set_mode("up")
    assert backend.mode == "up"
    for _ in range(3):
        reply = probe.get(backend.ip)
        assert reply.ok and reply.backend == "rs2", reply


def test_counters(fresh: Lab) -> None:
    backend = fresh.backend("rs3")
    assert backend.served() == 0
    for _ in range(4):
        assert probe.get(backend.ip).ok
    assert backend.served() == 4
    assert backend.served(peer=Lab.DIRECTOR_IP) == 4
    assert backend.stats()["by_status"] == {"200": 4}


def test_failed_real_seen_through_vip(fresh: Lab, service: str) -> None:
    fresh.backend("rs1").set_mode("refuse")
    tally = fresh.client.get_many(9, timeout=1.0)
    assert tally.errors == {"refused": 3} and set(tally.backends) == {"rs2", "rs3"}, tally


def test_persistent_connection_survives_weight_change(fresh: Lab, service: str) -> None:
    conn = fresh.client.open_persistent()
    try:
        first = conn.request()
        assert first.ok, first
        real_ip = fresh.backend(first.backend or "").ip
        fresh.ipvsadm(f"-e -t {service} -r {real_ip}:80 -m -w 5")
        assert f"{real_ip}:80" in fresh.ipvsadm("-Ln")
        for _ in range(3):
            again = conn.request()
            assert again.ok and again.backend == first.backend, again
    finally:
        conn.close()
        for ip in fresh.real_ips:
            fresh.ipvsadm(f"-e -t {service} -r {ip}:80 -m -w 1")


def test_persistent_connection_breaks_when_backend_resets(fresh: Lab, service: str) -> None:
    conn = fresh.client.open_persistent()
    first = conn.request()
    assert first.ok, first
    fresh.backend(first.backend or "").set_mode("refuse")
    after = conn.request(timeout=1.0)
    assert not after.ok and after.error in ("reset", "closed"), after


@pytest.mark.asyncio
async def test_async_twins(fresh: Lab, service: str) -> None:
    tally = await fresh.client.aget_many(6)
    assert tally.failures == 0 and len(tally.backends) == 3, tally
    conn = await fresh.client.aopen_persistent()
    reply = await conn.arequest()
    assert reply.ok, reply
    await fresh.backend("rs1").aset_mode("error500")
    assert (await fresh.backend("rs1").astats())["mode"] == "error500"
    assert await fresh.backend("rs2").aserved(peer=Lab.CLIENT_IP) >= 2
    conn.close()
