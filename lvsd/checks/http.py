"""The http, https and http_proxy negotiate checks, with ldirectord's (LWP's) success criteria.

The URL is ldirectord's: ``scheme://RIP:PORT/request``, or the request itself
when it is an absolute URL of the service's scheme (the config layer keeps a
leading ``/`` on every request; it is dropped here). ``Host:`` is
``virtualhost``, else the real's address; for ``http_proxy`` the request goes
to the real as a proxy, with the URL in the request line. Redirects are
followed for GET and HEAD, at most 7 (LWP's limit), each hop naming its own
host. Up = a 2xx status AND the ``receive`` regular expression found in the
raw body (an empty ``receive`` matches anything; HEAD has no body).

The client is a lean HTTP/1.1 exchange (``Connection: close``) on an asyncio
protocol: one request, the response parsed as it arrives (Content-Length,
chunked, or up to the close), and nothing read past the headers when the
answer is already known. It costs a third of aiohttp's client per check,
which is what lets one core check thousands of servers every second.
TLS verifies nothing unless ``tlsverify=yes`` (ldirectord's behaviour); SNI
is sent only for ``tlsservername`` (or a redirect to a host name).
The caller bounds the whole exchange, redirects included, by one deadline.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import re
import socket
import ssl
import struct
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

from lvsd import __version__
from lvsd.checks import timers
from lvsd.checks.base import CheckSpec
from lvsd.checks.patterns import search
from lvsd.checks.reactor import IN, OUT, reactor

MAX_HEAD = 64 * 1024  # a status line and headers longer than this are not an HTTP health answer
MAX_BODY = 4 * 1024 * 1024  # enough for any health page; the receive pattern sees the first 4 MiB
MAX_REDIRECTS = 7  # LWP::UserAgent's max_redirect
REDIRECTS = frozenset((301, 302, 303, 307, 308))
USER_AGENT = f"lvsd/{__version__} health check"
STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)?[ \t]+(\d{3})(?:[ \t]([^\r\n]*))?")
HEADERS = re.compile(rb"\n(content-length|transfer-encoding|location)[ \t]*:([^\r\n]*)", re.IGNORECASE)
# Close with a reset, as HAProxy closes its checks: the answer is in, and no TIME_WAIT is left behind
# (thousands of checks a second would otherwise keep hundreds of thousands of them on the director).
NO_LINGER = struct.pack("ii", 1, 0)
SOCK_STREAM_NONBLOCK = socket.SOCK_STREAM | socket.SOCK_NONBLOCK  # one system call fewer than setblocking()


class HTTPError(Exception):
    """The server answered, but not with HTTP we can read (the message says how)."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    location: str | None
    body: bytes


