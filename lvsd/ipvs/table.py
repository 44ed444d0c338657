"""The IPVS table as plain values: services, real servers (dests) and edits.

These types are what the reconciler reasons about and what every backend
(netlink, in-memory) reads and writes. Equality ignores counters, so a table
read back from the kernel compares equal to the table that was meant.

Where the kernel stores one meaning in more than one way, :meth:`Service.normalized`
and :meth:`Dest.same` make the forms compare equal, so a resync never edits
back and forth:

* the kernel sets ``HASHED`` on every service it holds (never compared);
* a non-persistent service keeps whatever timeout and netmask it was given
  (only meaningful with ``PERSISTENT``, so not compared without it);
* older kernels rewrote the forwarding method of a dest whose address is the
  director's own to ``LOCALNODE`` ("Local" in ipvsadm): such a dest stands for
  any forwarding method, since the kernel delivers to the local stack anyway;
* the tunnel fields only mean something for ipip dests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lvsd.addr import host_port

Forward = Literal["masq", "gate", "ipip", "local"]  # "local" is only ever read from the kernel
OpKind = Literal["add-service", "edit-service", "del-service", "add-dest", "edit-dest", "del-dest"]

# Service flags (include/uapi/linux/ip_vs.h)
F_PERSISTENT = 0x0001
F_HASHED = 0x0002  # set by the kernel, never meaningful in a comparison
F_ONEPACKET = 0x0004
F_SCHED1 = 0x0008
F_SCHED2 = 0x0010
F_SCHED3 = 0x0020
F_SCHED_ALL = F_SCHED1 | F_SCHED2 | F_SCHED3

PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132}
PROTOCOL_NAMES = {v: k for k, v in PROTOCOLS.items()}

TUN_IPIP, TUN_GUE, TUN_GRE = 0, 1, 2
TUN_NAMES = {TUN_IPIP: "ipip", TUN_GUE: "gue", TUN_GRE: "gre"}

# The scheduler flags by name, as ipvsadm's -b takes them and ipvsadm-save prints them:
# sh and mh give SCHED1/SCHED2 their own names; flag-N works with any scheduler.
_FLAG_BITS = (F_SCHED1, F_SCHED2, F_SCHED3)
_SCHED_FLAG_NAMES = {
    "sh": ("sh-fallback", "sh-port", "flag-3"),
    "mh": ("mh-fallback", "mh-port", "flag-3"),
}
_GENERIC_FLAG_NAMES = ("flag-1", "flag-2", "flag-3")


def sched_flag_names(scheduler: str, flags: int) -> list[str]:
    """The set scheduler flag bits, named as ipvsadm-save names them for ``scheduler``."""
    names = _SCHED_FLAG_NAMES.get(scheduler, _GENERIC_FLAG_NAMES)
    return [name for bit, name in zip(_FLAG_BITS, names, strict=True) if flags & bit]


def sched_flags(text: str, scheduler: str) -> int:
    """Parse a ``schedflags`` value (``sh-fallback,sh-port``) into flag bits.

    Raises ValueError, as ipvsadm does, for an unknown flag or one that belongs
    to another scheduler (``sh-port`` with ``rr``).
    """
    bits = 0
    for word in (w.strip() for w in text.split(",")):
        if not word:
            continue
        if word in _GENERIC_FLAG_NAMES:
            bits |= _FLAG_BITS[_GENERIC_FLAG_NAMES.index(word)]
            continue
        owner = word.split("-", 1)[0]
        names = _SCHED_FLAG_NAMES.get(owner)
        if names is None or word not in names:
            known = ", ".join([*_GENERIC_FLAG_NAMES, "sh-fallback", "sh-port", "mh-fallback", "mh-port"])
            raise ValueError(f"unknown scheduler flag {word!r} (expected {known})")
        if owner != scheduler:
            raise ValueError(f"scheduler flag {word!r} needs scheduler={owner}, not {scheduler}")
        bits |= _FLAG_BITS[names.index(word)]
    return bits


def default_netmask(ipv6: bool) -> str:
    return "128" if ipv6 else "255.255.255.255"


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
        return f"{flag} {host_port(self.addr, self.port)}"

    def __str__(self) -> str:
        if self.is_fwmark:
            return f"FWM {self.fwmark}" + (" IPv6" if self.ipv6 else "")
        return f"{self.protocol.upper()} {host_port(self.addr, self.port)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    key: ServiceKey
    scheduler: str = "wlc"
    flags: int = 0  # without F_HASHED
    timeout: int = 0  # persistence timeout in seconds
    netmask: str = ""  # v4: dotted quad, v6: prefix length; "" = family default
    pe: str = ""  # persistence engine (ipvsadm --pe), "" = none

    @property
    def persistent(self) -> bool:
        return bool(self.flags & F_PERSISTENT)

    def normalized(self) -> Service:
        """The service's meaning in one canonical form, so equal meaning compares equal."""
        persistent = bool(self.flags & F_PERSISTENT)
        return Service(
            key=self.key,
            scheduler=self.scheduler,
            flags=self.flags & ~F_HASHED,
            timeout=self.timeout if persistent else 0,
            netmask=(self.netmask or default_netmask(self.key.ipv6)) if persistent else default_netmask(self.key.ipv6),
            pe=self.pe,
        )

    def ipvsadm(self) -> str:
        """The service's attributes as ipvsadm arguments, in ipvsadm-save's order."""
        parts = [self.key.ipvsadm(), "-s", self.scheduler]
        if self.flags & F_PERSISTENT:
            parts += ["-p", str(self.timeout)]
            if self.netmask and self.netmask != default_netmask(self.key.ipv6):
                parts += ["-M", self.netmask]
        if self.pe:
            parts += ["--pe", self.pe]
        if self.flags & F_ONEPACKET:
            parts.append("-o")
        sched = sched_flag_names(self.scheduler, self.flags)
        if sched:
            parts += ["-b", ",".join(sched)]
        return " ".join(parts)

    def __str__(self) -> str:
        return f"{self.key} {self.scheduler}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Dest:
    """A real server entry of a service (the kernel calls it a destination)."""

    addr: str
    port: int
    forward: Forward = "gate"
    weight: int = 1
    u_thresh: int = 0
    l_thresh: int = 0
    tun_type: int = TUN_IPIP  # ipip only: IPIP, GUE or GRE encapsulation
    tun_port: int = 0  # ipip only: the GUE port
    tun_flags: int = 0  # ipip only: GUE/GRE checksum flags
    active: int = field(default=0, compare=False)
    inactive: int = field(default=0, compare=False)
    persist: int = field(default=0, compare=False)

    @property
    def key(self) -> tuple[str, int]:
        return (self.addr, self.port)

    def same(self, wanted: Dest) -> bool:
        """This (live) dest already means ``wanted``: nothing to edit.

        A LOCALNODE dest (``forward="local"``, which older kernels made of any
        dest on a local address) matches any forwarding method; the tunnel
        fields count only for ipip.
        """
        if (self.addr, self.port, self.weight, self.u_thresh, self.l_thresh) != (
            wanted.addr, wanted.port, wanted.weight, wanted.u_thresh, wanted.l_thresh
        ):
            return False
        if self.forward == "local":
            return True
        if self.forward != wanted.forward:
            return False
        if wanted.forward == "ipip":
            tunnel = (self.tun_type, self.tun_port, self.tun_flags)
            return tunnel == (wanted.tun_type, wanted.tun_port, wanted.tun_flags)
        return True

    def save(self) -> str:
        """The dest as ``ipvsadm-save -n`` prints it: ``-r RIP:PORT -g|-m|-i -w W [--tun-type T]``, no thresholds."""
        fwd = {"masq": "-m", "ipip": "-i"}.get(self.forward, "-g")  # -g for gate and for a LOCALNODE dest
        out = f"-r {host_port(self.addr, self.port)} {fwd} -w {self.weight}"
        if self.forward == "ipip":
            out += f" --tun-type {TUN_NAMES.get(self.tun_type, str(self.tun_type))}"
            if self.tun_type == TUN_GUE:
                out += f" --tun-port {self.tun_port}"
        return out

    def ipvsadm(self) -> str:
        """The dest as ipvsadm arguments: :meth:`save`'s form plus ``-x U -y L`` thresholds when set."""
        out = self.save()
        if self.u_thresh:
            out += f" -x {self.u_thresh}"
        if self.l_thresh:
            out += f" -y {self.l_thresh}"
        return out

    def __str__(self) -> str:
        return host_port(self.addr, self.port)


