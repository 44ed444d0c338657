"""Read an ldirectord.cf into a :class:`Config`, with ldirectord's meaning.

``parse`` reports every problem in the file at once (a :class:`ConfigError`
carrying compiler-like diagnostics) and returns warnings in
``Config.warnings``. It never raises anything else, whatever the input.

Effective values are resolved after the whole file is read, as ldirectord's
ld_setup does, so a global written after a block still applies to it:

* checktimeout = virtual checktimeout, virtual negotiatetimeout, global
  checktimeout, global negotiatetimeout, 5; negotiatetimeout mirrors it
  (… global checktimeout, 30);
* checkinterval, checkcount, failurecount, quiescent, cleanstop, fallback,
  fallbackcommand and the email settings: the virtual's value, else the
  global one. ``quiescent`` defaults to **no**, as ldirectord's code does
  (its manual says yes; reference §5.1.7);
* service: ``service=``, else derived from the (resolved) port, ``none`` for
  firewall marks; protocol: ``protocol=``, else udp for port ``53`` /
  ``domain``, else tcp; fwm for firewall marks;
* ``checktype=N`` is stored as checktype "negotiate" with
  ``connects_per_negotiate=N`` (N connect checks between negotiate checks);
* an explicit ``service=ftp`` sets login ``anonymous`` and passwd
  ``ldirectord@HOSTNAME``, and ``service=sip`` login ``ldirectord@HOSTNAME``,
  unless login= / passwd= are given (a service derived from the port does not).

Differences on purpose: a per-virtual ``checkinterval`` is honoured (ldirectord
ignores it unless fork=yes; lvsd checks each real on its own schedule and says
so in a warning), duplicate real servers are errors, and the checks of
lexer.py, values.py, addresses.py and directives.py replace silent misreadings
with errors.
"""

from __future__ import annotations

import difflib
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from lvsd.config.addresses import FallbackSpec, Names, RealSpec, VirtualSpec, parse_virtual
from lvsd.config.directives import DEPRECATED, DIRECTIVES, SERVICE_PORTS, Block
from lvsd.config.ecmp import announce_settings, ecmp_warnings
from lvsd.config.errors import ConfigError
from lvsd.config.lexer import Statement, scan
from lvsd.config.model import (
    ALL_EMAIL_STATUSES,
    DEFAULT_CHECKINTERVAL,
    DEFAULT_CHECKTIMEOUT,
    DEFAULT_DRAINTIMEOUT,
    DEFAULT_LOGFILE,
    DEFAULT_NEGOTIATETIMEOUT,
    Config,
    Fallback,
    Location,
    Protocol,
    VirtualService,
)
from lvsd.config.pair import sync_settings, vrrp_settings
from lvsd.config.reals import build_reals
from lvsd.config.resolver import Resolver, SocketResolver
from lvsd.config.source import Problem, Source
from lvsd.config.values import Field
from lvsd.ipvs.table import ServiceKey

__all__ = ["Resolver", "SocketResolver", "build", "parse"]


@dataclass(slots=True)
class Setting:
    value: Any
    line: int
    col: int


@dataclass(slots=True)
class Scope:
    """The directives given at one level: the globals, or one virtual block."""

    values: dict[str, Setting] = field(default_factory=dict)
    lists: dict[str, list[Setting]] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        setting = self.values.get(key)
        return default if setting is None else setting.value

    def __contains__(self, key: str) -> bool:
        return key in self.values


@dataclass(slots=True)
class VirtualBlock:
    header: Statement
    spec: VirtualSpec | None  # None when the virtual= line itself is wrong
    ipv6: bool
    scope: Scope = field(default_factory=Scope)

    @property
    def kind(self) -> Block:
        """What the block's members need to know about it (made once per block)."""
        return _BLOCKS[(self.ipv6, bool(self.spec and self.spec.fwmark))]


_GLOBAL = Block(False, False)
_BLOCKS = {(ipv6, fwmark): Block(ipv6, fwmark) for ipv6 in (False, True) for fwmark in (False, True)}


def parse(text: str, path: str, *, resolver: Resolver | None = None) -> Config:
    """Parse ldirectord.cf ``text`` read from ``path``; raise ConfigError listing every error."""
    src = Source(path, text)
    return build(src, lambda: scan(src), resolver, "ldirectord.cf")


