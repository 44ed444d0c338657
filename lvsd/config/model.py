"""The configuration model: what a director is asked to do, as immutable values.

Every reader (ldirectord.cf, YAML and piranha lvs.cf) produces a
:class:`Config`. Values here are *effective* values, already resolved the way
ldirectord resolves them (per-virtual over global, the checktimeout /
negotiatetimeout mutual fallback, service derived from the port), so the rest
of lvsd never has to know where a value came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from lvsd.addr import host_port
from lvsd.config.errors import Diagnostic
from lvsd.ipvs.table import ServiceKey

Protocol = Literal["tcp", "udp", "sctp", "fwm"]
Forward = Literal["gate", "masq", "ipip"]
CheckType = Literal["connect", "negotiate", "ping", "external", "external-perl", "on", "off"]
EmailStatus = Literal["starting", "running", "stopping", "reloading"]

# emailalertstatus: the daemon states in which alerts are sent ("all" = every one).
ALL_EMAIL_STATUSES: frozenset[EmailStatus] = frozenset(
    ("starting", "running", "stopping", "reloading"))

DEFAULT_CHECKTIMEOUT = 5.0
DEFAULT_NEGOTIATETIMEOUT = 30.0
DEFAULT_CHECKINTERVAL = 10.0
DEFAULT_LOGFILE = "/var/log/ldirectord.log"
DEFAULT_DRAINTIMEOUT = 300.0


RealKey = tuple[str, int]  # a real server within its virtual: (address, port as written)


class MemberKey(NamedTuple):
    """Identity of one real server in one virtual service: health, checks and metrics are kept per member."""

    virtual: ServiceKey
    real: RealKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """Where a value was written: file, 1-based line and column."""

    file: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Fallback:
    """The server that takes a service's traffic when no real server is up."""

    ip: str
    port: int  # already resolved: the virtual's port when the config omits it
    forward: Forward = "gate"

    def __str__(self) -> str:
        return host_port(self.ip, self.port)


@dataclass(frozen=True, slots=True, kw_only=True)
class RealServer:
    """One `real=` entry of a virtual service (one address of a range)."""

    ip: str  # address literal, IPv6 without brackets
    port: int  # 0 when the config omits it (fwmark services)
    forward: Forward
    weight: int = 1
    request: str | None = None  # per-real override of the virtual's request
    receive: str | None = None  # per-real override of the virtual's receive
    lower: int = 0  # l: threshold (ipvsadm -y)
    upper: int = 0  # u: threshold (ipvsadm -x)
    where: Location | None = field(default=None, compare=False)

    @property
    def key(self) -> RealKey:
        return (self.ip, self.port)

    def __str__(self) -> str:
        return host_port(self.ip, self.port)