class _Exchange(asyncio.Protocol):
    """Send one request, parse one response, resolve ``done``; the transport is closed by the caller."""

    def __init__(self, request: bytes, done: asyncio.Future[Response], *, head: bool, want_body: bool) -> None:
        self.request = request
        self.done = done
        self.head = head
        self.want_body = want_body
        self.buf = bytearray()
        self.status = 0
        self.reason = ""
        self.location: str | None = None
        self.length: int | None = None  # Content-Length, or None
        self.chunked = False
        self.in_body = False
        self.chunk_left = -1  # chunked: bytes left in the current chunk; -1 = expecting a size line
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        self.buf += data
        try:
            if not self.in_body:
                self._head()
            if self.in_body:
                self._body(eof=False)
        except HTTPError as exc:
            self.done.set_exception(exc)

    def eof_received(self) -> bool:
        if not self.done.done():
            try:
                if self.in_body:
                    self._body(eof=True)
                elif self.buf:
                    raise HTTPError("server closed the connection in the middle of the response headers")
            except HTTPError as exc:
                self.done.set_exception(exc)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is not None:
                self.done.set_exception(exc)
            elif self.in_body:
                self._finish()
            else:
                self.done.set_exception(HTTPError("server closed the connection without answering"))

    def _head(self) -> None:
        while not self.in_body:
            end = self.buf.find(b"\r\n\r\n")
            skip = 4
            if end < 0:
                end, skip = self.buf.find(b"\n\n"), 2
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    raise HTTPError(f"response headers longer than {MAX_HEAD} bytes")
                return
            head = bytes(self.buf[:end])
            del self.buf[: end + skip]
            m = STATUS_LINE.match(head)
            if m is None:
                first = head.split(b"\n", 1)[0].decode("latin-1").strip()
                raise HTTPError(f"not an HTTP response: {first[:80]!r}" if first else "empty response")
            status = int(m.group(1))
            if 100 <= status < 200:
                continue  # 100 Continue and friends: the real answer follows
            self.status, self.reason = status, (m.group(2) or b"").decode("latin-1").strip()
            for name, value in HEADERS.findall(head):  # only the headers that frame the answer, in one C pass
                name = name.lower()
                if name == b"content-length":
                    try:
                        self.length = int(value.strip())
                    except ValueError:
                        raise HTTPError(f"bad Content-Length {value.strip().decode('latin-1')!r}") from None
                elif name == b"transfer-encoding":
                    self.chunked = b"chunked" in value.lower()
                else:
                    self.location = value.strip().decode("latin-1")
            self.in_body = True
            redirect = self.status in REDIRECTS and self.location is not None
            if self.head or self.status in (204, 304) or not self.want_body or redirect:
                self._finish()

    def _body(self, *, eof: bool) -> None:
        if self.done.done():
            return
        if self.chunked:
            self._chunks(eof)
            return
        self.body += self.buf
        self.buf.clear()
        if self.length is not None and len(self.body) >= self.length:
            del self.body[self.length:]
            self._finish()
        elif len(self.body) >= MAX_BODY:
            self._finish()
        elif eof:
            if self.length is not None:
                raise HTTPError(f"server closed the connection after {len(self.body)} of {self.length} body bytes")
            self._finish()

    def _chunks(self, eof: bool) -> None:
        buf = self.buf
        while True:
            if self.chunk_left < 0:
                nl = buf.find(b"\n")
                if nl < 0:
                    break
                size = bytes(buf[:nl]).split(b";", 1)[0].strip()
                del buf[: nl + 1]
                try:
                    self.chunk_left = int(size, 16)
                except ValueError:
                    raise HTTPError(f"bad chunk size {size[:20]!r}") from None
                if self.chunk_left == 0:
                    self._finish()  # trailers, if any, are not needed
                    return
            take = min(self.chunk_left, len(buf))
            self.body += buf[:take]
            del buf[:take]
            self.chunk_left -= take
            if len(self.body) >= MAX_BODY:
                self._finish()
                return
            if self.chunk_left:
                break
            if len(buf) < 2 and b"\n" not in buf:
                self.chunk_left = -2  # the CRLF after the chunk has not arrived yet
                break
            nl = buf.find(b"\n")
            del buf[: nl + 1]
            self.chunk_left = -1
        if self.chunk_left == -2:
            nl = buf.find(b"\n")
            if nl >= 0:
                del buf[: nl + 1]
                self.chunk_left = -1
                self._chunks(eof)
                return
        if eof:
            raise HTTPError("server closed the connection in the middle of a chunked body")

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(Response(self.status, self.reason, self.location, bytes(self.body)))


