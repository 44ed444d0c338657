"""The IPVS table as plain values: services, real servers (dests) and edits.

These types are what the reconciler reasons about and what every backend
(netlink, in-memory) reads and writes. Equality ignores counters, so a table
read back from the kernel compares equal to the table that was meant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Forward = Literal["masq", "gate", "ipip"]
OpKind = Literal["add-service", "edit-service", "del-service", "add-dest", "edit-dest", "del-dest"]

# Service flags (include/uapi/linux/ip_vs.h)
F_PERSISTENT = 0x0001
F_HASHED = 0x0002  # set by the kernel, never meaningful in a comparison
F_ONEPACKET = 0x0004
F_SCHED1 = 0x0008
F_SCHED2 = 0x0010
F_SCHED3 = 0x0020

PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132}
PROTOCOL_NAMES = {v: k for k, v in PROTOCOLS.items()}


def host(addr: str) -> str:
    return f"[{addr}]" if ":" in addr else addr


@dataclass(frozen=True, slots=True, order=True)
class ServiceKey:
    """Identity of a virtual service: (protocol, address, port) or a fwmark."""

    protocol: str  # "tcp" | "udp" | "sctp" | "fwm"
    addr: str  # "" for a fwmark service
    port: int  # 0 for a fwmark service
    fwmark: int = 0
    ipv6: bool = False

    @classmethod
    def inet(cls, protocol: str, addr: str, port: int) -> ServiceKey:
        return cls(protocol=protocol, addr=addr, port=port, ipv6=":" in addr)

    @classmethod
    def mark(cls, fwmark: int, ipv6: bool = False) -> ServiceKey:
        return cls(protocol="fwm", addr="", port=0, fwmark=fwmark, ipv6=ipv6)

    @property
    def is_fwmark(self) -> bool:
        return self.protocol == "fwm"

    def ipvsadm(self) -> str:
        """The service as ipvsadm's arguments: ``-t 198.51.100.1:80`` or ``-f 7``."""
        if self.is_fwmark:
            return f"-f {self.fwmark}" + (" -6" if self.ipv6 else "")
        flag = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}[self.protocol]
        return f"{flag} {host(self.addr)}:{self.port}"

    def __str__(self) -> str:
        if self.is_fwmark:
            return f"FWM {self.fwmark}" + (" IPv6" if self.ipv6 else "")
        return f"{self.protocol.upper()} {host(self.addr)}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    key: ServiceKey
    scheduler: str = "wlc"
    flags: int = 0  # without F_HASHED
    timeout: int = 0  # persistence timeout in seconds
    netmask: str = ""  # v4: dotted quad, v6: prefix length; "" = family default

    @property
    def persistent(self) -> bool:
        return bool(self.flags & F_PERSISTENT)

    def normalized(self) -> Service:
        """The service as the kernel stores it, so equal meaning compares equal."""
        netmask = self.netmask or ("128" if self.key.ipv6 else "255.255.255.255")
        return Service(
            key=self.key,
            scheduler=self.scheduler,
            flags=self.flags & ~F_HASHED,
            timeout=self.timeout,
            netmask=netmask,
        )

    def ipvsadm(self) -> str:
        parts = [self.key.ipvsadm(), "-s", self.scheduler]
        if self.flags & F_ONEPACKET:
            parts.append("-o")
        if self.flags & F_PERSISTENT:
            parts += ["-p", str(self.timeout)]
            default = "128" if self.key.ipv6 else "255.255.255.255"
            if self.netmask and self.netmask != default:
                parts += ["-M", self.netmask]
        sched = [n for b, n in ((F_SCHED1, "flag-1"), (F_SCHED2, "flag-2"), (F_SCHED3, "flag-3")) if self.flags & b]
        if sched:
            parts += ["-b", ",".join(sched)]
        return " ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dest:
    """A real server entry of a service (the kernel calls it a destination)."""

    addr: str
    port: int
    forward: Forward = "gate"
    weight: int = 1
    u_thresh: int = 0
    l_thresh: int = 0
    active: int = field(default=0, compare=False)
    inactive: int = field(default=0, compare=False)
    persist: int = field(default=0, compare=False)

    @property
    def key(self) -> tuple[str, int]:
        return (self.addr, self.port)

    def ipvsadm(self) -> str:
        fwd = {"gate": "-g", "masq": "-m", "ipip": "-i"}[self.forward]
        out = f"-r {host(self.addr)}:{self.port} {fwd} -w {self.weight}"
        if self.u_thresh:
            out += f" -x {self.u_thresh}"
        if self.l_thresh:
            out += f" -y {self.l_thresh}"
        return out

    def __str__(self) -> str:
        return f"{host(self.addr)}:{self.port}"


@dataclass(slots=True)
class Table:
    """A whole IPVS table: services and, per service, dests by (addr, port)."""

    services: dict[ServiceKey, Service] = field(default_factory=dict)
    dests: dict[ServiceKey, dict[tuple[str, int], Dest]] = field(default_factory=dict)

    def copy(self) -> Table:
        return Table(dict(self.services), {k: dict(v) for k, v in self.dests.items()})

    def dests_of(self, key: ServiceKey) -> dict[tuple[str, int], Dest]:
        return self.dests.get(key, {})

    def apply(self, op: Op) -> None:
        """Record an applied edit, keeping this table equal to the kernel's."""
        key = op.service.key
        if op.kind in ("add-service", "edit-service"):
            self.services[key] = op.service.normalized()
            self.dests.setdefault(key, {})
        elif op.kind == "del-service":
            self.services.pop(key, None)
            self.dests.pop(key, None)
        elif op.dest is not None:
            dests = self.dests.setdefault(key, {})
            if op.kind == "del-dest":
                dests.pop(op.dest.key, None)
            else:
                dests[op.dest.key] = op.dest

    def save(self) -> list[str]:
        """The table in `ipvsadm-save -n` form, sorted."""
        lines = []
        for key in sorted(self.services):
            lines.append("-A " + self.services[key].ipvsadm())
            for dkey in sorted(self.dests_of(key)):
                lines.append(f"-a {key.ipvsadm()} " + self.dests[key][dkey].ipvsadm())
        return lines


Role = Literal["service", "real", "fallback", "stale"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    """One edit of the kernel table. ``role`` says why, for the log line."""

    kind: OpKind
    service: Service
    dest: Dest | None = None
    role: Role = "service"

    def ipvsadm(self) -> str:
        """The edit as an ``ipvsadm`` command line."""
        flag = {
            "add-service": "-A",
            "edit-service": "-E",
            "del-service": "-D",
            "add-dest": "-a",
            "edit-dest": "-e",
            "del-dest": "-d",
        }[self.kind]
        if self.kind in ("add-service", "edit-service"):
            return f"ipvsadm {flag} {self.service.ipvsadm()}"
        if self.kind == "del-service":
            return f"ipvsadm {flag} {self.service.key.ipvsadm()}"
        assert self.dest is not None
        if self.kind == "del-dest":
            return f"ipvsadm {flag} {self.service.key.ipvsadm()} -r {self.dest}"
        return f"ipvsadm {flag} {self.service.key.ipvsadm()} {self.dest.ipvsadm()}"

    def __str__(self) -> str:
        return self.ipvsadm()
