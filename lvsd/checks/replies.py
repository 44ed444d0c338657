"""Numeric replies of SMTP and FTP (RFC 5321, RFC 959): ``250-...`` lines up to the last ``250 ...``.

Both protocols answer with a three-digit code; a reply may run over several
lines, each but the last with a ``-`` after the code. The smtp and ftp
checks read whole replies with :func:`numeric_reply`.
"""

from __future__ import annotations

import asyncio

from lvsd.checks.streams import ProtocolError, read_line, text


async def numeric_reply(reader: asyncio.StreamReader, what: str) -> tuple[int, str]:
    """A whole (possibly multi-line) SMTP/FTP reply: its code and its last line."""
    while True:
        line = await read_line(reader, what)
        if len(line) < 3 or not line[:3].isdigit():
            raise ProtocolError(f"{what}: not an SMTP reply: {text(line)!r}")
        if line[3:4] != b"-":
            return int(line[:3]), text(line)