class _Bare:
    """Drive an :class:`_Exchange` on a bare non-blocking socket watched by the checks' reactor.

    The plain-HTTP path: no transport, no protocol factory; the request is
    sent as soon as the connection is up (often within ``connect()`` itself
    on a near server), the answer is parsed as it arrives, and the socket is
    closed (with a reset) the moment the verdict is known.
    """

    __slots__ = ("closed", "ex", "fd", "pending", "reactor", "sock")

    def __init__(self, sock: socket.socket, ex: _Exchange) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.ex = ex
        self.pending = ex.request
        self.reactor = reactor()
        self.closed = False

    def start(self, addr: tuple[str, int] | tuple[str, int, int, int]) -> None:
        err = self.sock.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, os.strerror(err))
        try:  # on a near server (loopback, a LAN) the handshake is often over already: send at once
            sent = self.sock.send(self.pending)
        except (BlockingIOError, InterruptedError):
            sent = -1  # still connecting: wait until the socket is writable
        except OSError as exc:
            if exc.errno != errno.ENOTCONN:
                raise
            sent = -1
        if sent >= 0:
            self.pending = self.pending[sent:]
            if not self.pending:
                self.reactor.watch(self.fd, IN, self._readable)
                return
        self.reactor.watch(self.fd, OUT, self._writable)

    def _writable(self) -> None:
        done = self.ex.done
        if done.done():
            self.close()
            return
        if self.pending is self.ex.request:  # the connect finished, or failed
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                done.set_exception(OSError(err, os.strerror(err)))
                self.close()
                return
        try:
            sent = self.sock.send(self.pending)
        except BlockingIOError:
            return
        except OSError as exc:
            done.set_exception(exc)
            self.close()
            return
        self.pending = self.pending[sent:]
        if not self.pending:
            self.reactor.watch(self.fd, IN, self._readable)

    def _readable(self) -> None:
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError as exc:
            self.ex.connection_lost(exc)
            self.close()
            return
        if data:
            self.ex.data_received(data)
        else:
            self.ex.eof_received()
            self.ex.connection_lost(None)
        if self.ex.done.done():
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.reactor.forget(self.fd)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, NO_LINGER)
            self.sock.close()


@lru_cache(maxsize=16)
def tls_context(verify: bool, cafile: str | None) -> ssl.SSLContext:
    """One context per setting (building one costs milliseconds); unverified = ldirectord's LWP."""
    if verify:
        return ssl.create_default_context(cafile=cafile)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def scheme_of(spec: CheckSpec) -> str:
    return "https" if spec.service == "https" else "http"


def is_absolute(spec: CheckSpec) -> bool:
    return f"{scheme_of(spec)}://" in spec.request


def url_for(spec: CheckSpec) -> str:
    """ldirectord's URL: the request as a whole URL if it is one (or for http_proxy), else RIP:PORT/request."""
    path = spec.request.lstrip("/")  # the config layer adds ldirectord's leading '/'
    if is_absolute(spec) or spec.service == "http_proxy":
        return path
    return f"{scheme_of(spec)}://{_bracket(spec.host)}:{spec.port}/{path}"


def shown_request(spec: CheckSpec) -> str:
    return spec.request.lstrip("/") if is_absolute(spec) or spec.service == "http_proxy" else spec.request


@dataclass(frozen=True, slots=True)
class Target:
    """One request ready to go: where to connect, the bytes to send, and TLS (None = plain)."""

    host: str
    port: int
    request: bytes
    head: bool
    tls: ssl.SSLContext | None = None
    sni: str | None = None
    bare: bool = False  # plain TCP to an address literal: the callback path, no transport

    @property
    def address(self) -> tuple[str, int] | tuple[str, int, int, int]:
        return (self.host, self.port, 0, 0) if ":" in self.host else (self.host, self.port)


