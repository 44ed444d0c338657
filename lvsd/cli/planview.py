"""``lvsd plan``: the IPVS table lvsd would program, printed as ``ipvsadm-save -n`` prints it.

Nothing here touches the kernel. The table is what :mod:`lvsd.reconcile`
plans against an empty table when every real server is assumed healthy
(``up=True``) or failed (``up=False``: quiesced at weight 0 or absent, per
``quiescent``, and the fallback in), so the daemon and this view share one
source of truth.

The text matches ipvsadm 1.31's ``ipvsadm-save -n``, checked in the kernel lab:
``-A -t VIP:PORT -s SCHED [-p T [-M MASK]] [-o] [-b FLAGS]`` and
``-a -t VIP:PORT -r RIP:PORT -g|-m|-i -w W`` (a tunnel's line ends with
``--tun-type ipip``). It prints no thresholds (``-x``/``-y``) and a persistence
mask only when it is not the host mask. ipvsadm-save lists services in the
kernel's hash order; :func:`canonical` sorts them (addresses numerically) so
two tables compare line by line.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from lvsd.addr import bracketed
from lvsd.config.model import Config, MemberKey
from lvsd.health import Health, State
from lvsd.ipvs.table import F_ONEPACKET, F_PERSISTENT, F_SCHED1, F_SCHED2, F_SCHED3, Dest, Service, Table
from lvsd.reconcile import plan

_FORWARD = {"gate": "-g", "masq": "-m", "ipip": "-i"}


def assumed_health(config: Config, *, up: bool) -> dict[MemberKey, Health]:
    """Every (virtual, real) of ``config`` in the same state."""
    state = Health(state=State.UP if up else State.DOWN)
    return {v.member(r): state for v in config.virtuals for r in v.reals}


def planned_table(config: Config, *, up: bool) -> Table:
    """The table reconcile would build from nothing with every real up (or down)."""
    table = Table()
    for step in plan(config, assumed_health(config, up=up), Table()):
        table.apply(step.op)
    return table


def _sched_flags(svc: Service) -> str:
    names = {"sh": ("sh-fallback", "sh-port", "flag-3"), "mh": ("mh-fallback", "mh-port", "flag-3")}
    labels = names.get(svc.scheduler, ("flag-1", "flag-2", "flag-3"))
    bits = (F_SCHED1, F_SCHED2, F_SCHED3)
    return ",".join(label for bit, label in zip(bits, labels, strict=True) if svc.flags & bit)


def service_line(svc: Service) -> str:
    out = f"-A {svc.key.ipvsadm()} -s {svc.scheduler}"
    if svc.flags & F_PERSISTENT:
        out += f" -p {svc.timeout}"
        host_mask = "128" if svc.key.ipv6 else "255.255.255.255"
        if svc.netmask and svc.netmask != host_mask:
            out += f" -M {svc.netmask}"
    if svc.flags & F_ONEPACKET:
        out += " -o"
    flags = _sched_flags(svc)
    if flags:
        out += f" -b {flags}"
    return out


def dest_line(svc: Service, dest: Dest) -> str:
    addr = bracketed(dest.addr)
    tunnel = " --tun-type ipip" if dest.forward == "ipip" else ""
    return f"-a {svc.key.ipvsadm()} -r {addr}:{dest.port} {_FORWARD[dest.forward]} -w {dest.weight}{tunnel}"


def save(table: Table) -> list[str]:
    """``table`` as ``ipvsadm-save -n`` lines, in :func:`canonical` order."""
    lines: list[str] = []
    for key, svc in table.services.items():
        lines.append(service_line(svc))
        lines += [dest_line(svc, d) for d in table.dests_of(key).values()]
    return canonical(lines)


def _address_order(text: str) -> tuple[int, int, int]:
    """Sort key of ``ADDR:PORT`` / ``[V6]:PORT`` / a fwmark number."""
    host, _, port = text.rpartition(":")
    if not host:
        return (2, int(text) if text.isdigit() else 0, 0)
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return (3, 0, 0)
    return (ip.version - 4, int(ip), int(port) if port.isdigit() else 0)


def _service_order(line: str) -> tuple[object, ...]:
    words = line.split()  # -A -t ADDR:PORT ...  /  -A -f MARK [-6] ...
    kind, where = words[1], words[2]
    ipv6 = "-6" in words[3:4]
    return (kind == "-f", ipv6, kind, _address_order(where))


def canonical(lines: Iterable[str]) -> list[str]:
    """ipvsadm-save lines regrouped and sorted: services by address, each followed by its dests."""
    services: dict[str, str] = {}
    dests: dict[str, list[str]] = {}
    for raw in lines:
        line = " ".join(raw.split())
        if not line:
            continue
        words = line.split()
        svc_id = " ".join(words[1:4] if words[3:4] == ["-6"] else words[1:3])
        if words[0] == "-A":
            services[svc_id] = line
        elif words[0] == "-a":
            dests.setdefault(svc_id, []).append(line)
        else:
            raise ValueError(f"not an ipvsadm-save line: {raw!r}")
    out: list[str] = []
    for svc_id in sorted(services, key=lambda s: _service_order(services[s])):
        out.append(services[svc_id])
        out += sorted(dests.pop(svc_id, []), key=_dest_order)
    for svc_id, orphans in dests.items():  # dests of a service that has no -A line
        raise ValueError(f"dest lines without a service line for {svc_id}: {orphans[0]!r}")
    return out


def _dest_order(line: str) -> tuple[int, int, int]:
    words = line.split()
    return _address_order(words[words.index("-r") + 1])


def render(config: Config, *, up: bool) -> str:
    """The whole ``lvsd plan`` output for ``config``."""
    lines = save(planned_table(config, up=up))
    return "".join(line + "\n" for line in lines)
