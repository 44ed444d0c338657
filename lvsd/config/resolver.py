"""Name resolution for config readers: host names and service-name ports.

ldirectord resolves names while it parses (``getaddrinfo`` for hosts,
``getservbyname`` for ports), and an unresolvable name is a config error. The
readers do the same through a :class:`Resolver`, so tests can inject a fake and
never touch the network. A resolver raises :class:`LookupError` (or
``OSError``) with a short reason when a name does not resolve.
"""

from __future__ import annotations

import socket
from typing import Protocol


class Resolver(Protocol):
    def host(self, name: str, ipv6: bool) -> str:
        """The first address of ``name`` in the family, as a literal (IPv6 without brackets)."""
        ...

    def port(self, name: str, protocol: str | None) -> int:
        """The port of service ``name`` for ``protocol`` ("tcp", "udp"); None = any protocol."""
        ...


class SocketResolver:
    """The system resolver (``/etc/hosts``, DNS, ``/etc/services``), via the socket module."""

    def host(self, name: str, ipv6: bool) -> str:
        family = socket.AF_INET6 if ipv6 else socket.AF_INET
        try:
            infos = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise LookupError(str(exc)) from None
        if not infos:
            raise LookupError("no address")
        return str(infos[0][4][0])

    def port(self, name: str, protocol: str | None) -> int:
        try:
            if protocol:
                return socket.getservbyname(name, protocol)
            return socket.getservbyname(name)
        except (OSError, UnicodeError) as exc:
            raise LookupError(str(exc)) from None
