"""The TCP connect check: up when the real server accepts a connection in time."""

from __future__ import annotations

import asyncio

from lvsd.checks.base import CheckSpec


async def connect(spec: CheckSpec) -> tuple[bool, str]:
    _, writer = await asyncio.open_connection(spec.host, spec.port)
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True, "connected"
