"""The ldap and ldaps negotiate checks (Net::LDAP in ldirectord), on a minimal LDAPv3 client.

Bind (simple, with ``login``/``passwd`` when both are set, else anonymous),
then search ``request`` (without its leading ``/``) with scope base and
filter ``(objectClass=*)``. Up = exactly one entry AND (an empty ``receive``
or the entry's DN matches it). ldaps speaks TLS from the first byte,
unverified unless tlsverify=yes. Only the few BER forms these three
messages need are encoded and decoded here (RFC 4511).
"""

from __future__ import annotations

import asyncio

from lvsd.checks.base import CheckSpec
from lvsd.checks.patterns import search
from lvsd.checks.streams import ProtocolError, close, open_stream

BIND_REQUEST, BIND_RESPONSE, UNBIND_REQUEST = 0x60, 0x61, 0x42
SEARCH_REQUEST, SEARCH_ENTRY, SEARCH_DONE, SEARCH_REFERENCE = 0x63, 0x64, 0x65, 0x73
MAX_MESSAGE = 1024 * 1024


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def tlv(tag: int, value: bytes) -> bytes:
    return bytes((tag,)) + _length(len(value)) + value


def integer(n: int, tag: int = 0x02) -> bytes:
    return tlv(tag, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True))


def octets(s: str, tag: int = 0x04) -> bytes:
    return tlv(tag, s.encode("utf-8"))


def message(ident: int, op: bytes) -> bytes:
    return tlv(0x30, integer(ident) + op)


def bind_request(ident: int, name: str, password: str) -> bytes:
    return message(ident, tlv(BIND_REQUEST, integer(3) + octets(name) + octets(password, 0x80)))


def search_request(ident: int, base: str) -> bytes:
    body = (octets(base) + integer(0, 0x0A) + integer(0, 0x0A) + integer(0) + integer(0)
            + tlv(0x01, b"\x00") + octets("objectClass", 0x87) + tlv(0x30, octets("1.1")))
    return message(ident, tlv(SEARCH_REQUEST, body))


def parse(data: bytes, pos: int = 0) -> tuple[int, bytes, int] | None:
    """One TLV at ``pos``: (tag, value, next position), or None if it is not all there yet."""
    if len(data) < pos + 2:
        return None
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first & 0x80:
        n = first & 0x7F
        if n == 0 or n > 4:
            raise ProtocolError("LDAP: unsupported BER length")
        if len(data) < pos + n:
            return None
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    else:
        length = first
    if length > MAX_MESSAGE:
        raise ProtocolError("LDAP: message too long")
    if len(data) < pos + length:
        return None
    return tag, data[pos:pos + length], pos + length


def items(value: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(value):
        got = parse(value, pos)
        if got is None:
            raise ProtocolError("LDAP: truncated element")
        out.append((got[0], got[1]))
        pos = got[2]
    return out


async def read_message(reader: asyncio.StreamReader, buf: bytearray) -> tuple[int, bytes]:
    """The next LDAPMessage's protocolOp: (tag, value)."""
    while True:
        got = parse(bytes(buf))
        if got is not None:
            _, value, end = got
            del buf[:end]
            parts = items(value)
            if len(parts) < 2:
                raise ProtocolError("LDAP: malformed message")
            return parts[1]
        chunk = await reader.read(65536)
        if not chunk:
            raise ProtocolError("LDAP: server closed the connection")
        buf += chunk


def result(value: bytes) -> tuple[int, str]:
    parts = items(value)
    code = int.from_bytes(parts[0][1], "big") if parts else -1
    diagnostic = parts[2][1].decode("utf-8", "replace") if len(parts) > 2 else ""
    return code, diagnostic


async def ldap(spec: CheckSpec, tls: bool) -> tuple[bool, str]:
    reader, writer = await open_stream(spec, tls=tls)
    buf = bytearray()
    try:
        named = bool(spec.login and spec.passwd)
        writer.write(bind_request(1, spec.login if named else "", spec.passwd if named else ""))
        tag, value = await read_message(reader, buf)
        code, diagnostic = result(value) if tag == BIND_RESPONSE else (-1, "")
        if code != 0:
            who = repr(spec.login) if named else "anonymous"
            return False, f"LDAP bind as {who} failed: result {code}" + (f" ({diagnostic})" if diagnostic else "")
        base = spec.request.lstrip("/")
        writer.write(search_request(2, base))
        dns: list[str] = []
        while True:
            tag, value = await read_message(reader, buf)
            if tag == SEARCH_ENTRY:
                dns.append(items(value)[0][1].decode("utf-8", "replace"))
            elif tag == SEARCH_DONE:
                break
        writer.write(message(3, tlv(UNBIND_REQUEST, b"")))
        code, diagnostic = result(value)
        if len(dns) != 1:
            why = f"result {code}" + (f" ({diagnostic})" if diagnostic else "") if code else f"{len(dns)} entries"
            return False, f"LDAP search base {base!r}: {why}, expected exactly 1 entry"
        if spec.receive and not search(spec.receive, dns[0].encode()):
            return False, f"LDAP search base {base!r}: DN {dns[0]!r} does not match receive {spec.receive!r}"
        return True, f"LDAP search base {base!r}: {dns[0]}"
    finally:
        close(writer)
