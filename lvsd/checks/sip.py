"""The sip negotiate check: ``OPTIONS sip:LOGIN SIP/2.0``; up when the status line is ``SIP/2.0 200 OK``.

Over the virtual's protocol (UDP normally; TCP for a tcp virtual), with
ldirectord's request headers. An explicit ``service=sip`` gives ldirectord's
login ``ldirectord@HOSTNAME``. Unlike ldirectord, nothing is printed.
"""

from __future__ import annotations

import secrets
import socket

from lvsd.addr import host_port
from lvsd.checks.base import CheckSpec
from lvsd.checks.datagrams import datagram_endpoint, next_datagram
from lvsd.checks.streams import close, open_stream, read_line, text


def options_request(login: str, local: tuple[str, int]) -> bytes:
    return (
        f"OPTIONS sip:{login} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host_port(local[0], local[1])};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
        "Max-Forwards: 70\r\n"
        f"To: <sip:{login}>\r\n"
        f"From: <sip:{login}>;tag={secrets.token_hex(4)}\r\n"
        f"Call-ID: {secrets.token_hex(8)}\r\n"
        "CSeq: 63104 OPTIONS\r\n"
        f"Contact: <sip:{login}>\r\n"
        "Accept: application/sdp\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode("utf-8", "surrogateescape")


def _verdict(status: bytes) -> tuple[bool, str]:
    if status.startswith(b"SIP/2.0 200 OK"):
        return True, f"SIP: {text(status)}"
    return False, f"SIP OPTIONS: {text(status) or 'empty answer'}, expected SIP/2.0 200 OK"


async def sip(spec: CheckSpec) -> tuple[bool, str]:
    if spec.protocol == "tcp":
        reader, writer = await open_stream(spec)
        try:
            sock = writer.get_extra_info("socket")
            writer.write(options_request(spec.login, sock.getsockname()[:2]))
            return _verdict(await read_line(reader, "SIP OPTIONS"))
        finally:
            close(writer)
    transport, proto = await datagram_endpoint(spec.host, spec.port)
    try:
        udp: socket.socket = transport.get_extra_info("socket")
        transport.sendto(options_request(spec.login, udp.getsockname()[:2]))
        answer = await next_datagram(proto)
        return _verdict(answer.split(b"\n", 1)[0])
    finally:
        transport.abort()
