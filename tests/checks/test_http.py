"""The http, https and http_proxy checks against real HTTP servers (aiohttp's) on 127.0.0.1.

Every outcome an operator meets (up, refused, wrong page, 5xx, 404, hung past
the deadline) and ldirectord's details: redirects followed up to 7, Host =
virtualhost or the real's address, per-real absolute URLs, HEAD, chunked
bodies, receive as a regular expression on the body, TLS unverified by
default and verified (with SNI) on request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from lvsd.checks.base import CheckSpec
from lvsd.checks.run import run_check
from tests.support.ports import free_port
from tests.support.servers import Certs, LineServer
from tests.support.skipping import missing


class Site:
    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}
        self.port = 0
        self.runner: web.AppRunner | None = None


def app(site: Site) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        site.seen.update(host=request.headers.get("Host"), path=request.path_qs, method=request.method,
                         ua=request.headers.get("User-Agent"), version=request.version)
        return web.Response(text="server rs1 OK\n")

    async def wrong(request: web.Request) -> web.Response:
        return web.Response(text="maintenance\n")

    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for part in (b"first part, ", b"x" * 70000, b" and the end: READY\n"):
            await resp.write(part)
        await resp.write_eof()
        return resp

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="OK but broken\n")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/")

    async def hops(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n > 0:
            raise web.HTTPMovedPermanently(f"/hops/{n - 1}")
        return web.Response(text="arrived OK\n")

    async def elsewhere(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"http://localhost:{site.port}/health")

    a = web.Application()
    a.router.add_get("/", page)
    a.router.add_get("/health", page)
    a.router.add_get("/wrong", wrong)
    a.router.add_get("/chunked", chunked)
    a.router.add_get("/status/{code}", status)
    a.router.add_get("/moved", moved)
    a.router.add_get("/hops/{n}", hops)
    a.router.add_get("/elsewhere", elsewhere)
    return a


async def serve(site: Site, tls: Any = None) -> Site:
    site.runner = web.AppRunner(app(site))
    await site.runner.setup()
    tcp = web.TCPSite(site.runner, "127.0.0.1", 0, ssl_context=tls)
    await tcp.start()
    site.port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return site


@pytest.fixture
async def web_server() -> AsyncIterator[Site]:
    site = await serve(Site())
    yield site
    assert site.runner is not None
    await site.runner.cleanup()


@pytest.fixture
async def tls_server(certs: Certs) -> AsyncIterator[Site]:
    site = await serve(Site(), certs.server_context())
    yield site
    assert site.runner is not None
    await site.runner.cleanup()


async def hung_talk(server: LineServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


@pytest.fixture
async def hung() -> AsyncIterator[int]:
    server = await LineServer(hung_talk, mode="hung").start()
    yield server.port
    await server.close()


def http(port: int, request: str = "/", receive: str = "OK", timeout: float = 2.0, **kw: Any) -> CheckSpec:
    return CheckSpec(kind="negotiate", service=kw.pop("service", "http"), host="127.0.0.1", port=port,
                     timeout=timeout, request=request, receive=receive, **kw)


async def test_up(web_server: Site) -> None:
    r = await run_check(http(web_server.port))
    assert r.ok and r.message == "GET /: status 200, receive matched"
    assert r.latency < 1.0
    assert web_server.seen["ua"].startswith("lvsd/")


async def test_wrong_page_is_down(web_server: Site) -> None:
    r = await run_check(http(web_server.port, "/wrong"))
    assert not r.ok and r.message == "GET /wrong: status 200, body does not match receive 'OK'"


@pytest.mark.parametrize("code", [500, 503, 404, 301])
async def test_non_2xx_is_down_even_if_the_body_matches(web_server: Site, code: int) -> None:
    r = await run_check(http(web_server.port, f"/status/{code}"))
    assert not r.ok and r.message == f"GET /status/{code}: status {code}, expected 2xx"


async def test_refused_is_down_at_once() -> None:
    t = time.monotonic()
    r = await run_check(http(free_port()))
    assert not r.ok and r.message == "GET /: connection refused"
    assert time.monotonic() - t < 0.5


async def test_hung_server_is_down_within_timeout_plus_100ms(hung: int) -> None:
    t = time.monotonic()
    r = await run_check(http(hung, timeout=1.0))
    elapsed = time.monotonic() - t
    assert not r.ok and r.message == "GET /: no answer within 1s"
    assert 1.0 <= elapsed < 1.1


async def test_redirects_are_followed_up_to_seven(web_server: Site) -> None:
    r = await run_check(http(web_server.port, "/moved"))
    assert r.ok and r.message == "GET /moved: status 200 after 1 redirect, receive matched"
    assert (await run_check(http(web_server.port, "/hops/7"))).ok
    r = await run_check(http(web_server.port, "/hops/8"))
    assert not r.ok and r.message == "GET /hops/8: status 301 after 7 redirects, expected 2xx"


async def test_a_redirect_names_its_own_host(web_server: Site) -> None:
    r = await run_check(http(web_server.port, "/elsewhere", virtualhost="www.example.com"))
    assert r.ok, r
    assert web_server.seen["host"] == f"localhost:{web_server.port}"  # LWP drops Host on a redirect


async def test_empty_receive_needs_only_2xx(web_server: Site) -> None:
    assert (await run_check(http(web_server.port, "/wrong", receive=""))).ok


async def test_receive_is_a_regular_expression_on_the_body(web_server: Site) -> None:
    assert (await run_check(http(web_server.port, receive=r"rs\d OK$"))).ok
    assert not (await run_check(http(web_server.port, receive=r"rs\d FAIL"))).ok
    assert not (await run_check(http(web_server.port, receive=r"^HTTP/1"))).ok  # the body, not the headers


async def test_chunked_body_is_decoded_before_matching(web_server: Site) -> None:
    r = await run_check(http(web_server.port, "/chunked", receive=r"part, x+ and the end: READY"))
    assert r.ok, r


async def test_host_header_is_the_real_ip_or_virtualhost(web_server: Site) -> None:
    await run_check(http(web_server.port, "/health?full=1"))
    assert web_server.seen["host"] == "127.0.0.1" and web_server.seen["path"] == "/health?full=1"
    await run_check(http(web_server.port, virtualhost="www.example.com"))
    assert web_server.seen["host"] == "www.example.com"


async def test_head(web_server: Site) -> None:
    r = await run_check(http(web_server.port, receive="", method="HEAD"))
    assert r.ok and r.message == "GET /: status 200".replace("GET", "HEAD")
    assert web_server.seen["method"] == "HEAD"
    assert not (await run_check(http(web_server.port, receive="OK", method="HEAD"))).ok  # no body to match


async def test_absolute_url_request_is_used_as_is(web_server: Site) -> None:
    r = await run_check(http(9, request=f"/http://127.0.0.1:{web_server.port}/health"))
    assert r.ok and web_server.seen["path"] == "/health"
    assert r.message.startswith(f"GET http://127.0.0.1:{web_server.port}/health: status 200")


async def test_https_is_not_verified_by_default(tls_server: Site) -> None:
    r = await run_check(http(tls_server.port, service="https"))
    assert r.ok, r


async def test_https_verification_and_sni(tls_server: Site, certs: Certs) -> None:
    verified = dict(service="https", tls_verify=True, tls_cafile=str(certs.ca))
    assert (await run_check(http(tls_server.port, **verified))).ok  # the IP is in the certificate
    r = await run_check(http(tls_server.port, tls_servername="www.example.com", **verified))
    assert r.ok, r
    r = await run_check(http(tls_server.port, tls_servername="other.example.com", **verified))
    assert not r.ok and "TLS certificate not accepted" in r.message and "other.example.com" in r.message
    r = await run_check(http(tls_server.port, service="https", tls_verify=True))  # an unknown CA
    assert not r.ok and r.message == "GET /: TLS certificate not accepted: unable to get local issuer certificate"


async def test_https_against_plain_http_is_down(web_server: Site) -> None:
    r = await run_check(http(web_server.port, service="https"))
    assert not r.ok and "TLS" in r.message


async def proxy_talk(server: LineServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    server.seen.append(head)
    if server.mode == "up":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nproxied: OK\n")
    else:
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")


async def test_http_proxy_sends_the_url_to_the_real_as_a_proxy() -> None:
    proxy = await LineServer(proxy_talk).start()
    try:
        s = http(proxy.port, request="/http://www.example.com/health", service="http_proxy")
        r = await run_check(s)
        assert r.ok and r.message == "GET http://www.example.com/health: status 200, receive matched"
        assert proxy.seen[0].startswith(b"GET http://www.example.com/health HTTP/1.1\r\n")
        assert b"\r\nHost: www.example.com\r\n" in proxy.seen[0]
        proxy.mode = "bad-gateway"
        assert not (await run_check(s)).ok
    finally:
        await proxy.close()


async def raw_talk(server: LineServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.write({
        "no-length": b"HTTP/1.0 200 OK\r\n\r\nbody until close: OK",
        "continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK",
        "garbage": b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
        "short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly OK",
        "close": b"",
    }[server.mode])


@pytest.mark.parametrize(("mode", "ok", "message"), [
    ("no-length", True, "GET /: status 200, receive matched"),
    ("continue", True, "GET /: status 200, receive matched"),
    ("garbage", False, "GET /: not an HTTP response: 'SSH-2.0-OpenSSH_9.2'"),
    ("short", False, "GET /: server closed the connection after 7 of 100 body bytes"),
    ("close", False, "GET /: server closed the connection without answering"),
])
async def test_framing(mode: str, ok: bool, message: str) -> None:
    server = await LineServer(raw_talk, mode=mode).start()
    try:
        r = await run_check(http(server.port))
        assert (r.ok, r.message) == (ok, message)
    finally:
        await server.close()


async def test_ipv6_real_server() -> None:
    seen: list[str] = []

    async def page(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Host", ""))
        return web.Response(text="v6 OK\n")

    a = web.Application()
    a.router.add_get("/", page)
    runner = web.AppRunner(a)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "::1", 0)
        try:
            await site.start()
        except OSError:
            missing("no IPv6 loopback here")
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        s = CheckSpec(kind="negotiate", service="http", host="::1", port=port, timeout=2.0, receive="v6 OK")
        r = await run_check(s)
        assert r.ok, r
        assert seen == ["[::1]"]
        assert (await run_check(CheckSpec(kind="connect", service="none", host="::1", port=port, timeout=1))).ok
    finally:
        await runner.cleanup()
