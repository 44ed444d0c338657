"""Read piranha's lvs.cf (pulse / lvs / nanny) into a :class:`Config`, with nanny's meaning.

The file is ``key = value`` lines, ``#`` comments (outside quotes), and
blocks ``virtual NAME { ... }`` holding ``server NAME { ... }`` blocks. What
each key becomes (reference peers.md §3.2-3.3):

* ``network = direct|nat|tunnel`` is every real's forward method:
  gate, masq, ipip (default nat, with a warning when not written);
* a virtual: ``address = VIP [INTERFACE]``, ``port``, ``protocol`` (tcp,
  udp), ``fwmark`` (a firewall-mark service; address and port then only name
  the VIP), ``scheduler`` (default wlc), ``persistent``, ``pmask``
  (persistence netmask), ``quiesce_server`` (quiescent), ``sorry_server``
  (the fallback), ``timeout`` (nanny uses it as both the check interval and
  the check timeout; default 10), ``reentry`` (seconds a failed server must
  keep passing checks before it is put back; default 180), ``active = 0``
  (the virtual is not configured);
* the check: ``send`` / ``expect`` make a TCP send/expect check, ldirectord's
  ``service=simpletcp`` with request/receive. Strings take nanny's escapes
  ``\\n \\r \\t \\\\ \\' \\"``, decoded here. ``expect`` is a plain string unless
  ``use_regex = 1`` (it is escaped into a regex), ``"*"`` accepts any answer.
  Neither on port 80: nanny's built-in HTTP probe (send ``GET / HTTP/1.0``,
  expect ``HTTP``); neither elsewhere: a connect check. nanny marks a server
  down after one failure (failurecount 1);
* ``send_program`` (nanny runs it with ``%h``/``%p`` replaced and matches its
  output against ``expect``) does not fit ldirectord's external check (fixed
  arguments, exit status), so it is stored in ``VirtualService.send_program``
  with checktype ``external``, and the external check runs it with nanny's
  contract (``lvsd.checks.external``);
* a server: ``address``, ``port`` (default the virtual's), ``weight``
  (default 1), ``active = 0`` (not configured);
* pulse's failover settings become the pair's (``lvsd keepalived`` writes keepalived's VRRP
  from them): primary and backup (with backup_active) the two vrrpnode lines, deadtime / 3
  (else keepalive) the advertisement interval, the VIPs' device (``address = IP eth0:1``)
  the VRRP interface, vip_nmask and nat_router / nat_nmask addresses that move with them,
  syncdaemon / syncd_iface / syncd_id the sync daemons;
* keys that only concern pulse itself or load monitoring (heartbeat, heartbeat_port,
  rsh_command, load_monitor, ...) are read and reported as warnings "not applied by lvsd".

Every problem is reported at FILE:LINE:COL, all at once.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from typing import TypedDict

from lvsd.config.directives import MAX_PERSISTENT, MAX_SECONDS, SCHEDULERS
from lvsd.config.errors import ConfigError
from lvsd.config.model import (
    CheckType,
    Config,
    Fallback,
    Forward,
    Location,
    Protocol,
    RealServer,
    VirtualService,
)
from lvsd.config.pulse import pulse_pair
from lvsd.config.source import Problem, Source
from lvsd.ipvs.table import ServiceKey

FORWARDS: dict[str, Forward] = {"direct": "gate", "nat": "masq", "tunnel": "ipip"}
# pulse's failover settings that become the pair's VRRP and sync settings (see _pair)
PAIR_GLOBAL = frozenset(("primary", "backup", "backup_active", "keepalive", "deadtime", "nat_router", "nat_nmask",
                         "syncdaemon", "syncd_iface", "syncd_id"))
NOT_APPLIED_GLOBAL = frozenset((
    "primary_private", "backup_private", "heartbeat", "heartbeat_port", "debug_level",
    "monitor_links", "tcp_timeout", "tcpfin_timeout",
    "udp_timeout", "rsh_command", "hard_shutdown", "reservation_conflict_action", "active_cmd",
    "inactive_cmd"))
GLOBAL_KEYS = frozenset(("serial_no", "service", "network")) | NOT_APPLIED_GLOBAL | PAIR_GLOBAL
NOT_APPLIED_VIRTUAL = frozenset(("load_monitor",))
VIRTUAL_KEYS = frozenset(("active", "address", "port", "protocol", "fwmark", "scheduler", "persistent",
                          "pmask", "send", "expect", "use_regex", "send_program", "timeout", "reentry",
                          "quiesce_server", "sorry_server", "vip_nmask")) | NOT_APPLIED_VIRTUAL
SERVER_KEYS = frozenset(("active", "address", "port", "weight"))
DEFAULT_TIMEOUT = 10
DEFAULT_REENTRY = 180
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", '"': '"'}
HTTP_PROBE = ("GET / HTTP/1.0\r\n\r\n", "HTTP")

_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*", re.ASCII)
_BLOCK = re.compile(r"(virtual|server|failover)[ \t]+([^ \t{}]+)[ \t]*\{[ \t]*$", re.ASCII)
_SNIFF = re.compile(r"^[ \t]*(?:(?:virtual|server|failover)[ \t]+[^ \t{}=]+[ \t]*\{|serial_no[ \t]*=)",
                    re.ASCII | re.MULTILINE)


class Check(TypedDict, total=False):
    """The check settings a virtual block asks for."""

    checktype: CheckType
    service: str
    request: str
    receive: str
    send_program: str
    checkcommand: str


def looks_like(text: str) -> bool:
    """True when ``text`` has lvs.cf syntax that a valid ldirectord.cf never has."""
    return _SNIFF.search(text) is not None


@dataclass(slots=True)
class Entry:
    value: str  # decoded: quotes removed, escapes applied
    line: int
    col: int  # of the value
    key_col: int


@dataclass(slots=True)
class Block:
    kind: str
    name: str
    line: int
    col: int
    keys: dict[str, Entry] = field(default_factory=dict)
    children: list[Block] = field(default_factory=list)


def _strip_comment(text: str) -> str:
    quoted = escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return text[:i]
    return text


def _value(text: str, col: int) -> str:
    """A value as nanny reads it: a quoted string with escapes, or the bare text."""
    text = text.rstrip(" \t")
    if not text.startswith('"'):
        return text
    out: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text) or text[i + 1] not in ESCAPES:
                bad = text[i:i + 2]
                raise Problem(f"unknown escape {bad!r} in a string (expected \\n \\r \\t \\\\ \\' or \\\")",
                              col + i)
            out.append(ESCAPES[text[i + 1]])
            i += 2
            continue
        if ch == '"':
            if text[i + 1:].strip(" \t"):
                raise Problem(f"unexpected {text[i + 1:].strip()!r} after the closing quote", col + i + 1)
            return "".join(out)
        out.append(ch)
        i += 1
    raise Problem("missing closing '\"'", col + len(text))


def _blocks(src: Source) -> Block:
    """The file as nested blocks of keys; layout problems are reported to ``src``."""
    root = Block("file", "", 0, 1)
    stack = [root]
    for number, raw in enumerate(src.lines, 1):
        text = _strip_comment(raw)
        stripped = text.strip(" \t")
        if not stripped:
            continue
        col = len(text) - len(text.lstrip(" \t")) + 1
        if stripped == "}":
            if len(stack) == 1:
                src.error(number, col, "'}' without an open block")
            else:
                stack.pop()
            continue
        if m := _BLOCK.fullmatch(stripped):
            kind, name = m.group(1), m.group(2)
            parent = stack[-1]
            allowed = {"file": ("virtual", "failover"), "virtual": ("server",)}.get(parent.kind, ())
            if kind not in allowed:
                where = "at the top level" if parent.kind == "file" else f"inside a {parent.kind} block"
                src.error(number, col, f"a {kind} block cannot appear {where}")
            block = Block(kind, name, number, col)
            parent.children.append(block)
            stack.append(block)
            continue
        m = _KEY.match(stripped)
        if not m:
            hint = " (a block header is 'virtual NAME {' on one line)" if stripped.split()[0] in (
                "virtual", "server", "failover") else ""
            src.error(number, col, f"expected 'key = value', a block header or '}}'{hint}")
            continue
        key = m.group(1)
        vcol = col + m.end()
        try:
            value = _value(stripped[m.end():], vcol)
        except Problem as exc:
            src.error(number, exc.col, exc.message)
            continue
        keys = stack[-1].keys
        if key in keys:
            src.warning(number, col, f"{key} given again: this value replaces the one on line {keys[key].line}")
        keys[key] = Entry(value, number, vcol, col)
    for open_block in stack[1:]:
        src.error(open_block.line, open_block.col, f"{open_block.kind} {open_block.name}: missing '}}' "
                  "(the block is still open at the end of the file)")
    return root


class _Reader:
    def __init__(self, src: Source) -> None:
        self.src = src

    def integer(self, e: Entry, key: str, low: int, high: int) -> int:
        if not re.fullmatch(r"[0-9]+", e.value, re.ASCII) or len(e.value) > 10 or not low <= int(e.value) <= high:
            raise Problem(f"{key} must be a whole number from {low} to {high}, not {e.value!r}", e.col)
        return int(e.value)

    def flag(self, e: Entry, key: str) -> bool:
        if e.value not in ("0", "1"):
            raise Problem(f"{key} must be 0 or 1, not {e.value!r}", e.col)
        return e.value == "1"

    def address(self, e: Entry, key: str, *, interface: bool = False) -> str:
        words = e.value.split()
        if not words or len(words) > (2 if interface else 1):
            form = "ADDRESS [INTERFACE]" if interface else "ADDRESS"
            raise Problem(f"{key} must be {form}, not {e.value!r}", e.col)
        try:
            return str(ipaddress.ip_address(words[0]))
        except ValueError:
            raise Problem(f"{key}: invalid IP address {words[0]!r}", e.col) from None

    def unknown(self, blk: Block, known: frozenset[str]) -> None:
        for key, e in blk.keys.items():
            if key not in known:
                self.src.error(e.line, e.key_col, f"unknown key {key!r} in {self._where(blk)}")

    def _where(self, blk: Block) -> str:
        return "the global section" if blk.kind == "file" else f"{blk.kind} {blk.name}"

    def not_applied(self, blk: Block, keys: frozenset[str]) -> None:
        found = sorted(keys & blk.keys.keys(), key=lambda k: blk.keys[k].line)
        if not found:
            return
        first = blk.keys[found[0]]
        if blk.kind == "file":  # one warning for pulse's whole failover section
            self.src.warning(first.line, first.key_col, "pulse's own settings are read, but not applied by lvsd "
                             f"(the pair runs on keepalived's VRRP: see lvsd keepalived): {', '.join(found)}")
            return
        for key in found:
            e = blk.keys[key]
            self.src.warning(e.line, e.key_col, f"{key} is nanny's load monitoring: read, but not applied by lvsd")

    def read(self, root: Block) -> Config:
        self.unknown(root, GLOBAL_KEYS)
        self.not_applied(root, NOT_APPLIED_GLOBAL)
        keys = root.keys
        self.get(root, "serial_no", lambda e: self.integer(e, "serial_no", 0, 2**31 - 1))
        if "service" in keys and keys["service"].value != "lvs":
            e = keys["service"]
            self.src.error(e.line, e.col, f"service = {e.value}: lvsd runs LVS virtual servers (service = lvs); "
                           "failover services (fos) are not supported")
        forward: Forward = "masq"
        if "network" in keys:
            e = keys["network"]
            if e.value not in FORWARDS:
                self.src.error(e.line, e.col, f"network must be direct, nat or tunnel, not {e.value!r}")
            forward = FORWARDS.get(e.value, "masq")
        elif any(b.kind == "virtual" for b in root.children):
            self.src.warning(1, 1, "no 'network =' line: real servers use nat (masq), piranha's default")
        virtuals: list[VirtualService] = []
        seen: dict[ServiceKey, int] = {}
        for blk in root.children:
            if blk.kind == "server":
                continue  # misplaced; reported by _blocks
            if blk.kind == "failover":
                self.src.warning(blk.line, blk.col, f"failover {blk.name}: failover services are pulse's; "
                                 "read, but not applied by lvsd")
                continue
            virtual = self.virtual(blk, forward)
            if virtual is None:
                continue
            first = seen.setdefault(virtual.key, blk.line)
            if first != blk.line:
                self.src.error(blk.line, blk.col, f"duplicate virtual service {virtual.ident} "
                               f"(first defined on line {first})")
                continue
            virtuals.append(virtual)
        vrrp, sync = pulse_pair(self, root)
        return Config(path=self.src.path, virtuals=tuple(virtuals), vrrp=vrrp, sync=sync)

    def get(self, blk: Block, key: str, fn: object, default: object = None) -> object:
        """Read ``blk.keys[key]`` with ``fn(entry)``; report a Problem at its line."""
        e = blk.keys.get(key)
        if e is None:
            return default
        try:
            return fn(e)  # type: ignore[operator]  # a one-argument callable
        except Problem as exc:
            self.src.error(e.line, exc.col or e.col, exc.message)
            return default

    def virtual(self, blk: Block, forward: Forward) -> VirtualService | None:
        self.unknown(blk, VIRTUAL_KEYS)
        self.not_applied(blk, NOT_APPLIED_VIRTUAL)
        k = blk.keys
        before = len([d for d in self.src.diagnostics if d.severity == "error"])
        active = self.get(blk, "active", lambda e: self.flag(e, "active"), None)
        if active is None and "active" not in k:
            self.src.warning(blk.line, blk.col, f"virtual {blk.name}: no 'active' line; lvsd runs it "
                             "(write active = 0 to leave it out)")
        if "address" not in k:
            self.src.error(blk.line, blk.col, f"virtual {blk.name}: missing 'address = VIP'")
        ip = self.get(blk, "address", lambda e: self.address(e, "address", interface=True))
        fwmark = self.get(blk, "fwmark", lambda e: self.integer(e, "fwmark", 1, 2**32 - 1))
        port = self.get(blk, "port", lambda e: self.integer(e, "port", 0 if fwmark else 1, 65535), None)
        if port is None and fwmark is None and "port" not in k:
            self.src.error(blk.line, blk.col, f"virtual {blk.name}: missing 'port = N' (or fwmark = N)")
        protocol = self.get(blk, "protocol", lambda e: self.word(e, "protocol", ("tcp", "udp")), "tcp")
        scheduler = self.get(blk, "scheduler", lambda e: self.word(e, "scheduler", SCHEDULERS), "wlc")
        persistent = self.get(blk, "persistent", lambda e: self.integer(e, "persistent", 0, MAX_PERSISTENT))
        pmask = self.get(blk, "pmask", lambda e: self.netmask(e))
        timeout = self.get(blk, "timeout", lambda e: self.integer(e, "timeout", 1, MAX_SECONDS), DEFAULT_TIMEOUT)
        reentry = self.get(blk, "reentry", lambda e: self.integer(e, "reentry", 0, MAX_SECONDS), DEFAULT_REENTRY)
        quiescent = self.get(blk, "quiesce_server", lambda e: self.flag(e, "quiesce_server"), False)
        use_regex = self.get(blk, "use_regex", lambda e: self.flag(e, "use_regex"), False)
        sorry = self.get(blk, "sorry_server", lambda e: self.address(e, "sorry_server"))
        if isinstance(ip, str) and ":" in ip:
            self.src.error(k["address"].line, k["address"].col, "lvs.cf addresses are IPv4")
        reals = self.servers(blk, forward, port if isinstance(port, int) else 0, bool(fwmark))
        if len([d for d in self.src.diagnostics if d.severity == "error"]) > before or active is False:
            return None
        assert isinstance(ip, str) and isinstance(timeout, int) and isinstance(reentry, int)
        vport = int(port) if isinstance(port, int) else 0
        persist = int(persistent) if isinstance(persistent, int) and persistent else None
        if persist is None and pmask is not None:
            self.src.warning(k["pmask"].line, k["pmask"].col, "pmask has no effect without persistent")
        check = self.check(blk, vport, bool(use_regex))
        proto: Protocol = "fwm" if fwmark else ("udp" if protocol == "udp" else "tcp")
        return VirtualService(
            protocol=proto, ip=None if fwmark else ip, port=0 if fwmark else vport,
            fwmark=int(fwmark) if isinstance(fwmark, int) else None, reals=tuple(reals),
            scheduler=str(scheduler), persistent=persist,
            netmask=str(pmask) if persist is not None and pmask is not None else None,
            checkinterval=float(timeout), checktimeout=float(timeout), negotiatetimeout=float(timeout),
            failurecount=1, quiescent=bool(quiescent), reentry=float(reentry),
            fallback=Fallback(ip=sorry, port=0 if fwmark else vport, forward=forward)
            if isinstance(sorry, str) else None,
            where=Location(file=self.src.path, line=blk.line, col=blk.col), **check,
        )

    def word(self, e: Entry, key: str, allowed: tuple[str, ...]) -> str:
        if e.value not in allowed:
            raise Problem(f"unknown {key} {e.value!r} (expected {', '.join(allowed)})", e.col)
        return e.value

    def netmask(self, e: Entry) -> str:
        try:
            ipaddress.IPv4Address(e.value)
        except ValueError:
            raise Problem(f"pmask must be a dotted quad such as 255.255.255.0, not {e.value!r}", e.col) from None
        return e.value

    def check(self, blk: Block, port: int, use_regex: bool) -> Check:
        k = blk.keys
        send = k["send"].value if "send" in k else None
        expect = k["expect"].value if "expect" in k else None
        if "send_program" in k:
            e = k["send_program"]
            if send is not None:
                self.src.warning(k["send"].line, k["send"].key_col, "send is ignored: send_program replaces it")
            receive = "" if expect is None else self.receive(expect, use_regex)
            return {"checktype": "external", "send_program": e.value, "checkcommand": e.value,
                    "receive": receive}
        if send is None and expect is None:
            if port == 80:
                send, expect = HTTP_PROBE
            else:
                return {"checktype": "connect"}
        receive = "" if expect is None else self.receive(expect, use_regex)
        return {"checktype": "negotiate", "service": "simpletcp", "request": "/" + (send or ""),
                "receive": receive}

    @staticmethod
    def receive(expect: str, use_regex: bool) -> str:
        if expect == "*":
            return r"[\s\S]"  # anything, as long as something arrives
        return expect if use_regex else re.escape(expect)

    def servers(self, blk: Block, forward: Forward, vport: int, fwmark: bool) -> list[RealServer]:
        reals: list[RealServer] = []
        seen: dict[tuple[str, int], int] = {}
        for srv in blk.children:
            if srv.kind != "server":
                continue  # misplaced; reported by _blocks
            self.unknown(srv, SERVER_KEYS)
            if "address" not in srv.keys:
                self.src.error(srv.line, srv.col, f"server {srv.name}: missing 'address = IP'")
                continue
            ip = self.get(srv, "address", lambda e: self.address(e, "address"))
            port = self.get(srv, "port", lambda e: self.integer(e, "port", 0, 65535), vport)
            weight = self.get(srv, "weight", lambda e: self.integer(e, "weight", 0, 65535), 1)
            active = self.get(srv, "active", lambda e: self.flag(e, "active"), True)
            if not isinstance(ip, str) or not isinstance(port, int) or not isinstance(weight, int):
                continue
            if not active:
                continue
            dest = (ip, port if fwmark or forward == "masq" else vport)
            first = seen.setdefault(dest, srv.line)
            if first != srv.line:
                self.src.error(srv.line, srv.col, f"server {srv.name}: the same real server as on line {first}")
                continue
            reals.append(RealServer(ip=ip, port=port, forward=forward, weight=weight,
                                    where=Location(file=self.src.path, line=srv.line, col=srv.col)))
        return reals


def parse(text: str, path: str) -> Config:
    """Parse piranha lvs.cf ``text`` read from ``path``; raise ConfigError listing every error."""
    src = Source(path, text)
    try:
        config = _Reader(src).read(_blocks(src))
    except ConfigError:
        raise
    except Exception as exc:  # last resort: a reader bug must not crash start/reload
        src.error(1, 1, f"internal error in the lvs.cf reader ({type(exc).__name__}: {exc}); "
                  "please report this with the config file")
        config = Config(path=path)
    src.raise_if_errors()
    return replace(config, warnings=src.warnings())
