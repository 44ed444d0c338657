"""The deadline holds for every service: a server that accepts and never answers is down in time.

ldirectord's http alarm never marks such a server down, its SQL checks have
no timeout at all and its per-operation timeouts add up; lvsd's deadline
covers the whole check. Each service is pointed at a real socket that
accepts (TCP) or receives (UDP) and then says nothing: the check must be
down after its timeout and before timeout + 100 ms, and leave no socket open.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import time
from collections.abc import Iterator

import pytest

from lvsd.checks.run import run_check, validate
from tests.support.servers import LineServer, UDPServer
from tests.support.skipping import missing

from .conftest import spec

TIMEOUT = 0.5
TCP_SERVICES = ["http", "https", "http_proxy", "smtp", "submission", "pop", "pops", "imap", "imaps", "ldap", "ldaps",
                "nntp", "dns", "mysql", "pgsql", "oracle", "ftp", "sip", "simpletcp"]
UDP_SERVICES = ["dns", "radius", "sip", "simpletcp"]
EXTRAS = {"dns": "dns", "mysql": "aiomysql", "pgsql": "asyncpg", "oracle": "oracledb"}
ARGS = {"mysql": {"login": "lvsd", "request": "/SELECT 1"}, "pgsql": {"login": "lvsd", "request": "/SELECT 1"},
        "oracle": {"login": "lvsd", "request": "/SELECT 1 FROM dual"}, "dns": {"request": "/www.example.com",
                                                                            "receive": "."},
        "radius": {"login": "lvsd", "secret": "s"}, "sip": {"login": "x"}, "ftp": {"request": "/f"},
        "http_proxy": {"request": "/http://www.example.com/"}}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def need_driver(service: str) -> None:
    module = EXTRAS.get(service)
    if module and importlib.util.find_spec(module) is None:
        missing(f"{module} is not installed (pip install 'lvsd[test]')")


async def assert_down_in_time(s, server: LineServer | UDPServer | None = None) -> None:  # type: ignore[no-untyped-def]
    validate(s)  # the daemon's load-time step: it imports a service's driver before any check runs
    before = open_fds()  # the server's listening socket included
    t = time.monotonic()
    r = await run_check(s)
    elapsed = time.monotonic() - t
    assert not r.ok, r
    assert TIMEOUT <= elapsed < TIMEOUT + 0.1, (elapsed, r)
    assert r.message.endswith(f"no answer within {TIMEOUT:g}s"), r
    if server is not None:
        await server.close()  # its end of the connection and its listening socket
        await asyncio.sleep(0.01)  # an aborted transport closes its socket on the loop's next turn
        assert open_fds() < before, "a socket outlived its check"


@pytest.mark.parametrize("service", TCP_SERVICES)
async def test_tcp_service_that_never_answers(service: str) -> None:
    need_driver(service)
    server = await LineServer(None, mode="hung").start()
    s = spec(service, server.port, timeout=TIMEOUT, protocol="tcp", **ARGS.get(service, {}))
    await assert_down_in_time(s, server)


@pytest.mark.parametrize("service", UDP_SERVICES)
async def test_udp_service_that_never_answers(service: str) -> None:
    need_driver(service)
    server = await UDPServer(None, mode="hung").start()
    s = spec(service, server.port, timeout=TIMEOUT, protocol="udp", **ARGS.get(service, {}))
    await assert_down_in_time(s, server)


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A listener whose accept queue is full: the kernel drops further SYNs, so a connect hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.05)
    yield port
    for s in fillers:
        s.close()
    listener.close()


async def test_connect_that_never_completes(full_backlog: int) -> None:
    await assert_down_in_time(spec(kind="connect", port=full_backlog, timeout=TIMEOUT))


async def test_checktype_n_connect_step_uses_checktimeout(full_backlog: int) -> None:
    s = spec("http", full_backlog, timeout=5.0, connects=3, connect_timeout=TIMEOUT)
    t = time.monotonic()
    r = await run_check(s, connect_step=True)
    assert not r.ok and r.message == f"connect: no answer within {TIMEOUT:g}s"
    assert time.monotonic() - t < TIMEOUT + 0.1