def build(src: Source, statements: Callable[[], Iterable[Statement]], resolver: Resolver | None,
          what: str) -> Config:
    """Read ``statements`` (lines of ``src``, or ones another format made) into a Config.

    This is the one place ldirectord's meaning lives: the YAML reader feeds the
    same statements through it, so both formats validate and resolve alike.
    """
    try:
        config = _Reader(src, resolver or SocketResolver()).read(statements())
    except ConfigError:
        raise
    except Exception as exc:  # last resort: a reader bug must not crash start/reload
        src.error(1, 1, f"internal error in the {what} reader ({type(exc).__name__}: "
                  f"{exc}); please report this with the config file")
        config = Config(path=src.path)
    src.raise_if_errors()
    return replace(config, warnings=src.warnings())


class _Reader:
    def __init__(self, src: Source, resolver: Resolver) -> None:
        self.src = src
        self.names = Names(resolver)
        self.globals = Scope()
        self.blocks: list[VirtualBlock] = []

    def read(self, statements: Iterable[Statement]) -> Config:
        if self.src.crlf_line:
            self.src.warning(self.src.crlf_line, 1, "CR LF (Windows) line ends: lvsd ignores "
                             "the CR; ldirectord rejects yes/no values on such lines")
        for stmt in statements:
            if stmt.kind == "virtual":
                self._virtual(stmt)
            elif stmt.kind == "member" and self.blocks:
                blk = self.blocks[-1]
                self._directive(stmt, blk.scope, blk.kind)
            else:
                self._directive(stmt, self.globals, _GLOBAL)
        return self._finish()

    # -- statements ----------------------------------------------------------------
    def _virtual(self, stmt: Statement) -> None:
        ipv6 = stmt.name == "virtual6"
        spec = None
        try:
            spec = parse_virtual(self._field(stmt), ipv6)
        except Problem as exc:
            self.src.error(stmt.line, exc.col or stmt.value_col, exc.message)
        self.blocks.append(VirtualBlock(stmt, spec, ipv6))

    def _field(self, stmt: Statement) -> Field:
        return Field(self.src, stmt)

    def _directive(self, stmt: Statement, scope: Scope, blk: Block) -> None:
        directive = DIRECTIVES.get(stmt.name)
        where = "virtual" if stmt.in_block else "global"
        message = ""
        if stmt.name in ("virtual", "virtual6"):
            message = f"{stmt.name}= must start in column 0 (it begins a new virtual block)"
        elif stmt.name in DEPRECATED:
            message = DEPRECATED[stmt.name]
        elif directive is None:
            message = _unknown(stmt.name)
        elif directive.scope not in ("both", where):
            message = (f"'{stmt.name}' is a global directive: write it in column 0, outside "
                       "virtual blocks") if where == "virtual" else (
                       f"'{stmt.name}' belongs in a virtual block: indent it by 4 spaces or "
                       "a TAB under a virtual= line")
        elif not stmt.has_equals:
            if stmt.name == "supervised" and not stmt.value.strip(" \t\r\f\v"):
                self.src.warning(stmt.line, stmt.name_col, "please update your config not "
                                 "to use a bare supervised directive (read as supervised=yes)")
                scope.values["supervised"] = Setting(True, stmt.line, stmt.name_col)
                return
            message = f"expected '=' after {stmt.name!r}"
        if message:
            self.src.error(stmt.line, stmt.name_col, message)
            return
        assert directive is not None
        try:
            value = directive.read(self._field(stmt), blk)
        except Problem as exc:
            self.src.error(stmt.line, exc.col or stmt.value_col, exc.message)
            return
        setting = Setting(value, stmt.line, stmt.name_col)
        if directive.multi:
            scope.lists.setdefault(stmt.name, []).append(setting)
            return
        if stmt.name in scope.values:
            self.src.warning(stmt.line, stmt.name_col, f"{stmt.name} given again: this value "
                             f"replaces the one on line {scope.values[stmt.name].line}")
        scope.values[stmt.name] = setting

    # -- the whole file ------------------------------------------------------------
    def _finish(self) -> Config:
        g = self.globals
        for name in ("fallback", "fallback6"):
            if name in g:  # ldirectord resolves the global fallback for tcp and for udp
                for protocol in ("tcp", "udp"):
                    self._resolve_fallback(g.get(name), protocol, 0)
        if g.get("fork"):
            self.src.warning(g.values["fork"].line, 1, "fork=yes has no effect in lvsd: "
                             "every real server is already checked on its own schedule")
        virtuals: list[VirtualService] = []
        seen: dict[ServiceKey, int] = {}
        for blk in self.blocks:
            virtual = self._build(blk)
            if virtual is None:
                continue
            first = seen.setdefault(virtual.key, blk.header.line)
            if first != blk.header.line:
                self.src.error(blk.header.line, blk.header.value_col, "duplicate virtual "
                               f"service {virtual.ident} (first defined on line {first})")
                continue
            virtuals.append(virtual)
        execute = dict.fromkeys(s.value for s in g.lists.get("execute", []))
        announce = announce_settings(g, self.src.error)
        for line, col, message in ecmp_warnings(virtuals, announce):
            self.src.warning(line, col, message)
        return Config(
            path=self.src.path, virtuals=tuple(virtuals),
            logfile=g.get("logfile", DEFAULT_LOGFILE),
            checkinterval=float(g.get("checkinterval", DEFAULT_CHECKINTERVAL)),
            cleanstop=g.get("cleanstop", True), autoreload=g.get("autoreload", False),
            readdquiescent=g.get("readdquiescent", False),
            supervised=g.get("supervised", False), maintenancedir=g.get("maintenancedir"),
            fork=g.get("fork", False), callback=g.get("callback"), execute=tuple(execute),
            emailalertfrom=g.get("emailalertfrom"),
            fallbackcommand=g.get("fallbackcommand"), emailalert=g.get("emailalert", ""),
            emailalertfreq=g.get("emailalertfreq", 0),
            emailalertstatus=g.get("emailalertstatus", ALL_EMAIL_STATUSES),
            smtp=g.get("smtp"),
            resyncinterval=float(g.get("resyncinterval")) if "resyncinterval" in g else None,
            sync=sync_settings(g, self.src.error), vrrptrackfile=g.get("vrrptrackfile"),
            vrrp=vrrp_settings(g, self.src.error), announce=announce,
        )

    def _build(self, blk: VirtualBlock) -> VirtualService | None:
        spec, v, g = blk.spec, blk.scope, self.globals
        if spec is None:
            return None
        header = blk.header
        fwmark = spec.fwmark
        if fwmark is not None:
            protocol: Protocol = "fwm"
            ip, port = None, 0
        else:
            assert spec.host is not None and spec.port is not None
            default = "udp" if spec.port.text in ("53", "domain") else "tcp"
            protocol = v.get("protocol", default)
            try:
                ip = self.names.host(spec.host, blk.ipv6)
                port = self.names.port(spec.port, protocol)
            except Problem as exc:
                self.src.error(header.line, exc.col, exc.message)
                return None
            if port == 0 and "persistent" not in v:
                self.src.error(header.line, spec.port.col, "port 0 needs persistent= "
                               "(ipvsadm rejects a zero port for a non-persistent service)")
                return None
        where = Location(file=self.src.path, line=header.line, col=header.value_col)
        service = v.get("service") or ("none" if fwmark is not None else
                                       _port_to_service(port))
        checktype, per_negotiate = v.get("checktype", ("negotiate", None))
        ct, nt = _timeouts(v, g)
        fallback_spec = v.get("fallback6" if blk.ipv6 else "fallback") or \
            g.get("fallback6" if blk.ipv6 else "fallback")
        fallback = None
        if fallback_spec is not None:
            fallback = self._resolve_fallback(fallback_spec, protocol, port)
        login, passwd = v.get("login", ""), v.get("passwd", "")
        if "service" in v and service in ("ftp", "sip"):
            me = f"ldirectord@{_hostname()}"
            login = login or ("anonymous" if service == "ftp" else me)
            passwd = passwd or (me if service == "ftp" else "")
        reals = build_reals(self.src, self.names, _real_specs(v), ipv6=blk.ipv6,
                            fwmark=fwmark is not None, vport=port)

        def both(key: str, default: Any) -> Any:
            return v.get(key, g.get(key, default))

        virtual = VirtualService(
            protocol=protocol, ip=ip, port=port, fwmark=fwmark, ipv6=blk.ipv6,
            reals=tuple(reals), scheduler=v.get("scheduler", "wrr"),
            persistent=v.get("persistent"), netmask=v.get("netmask"),
            checktype=checktype, connects_per_negotiate=per_negotiate, service=service,
            request=v.get("request", "/"), receive=v.get("receive", ""),
            virtualhost=v.get("virtualhost"), httpmethod=v.get("httpmethod", "GET"),
            checkport=v.get("checkport"), checktimeout=ct, negotiatetimeout=nt,
            checkinterval=float(both("checkinterval", DEFAULT_CHECKINTERVAL)),
            failurecount=both("failurecount", 1), quiescent=both("quiescent", False),
            cleanstop=both("cleanstop", True), fallback=fallback,
            checkcount=both("checkcount", 1), checkcommand=v.get("checkcommand", "/bin/true"),
            login=login, passwd=passwd, database=v.get("database", ""),
            secret=v.get("secret", ""), load=v.get("load"),
            schedflags=v.get("schedflags"), ops=v.get("ops", False),
            fallbackcommand=both("fallbackcommand", None),
            emailalert=both("emailalert", ""), emailalertfreq=both("emailalertfreq", 0),
            emailalertstatus=both("emailalertstatus", ALL_EMAIL_STATUSES),
            smtp=both("smtp", None), monitorfile=v.get("monitorfile"),
            servicename=v.get("servicename"), comment=v.get("comment"), where=where,
            drain=both("drain", False),
            draintimeout=float(both("draintimeout", DEFAULT_DRAINTIMEOUT)),
            risecount=both("risecount", 1), tlsverify=both("tlsverify", False),
            tlsservername=v.get("tlsservername"), tlscafile=both("tlscafile", None),
        )
        self._warn_block(v, virtual, fork=g.get("fork", False))
        return virtual

    def _resolve_fallback(self, spec: FallbackSpec, protocol: str, vport: int
                          ) -> Fallback | None:
        try:
            ip = self.names.host(spec.host, spec.ipv6)
            port = vport if spec.port is None else self.names.port(
                spec.port, protocol if protocol != "fwm" else None)
        except Problem as exc:
            self.src.error(spec.line, exc.col, f"fallback server: {exc.message}")
            return None
        return Fallback(ip=ip, port=port, forward=spec.forward)

    def _warn_block(self, v: Scope, virtual: VirtualService, *, fork: bool) -> None:
        warn = self.src.warning
        if "checkinterval" in v and not fork:
            warn(v.values["checkinterval"].line, v.values["checkinterval"].col,
                 f"checkinterval in virtual service {virtual.ident}: ldirectord ignores it when "
                 "fork=no; lvsd honours it (every real server is checked on its own schedule)")
        if v.get("ops") and virtual.protocol != "udp":
            warn(v.values["ops"].line, v.values["ops"].col,
                 "ops=yes only applies to udp services; ignored (as by ldirectord)")
        if "netmask" in v and "persistent" not in v:
            warn(v.values["netmask"].line, v.values["netmask"].col,
                 "netmask has no effect without persistent= (ldirectord ignores it too)")
        if (v.get("httpmethod") == "HEAD" and v.get("receive")
                and virtual.service in ("http", "https", "http_proxy")):
            warn(v.values["receive"].line, v.values["receive"].col,
                 "a receive string never matches with httpmethod=HEAD (no response body)")


