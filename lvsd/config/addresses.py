"""The address grammars of ldirectord.cf: ``virtual=``, ``real=`` and ``fallback=``.

Parsing is split from resolution because ldirectord resolves a service-name
port with the virtual's protocol, which a later ``protocol=`` line may change:
the readers here return what was written (with columns), and :class:`Names`
turns it into address literals and port numbers at the end of the file.

Where ldirectord's regexes silently misread a line, lvsd reports an error
(documented fixes, reference §1.4, §1.5 and §5.2):

* ``virtual=10.0.0.1`` (no port) is firewall mark 10 to ldirectord;
* dotted numbers that are not a dotted quad (``10.1``, ``010.0.0.1``) reach
  ``getaddrinfo``, which reads them the ``inet_aton`` way (10.0.0.1, octal);
* in ``real=``, junk before ``l:`` is ignored, ``u:`` before ``l:`` is dropped,
  and quoted thresholds (``"l:10" "u:100"``, as the POD shows them) become the
  request ``/l:10`` and the receive ``u:100``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from lvsd.config.lexer import BLANKS
from lvsd.config.model import Forward
from lvsd.config.resolver import Resolver
from lvsd.config.source import Problem
from lvsd.config.values import Field

FORWARDS: tuple[Forward, ...] = ("gate", "masq", "ipip")
MAX_WEIGHT = 65535  # ipvsadm -w
MAX_THRESHOLD = 2**31 - 1  # ipvsadm -x / -y
MAX_FWMARK = 2**32 - 1

_PORT = r"[0-9A-Za-z_-]+"
_NUMERIC = re.compile(r"(?:[0-9]+|0[xX][0-9A-Fa-f]*)(?:\.(?:[0-9]+|0[xX][0-9A-Fa-f]*))*",
                      re.ASCII)
_V4 = re.compile(r"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}", re.ASCII)
_HOST_PORT = re.compile(rf"([0-9A-Za-z._+-]+)(?::({_PORT}))?", re.ASCII)
_BRACKETED = re.compile(rf"\[([^\]\s]*)\](?::({_PORT}))?", re.ASCII)
_REAL_ADDR = r"\[[^\]\s]*\]|[A-Za-z0-9.-]+"
_REAL = re.compile(rf"({_REAL_ADDR})(?:->({_REAL_ADDR}))?(?::({_PORT}))?(?=[ \t]|$)",
                   re.ASCII)
_BARE_V6 = re.compile(r"[0-9A-Fa-f]*:[0-9A-Fa-f]*:", re.ASCII)
_FORWARD = re.compile(r"[ \t]+([A-Za-z0-9_]+)", re.ASCII)
_WEIGHT = re.compile(r"[ \t]+([0-9]+)(?=[ \t]|$)", re.ASCII)
_PAIR = re.compile(r'[ \t]+"([^"]*)"(?:[ \t]*,[ \t]*|[ \t]+)"([^"]*)"', re.ASCII)
_THRESHOLD = re.compile(r"[ \t]+([lu]):([0-9]+)(?=[ \t]|$)", re.ASCII)
_OPEN_QUOTE = re.compile(r'[ \t]+"', re.ASCII)


@dataclass(frozen=True, slots=True)
class HostRef:
    text: str  # without brackets
    col: int
    kind: Literal["ipv4", "ipv6", "name"]


@dataclass(frozen=True, slots=True)
class PortRef:
    text: str
    col: int


@dataclass(frozen=True, slots=True)
class VirtualSpec:
    host: HostRef | None
    port: PortRef | None
    fwmark: int | None


@dataclass(frozen=True, slots=True)
class RealSpec:
    line: int
    col: int
    first: HostRef
    last: HostRef | None
    port: PortRef | None
    forward: Forward
    weight: int = 1
    request: str | None = None
    receive: str | None = None
    lower: int = 0
    upper: int = 0


@dataclass(frozen=True, slots=True)
class FallbackSpec:
    line: int
    ipv6: bool
    host: HostRef
    port: PortRef | None
    forward: Forward


@functools.lru_cache(maxsize=4096)
def _dotted_quad(text: str) -> bool:
    return _V4.fullmatch(text) is not None and all(int(o) <= 255 for o in text.split("."))


def _host(text: str, col: int, ipv6: bool, bracketed: bool) -> HostRef:
    """Classify and check an address as written; names are resolved later."""
    if bracketed or (":" in text):
        if not ipv6:
            raise Problem(f"IPv6 address [{text}] where an IPv4 address is expected "
                          "(use virtual6=, real6= or fallback6=)", col)
        if not bracketed:
            raise Problem(f"IPv6 addresses must be written in brackets: [{text}]", col)
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            raise Problem(f"invalid IPv6 address {text!r}", col) from None
        if "%" in text:
            raise Problem(f"invalid IPv6 address {text!r} (no zone index allowed)", col)
        return HostRef(text, col, "ipv6")
    if _NUMERIC.fullmatch(text):
        if not _dotted_quad(text):
            raise Problem(f"invalid IPv4 address {text!r} (expected a dotted quad such as "
                          "192.0.2.1; leading zeros and short forms are read differently "
                          "by different tools)", col)
        if ipv6:
            raise Problem(f"IPv4 address {text} in an IPv6 context (use virtual=, real= "
                          "or fallback=)", col)
        return HostRef(text, col, "ipv4")
    return HostRef(text, col, "name")


def _port(text: str | None, col: int) -> PortRef | None:
    return None if text is None else PortRef(text, col)


def parse_virtual(f: Field, ipv6: bool) -> VirtualSpec:
    """``virtual=`` / ``virtual6=``: ADDRESS:PORT, HOST:PORT, [IPv6]:PORT or a fwmark."""
    text, col = f.text, f.col
    bracketed = _BRACKETED.match(text)
    fwmark = re.match(r"[0-9]+(?=[ \t]|$)", text, re.ASCII)
    if bracketed:
        if not bracketed.group(2):
            raise f.problem("missing port after the IPv6 address: expected [IPv6]:PORT",
                            bracketed.end())
        host = _host(bracketed.group(1), col, ipv6, True)
        f.tail(bracketed.end(), after="the port")
        return VirtualSpec(host, _port(bracketed.group(2), col + bracketed.start(2)), None)
    if fwmark:
        mark = fwmark.group()
        if len(mark) > 10 or not 1 <= int(mark) <= MAX_FWMARK:
            raise f.problem(f"firewall mark must be from 1 to {MAX_FWMARK}, not {mark}")
        f.tail(fwmark.end(), after="the firewall mark")
        return VirtualSpec(None, None, int(mark))
    match = _HOST_PORT.match(text)
    if not match:
        raise f.problem("invalid address for virtual server (expected IPv4:PORT, HOST:PORT, "
                        "[IPv6]:PORT with virtual6=, or a firewall mark number)")
    rest = text[match.end():]
    if rest.startswith(":") or _BARE_V6.match(text):
        raise f.problem("IPv6 addresses must be written in brackets: [IPv6]:PORT")
    if match.group(2) is None:
        hint = ""
        if re.match(r"[0-9]+\.", text, re.ASCII):
            hint = f" (ldirectord would read it as firewall mark {text.split('.')[0]})"
        raise f.problem(f"missing port: expected ADDRESS:PORT{hint}", match.end())
    host = _host(match.group(1), col, ipv6, False)
    f.tail(match.end(), after="the port")
    return VirtualSpec(host, _port(match.group(2), col + match.start(2)), None)


def parse_real(f: Field, ipv6: bool) -> RealSpec:
    """``real=ADDR[->ADDR2][:PORT] gate|masq|ipip [W] ["REQ"[, ]"RECV"] [l:N] [u:N]``."""
    text, col = f.text, f.col
    match = _REAL.match(text)
    if not match and _BARE_V6.match(text):
        raise f.problem("IPv6 addresses must be written in brackets: [IPv6]:PORT")
    if not match:
        raise f.problem("invalid address for real server (expected ADDRESS[->ADDRESS][:PORT] "
                        "followed by gate, masq or ipip)")
    first = _host(match.group(1).strip("[]"), col, ipv6, match.group(1).startswith("["))
    last = None
    if match.group(2):
        last = _host(match.group(2).strip("[]"), col + match.start(2), ipv6,
                     match.group(2).startswith("["))
    pos = match.end()
    fwd = _FORWARD.match(text, pos)
    if not fwd:
        if text[pos:].strip(BLANKS):
            raise f.problem(f"unexpected {text[pos:]!r} after the real server address", pos)
        raise f.problem("missing forward method after the real server address "
                        f"(expected {', '.join(FORWARDS[:-1])} or ipip)", pos)
    forward = fwd.group(1)
    if forward not in FORWARDS:
        raise f.problem(f"forward method must be gate, masq or ipip, not {forward!r}",
                        fwd.start(1))
    pos = fwd.end()
    spec: dict[str, object] = {}
    if m := _WEIGHT.match(text, pos):
        spec["weight"] = _number(f, m.group(1), m.start(1), 0, MAX_WEIGHT, "weight")
        pos = m.end()
    if m := _PAIR.match(text, pos):
        request, receive = f.expand_tabs(m.group(1)), f.expand_tabs(m.group(2))
        if re.fullmatch(r"l:[0-9]+", request) and re.fullmatch(r"u:[0-9]+", receive):
            raise f.problem(f'quoted thresholds: ldirectord reads "{request}" "{receive}" as '
                            f'request "/{request}" and receive "{receive}"; write them '
                            f"unquoted: {request} {receive}", m.start(1) - 1)
        spec["request"] = request if request.startswith("/") else "/" + request
        spec["receive"] = receive
        pos = m.end()
    elif _OPEN_QUOTE.match(text, pos):
        raise f.problem("expected two quoted strings, the request and the receive string "
                        '("REQUEST" "RECEIVE")', pos + 1)
    for key, letter in (("lower", "l"), ("upper", "u")):
        m = _THRESHOLD.match(text, pos)
        if m and m.group(1) == letter:
            spec[key] = _number(f, m.group(2), m.start(2), 0, MAX_THRESHOLD, f"{letter}:")
            pos = m.end()
    rest = text[pos:]
    if rest.strip(BLANKS):
        offset = pos + len(rest) - len(rest.lstrip(BLANKS))
        if rest.lstrip(BLANKS).startswith("l:") and "upper" in spec:
            raise f.problem("l: must come before u: (ldirectord silently ignores a u: "
                            "threshold written before l:)", offset)
        raise f.problem(f"unexpected {rest.strip(BLANKS)!r} in real server line (expected "
                        'a weight, "REQUEST" "RECEIVE", l:LOWER, u:UPPER, in that order)',
                        offset)
    return RealSpec(f.stmt.line, col, first, last, _port(match.group(3), col + match.start(3)),
                    forward, **spec)  # type: ignore[arg-type]  # keys checked above


def _number(f: Field, digits: str, offset: int, low: int, high: int, what: str) -> int:
    if len(digits) > 10 or not low <= int(digits) <= high:
        raise f.problem(f"{what} must be from {low} to {high}, not {digits}", offset)
    return int(digits)


def parse_fallback(f: Field, ipv6: bool) -> FallbackSpec:
    """``fallback=HOST[:PORT] [gate|masq|ipip]`` (forward method defaults to gate)."""
    text, col = f.text, f.col
    match = _BRACKETED.match(text) or _HOST_PORT.match(text)
    bracketed = text.startswith("[")
    if _BARE_V6.match(text) and not bracketed:
        raise f.problem("IPv6 addresses must be written in brackets: [IPv6]:PORT")
    if not match:
        raise f.problem("invalid fallback server (expected HOST[:PORT] [gate|masq|ipip])")
    host = _host(match.group(1), col, ipv6, bracketed)
    port = _port(match.group(2), col + match.start(2) if match.group(2) else col)
    pos = match.end()
    forward: Forward = "gate"
    if fwd := _FORWARD.match(text, pos):
        if fwd.group(1) not in FORWARDS:
            raise f.problem(f"forward method must be gate, masq or ipip, not {fwd.group(1)!r}",
                            fwd.start(1))
        forward = fwd.group(1)  # type: ignore[assignment]  # checked against FORWARDS
        pos = fwd.end()
    f.tail(pos, after="the fallback server", comment=False)
    return FallbackSpec(f.stmt.line, ipv6, host, port, forward)


class Names:
    """Resolves what the grammars read, caching answers; raises Problem at the name."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self._hosts: dict[tuple[str, bool], str | Exception] = {}
        self._ports: dict[tuple[str, str | None], int | Exception] = {}
        self._literals: dict[str, str] = {}

    def host(self, ref: HostRef, ipv6: bool) -> str:
        if ref.kind != "name":
            literal = self._literals.get(ref.text)
            if literal is None:  # canonical form, computed once per distinct address
                literal = self._literals[ref.text] = str(ipaddress.ip_address(ref.text))
            return literal
        key = (ref.text, ipv6)
        if key not in self._hosts:
            self._hosts[key] = self._lookup_host(ref.text, ipv6)
        found = self._hosts[key]
        if isinstance(found, Exception):
            family = "IPv6" if ipv6 else "IPv4"
            raise Problem(f"cannot resolve host {ref.text!r} to an {family} address "
                          f"({found})", ref.col)
        return found

    def _lookup_host(self, name: str, ipv6: bool) -> str | Exception:
        try:
            answer = self.resolver.host(name, ipv6)
            address = ipaddress.ip_address(answer.split("%")[0])
        except Exception as exc:  # any resolver failure is a config error
            return exc
        if address.version != (6 if ipv6 else 4):
            return LookupError(f"got {answer}")
        return str(address)

    def port(self, ref: PortRef, protocol: str | None) -> int:
        if ref.text.isascii() and ref.text.isdigit():
            if len(ref.text) > 5 or int(ref.text) > 65535:
                raise Problem(f"port must be from 0 to 65535, not {ref.text}", ref.col)
            return int(ref.text)
        key = (ref.text, protocol)
        if key not in self._ports:
            try:
                number = self.resolver.port(ref.text, protocol)
                if not isinstance(number, int) or not 0 <= number <= 65535:
                    raise LookupError(f"got {number!r}")
                self._ports[key] = number
            except Exception as exc:  # any resolver failure is a config error
                self._ports[key] = exc
        found = self._ports[key]
        if isinstance(found, Exception):
            proto = f"/{protocol}" if protocol else ""
            raise Problem(f"unknown service name {ref.text!r}{proto} for a port ({found})",
                          ref.col)
        return found
