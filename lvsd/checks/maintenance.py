"""ldirectord's ``maintenancedir``: a drop-file forces a real server down without checking it.

Before each check these files are looked for, in ldirectord's order:
``DIR/RIP:PORT``, ``DIR/RIP``, ``DIR/FQDN:PORT``, ``DIR/FQDN``,
``DIR/SHORT:PORT``, ``DIR/SHORT`` (IPv6 addresses in brackets; FQDN from a
reverse lookup of the address, SHORT its first label when that matches
``[a-z][a-z0-9-]+``). ldirectord does the reverse lookup at every check of
every real; lvsd caches it (positive answers for ``NAME_TTL``, failures for
``MISS_TTL``) and bounds it by ``LOOKUP_TIMEOUT``, so a slow resolver delays
no check.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket

from lvsd.addr import bracketed

NAME_TTL = 300.0
MISS_TTL = 60.0
LOOKUP_TIMEOUT = 2.0
SHORT = re.compile(r"([a-z][a-z0-9\-]+)\.")


def candidates(ip: str, port: int, fqdn: str | None) -> list[str]:
    server = bracketed(ip)
    names = [f"{server}:{port}", server]
    if fqdn:
        names += [f"{fqdn}:{port}", fqdn]
        m = SHORT.match(fqdn)
        if m:
            names += [f"{m.group(1)}:{port}", m.group(1)]
    return names


class Maintenance:
    def __init__(self) -> None:
        self._names: dict[str, tuple[str | None, float]] = {}  # ip -> (fqdn, expires)

    async def fqdn(self, ip: str) -> str | None:
        loop = asyncio.get_running_loop()
        cached = self._names.get(ip)
        if cached is not None and cached[1] > loop.time():
            return cached[0]
        name: str | None = None
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT):
                host, _ = await loop.getnameinfo((ip, 0), socket.NI_NAMEREQD)
            name = host
        except (OSError, TimeoutError):
            pass
        self._names[ip] = (name, loop.time() + (NAME_TTL if name else MISS_TTL))
        return name

    async def found(self, directory: str, ip: str, port: int) -> str | None:
        """The maintenance file that applies to (ip, port), or None."""
        server = bracketed(ip)
        found = first_present(directory, [f"{server}:{port}", server])  # no lookup if the address is there
        if found is None:
            found = first_present(directory, candidates(ip, port, await self.fqdn(ip))[2:])
        return found


def first_present(directory: str, names: list[str]) -> str | None:
    """The first of ``names`` present in ``directory`` (a stat each: microseconds, so done inline)."""
    for name in names:
        if os.path.exists(os.path.join(directory, name)):
            return name
    return None
