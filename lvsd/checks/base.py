"""What a check is asked (:class:`CheckSpec`) and what it answers (:class:`CheckResult`).

A failing backend is a value, not an exception: every check returns a result
whose message an operator can act on (``GET /: status 500, expected 2xx``).
The spec is derived from the config and holds everything the probe needs and
nothing else: two (virtual, real) pairs that check the same server the same
way have equal specs, so the scheduler runs one probe for both, and a reload
that leaves a spec unchanged keeps its schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any

from lvsd.addr import bracketed, host_port
from lvsd.config.directives import SERVICE_PORTS
from lvsd.config.model import RealServer, VirtualService

# Services whose whole check ldirectord bounds by checktimeout (an alarm around it), not negotiatetimeout.
CHECKTIMEOUT_SERVICES = frozenset(("ldap", "ldaps", "radius"))


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckSpec:
    kind: str  # connect | negotiate | ping | external | external-perl | on | off
    service: str  # negotiate protocol (http, https, none, ...)
    host: str  # the real server's address (IPv6 without brackets)
    port: int
    timeout: float  # deadline for the whole check, seconds
    protocol: str = "tcp"  # the virtual's: tcp | udp | fwm (dns, sip, simpletcp and connect follow it)
    request: str = "/"
    receive: str = ""
    virtualhost: str | None = None
    method: str = "GET"
    login: str = ""
    passwd: str = ""
    database: str = ""
    secret: str = ""
    checkcount: int = 1  # ping attempts
    connects: int | None = None  # checktype=N: N connect checks between negotiates
    connect_timeout: float = 0.0  # checktimeout, for the connect steps of checktype=N
    command: str = ""  # external / external-perl / send_program
    args: tuple[str, ...] = ()  # external: VIP|fwmark VPORT RIP RPORT
    send_program: bool = False  # piranha's nanny contract: %h/%p substituted, output matched
    tls_verify: bool = False  # lvsd extension: verify the server's certificate
    tls_servername: str | None = None  # lvsd extension: SNI (and the name verified)
    tls_cafile: str | None = None  # lvsd extension: CA bundle for verification
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Specs key the probe table and the per-spec caches of the check modules: hash once, not per check.
        object.__setattr__(self, "_hash", hash(_compared(self)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def target(self) -> str:
        return host_port(self.host, self.port)

    def describe(self) -> str:
        """How ``lvsd probe`` and the logs name the check: ``http GET /health 203.0.113.11:80``."""
        if self.kind == "negotiate":
            combined = f" (every {self.connects + 1} checks)" if self.connects else ""
            if self.service in ("http", "https", "http_proxy"):
                return f"{self.service} {self.method} {self.request} {self.target}{combined}"
            return f"{self.service} {self.target}{combined}"
        if self.kind == "ping":
            return f"ping {self.host}" + (f" ({self.checkcount} attempts)" if self.checkcount > 1 else "")
        if self.kind in ("external", "external-perl"):
            return f"{self.kind} {' '.join((self.command, *self.args))}"
        if self.kind == "connect":
            return f"connect {self.target}"
        return f"{self.kind} {self.target}"


_compared = attrgetter(*(f.name for f in fields(CheckSpec) if f.compare))  # the fields equality reads


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    message: str
    latency: float = 0.0  # seconds the check took
    forced: bool = False  # maintenance: down at once, whatever failurecount says


def check_port(v: VirtualService, r: RealServer) -> int:
    """ldirectord's rule: checkport, else the real's port, else the service's port, else the virtual's."""
    if v.checkport:
        return v.checkport
    if r.port:
        return r.port
    return SERVICE_PORTS.get(v.service, v.port)  # the port a negotiate check uses when nothing else gives one


def spec_for(v: VirtualService, r: RealServer) -> CheckSpec:
    """The check one (virtual, real) pair asks for, holding only what that kind of check reads.

    What the check does not read is left at its default, so two virtuals that
    check the same server the same way get equal specs and share one probe.
    Built in one go: a reload of 10,000 reals makes 10,000 of these.
    """
    kind: str = v.checktype
    service = v.service
    if kind == "connect" and v.protocol == "udp":
        kind = "ping"  # ldirectord: a connect check on a UDP service is an ICMP ping
    if kind == "negotiate":
        timeout = v.negotiatetimeout
        if service in CHECKTIMEOUT_SERVICES:
            timeout = min(v.checktimeout, v.negotiatetimeout)
    elif kind == "ping":
        timeout = v.checktimeout * max(1, v.checkcount)  # checktimeout per attempt
    else:
        timeout = v.checktimeout
    if kind != "negotiate":
        service = "none"
    kw: dict[str, Any] = {"kind": kind, "service": service, "host": r.ip, "port": check_port(v, r),
                          "timeout": timeout}
    if kind in ("on", "off"):
        kw["timeout"] = 0.0
    elif kind == "ping":
        kw["port"] = 0
        kw["checkcount"] = v.checkcount
    elif kind in ("external", "external-perl"):
        program = v.send_program is not None
        vip = str(v.fwmark) if v.fwmark is not None else bracketed(v.ip or "")
        if not program:
            kw["port"] = 0
            kw["args"] = (vip, str(v.port), bracketed(r.ip), str(r.port))
        kw["command"] = v.send_program if program else v.checkcommand
        kw["send_program"] = program
        if program:
            kw["receive"] = r.receive if r.receive is not None else v.receive
    elif kind != "connect":
        kw["request"] = r.request if r.request is not None else v.request
        kw["receive"] = r.receive if r.receive is not None else v.receive
        if kind == "negotiate" and v.connects_per_negotiate is not None:
            kw["connects"] = v.connects_per_negotiate
            kw["connect_timeout"] = v.checktimeout
        if service in _USES_PROTOCOL:
            kw["protocol"] = v.protocol
        if service in _HTTP:
            kw["virtualhost"] = v.virtualhost
            kw["method"] = v.httpmethod
        if service in _CREDENTIALS:
            kw.update(login=v.login, passwd=v.passwd, database=v.database, secret=v.secret)
        if service in _TLS:
            kw.update(tls_verify=v.tlsverify, tls_servername=v.tlsservername, tls_cafile=v.tlscafile)
    return CheckSpec(**kw)


_USES_PROTOCOL = frozenset(("dns", "sip", "simpletcp"))
_HTTP = frozenset(("http", "https", "http_proxy"))
_CREDENTIALS = frozenset(("pop", "pops", "imap", "imaps", "ldap", "ldaps", "radius", "mysql", "pgsql", "oracle",
                          "ftp", "sip"))
_TLS = frozenset(("https", "pops", "imaps", "ldaps"))
