"""The lab's backend and client agents on loopback: no kernel lab, no root needed.

These run on the host too, so a broken agent shows up even where UML is missing.
(``blackhole`` needs a namespace of its own and is tested in test_lab.py.)
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab import probe, rpc
from lab.lab import Backend, Client
from lab.topology import Real

from tests.support.ports import free_port

LAB_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def spawn(argv: list[str], control: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-S", *argv], stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            rpc.call(str(control), "ping", timeout=2)
            return proc
        except rpc.RpcError:
            time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=5)
    raise RuntimeError(f"{argv[0]} did not become ready")


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Backend, Client, int]]:
    tmp = tmp_path_factory.mktemp("agents")
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        bctl = tmp / "b.sock"
        procs.append(spawn([str(LAB_DIR / "backend.py"), "--name", "loop1", "--bind", HOST,
                            "--port", str(port), "--control", str(bctl)], bctl))
        cctl = tmp / "c.sock"
        procs.append(spawn([str(LAB_DIR / "client.py"), "--control", str(cctl)], cctl))
        backend = Backend(Real("loop1", HOST, 1, "lo"), str(bctl), procs[0])
        yield backend, Client(str(cctl), procs[1]), port
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@pytest.fixture
def up(agents: tuple[Backend, Client, int]) -> Iterator[tuple[Backend, Client, int]]:
    backend = agents[0]
    backend.set_mode("up")
    backend.reset()
    yield agents
    backend.set_mode("up")


def test_up_and_counters(up: tuple[Backend, Client, int]) -> None:
    backend, client, port = up
    tally = client.get_many(5, host=HOST, port=port)
    assert tally.backends == {"loop1": 5} and tally.failures == 0, tally
    assert backend.served() == 5 and backend.served(peer=HOST) == 5
    assert probe.get(HOST, port).body == "loop1 OK\n"


def test_modes(up: tuple[Backend, Client, int]) -> None:
    backend, client, port = up
    backend.set_mode("refuse")
    assert probe.connect(HOST, port) == "refused"
    assert client.get(host=HOST, port=port).error == "refused"
    backend.set_mode("wrongpage")
    reply = probe.get(HOST, port)
    assert reply.status == 200 and "OK" not in reply.body and reply.reason == "no-OK"
    backend.set_mode("error500")
    assert probe.get(HOST, port).status == 500
    backend.set_mode("slow")
    assert probe.get(HOST, port, timeout=0.5).error == "timeout"
    assert client.get_many(2, host=HOST, port=port, timeout=0.3).errors == {"timeout": 2}
    backend.set_mode("up")
    assert probe.get(HOST, port).ok
    with pytest.raises(rpc.RpcError, match="unknown mode"):
        backend.set_mode("sideways")


def test_persistent(up: tuple[Backend, Client, int]) -> None:
    backend, client, port = up
    conn = client.open_persistent(host=HOST, port=port)
    replies = [conn.request() for _ in range(3)]
    assert all(r.ok and r.backend == "loop1" for r in replies), replies
    assert backend.stats()["accepted"] == 1  # one connection for all three
    backend.set_mode("slow")
    assert conn.request(timeout=0.3).error == "timeout"
    assert conn.request().error == "closed"  # the agent drops a connection after an error
    backend.set_mode("up")
