"""The TCP checks: connect, and simpletcp (send a request, expect a line).

``connect`` is up when the real server accepts a connection (it is closed at
once, with a reset). It is one of the hot checks: a bare socket watched by
the context's epoll, bounded by a deadline in its timer heap.
``simpletcp`` sends the request (ldirectord drops its first character, the
``/`` the config layer added, and turns the two characters ``\\n`` into a
newline), half-closes, and is up when any line of the answer matches
``receive`` (an empty ``receive``: when any line arrives); over UDP it sends
one datagram and reads the answers.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket

from lvsd.checks.base import CheckSpec
from lvsd.checks.context import CheckContext
from lvsd.checks.datagrams import datagram_endpoint, next_datagram
from lvsd.checks.patterns import search
from lvsd.checks.sockets import address, reset_on_close, tcp_socket
from lvsd.checks.streams import MAX_LINE, ProtocolError, close, open_stream, text


async def connect(spec: CheckSpec, deadline: float | None, ctx: CheckContext) -> tuple[bool, str]:
    """Up when the server accepts; ``deadline`` (loop time): TimeoutError if it has not by then."""
    sock = tcp_socket(spec.host)
    try:
        err = sock.connect_ex(address(spec.host, spec.port))
        if err == errno.EINPROGRESS:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if not err:
                try:
                    sock.getpeername()  # a near server has answered within connect(): no need to wait
                except OSError:
                    await ctx.writable(sock, deadline)
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))
        reset_on_close(sock)
    finally:
        sock.close()
    return True, "connected"


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
