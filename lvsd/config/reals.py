"""The real servers of one virtual: resolve the real= lines, expand ranges, refuse duplicates.

``A->B`` is an inclusive IPv4 range, one real server per address; a port that
is not written is 0 (ldirectord's value; ipvsadm maps it for gate/ipip). A
real port name is resolved for any protocol, as ldirectord does.

ldirectord accepts the same real twice in a virtual and then runs two checks
against one kernel entry. lvsd makes it an error naming both lines, including
two lines that differ only in a port ipvsadm replaces by the virtual's port
(gate and ipip on a non-fwmark service).
"""

from __future__ import annotations

import ipaddress

from lvsd.config.addresses import Names, RealSpec
from lvsd.config.model import Location, RealServer
from lvsd.config.source import Problem, Source

MAX_RANGE = 65536  # addresses in one A->B range


def _addresses(names: Names, spec: RealSpec, ipv6: bool) -> list[str]:
    first = names.host(spec.first, ipv6)
    if spec.last is None:
        return [first]
    if ipv6:
        raise Problem("address ranges are not supported for IPv6 (as in ldirectord)",
                      spec.col)
    last = names.host(spec.last, ipv6)
    low, high = int(ipaddress.IPv4Address(first)), int(ipaddress.IPv4Address(last))
    if low > high:
        raise Problem(f"invalid range {first}->{last}: the first address must not be "
                      "greater than the last", spec.col)
    if high - low >= MAX_RANGE:
        raise Problem(f"range {first}->{last} has {high - low + 1} addresses (at most "
                      f"{MAX_RANGE} allowed)", spec.col)
    return [str(ipaddress.IPv4Address(n)) for n in range(low, high + 1)]


def build_reals(src: Source, names: Names, specs: list[RealSpec], *, ipv6: bool,
                fwmark: bool, vport: int) -> list[RealServer]:
    reals: list[RealServer] = []
    dests: dict[tuple[str, int], RealServer] = {}
    for spec in specs:
        try:
            addresses = _addresses(names, spec, ipv6)
            port = 0 if spec.port is None else names.port(spec.port, None)
        except Problem as exc:
            src.error(spec.line, exc.col or spec.col, exc.message)
            continue
        where = Location(file=src.path, line=spec.line, col=spec.col)
        reported = False
        for ip in addresses:
            real = RealServer(ip=ip, port=port, forward=spec.forward, weight=spec.weight,
                              request=spec.request, receive=spec.receive, lower=spec.lower,
                              upper=spec.upper, where=where)
            mapped = not fwmark and spec.forward in ("gate", "ipip")
            dest = (ip, vport if mapped else port)
            other = dests.setdefault(dest, real)
            if other is real:
                reals.append(real)
                continue
            if not reported:
                line = other.where.line if other.where else 0
                if other.key == real.key:
                    message = f"duplicate real server {real} (already on line {line})"
                else:
                    message = (f"real server {real} is the same IPVS destination as {other} "
                               f"on line {line} (ipvsadm gives gate and ipip real servers "
                               "the virtual's port)")
                src.error(spec.line, spec.col, message)
            reported = True
    return reals
