"""The directives of ldirectord.cf: where each may appear and how its value is read.

A reader turns a statement's value into a Python value (or raises Problem);
ldirectord.py stores it and resolves effective values at the end of the file.
Scopes follow ldirectord: "global" directives only in column 0, "virtual" ones
only inside a block, "both" in either (the block's value wins).

Deliberate differences from ldirectord, each an error instead of a silent
misreading (reference §1.3 and §5.2):

* ``checktype`` must be a whole keyword or a number; ldirectord turns any
  value containing a digit (``negotiate2``) into combined mode;
* ``scheduler`` must be a kernel scheduler; ldirectord takes the first
  ``[a-z]+`` run, so ``Wrr`` silently becomes ``rr``;
* ``logfile`` must be an absolute path or a syslog facility; ldirectord takes
  any other text (a relative path, a typo) as a facility name;
* ``persistent=0`` and empty ``virtualhost=`` are rejected (ipvsadm and HTTP
  would fail later).

``monitorfile`` and ``maintenancedir`` are stored only: ldirectord opens the
one and tests the other while parsing; this reader does no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from lvsd.config.addresses import parse_fallback, parse_real
from lvsd.config.ecmp import ANNOUNCE_DIRECTIVES
from lvsd.config.model import ALL_EMAIL_STATUSES, EmailStatus
from lvsd.config.pair import PAIR_DIRECTIVES
from lvsd.config.values import Field, choices

Scope = Literal["global", "virtual", "both"]

CHECKTYPES = ("connect", "negotiate", "ping", "external", "external-perl", "on", "off")
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo",
              "ovf", "mh")
# ld_port_to_service / ld_service_to_port: the negotiate service of a port and back.
SERVICE_PORTS = {
    "ftp": 21, "smtp": 25, "dns": 53, "http": 80, "pop": 110, "nntp": 119, "imap": 143,
    "ldap": 389, "https": 443, "submission": 587, "ldaps": 636, "imaps": 993, "pops": 995,
    "oracle": 1521, "radius": 1812, "http_proxy": 3128, "mysql": 3306, "sip": 5060,
    "pgsql": 5432,
}
SERVICES = tuple(sorted([*SERVICE_PORTS, "none", "simpletcp"]))
# Directives whose value ldirectord.cf writes in double quotes (the YAML reader and the writer put them back).
QUOTED = frozenset(("request", "receive", "login", "passwd", "database", "secret", "load", "logfile",
                    "callback", "checkcommand", "monitorfile", "emailalert"))
FACILITIES = ("auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news",
              "syslog", "user", "uucp", *(f"local{i}" for i in range(8)))
MAX_SECONDS = 2**31 - 1
MAX_PERSISTENT = 31 * 86400  # ipvsadm -p
DEPRECATED = {
    "timeout": "timeout directive deprecated in favour of checktimeout and negotiatetimeout",
    "connecttimeout": "connecttimeout directive deprecated in favour of negotiatetimeout",
}


@dataclass(frozen=True, slots=True)
class Block:
    """What a member's reader needs to know about its virtual service."""

    ipv6: bool
    fwmark: bool


Reader = Callable[[Field, Block], object]


@dataclass(frozen=True, slots=True)
class Directive:
    read: Reader
    scope: Scope
    multi: bool = False  # may repeat (real=, execute=); otherwise the last one wins


def _seconds(f: Field, _: Block) -> int:
    return f.integer(minimum=1, maximum=MAX_SECONDS,
                     what=f"{f.name} must be a whole number of seconds")


def _count(f: Field, _: Block) -> int:
    return f.integer(minimum=1, maximum=MAX_SECONDS)


def _checkcount(f: Field, blk: Block) -> int:
    f.warn_name("checkcount is deprecated (ldirectord uses it only for ping attempts); "
                "see failurecount")
    return _count(f, blk)


def _yes_no(f: Field, _: Block) -> bool:
    return f.yes_no()


def _quoted(f: Field, _: Block) -> str:
    return f.nonempty(f.quoted(), "a value")


def _raw(f: Field, _: Block) -> str:
    value = f.nonempty(f.raw(), "a value")
    if len(value) > 1 and value[0] == value[-1] == '"':
        f.warn(f"the quotes are part of the value: ldirectord does not strip them for {f.name}")
    return value


def _command(f: Field, blk: Block) -> str:
    # Global fallbackcommand is taken raw (the shell strips quotes); in a block quotes
    # are optional, as for checkcommand.
    if f.stmt.in_block:
        return f.nonempty(f.maybe_quoted(), "a command")
    return f.nonempty(f.raw(), "a command")


def _text(f: Field, _: Block) -> str:
    return f.raw(quiet=True)


def _fallback(f: Field, blk: Block) -> object:
    ipv6 = f.name == "fallback6"
    if f.stmt.in_block and ipv6 != blk.ipv6:
        want = "fallback6" if blk.ipv6 else "fallback"
        raise f.name_problem(f"cannot use {f.name} in a virtual{'6' if blk.ipv6 else ''} "
                             f"block; use {want}")
    return parse_fallback(f, ipv6)


