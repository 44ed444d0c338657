"""How an address is written beside a port, in a URL or in a file name: IPv6 in brackets.

``bracketed("2001:db8::1")`` is ``[2001:db8::1]``, an IPv4 address or a host
name is left as it is; ``host_port`` adds ``:PORT`` (``[2001:db8::1]:80``),
as ipvsadm, ldirectord's logs and URLs write it. A leaf module: every layer
may import it.
"""

from __future__ import annotations


def bracketed(addr: str) -> str:
    return f"[{addr}]" if ":" in addr else addr


def host_port(addr: str, port: int) -> str:
    return f"{bracketed(addr)}:{port}"