@dataclass(frozen=True, slots=True, kw_only=True)
class VirtualService:
    """One `virtual=` block with every value resolved."""

    protocol: Protocol
    ip: str | None  # None for fwmark services
    port: int  # 0 for fwmark services
    fwmark: int | None = None
    ipv6: bool = False
    reals: tuple[RealServer, ...] = ()
    scheduler: str = "wrr"
    persistent: int | None = None  # seconds; None = not persistent
    netmask: str | None = None  # persistence netmask (v4 dotted quad or v6 prefix length)
    checktype: CheckType = "negotiate"
    connects_per_negotiate: int | None = None  # checktype=N (combined mode)
    service: str = "none"  # the negotiate protocol (http, https, none, ...)
    request: str = "/"
    receive: str = ""
    virtualhost: str | None = None
    httpmethod: str = "GET"
    checkport: int | None = None
    checktimeout: float = DEFAULT_CHECKTIMEOUT
    negotiatetimeout: float = DEFAULT_NEGOTIATETIMEOUT
    checkinterval: float = DEFAULT_CHECKINTERVAL
    failurecount: int = 1
    quiescent: bool = False
    cleanstop: bool = True
    fallback: Fallback | None = None
    # Added with the ldirectord.cf reader; effective values (virtual, else global).
    checkcount: int = 1  # ping attempts (deprecated in ldirectord)
    checkcommand: str = "/bin/true"  # external / external-perl
    login: str = ""  # explicit service=ftp / sip lines set ldirectord's defaults here
    passwd: str = ""
    database: str = ""
    secret: str = ""  # radius
    load: str | None = None  # parsed but never used, as in ldirectord
    schedflags: str | None = None  # ipvsadm -b
    ops: bool = False  # one-packet scheduling, udp only (ipvsadm -o)
    fallbackcommand: str | None = None  # run as "CMD start|stop VIP:PORT PROTO"
    emailalert: str = ""  # recipients; "" = no alerts
    emailalertfreq: int = 0  # resend interval in seconds; 0 = never
    emailalertstatus: frozenset[EmailStatus] = ALL_EMAIL_STATUSES
    smtp: str | None = None  # None = local mailer
    monitorfile: str | None = None  # per-check log; lvsd creates it, the reader does not
    servicename: str | None = None  # email subject / body only
    comment: str | None = None  # email body only
    # Added with the piranha lvs.cf reader (nanny's semantics; 0 / None in ldirectord.cf).
    reentry: float = 0.0  # seconds a failed real must pass checks before it is put back
    send_program: str | None = None  # nanny: run with %h/%p, stdout matched against receive
    # lvsd extension (kernel table): drain real servers removed from the config instead of deleting them.
    drain: bool = False  # drain=yes: weight 0 first, deleted once no active connection is left
    draintimeout: float = DEFAULT_DRAINTIMEOUT  # ... or once this many seconds have passed
    # lvsd extensions (checks): consecutive passed checks that bring a failed real back (1 = ldirectord);
    # TLS verification and SNI for the TLS services (https, pops, imaps, ldaps; ldirectord verifies nothing).
    risecount: int = 1
    tlsverify: bool = False  # verify the certificate chain and the name (tlsservername, else the real's IP)
    tlsservername: str | None = None  # sent as SNI, and the name verified with tlsverify=yes
    tlscafile: str | None = None  # CA bundle for tlsverify=yes; None = the system's trust store
    where: Location | None = field(default=None, compare=False)

    @property
    def key(self) -> ServiceKey:
        """Identity, the kernel's: (protocol, address, port), or the mark and address family."""
        if self.fwmark is not None:
            return ServiceKey.mark(self.fwmark, self.ipv6)
        assert self.ip is not None
        return ServiceKey(protocol=self.protocol, addr=self.ip, port=self.port, ipv6=self.ipv6)

    def member(self, r: RealServer) -> MemberKey:
        return MemberKey(self.key, r.key)

    @property
    def label(self) -> str:
        """How ldirectord names the virtual in add/delete lines: VIP:PORT or the mark."""
        if self.fwmark is not None:
            return str(self.fwmark)
        assert self.ip is not None
        return host_port(self.ip, self.port)

    @property
    def ident(self) -> str:
        """How ldirectord names the virtual in soft-failure lines: tcp:VIP:PORT or fwm:MARK."""
        if self.fwmark is not None:
            return f"{'fwm6' if self.ipv6 else 'fwm'}:{self.fwmark}"
        return f"{self.protocol}:{self.label}"

    def __str__(self) -> str:
        return f"{self.protocol.upper()} {self.label} {self.scheduler}"


SyncRole = Literal["both", "master", "backup", "vrrp"]


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """The kernel's connection sync daemons this director runs (lvsd extension: the ``sync*`` directives).

    ``role``: ``both`` (a master and a backup on every node, whoever is active: the default),
    ``master`` or ``backup`` (fixed), or ``vrrp`` (the master where keepalived's VRRP says
    MASTER, the backup elsewhere). 0 / "" for maxlen, group, port, ttl: the kernel's default.
    """

    interface: str
    role: SyncRole = "both"
    syncid: int = 0
    maxlen: int = 0
    group: str = ""
    port: int = 0
    ttl: int = 0