def target(
    url: str, *, method: str, host_header: str | None, proxy: tuple[str, int] | None,
    tls: ssl.SSLContext | None, server_hostname: str | None,
) -> Target:
    """The request for ``url`` (raises HTTPError for a URL that is not http:// or https://)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HTTPError(f"cannot fetch {url!r}: not an http:// or https:// URL")
    https = parts.scheme == "https"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    via_proxy = proxy is not None and not https
    host = host_header if host_header is not None else parts.netloc
    request = (f"{method} {url if via_proxy else path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
               "Connection: close\r\n\r\n").encode("latin-1")
    where = proxy if via_proxy and proxy is not None else (parts.hostname, parts.port or (443 if https else 80))
    if not https:
        return Target(where[0], where[1], request, method == "HEAD", bare=is_ip(where[0]))
    ctx = tls or tls_context(False, None)
    if server_hostname is not None:
        sni = server_hostname
    elif not is_ip(parts.hostname):
        sni = parts.hostname  # a redirect to a name: as a browser (or LWP) would
    else:
        sni = parts.hostname if ctx.check_hostname else ""
    return Target(where[0], where[1], request, method == "HEAD", ctx, sni)


async def fetch(t: Target, *, want_body: bool, deadline: float | None = None) -> Response:
    """One request/response exchange; raises OSError, ssl.SSLError, HTTPError, or TimeoutError at ``deadline``."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Response] = loop.create_future()
    exchange = _Exchange(t.request, done, head=t.head, want_body=want_body)
    if t.bare:
        v6 = ":" in t.host
        bare = _Bare(socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, SOCK_STREAM_NONBLOCK), exchange)
        expiry = 0
        try:
            bare.start(t.address)
            if deadline is not None and not done.done():
                expiry = timers.clock().expire(deadline, done)
            return await done
        finally:
            if expiry:
                timers.clock().cancel(expiry)
            bare.close()
            if done.done() and not done.cancelled():
                done.exception()  # retrieved: a late error after the verdict is not worth a warning
    async with asyncio.timeout_at(deadline):
        transport, _ = await loop.create_connection(lambda: exchange, t.host, t.port, ssl=t.tls,
                                                    server_hostname=t.sni)
        try:
            return await done
        finally:
            transport.abort()  # no lingering TLS shutdown or unsent data: the socket is gone at once


@dataclass(frozen=True, slots=True)
class Plan:
    """What a spec asks, worked out once: the first request and how to follow redirects."""

    what: str  # "GET /health", as messages show it
    url: str
    proxy: tuple[str, int] | None
    tls: ssl.SSLContext | None
    first: Target | None  # None: the URL is not fetchable (said at run time, as LWP would)
    error: str = ""


@lru_cache(maxsize=65536)
def plan(spec: CheckSpec) -> Plan:
    url = url_for(spec)
    proxy = (spec.host, spec.port) if spec.service == "http_proxy" else None
    host_header = None if proxy is not None else spec.virtualhost or _bracket(spec.host)
    tls = tls_context(spec.tls_verify, spec.tls_cafile) if spec.service == "https" or "https://" in url else None
    name = spec.tls_servername or (spec.virtualhost if spec.tls_verify else None)
    if name is None and spec.tls_verify:
        name = spec.host
    what = f"{spec.method} {shown_request(spec)}"
    try:
        first = target(url, method=spec.method, host_header=host_header, proxy=proxy, tls=tls, server_hostname=name)
    except HTTPError as exc:
        return Plan(what, url, proxy, tls, None, str(exc))
    return Plan(what, url, proxy, tls, first)


async def negotiate(spec: CheckSpec, deadline: float | None = None) -> tuple[bool, str]:
    """The check; ``deadline`` (loop time) bounds it all, redirects included (TimeoutError)."""
    p = plan(spec)
    if p.first is None:
        raise HTTPError(p.error)
    want_body = bool(spec.receive) and spec.method != "HEAD"
    resp = await fetch(p.first, want_body=want_body, deadline=deadline)
    hops, url = 0, p.url
    while resp.status in REDIRECTS and resp.location is not None and hops < MAX_REDIRECTS:
        hops += 1
        url = urljoin(url, resp.location)
        # LWP drops the Host header on a redirect: the new URL names the host
        t = target(url, method=spec.method, host_header=None, proxy=p.proxy, tls=p.tls,
                   server_hostname=spec.tls_servername)
        resp = await fetch(t, want_body=want_body, deadline=deadline)
    what = p.what
    after = f" after {hops} redirect{'s' if hops != 1 else ''}" if hops else ""
    if not 200 <= resp.status < 300:
        return False, f"{what}: status {resp.status}{after}, expected 2xx"
    if not spec.receive:
        return True, f"{what}: status {resp.status}{after}"
    body = b"" if spec.method == "HEAD" else resp.body
    if search(spec.receive, body):
        return True, f"{what}: status {resp.status}{after}, receive matched"
    return False, f"{what}: status {resp.status}{after}, body does not match receive {spec.receive!r}"