def _timeouts(v: Scope, g: Scope) -> tuple[float, float]:
    """ld_setup's mutual fallback of checktimeout and negotiatetimeout (reference §1.6)."""
    order = [v.get("checktimeout"), v.get("negotiatetimeout"),
             g.get("checktimeout"), g.get("negotiatetimeout")]
    check = next((t for t in order if t is not None), DEFAULT_CHECKTIMEOUT)
    order = [order[1], order[0], order[3], order[2]]
    negotiate = next((t for t in order if t is not None), DEFAULT_NEGOTIATETIMEOUT)
    return float(check), float(negotiate)


def _port_to_service(port: int) -> str:
    return next((name for name, p in SERVICE_PORTS.items() if p == port), "none")


def _real_specs(v: Scope) -> list[RealSpec]:
    specs = [*v.lists.get("real", []), *v.lists.get("real6", [])]
    return [s.value for s in sorted(specs, key=lambda s: s.line)]


def _hostname() -> str:
    return socket.gethostname()


def _unknown(name: str) -> str:
    known = [*DIRECTIVES, *DEPRECATED, "virtual", "virtual6"]
    lower = {k.lower(): k for k in known}
    if name.lower() in lower:
        return (f"unknown directive {name!r} (directives are case-sensitive: "
                f"did you mean {lower[name.lower()]!r}?)")
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown directive {name!r}{hint}"

