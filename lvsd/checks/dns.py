"""The dns negotiate check (Net::DNS in ldirectord), on dnspython (``pip install 'lvsd[dns]'``).

Asks the real server for ``request`` (without the leading ``/``): a PTR
query when it is an IP address, else A; over TCP for a tcp virtual, else UDP.
Up = some answer record, A by its address or PTR by its name, matches
``receive`` (ldirectord needs a non-empty ``receive``; lvsd refuses a dns
check without one when the config is loaded). ldirectord's resolver also
tries the resolv.conf search list; lvsd asks for the name as written.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from lvsd.checks.base import CheckSpec
from lvsd.checks.datagrams import datagram_endpoint, next_datagram
from lvsd.checks.patterns import search


def question(spec: CheckSpec) -> tuple[str, str]:
    name = spec.request.lstrip("/")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name, "A"
    import dns.reversename

    return str(dns.reversename.from_address(name)), "PTR"


async def dns_check(spec: CheckSpec) -> tuple[bool, str]:
    import dns.asyncquery
    import dns.exception
    import dns.message
    import dns.rcode
    import dns.rdatatype

    name, rdtype = question(spec)
    query = dns.message.make_query(name, rdtype)
    if spec.protocol == "tcp":
        answer = await dns.asyncquery.tcp(query, spec.host, port=spec.port, timeout=spec.timeout)
    else:
        answer = await _udp(query, spec)
    found: list[str] = []
    for rrset in answer.answer:
        for rr in rrset:
            if rr.rdtype == dns.rdatatype.A:
                value = rr.address
            elif rr.rdtype == dns.rdatatype.PTR:
                value = rr.target.to_text(omit_final_dot=True)
            else:
                continue
            found.append(value)
            if spec.receive and search(spec.receive, value.encode()):
                return True, f"DNS {rdtype} {name}: {value}"
    if not found:
        rcode = dns.rcode.to_text(answer.rcode())
        return False, f"DNS {rdtype} {name}: no {rdtype} answer ({rcode})"
    return False, f"DNS {rdtype} {name}: {', '.join(found[:5])} does not match receive {spec.receive!r}"


async def _udp(query: Any, spec: CheckSpec) -> Any:
    """One query over a connected UDP socket, so a closed port is refused at once (ICMP), not a timeout."""
    import dns.exception
    import dns.message

    transport, proto = await datagram_endpoint(spec.host, spec.port)
    try:
        transport.sendto(query.to_wire())
        while True:
            try:
                answer = dns.message.from_wire(await next_datagram(proto))
            except dns.exception.DNSException:
                continue  # not a DNS message: keep waiting for ours
            if query.is_response(answer):
                return answer
    finally:
        transport.abort()
