"""Line-protocol connections for the checks: open (optionally TLS), read a line, say goodbye, abort.

The mail, ftp, ldap, sip, nntp and simpletcp checks talk over asyncio
streams opened here. Lines are bounded by ``MAX_LINE``; a server that
closes early or sends an overlong line is a :class:`ProtocolError` whose
message says so. The caller aborts the connection when its verdict is in
(:func:`close`), so no socket outlives its check.
"""

from __future__ import annotations

import asyncio

from lvsd.checks.base import CheckSpec
from lvsd.checks.tls import tls_for

MAX_LINE = 64 * 1024
GOODBYE_WAIT = 0.5  # at most this long for the answer to QUIT/LOGOUT; the verdict is already known


class ProtocolError(Exception):
    """The server answered with something the check cannot accept (the message says what)."""


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
    """A server's line (or a script's) as it can be shown: decoded, stripped, shortened."""
    s = line.decode("utf-8", "replace").strip()
    return s if len(s) <= limit else s[:limit] + "..."