@dataclass(frozen=True, slots=True)
class VrrpNode:
    name: str
    priority: int  # 1-254
    address: str = ""  # for unicast VRRP; "" on any node: multicast


@dataclass(frozen=True, slots=True)
class VrrpSettings:
    """The pair's VRRP, as ``lvsd keepalived`` writes it for each node (lvsd extension: the ``vrrp*`` directives).

    The virtual services' VIPs move with VRRP; ``addresses`` are the others (``ADDRESS/PREFIX``,
    device or "" for ``interface``): with masq, the real servers' gateway. ``warmup``: seconds a
    node that (re)starts waits before it takes the VIP back, while its backup sync daemon learns
    the active side's connections (keepalived's ``preempt_delay``).
    """

    interface: str = ""
    vrid: int = 51
    advert: float = 1.0
    warmup: int = 30
    nodes: tuple[VrrpNode, ...] = ()
    addresses: tuple[tuple[str, str], ...] = ()


AnnounceMode = Literal["exabgp", "interface"]
ANNOUNCE_MODES: tuple[AnnounceMode, ...] = ("exabgp", "interface")


@dataclass(frozen=True, slots=True)
class AnnounceSettings:
    """How this director announces its VIPs to ECMP routers (lvsd extension: the ``announce*`` directives).

    ``mode``: ``exabgp`` (lines for ExaBGP's process API, printed by ``lvsd exabgp``) or
    ``interface`` (the VIP's host address on ``interface``, for BIRD or FRR to export).
    ``rise`` / ``fall``: seconds servable (unservable) before an announce (withdraw);
    ``fallback``: the fallback server counts as serving; ``withdrawwait``: seconds between the
    withdraw and the stop (or ``lvsd leave``'s answer); ``attributes``: added to ExaBGP's announce.
    """

    mode: AnnounceMode
    interface: str = ""
    rise: float = 2.0
    fall: float = 0.0
    fallback: bool = False
    withdrawwait: float = 5.0
    attributes: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A whole configuration file, ready to run."""

    path: str  # absolute path of the file it was read from
    virtuals: tuple[VirtualService, ...] = ()
    logfile: str = DEFAULT_LOGFILE
    checkinterval: float = DEFAULT_CHECKINTERVAL
    cleanstop: bool = True
    autoreload: bool = False
    readdquiescent: bool = False
    supervised: bool = False
    maintenancedir: str | None = None
    # Added with the ldirectord.cf reader: globals that no virtual carries.
    fork: bool = False  # accepted for compatibility; lvsd checks every real on its own
    callback: str | None = None  # run as "PATH CONFIGFILE" when the file changes
    execute: tuple[str, ...] = ()  # other config files to run alongside, in order
    emailalertfrom: str | None = None
    # Global defaults also carried by every virtual (kept for virtual-less configs).
    fallbackcommand: str | None = None
    emailalert: str = ""
    emailalertfreq: int = 0
    emailalertstatus: frozenset[EmailStatus] = ALL_EMAIL_STATUSES
    smtp: str | None = None
    # lvsd extension (kernel table): seconds between full re-reads of the kernel table; None = lvsd's default.
    resyncinterval: float | None = None
    # lvsd extension (director pairs): the connection sync daemons; None = lvsd leaves them alone.
    sync: SyncSettings | None = None
    # lvsd extension (director pairs): where to write the count of unserved virtual services for keepalived
    vrrptrackfile: str | None = None
    vrrp: VrrpSettings | None = None  # None: no vrrp* directive given
    # lvsd extension (active-active): announce each servable VIP to the routers; None = announce nothing
    announce: AnnounceSettings | None = None
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False)

    @property
    def name(self) -> str:
        """The config's basename, as ldirectord's log prefix and PID file use it."""
        return self.path.rsplit("/", 1)[-1]

    def summary(self) -> str:
        reals = sum(len(v.reals) for v in self.virtuals)
        return f"{len(self.virtuals)} virtual services, {reals} real servers"
