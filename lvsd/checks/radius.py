"""The radius negotiate check (Authen::Radius in ldirectord): up on Access-Accept only.

An Access-Request (RFC 2865) with User-Name = ``login``, User-Password =
``passwd`` hidden with ``secret``, NAS-IP-Address (NAS-IPv6-Address) = the
local address, and a Message-Authenticator (RFC 3579; servers hardened
against BlastRADIUS require it). The answer must carry our identifier and a
Response Authenticator made with the same secret (a wrong secret is said so).
The request is sent again every second while no answer comes, up to the
check's deadline. Access-Reject, Access-Challenge or no answer: down.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import os
import socket
import struct

from lvsd.checks.base import CheckSpec
from lvsd.checks.datagrams import datagram_endpoint, next_datagram

ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE = 1, 2, 3, 11
USER_NAME, USER_PASSWORD, NAS_IP_ADDRESS, MESSAGE_AUTHENTICATOR, NAS_IPV6_ADDRESS = 1, 2, 4, 80, 95
CODES = {ACCESS_ACCEPT: "Access-Accept", ACCESS_REJECT: "Access-Reject", ACCESS_CHALLENGE: "Access-Challenge"}
RESEND = 1.0


def _attr(kind: int, value: bytes) -> bytes:
    return struct.pack("!BB", kind, len(value) + 2) + value


def hide_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """RFC 2865 §5.2: pad to 16 bytes, XOR each block with MD5(secret + previous block)."""
    pad = 16 if not password else -len(password) % 16
    padded = password + b"\0" * pad
    out, prev = bytearray(), authenticator
    for i in range(0, len(padded), 16):
        key = hashlib.md5(secret + prev).digest()
        block = bytes(a ^ b for a, b in zip(padded[i:i + 16], key, strict=True))
        out += block
        prev = block
    return bytes(out)


def access_request(ident: int, authenticator: bytes, spec: CheckSpec, local_ip: str) -> bytes:
    secret = spec.secret.encode()
    addr = ipaddress.ip_address(local_ip)
    attrs = (_attr(USER_NAME, spec.login.encode())
             + _attr(USER_PASSWORD, hide_password(spec.passwd.encode(), secret, authenticator))
             + _attr(NAS_IP_ADDRESS if addr.version == 4 else NAS_IPV6_ADDRESS, addr.packed))
    blank = _attr(MESSAGE_AUTHENTICATOR, b"\0" * 16)
    length = 20 + len(attrs) + len(blank)
    header = struct.pack("!BBH", ACCESS_REQUEST, ident, length) + authenticator
    mac = hmac.new(secret, header + attrs + blank, hashlib.md5).digest()
    return header + attrs + _attr(MESSAGE_AUTHENTICATOR, mac)


def check_answer(data: bytes, ident: int, authenticator: bytes, secret: bytes) -> tuple[bool, str] | None:
    """The verdict on one datagram, or None when it is not the answer to our request."""
    if len(data) < 20:
        return None
    code, got_ident, length = struct.unpack("!BBH", data[:4])
    if got_ident != ident or length > len(data) or length < 20:
        return None
    data = data[:length]
    expected = hashlib.md5(data[:4] + authenticator + data[20:] + secret).digest()
    if not hmac.compare_digest(expected, data[4:20]):
        return False, "RADIUS: answer not signed with our secret (wrong secret?)"
    name = CODES.get(code, f"code {code}")
    if code == ACCESS_ACCEPT:
        return True, f"RADIUS: {name}"
    return False, f"RADIUS: {name}, expected Access-Accept"


async def radius(spec: CheckSpec) -> tuple[bool, str]:
    transport, proto = await datagram_endpoint(spec.host, spec.port)
    try:
        sock: socket.socket = transport.get_extra_info("socket")
        ident = os.urandom(1)[0]
        authenticator = os.urandom(16)
        packet = access_request(ident, authenticator, spec, sock.getsockname()[0])
        secret = spec.secret.encode()
        while True:
            transport.sendto(packet)
            try:
                async with asyncio.timeout(RESEND):
                    while True:
                        verdict = check_answer(await next_datagram(proto), ident, authenticator, secret)
                        if verdict is not None:
                            return verdict
            except TimeoutError:
                continue  # resend; the check's own deadline ends this
    finally:
        transport.abort()
