"""The nntp negotiate check (IO::Socket in ldirectord): the server's banner must start with ``2``."""

from __future__ import annotations

from lvsd.checks.base import CheckSpec
from lvsd.checks.streams import close, goodbye, open_stream, text


async def nntp(spec: CheckSpec) -> tuple[bool, str]:
    reader, writer = await open_stream(spec)
    try:
        banner = await reader.read(64)  # ldirectord reads 64 bytes and looks at the first one
        if not banner:
            return False, "NNTP: server closed the connection without a banner"
        if banner.startswith(b"2"):
            await goodbye(reader, writer, b"QUIT\r\n")
            return True, f"NNTP banner: {text(banner.splitlines()[0])}"
        return False, f"NNTP banner: {text(banner.splitlines()[0])}, expected 2xx"
    finally:
        close(writer)
