"""Write a :class:`Config` as ldirectord.cf or YAML that reads back to the same Config.

The model holds effective values, so :func:`statements` first decides what
must be said: the globals the model keeps (``logfile``, ``checkinterval``,
``cleanstop``, ...), and per virtual whatever differs from what a reader would
derive (the service and protocol from the port, the timeouts' mutual
fallback, the values a block inherits from the globals). Ranges were expanded
by the reader and come out one real server each. Both renderers format the
same statements, so the two formats cannot drift apart.

A value a format cannot hold is an error naming the virtual, never a silent
change. ldirectord.cf cannot hold a ``#`` inside a virtual block (it starts a
comment), a line break, a ``"`` in a per-real request, or a virtual that must
*not* inherit a global fallbackcommand / emailalert / smtp. lvsd-only settings
(``reentry``, ``send_program``, from piranha lvs.cf) go into YAML and are
dropped from ldirectord.cf with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints

from lvsd.addr import bracketed, host_port
from lvsd.config.directives import DIRECTIVES, QUOTED, SERVICE_PORTS
from lvsd.config.errors import ConfigError, Diagnostic
from lvsd.config.model import (
    ALL_EMAIL_STATUSES,
    DEFAULT_CHECKINTERVAL,
    DEFAULT_CHECKTIMEOUT,
    DEFAULT_DRAINTIMEOUT,
    DEFAULT_LOGFILE,
    DEFAULT_NEGOTIATETIMEOUT,
    Config,
    EmailStatus,
    RealServer,
    VirtualService,
)

Value = str | int | bool
LVSD_ONLY = ("reentry", "send_program")  # no ldirectord.cf directive


def default_service(v: VirtualService) -> str:
    if v.fwmark is not None:
        return "none"
    return next((name for name, port in SERVICE_PORTS.items() if port == v.port), "none")


def default_protocol(v: VirtualService) -> str:
    if v.fwmark is not None:
        return "fwm"
    return "udp" if v.port == 53 else "tcp"


def email_status(states: frozenset[EmailStatus]) -> str:
    if states == ALL_EMAIL_STATUSES:
        return "all"
    return ",".join(sorted(states)) or "none"


@dataclass(slots=True)
class Block:
    """One virtual service as statements: its header, its settings, its reals."""

    virtual: VirtualService
    header: tuple[str, Value]
    settings: list[tuple[str, Value]] = field(default_factory=list)
    reals: list[dict[str, Value]] = field(default_factory=list)


@dataclass(slots=True)
class Plan:
    config: Config
    globals: list[tuple[str, Value]] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)

    def note(self, v: VirtualService | None, message: str, *, warning: bool = False) -> None:
        where = v.where if v is not None else None
        self.problems.append(Diagnostic(
            file=where.file if where else self.config.path, line=where.line if where else 0,
            col=where.col if where else 0, message=message, severity="warning" if warning else "error"))

    def seconds(self, v: VirtualService | None, name: str, value: float) -> int:
        if not float(value).is_integer():
            self.note(v, f"{name}={value:g}: only whole seconds can be written")
        return int(value)

    def raise_if_errors(self) -> list[Diagnostic]:
        errors = [d for d in self.problems if d.severity == "error"]
        if errors:
            raise ConfigError(errors)
        return [d for d in self.problems if d.severity == "warning"]


def statements(config: Config) -> Plan:
    """What a file must say so that reading it gives ``config`` back."""
    p = Plan(config)
    c, g = config, p.globals
    if c.logfile != DEFAULT_LOGFILE:
        g.append(("logfile", c.logfile))
    if c.checkinterval != DEFAULT_CHECKINTERVAL:
        g.append(("checkinterval", p.seconds(None, "checkinterval", c.checkinterval)))
    for name, flag, default in (("cleanstop", c.cleanstop, True), ("autoreload", c.autoreload, False),
                                ("readdquiescent", c.readdquiescent, False),
                                ("supervised", c.supervised, False), ("fork", c.fork, False)):
        if flag != default:
            g.append((name, flag))
    optional: tuple[tuple[str, str | None], ...] = (
        ("maintenancedir", c.maintenancedir), ("callback", c.callback),
        ("emailalertfrom", c.emailalertfrom), ("fallbackcommand", c.fallbackcommand),
        ("emailalert", c.emailalert or None), ("smtp", c.smtp))
    g += [(name, text) for name, text in optional if text is not None]
    g += [("execute", item) for item in c.execute]
    if c.emailalertfreq:
        g.append(("emailalertfreq", c.emailalertfreq))
    if c.emailalertstatus != ALL_EMAIL_STATUSES:
        g.append(("emailalertstatus", email_status(c.emailalertstatus)))
    if c.resyncinterval is not None:
        g.append(("resyncinterval", p.seconds(None, "resyncinterval", c.resyncinterval)))
    if c.sync is not None:
        s = c.sync
        g.append(("syncinterface", s.interface))
        if s.role != "both":
            g.append(("syncrole", s.role))
        g += [(name, value) for name, value in (("syncid", s.syncid), ("syncmaxlen", s.maxlen), ("syncgroup", s.group),
                                                ("syncport", s.port), ("syncttl", s.ttl)) if value]
    if c.vrrptrackfile is not None:
        g.append(("vrrptrackfile", c.vrrptrackfile))
    if c.vrrp is not None:
        r = c.vrrp
        if r.interface:
            g.append(("vrrpinterface", r.interface))
        g.append(("vrrpid", r.vrid))
        g.append(("vrrpadvert", f"{r.advert:g}"))
        g.append(("vrrpwarmup", r.warmup))
        g += [("vrrpnode", " ".join(x for x in (n.name, str(n.priority), n.address) if x)) for n in r.nodes]
        g += [("vrrpaddress", f"{a} dev {dev}" if dev else a) for a, dev in r.addresses]
    if c.announce is not None:
        a = c.announce
        g.append(("announce", a.mode))
        if a.interface:
            g.append(("announceinterface", a.interface))
        g += [("announcerise", int(a.rise)), ("announcefall", int(a.fall)), ("withdrawwait", int(a.withdrawwait))]
        if a.fallback:
            g.append(("announcefallback", True))
        if a.attributes:
            g.append(("announceattributes", a.attributes))
    for v in c.virtuals:
        p.blocks.append(_block(p, v))
    return p


def _block(p: Plan, v: VirtualService) -> Block:
    c = p.config
    six = "6" if v.ipv6 else ""
    if v.fwmark is not None:
        blk = Block(v, (f"virtual{six}", v.fwmark))
    else:
        assert v.ip is not None
        blk = Block(v, (f"virtual{six}", host_port(v.ip, v.port)))
    s = blk.settings
    if v.protocol != default_protocol(v):
        s.append(("protocol", v.protocol))
    blk.reals = [_real(r) for r in v.reals]
    if v.scheduler != "wrr":
        s.append(("scheduler", v.scheduler))
    s += [(name, value) for name, value in (("persistent", v.persistent), ("netmask", v.netmask),
                                            ("schedflags", v.schedflags)) if value is not None]
    if v.ops:
        s.append(("ops", True))
    if v.connects_per_negotiate is not None:
        s.append(("checktype", v.connects_per_negotiate))
    elif v.checktype != "negotiate":
        s.append(("checktype", v.checktype))
    explicit = v.service != default_service(v)
    if explicit:
        s.append(("service", v.service))
        if v.service == "ftp" and not (v.login and v.passwd):
            p.note(v, "service=ftp with an empty login or passwd cannot be written (naming the "
                   "service sets ldirectord's anonymous login)")
        if v.service == "sip" and not v.login:
            p.note(v, "service=sip with an empty login cannot be written (naming the service sets "
                   "ldirectord's default login)")
    s += [(name, text) for name, text in (("login", v.login), ("passwd", v.passwd)) if text]
    if v.checkcommand != "/bin/true":
        s.append(("checkcommand", v.checkcommand))
    if v.checkport is not None:
        s.append(("checkport", v.checkport))
    if v.request != "/":
        s.append(("request", v.request))
    if v.receive:
        s.append(("receive", v.receive))
    if v.httpmethod != "GET":
        s.append(("httpmethod", v.httpmethod))
    s += [(name, text) for name, text in (("virtualhost", v.virtualhost), ("database", v.database or None),
                                          ("secret", v.secret or None), ("load", v.load)) if text is not None]
    if (v.checktimeout, v.negotiatetimeout) != (DEFAULT_CHECKTIMEOUT, DEFAULT_NEGOTIATETIMEOUT):
        # Both, always: each is the other's fallback when only one is given.
        s.append(("checktimeout", p.seconds(v, "checktimeout", v.checktimeout)))
        s.append(("negotiatetimeout", p.seconds(v, "negotiatetimeout", v.negotiatetimeout)))
    if v.checkinterval != c.checkinterval:
        s.append(("checkinterval", p.seconds(v, "checkinterval", v.checkinterval)))
    s += [(name, n) for name, n in (("checkcount", v.checkcount), ("failurecount", v.failurecount)) if n != 1]
    if v.quiescent:
        s.append(("quiescent", True))
    if v.cleanstop != c.cleanstop:
        s.append(("cleanstop", v.cleanstop))
    if v.fallback is not None:
        fb = v.fallback
        s.append((f"fallback{six}", f"{host_port(fb.ip, fb.port)} {fb.forward}"))
    for name, mine, theirs in (("fallbackcommand", v.fallbackcommand, c.fallbackcommand),
                               ("emailalert", v.emailalert or None, c.emailalert or None),
                               ("smtp", v.smtp, c.smtp)):
        if mine == theirs:
            continue
        if mine is None:
            p.note(v, f"this virtual has no {name} while the globals set one, which cannot be "
                   "written (a virtual inherits the global value)")
        else:
            s.append((name, mine))
    if v.emailalertfreq != c.emailalertfreq:
        s.append(("emailalertfreq", v.emailalertfreq))
    if v.emailalertstatus != c.emailalertstatus:
        s.append(("emailalertstatus", email_status(v.emailalertstatus)))
    if v.drain:
        s.append(("drain", True))
    if v.draintimeout != DEFAULT_DRAINTIMEOUT:
        s.append(("draintimeout", p.seconds(v, "draintimeout", v.draintimeout)))
    if v.risecount != 1:
        s.append(("risecount", v.risecount))
    if v.tlsverify:
        s.append(("tlsverify", True))
    s += [(name, text) for name, text in (("tlsservername", v.tlsservername), ("tlscafile", v.tlscafile))
          if text is not None]
    s += [(name, text) for name, text in (("monitorfile", v.monitorfile), ("servicename", v.servicename),
                                          ("comment", v.comment)) if text is not None]
    if v.reentry:
        s.append(("reentry", p.seconds(v, "reentry", v.reentry)))
    if v.send_program is not None:
        s.append(("send_program", v.send_program))
    return blk


def _real(r: RealServer) -> dict[str, Value]:
    out: dict[str, Value] = {"real": bracketed(r.ip) + (f":{r.port}" if r.port else ""), "forward": r.forward}
    if r.weight != 1:
        out["weight"] = r.weight
    if r.request is not None or r.receive is not None:
        out["request"] = r.request or "/"
        out["receive"] = r.receive or ""
    if r.lower:
        out["l_threshold"] = r.lower
    if r.upper:
        out["u_threshold"] = r.upper
    return out


# -- ldirectord.cf -----------------------------------------------------------------


def _cf_value(p: Plan, v: VirtualService | None, name: str, value: Value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if name == "request" and "\n" in text:  # from lvs.cf's escapes; ldirectord knows only \n
        if "\r\n" in text:
            p.note(v, "request: CR LF written as \\n (ldirectord.cf's simpletcp request has no \\r escape)",
                   warning=True)
        text = text.replace("\r\n", "\n").replace("\n", "\\n")
    if "\n" in text or "\r" in text:
        p.note(v, f"{name}: a line break cannot be written in ldirectord.cf")
    elif v is not None and "#" in text:
        p.note(v, f"{name}: a '#' cannot be written in a virtual block of ldirectord.cf (it starts "
               f"a comment there): {text!r}")
    elif v is None and (" #" in text or "\t#" in text):
        p.note(v, f"{name}: ' #' cannot be written in a global value of ldirectord.cf: {text!r}")
    if name in QUOTED or (v is not None and name == "fallbackcommand"):
        return f'"{text}"'
    if name == "virtualhost" and '"' not in text:
        return f'"{text}"'
    return text


def _cf_real(r: dict[str, Value]) -> str:
    text = f"{r['real']} {r['forward']}"
    if "weight" in r:
        text += f" {r['weight']}"
    if "request" in r:
        text += f' "{r["request"]}" "{r["receive"]}"'
    if "l_threshold" in r:
        text += f" l:{r['l_threshold']}"
    if "u_threshold" in r:
        text += f" u:{r['u_threshold']}"
    return text


def to_ldirectord(config: Config) -> tuple[str, list[Diagnostic]]:
    """``config`` as ldirectord.cf text plus warnings; ConfigError if it cannot be written."""
    p = statements(config)
    lines = ["# Written by lvsd convert: effective values, one real server per line."]
    lines += [f"{name}={_cf_value(p, None, name, value)}" for name, value in p.globals]
    for blk in p.blocks:
        v = blk.virtual
        lines += ["", f"{blk.header[0]}={blk.header[1]}"]
        real = "real6" if v.ipv6 else "real"
        for r in blk.reals:
            if '"' in f"{r.get('request', '')}{r.get('receive', '')}":
                p.note(v, f"real server {r['real']}: a '\"' in its request or receive cannot be "
                       "written in ldirectord.cf")
            lines.append(f"    {real}={_cf_value(p, v, real, _cf_real(r))}")
        for name, value in blk.settings:
            if name in LVSD_ONLY:
                p.note(v, f"{name}={value} has no ldirectord.cf directive: dropped", warning=True)
                continue
            lines.append(f"    {name}={_cf_value(p, v, name, value)}")
    warnings = p.raise_if_errors()
    return "\n".join(lines) + "\n", warnings


# -- YAML --------------------------------------------------------------------------


def to_yaml(config: Config) -> tuple[str, list[Diagnostic]]:
    """``config`` as a YAML document (the schema of yaml_reader.py); ConfigError if it cannot be."""
    p = statements(config)
    doc: dict[str, object] = {}
    for name, value in p.globals:
        if DIRECTIVES[name].multi:
            items = doc.setdefault(name, [])
            assert isinstance(items, list)
            items.append(value)
        else:
            doc[name] = value
    virtuals = []
    for blk in p.blocks:
        item: dict[str, object] = dict([blk.header])
        item.update(blk.settings)
        item["reals"] = blk.reals
        virtuals.append(item)
    doc["virtuals"] = virtuals
    warnings = p.raise_if_errors()
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)
    return "# Written by lvsd convert (lvsd's YAML config; see lvsd/config/yaml_reader.py).\n" + text, warnings
