"""Bare non-blocking TCP sockets for the hot checks: opened, waited on under a deadline, closed with a reset.

The plain HTTP and connect checks skip asyncio's transports: a socket is
made non-blocking in the same system call that creates it, its readiness is
watched by the context's :class:`~lvsd.checks.socketwatch.SocketWatch`, its
deadline kept by the context's timer heap, and it is closed with a reset
(SO_LINGER on, 0 s), as HAProxy closes its checks: the answer is in, and no
TIME_WAIT is left behind (thousands of checks a second would otherwise keep
hundreds of thousands of them on the director).
"""

from __future__ import annotations

import socket
import struct

NO_LINGER = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets the connection
SOCK_STREAM_NONBLOCK = socket.SOCK_STREAM | socket.SOCK_NONBLOCK  # one system call fewer than setblocking()

Address = tuple[str, int] | tuple[str, int, int, int]


def tcp_socket(host: str) -> socket.socket:
    """A non-blocking TCP socket of ``host``'s family (an address literal)."""
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, SOCK_STREAM_NONBLOCK)


def address(host: str, port: int) -> Address:
    """What ``connect()`` takes for ``host`` (an address literal) and ``port``."""
    return (host, port, 0, 0) if ":" in host else (host, port)


def reset_on_close(sock: socket.socket) -> None:
    """Make ``close()`` end the connection with a reset: no TIME_WAIT left behind."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, NO_LINGER)