def _real(f: Field, blk: Block) -> object:
    if (f.name == "real6") != blk.ipv6:
        want = "real6" if blk.ipv6 else "real"
        raise f.name_problem(f"cannot use {f.name} in a virtual{'6' if blk.ipv6 else ''} "
                             f"block; use {want}")
    return parse_real(f, blk.ipv6)


def _checktype(f: Field, _: Block) -> tuple[str, int | None]:
    word = f.token()
    if re.fullmatch(r"[0-9]+", word, re.ASCII):
        n = f.integer(minimum=0, maximum=MAX_SECONDS)
        return ("negotiate", n)  # combined: N connect checks, then one negotiate
    if word not in CHECKTYPES:
        raise f.problem(f"unknown checktype {word!r} (expected {', '.join(CHECKTYPES)} "
                        "or a number)")
    f.tail(len(word), after=f"'{word}'")
    return (word, None)


def _service(f: Field, _: Block) -> str:
    return f.word(SERVICES, what="service")


def _scheduler(f: Field, _: Block) -> str:
    token = f.token()
    if token not in SCHEDULERS:
        first = re.search(r"[a-z]+", f.text, re.ASCII)
        misread = (f"; ldirectord would silently use {first.group()!r}"
                   if first and first.group() != token else "")
        raise f.problem(f"unknown scheduler {token!r} (expected one of the kernel's IPVS "
                        f"schedulers, in lower case: {choices(SCHEDULERS)}{misread})")
    f.tail(len(token), after=f"'{token}'")
    return token


def _protocol(f: Field, blk: Block) -> str:
    if blk.fwmark:
        f.word(["fwm"], what="protocol for a firewall-mark virtual service")
        return "fwm"
    return f.word(["tcp", "udp"], what="protocol")


def _netmask(f: Field, blk: Block) -> str:
    if blk.ipv6:
        return str(f.integer(minimum=1, maximum=128,
                             what="netmask must be an IPv6 prefix length"))
    token = f.token()
    try:
        ipaddress.IPv4Address(token)
    except ValueError:
        raise f.problem(f"netmask must be a dotted quad such as 255.255.255.0, "
                        f"not {token!r}") from None
    f.tail(len(token), after=token, blanks="trailing blanks after netmask: ldirectord "
           "rejects this line; lvsd accepts it")
    return token


def _httpmethod(f: Field, _: Block) -> str:
    token = f.token()
    if token.upper() not in ("GET", "HEAD") or not token.isascii():
        raise f.problem(f"httpmethod must be GET or HEAD, not {token!r}")
    f.tail(len(token), after=token)
    return token.upper()


def _request(f: Field, blk: Block) -> str:
    value = f.nonempty(f.quoted(), "a request string")
    return value if value.startswith("/") else "/" + value


def _load(f: Field, blk: Block) -> str:
    value = f.quoted()
    if not re.fullmatch(r"[A-Za-z0-9_]+", value, re.ASCII):
        raise f.problem(f"invalid string for load testing: {value!r} (expected a word)")
    return value


def _smtp(f: Field, _: Block) -> str:
    match = re.match(r"[0-9A-Za-z._+-]+", f.text, re.ASCII)
    if not match:
        raise f.problem("invalid SMTP server address (expected a host name or address)")
    f.tail(match.end(), after=match.group())
    return match.group()


def _schedflags(f: Field, _: Block) -> str:
    match = re.match(r"[A-Za-z0-9_,-]+", f.text, re.ASCII)
    if not match:
        raise f.problem("invalid schedflags (expected flags such as sh-port,sh-fallback)")
    f.tail(match.end(), after=match.group())
    return match.group()


def _emailalert(f: Field, _: Block) -> str:
    return f.nonempty(f.maybe_quoted(), "an email address")


def _emailalertfreq(f: Field, _: Block) -> int:
    return f.integer(minimum=0, maximum=MAX_SECONDS,
                     what="emailalertfreq must be a whole number of seconds")


def _emailalertstatus(f: Field, _: Block) -> frozenset[EmailStatus]:
    items = [item.strip(" \t") for item in f.raw().split(",")]
    while len(items) > 1 and not items[-1]:
        items.pop()  # Perl's split drops trailing empty fields
    known = ("all", "none", *sorted(ALL_EMAIL_STATUSES))
    states: set[EmailStatus] = set()
    for item in items:
        if item not in known:
            raise f.problem(f"invalid email alert status {item!r} (expected a comma "
                            f"separated list of {choices(known)})")
        if item == "all":
            states |= ALL_EMAIL_STATUSES
        elif item != "none":
            states.add(item)  # type: ignore[arg-type]  # checked against known
    if "none" in items and len(items) > 1:
        raise f.problem("invalid email alert status: 'none' cannot be combined with others")
    return frozenset(states)


