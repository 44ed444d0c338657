"""One HTTP request/response exchange for the http checks, over a bare socket or an asyncio transport.

A :class:`~lvsd.checks.httpplan.Target` says where to connect and what to send. Plain HTTP to an
address literal takes the bare path: a non-blocking socket watched by the
context's epoll, the request sent as soon as the connection is up (often
within ``connect()`` itself on a near server), the answer parsed as it
arrives and the socket closed with a reset the moment the verdict is known;
its deadline is an entry in the context's timer heap. TLS, and a host name
(a redirect), go through ``loop.create_connection`` under
``asyncio.timeout_at``; the transport is aborted at the end, with no
lingering TLS shutdown.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket

from lvsd.checks.context import CheckContext
from lvsd.checks.httpplan import Target
from lvsd.checks.httpwire import Exchange, Response
from lvsd.checks.sockets import Address, reset_on_close, tcp_socket
from lvsd.checks.socketwatch import IN, OUT, SocketWatch


class BareExchange:
    """Drive an :class:`~lvsd.checks.httpwire.Exchange` on a bare non-blocking socket watched by the context.

    The plain-HTTP path: no transport, no protocol factory; the request is
    sent as soon as the connection is up (often within ``connect()`` itself
    on a near server), the answer is parsed as it arrives, and the socket is
    closed (with a reset) the moment the verdict is known.
    """

    __slots__ = ("closed", "ex", "fd", "pending", "sock", "watch")

    def __init__(self, sock: socket.socket, ex: Exchange, watch: SocketWatch) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.ex = ex
        self.pending = ex.request
        self.watch = watch
        self.closed = False

    def start(self, addr: Address) -> None:
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
                self.watch.watch(self.fd, IN, self._readable)
                return
        self.watch.watch(self.fd, OUT, self._writable)

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
            self.watch.watch(self.fd, IN, self._readable)

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
            self.watch.forget(self.fd)
            reset_on_close(self.sock)
            self.sock.close()


async def fetch(t: Target, ctx: CheckContext, *, want_body: bool, deadline: float | None = None) -> Response:
    """One request/response exchange; raises OSError, ssl.SSLError, HTTPError, or TimeoutError at ``deadline``."""
    loop = ctx.loop
    done: asyncio.Future[Response] = loop.create_future()
    exchange = Exchange(t.request, done, head=t.head, want_body=want_body)
    if t.bare:
        bare = BareExchange(tcp_socket(t.host), exchange, ctx.sockets)
        timers = ctx.timers
        expiry = 0
        try:
            bare.start(t.address)
            if deadline is not None and not done.done():
                expiry = timers.expire(deadline, done)
            return await done
        finally:
            if expiry:
                timers.cancel(expiry)
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
