"""Connect and HTTP negotiate checks against real servers on 127.0.0.1.

Every outcome an operator meets: up, refused, wrong page, HTTP 500, hung
past the deadline (which must be *down*, within the timeout plus 100 ms),
redirects, virtualhost as the Host header, per-real request.
"""

import asyncio
import socket
import time

import pytest
from aiohttp import web

from lvsd.checks.base import CheckSpec
from lvsd.checks.run import run_check


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def web_server():
    seen = {}

    async def page(request):
        seen["host"] = request.headers.get("Host")
        seen["path"] = request.path
        return web.Response(text="server rs1 OK\n")

    async def wrong(request):
        return web.Response(text="maintenance\n")

    async def err(request):
        return web.Response(status=500, text="OK but broken\n")

    async def redirect(request):
        raise web.HTTPFound("/")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/health", page)
    app.router.add_get("/wrong", wrong)
    app.router.add_get("/err", err)
    app.router.add_get("/moved", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield port, seen
    await runner.cleanup()


@pytest.fixture
async def hung_server():
    """Accepts connections and reads, never answers."""
    conns = []

    async def handle(reader, writer):
        conns.append(writer)
        await asyncio.sleep(60)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for w in conns:
        w.close()
    server.close()


def http(port, request="/", receive="OK", timeout=2.0, **kw):
    return CheckSpec(kind="negotiate", service="http", host="127.0.0.1", port=port, timeout=timeout,
                     request=request, receive=receive, **kw)


async def test_http_up(web_server):
    port, _ = web_server
    r = await run_check(http(port))
    assert r.ok, r.message
    assert r.latency < 1.0


async def test_http_wrong_page_is_down(web_server):
    port, _ = web_server
    r = await run_check(http(port, "/wrong"))
    assert not r.ok
    assert "does not match receive 'OK'" in r.message


async def test_http_500_is_down_even_if_body_matches(web_server):
    port, _ = web_server
    r = await run_check(http(port, "/err"))
    assert not r.ok
    assert r.message == "GET /err: status 500, expected 2xx"


async def test_http_404_is_down(web_server):
    port, _ = web_server
    r = await run_check(http(port, "/nothing"))
    assert not r.ok and "status 404" in r.message


async def test_http_refused_is_down_at_once():
    t = time.monotonic()
    r = await run_check(http(free_port()))
    assert not r.ok and r.message == "connection refused"
    assert time.monotonic() - t < 0.5


async def test_http_hung_server_is_down_within_timeout_plus_100ms(hung_server):
    t = time.monotonic()
    r = await run_check(http(hung_server, timeout=1.0))
    elapsed = time.monotonic() - t
    assert not r.ok
    assert r.message == "GET /: no answer within 1s"
    assert 1.0 <= elapsed < 1.1


async def test_http_redirect_is_followed(web_server):
    port, _ = web_server
    assert (await run_check(http(port, "/moved"))).ok


async def test_http_empty_receive_needs_only_2xx(web_server):
    port, _ = web_server
    assert (await run_check(http(port, "/wrong", receive=""))).ok


async def test_http_receive_is_a_regular_expression(web_server):
    port, _ = web_server
    assert (await run_check(http(port, receive=r"rs\d OK"))).ok
    assert not (await run_check(http(port, receive=r"rs\d FAIL"))).ok


async def test_http_host_header_is_the_real_ip_or_virtualhost(web_server):
    port, seen = web_server
    await run_check(http(port, "/health"))
    assert seen["host"] == "127.0.0.1" and seen["path"] == "/health"
    await run_check(http(port, virtualhost="www.example.com"))
    assert seen["host"] == "www.example.com"


async def test_http_absolute_url_request_is_used_as_is(web_server):
    port, seen = web_server
    r = await run_check(http(9, request=f"/http://127.0.0.1:{port}/health"))
    assert r.ok and seen["path"] == "/health"


async def test_connect_up_refused_and_hung(web_server, hung_server):
    port, _ = web_server
    spec = dict(kind="connect", service="none", host="127.0.0.1", timeout=1.0)
    assert (await run_check(CheckSpec(port=port, **spec))).ok
    r = await run_check(CheckSpec(port=free_port(), **spec))
    assert not r.ok and r.message == "connection refused"
    # a server that accepts but never answers is up for a connect check
    assert (await run_check(CheckSpec(port=hung_server, **spec))).ok


async def test_on_off_and_none():
    base = dict(host="127.0.0.1", port=9, timeout=1.0)
    assert (await run_check(CheckSpec(kind="on", service="none", **base))).ok
    assert not (await run_check(CheckSpec(kind="off", service="none", **base))).ok
    assert (await run_check(CheckSpec(kind="negotiate", service="none", **base))).ok
