"""TCP and line-protocol checks: connect, simpletcp (send/expect) and nntp (banner).

``connect`` is up when the real server accepts a connection (it is closed at
once). ``simpletcp`` sends the request (ldirectord drops its first character,
the ``/`` the config layer added, and turns the two characters ``\\n`` into a
newline), half-closes, and is up when any line of the answer matches
``receive`` (an empty ``receive``: when any line arrives); over UDP it sends
one datagram and reads the answers. ``nntp`` reads the banner, which must
start with ``2``. Shared helpers open streams (optionally TLS) that the
caller aborts, so no socket outlives its check.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
import struct

from lvsd.checks import timers
from lvsd.checks.base import CheckSpec
from lvsd.checks.patterns import search
from lvsd.checks.reactor import OUT, reactor

MAX_LINE = 64 * 1024
NO_LINGER = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets the connection
GOODBYE_WAIT = 0.5  # at most this long for the answer to QUIT/LOGOUT; the verdict is already known


class ProtocolError(Exception):
    """The server answered with something the check cannot accept (the message says what)."""


async def connect(spec: CheckSpec, deadline: float | None = None) -> tuple[bool, str]:
    """Up when the server accepts; ``deadline`` (loop time): TimeoutError if it has not by then."""
    v6 = ":" in spec.host
    sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    try:
        err = sock.connect_ex((spec.host, spec.port, 0, 0) if v6 else (spec.host, spec.port))
        if err == errno.EINPROGRESS:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if not err:
                try:
                    sock.getpeername()  # a near server has answered within connect(): no need to wait
                except OSError:
                    await _writable(sock, deadline)
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, NO_LINGER)  # reset: no TIME_WAIT left behind
    finally:
        sock.close()
    return True, "connected"


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _writable(sock: socket.socket, deadline: float | None) -> None:
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    r = reactor()
    fd = sock.fileno()
    r.watch(fd, OUT, lambda: _wake(ready))
    expiry = timers.clock().expire(deadline, ready) if deadline is not None else 0
    try:
        await ready
    finally:
        if expiry:
            timers.clock().cancel(expiry)
        r.forget(fd)  # the caller closes the socket next


def tls_for(spec: CheckSpec) -> tuple[ssl.SSLContext, str]:
    """The TLS context and server_hostname ('' = no SNI) of a TLS service (pops, imaps, ldaps)."""
    from lvsd.checks.http import tls_context

    ctx = tls_context(spec.tls_verify, spec.tls_cafile)
    name = spec.tls_servername or (spec.host if spec.tls_verify else "")
    return ctx, name


async def open_stream(spec: CheckSpec, *, tls: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if tls:
        ctx, name = tls_for(spec)
        return await asyncio.open_connection(spec.host, spec.port, ssl=ctx, server_hostname=name, limit=MAX_LINE)
    return await asyncio.open_connection(spec.host, spec.port, limit=MAX_LINE)


def close(writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()


async def read_line(reader: asyncio.StreamReader, what: str) -> bytes:
    try:
        line = await reader.readline()
    except asyncio.LimitOverrunError:
        raise ProtocolError(f"{what}: line longer than {MAX_LINE} bytes") from None
    except ValueError:
        raise ProtocolError(f"{what}: line longer than {MAX_LINE} bytes") from None
    if not line:
        raise ProtocolError(f"{what}: server closed the connection")
    return line


async def goodbye(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, command: bytes,
                  last: bytes = b"") -> None:
    """Say goodbye (QUIT, LOGOUT) and read the answer, so the server logs a clean end; never fails the check.

    ``last``: read lines until one starts with it (IMAP's tagged answer); else one line.
    """
    writer.write(command)
    try:
        async with asyncio.timeout(GOODBYE_WAIT):
            while (line := await reader.readline()) and last and not line.startswith(last):
                pass
    except (TimeoutError, OSError, ValueError, asyncio.LimitOverrunError):
        pass


def text(line: bytes, limit: int = 120) -> str:
    """A server's line as it can be shown: decoded, stripped, shortened."""
    s = line.decode("utf-8", "replace").strip()
    return s if len(s) <= limit else s[:limit] + "..."


def simpletcp_request(spec: CheckSpec) -> bytes:
    return spec.request[1:].replace("\\n", "\n").encode("utf-8", "surrogateescape")


async def simpletcp(spec: CheckSpec) -> tuple[bool, str]:
    if spec.protocol == "udp":
        return await _simpleudp(spec)
    reader, writer = await open_stream(spec)
    try:
        request = simpletcp_request(spec)
        if request:
            writer.write(request)
        if writer.can_write_eof():
            writer.write_eof()
        lines = 0
        while line := await reader.readline():
            lines += 1
            if not spec.receive or search(spec.receive, line):
                return True, f"receive matched: {text(line)!r}" if spec.receive else f"answered: {text(line)!r}"
    except (asyncio.LimitOverrunError, ValueError):
        raise ProtocolError(f"line longer than {MAX_LINE} bytes") from None
    finally:
        close(writer)
    if not lines:
        return False, "server closed the connection without answering"
    return False, f"no line of the answer ({lines} lines) matches receive {spec.receive!r}"


class _Datagrams(asyncio.DatagramProtocol):
    """A connected UDP socket's answers, and the ICMP error that says nobody listens."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.queue.put_nowait(exc)


async def datagram_endpoint(host: str, port: int) -> tuple[asyncio.DatagramTransport, _Datagrams]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Datagrams, remote_addr=(host, port))
    return transport, proto


async def next_datagram(proto: _Datagrams) -> bytes:
    item = await proto.queue.get()
    if isinstance(item, Exception):
        raise item
    return item


async def _simpleudp(spec: CheckSpec) -> tuple[bool, str]:
    transport, proto = await datagram_endpoint(spec.host, spec.port)
    try:
        transport.sendto(simpletcp_request(spec))
        while True:
            data = await next_datagram(proto)
            for line in data.splitlines(keepends=True):
                if not spec.receive or search(spec.receive, line):
                    return True, f"receive matched: {text(line)!r}"
    finally:
        transport.abort()


async def nntp(spec: CheckSpec) -> tuple[bool, str]:
    reader, writer = await open_stream(spec)
    try:
        banner = await reader.read(64)  # ldirectord reads 64 bytes and looks at the first one
        if not banner:
            return False, "NNTP: server closed the connection without a banner"
        if banner.startswith(b"2"):
            await goodbye(reader, writer, b"QUIT\r\n")
            return True, f"NNTP banner: {text(banner.splitlines()[0])}"
        return False, f"NNTP banner: {text(banner.splitlines()[0])}, expected 2xx"
    finally:
        close(writer)
