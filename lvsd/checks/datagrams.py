"""Connected UDP endpoints for the checks (dns, radius, sip, simpletcp over UDP).

A connected socket takes only its server's answers, and the ICMP error that
says nobody listens there arrives as an exception, so a closed port is down
at once rather than at the deadline. The caller aborts the transport when
its verdict is in.
"""

from __future__ import annotations

import asyncio


class Datagrams(asyncio.DatagramProtocol):
    """A connected UDP socket's answers, and the ICMP error that says nobody listens."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.queue.put_nowait(exc)


async def datagram_endpoint(host: str, port: int) -> tuple[asyncio.DatagramTransport, Datagrams]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(Datagrams, remote_addr=(host, port))
    return transport, proto


async def next_datagram(proto: Datagrams) -> bytes:
    item = await proto.queue.get()
    if isinstance(item, Exception):
        raise item
    return item
