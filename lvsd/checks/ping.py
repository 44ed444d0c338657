"""The ping check: ICMP echo, ``checkcount`` attempts of ``checktimeout`` each; up on the first reply.

ldirectord uses Net::Ping "icmp" (a raw socket, root only). lvsd opens an
unprivileged ICMP datagram socket when ``net.ipv4.ping_group_range`` allows
it (the kernel then matches replies to the socket), and a raw socket
otherwise (lvsd runs as root; replies are matched by identifier and
sequence). IPv6 uses ICMPv6 echo. A ``connect`` check on a UDP service is a
ping, as in ldirectord.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import struct

from lvsd.checks.base import CheckSpec

ECHO_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
_sequence = itertools.count(1)


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = int(sum(struct.unpack(f"!{len(data) // 2}H", data)))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(family: int, ident: int, seq: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", ECHO_REQUEST[family], 0, 0, ident, seq)
    if family == socket.AF_INET6:
        return header + payload  # the kernel fills in the ICMPv6 checksum
    return struct.pack("!BBHHH", ECHO_REQUEST[family], 0, checksum(header + payload), ident, seq) + payload


def open_socket(family: int) -> tuple[socket.socket, bool]:
    """(socket, raw): a datagram ICMP socket when allowed, else a raw one."""
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    try:
        return socket.socket(family, socket.SOCK_DGRAM, proto), False
    except PermissionError:
        return socket.socket(family, socket.SOCK_RAW, proto), True


def is_reply(family: int, data: bytes, raw: bool, ident: int | None, seq: int) -> bool:
    if raw and family == socket.AF_INET:
        data = data[(data[0] & 0x0F) * 4:] if data else data  # skip the IP header
    if len(data) < 8:
        return False
    kind, _, _, got_ident, got_seq = struct.unpack("!BBHHH", data[:8])
    return kind == ECHO_REPLY[family] and got_seq == seq and (ident is None or got_ident == ident)


async def ping(spec: CheckSpec) -> tuple[bool, str]:
    family = socket.AF_INET6 if ":" in spec.host else socket.AF_INET
    sock, raw = open_socket(family)
    loop = asyncio.get_running_loop()
    attempts = max(1, spec.checkcount)
    per_try = spec.timeout / attempts
    try:
        sock.setblocking(False)
        ident = os.getpid() & 0xFFFF if raw else None  # a datagram socket's identifier is its port
        for attempt in range(1, attempts + 1):
            seq = next(_sequence) & 0xFFFF
            await loop.sock_sendto(sock, echo_request(family, ident or 0, seq, b"lvsd-ping"), (spec.host, 0))
            try:
                async with asyncio.timeout(per_try):
                    while True:
                        data, addr = await loop.sock_recvfrom(sock, 2048)
                        if addr[0] == spec.host and is_reply(family, data, raw, ident, seq):
                            return True, f"echo reply (attempt {attempt}/{attempts})"
            except TimeoutError:
                continue
    finally:
        sock.close()
    return False, f"no echo reply to {attempts} request{'s' if attempts > 1 else ''} of {per_try:g}s"