@dataclass(slots=True)
class Table:
    """A whole IPVS table: services and, per service, dests by (addr, port)."""

    services: dict[ServiceKey, Service] = field(default_factory=dict)
    dests: dict[ServiceKey, dict[tuple[str, int], Dest]] = field(default_factory=dict)

    def copy(self) -> Table:
        return Table(dict(self.services), {k: dict(v) for k, v in self.dests.items()})

    def dests_of(self, key: ServiceKey) -> dict[tuple[str, int], Dest]:
        return self.dests.get(key, {})

    def size(self) -> int:
        """Services plus dests: the number of entries the table holds."""
        return len(self.services) + sum(len(d) for d in self.dests.values())

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
                old = dests.get(op.dest.key)
                if old is not None:  # an edit keeps the kernel's connection counters
                    dests[op.dest.key] = Dest(
                        **{f: getattr(op.dest, f) for f in _DEST_FIELDS},
                        active=old.active, inactive=old.inactive, persist=old.persist,
                    )
                elif self.services.get(key, op.service).scheduler == "mh":
                    # the kernel lists a new dest first, and mh's table depends on that order (lvsd.ecmp.maglev)
                    self.dests[key] = {op.dest.key: op.dest, **dests}
                else:
                    dests[op.dest.key] = op.dest

    def save(self) -> list[str]:
        """The table in ``ipvsadm-save -n`` form: services sorted, each followed by its sorted dests."""
        lines = []
        for key in sorted(self.services):
            lines.append("-A " + self.services[key].ipvsadm())
            for dkey in sorted(self.dests_of(key)):
                lines.append(f"-a {key.ipvsadm()} " + self.dests[key][dkey].save())
        return lines


_DEST_FIELDS = ("addr", "port", "forward", "weight", "u_thresh", "l_thresh", "tun_type", "tun_port", "tun_flags")

Role = Literal["service", "real", "fallback", "stale", "drain"]
_OP_FLAGS: dict[OpKind, str] = {
    "add-service": "-A", "edit-service": "-E", "del-service": "-D",
    "add-dest": "-a", "edit-dest": "-e", "del-dest": "-d",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    """One edit of the kernel table. ``role`` says why, for the log line."""

    kind: OpKind
    service: Service
    dest: Dest | None = None
    role: Role = "service"

    @property
    def flag(self) -> str:
        """ipvsadm's command flag for this kind of edit (``-a``, ``-D``...)."""
        return _OP_FLAGS[self.kind]

    def ipvsadm(self) -> str:
        """The edit as an ``ipvsadm`` command line."""
        flag = _OP_FLAGS[self.kind]
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