def _logfile(f: Field, _: Block) -> str:
    value = f.nonempty(f.quoted(), "a path or a syslog facility")
    if not value.startswith("/") and value not in FACILITIES:
        raise f.problem(f"logfile must be an absolute path or a syslog facility "
                        f"({choices(FACILITIES)}), not {value!r}")
    return value


def _callback(f: Field, _: Block) -> str | None:
    value = f.quoted()
    if not value:
        f.warn("empty callback: ignored (ldirectord never runs it either)")
        return None
    return value


def _maybe_quoted(f: Field, _: Block) -> str:
    return f.nonempty(f.maybe_quoted(), "a value")


def _virtualhost(f: Field, _: Block) -> str:
    return f.nonempty(f.maybe_quoted(greedy=False), "a host name")


def _port(f: Field, _: Block) -> int:
    return f.integer(minimum=1, maximum=65535, what="checkport must be a port number")


def _persistent(f: Field, _: Block) -> int:
    return f.integer(minimum=1, maximum=MAX_PERSISTENT,
                     what="persistent must be a whole number of seconds")


D = Directive
DIRECTIVES: dict[str, Directive] = {
    # both levels
    "checktimeout": D(_seconds, "both"),
    "negotiatetimeout": D(_seconds, "both"),
    "checkinterval": D(_seconds, "both"),
    "checkcount": D(_checkcount, "both"),
    "failurecount": D(_count, "both"),
    "fallback": D(_fallback, "both"),
    "fallback6": D(_fallback, "both"),
    "fallbackcommand": D(_command, "both"),
    "quiescent": D(_yes_no, "both"),
    "cleanstop": D(_yes_no, "both"),
    "emailalert": D(_emailalert, "both"),
    "emailalertfreq": D(_emailalertfreq, "both"),
    "emailalertstatus": D(_emailalertstatus, "both"),
    "smtp": D(_smtp, "both"),
    "drain": D(_yes_no, "both"),  # lvsd extension: drain reals removed from the config
    "draintimeout": D(_seconds, "both"),  # lvsd extension: the longest drain
    "risecount": D(_count, "both"),  # lvsd extension: passed checks that bring a failed real back
    "tlsverify": D(_yes_no, "both"),  # lvsd extension: verify TLS certificates (https, pops, imaps, ldaps)
    "tlscafile": D(_maybe_quoted, "both"),  # lvsd extension: CA bundle for tlsverify=yes
    # global only
    "autoreload": D(_yes_no, "global"),
    "fork": D(_yes_no, "global"),
    "readdquiescent": D(_yes_no, "global"),
    "supervised": D(_yes_no, "global"),
    "callback": D(_callback, "global"),
    "logfile": D(_logfile, "global"),
    "execute": D(_raw, "global", multi=True),
    "emailalertfrom": D(_raw, "global"),
    "maintenancedir": D(_raw, "global"),
    "resyncinterval": D(_seconds, "global"),  # lvsd extension: full kernel table re-read period
    # lvsd extensions (director pairs): the sync daemons and keepalived's VRRP (lvsd/config/pair.py)
    **{name: D(read, "global", multi=multi) for name, (read, multi) in PAIR_DIRECTIVES.items()},
    # lvsd extensions (active-active): announcing the VIPs to ECMP routers (lvsd/config/ecmp.py)
    **{name: D(read, "global", multi=multi) for name, (read, multi) in ANNOUNCE_DIRECTIVES.items()},
    # virtual only
    "real": D(_real, "virtual", multi=True),
    "real6": D(_real, "virtual", multi=True),
    "checktype": D(_checktype, "virtual"),
    "service": D(_service, "virtual"),
    "checkcommand": D(lambda f, b: f.nonempty(f.maybe_quoted(), "a command"), "virtual"),
    "checkport": D(_port, "virtual"),
    "request": D(_request, "virtual"),
    "receive": D(lambda f, b: f.nonempty(f.quoted(), "a receive string"), "virtual"),
    "login": D(_quoted, "virtual"),
    "passwd": D(_quoted, "virtual"),
    "database": D(_quoted, "virtual"),
    "secret": D(_quoted, "virtual"),
    "load": D(_load, "virtual"),
    "scheduler": D(_scheduler, "virtual"),
    "persistent": D(_persistent, "virtual"),
    "schedflags": D(_schedflags, "virtual"),
    "netmask": D(_netmask, "virtual"),
    "protocol": D(_protocol, "virtual"),
    "ops": D(_yes_no, "virtual"),
    "httpmethod": D(_httpmethod, "virtual"),
    "virtualhost": D(_virtualhost, "virtual"),
    "tlsservername": D(_virtualhost, "virtual"),  # lvsd extension: TLS SNI and the name verified
    "monitorfile": D(_maybe_quoted, "virtual"),
    "servicename": D(_text, "virtual"),
    "comment": D(_text, "virtual"),
}
