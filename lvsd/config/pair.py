"""The director-pair directives of ldirectord.cf (lvsd extensions): how each is read, and what they make.

``sync*`` configure the kernel's connection sync daemons (:class:`~lvsd.config.model.SyncSettings`);
``vrrp*`` what ``lvsd keepalived`` writes into each node's VRRP configuration
(:class:`~lvsd.config.model.VrrpSettings`), and where lvsd tells keepalived its health. All are
global; the YAML reader takes them as top-level keys, like every directive.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any, Protocol

from lvsd.config.model import SyncSettings, VrrpNode, VrrpSettings
from lvsd.config.values import Field


def _absolute(f: Field, _: object) -> str:
    value = f.nonempty(f.maybe_quoted(), "a path")
    if not value.startswith("/"):
        raise f.problem(f"{f.name} must be an absolute path, not {value!r}")
    return value


_IFNAME = re.compile(r"[A-Za-z0-9_.:@-]{1,15}", re.ASCII)


def _vrrpnode(f: Field, _: object) -> tuple[str, int, str]:
    """``NAME PRIORITY [ADDRESS]``: one director of the pair, its VRRP priority, its address for unicast VRRP."""
    words = f.raw().split()
    if not 2 <= len(words) <= 3:
        raise f.problem("vrrpnode wants NAME PRIORITY [ADDRESS] (a node name, its VRRP priority 1-254, and "
                        "optionally its address for unicast VRRP)")
    name, priority = words[0], words[1]
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,63}", name, re.ASCII):
        raise f.problem(f"vrrpnode name {name!r} must be letters, digits, '_', '.' or '-'")
    if not priority.isdigit() or not 1 <= int(priority) <= 254:
        raise f.problem(f"vrrpnode priority must be a whole number from 1 to 254, not {priority!r}")
    address = ""
    if len(words) == 3:
        try:
            address = str(ipaddress.ip_address(words[2]))
        except ValueError:
            raise f.problem(f"vrrpnode address must be an IP address, not {words[2]!r}") from None
    return name, int(priority), address


def _vrrpaddress(f: Field, _: object) -> tuple[str, str]:
    """``ADDRESS[/PREFIX] [dev IF]``: another address VRRP moves with the VIPs (masq: the real servers' gateway)."""
    words = f.raw().split()
    if len(words) not in (1, 3) or (len(words) == 3 and words[1] != "dev"):
        raise f.problem("vrrpaddress wants ADDRESS[/PREFIX] [dev INTERFACE]")
    try:
        iface = ipaddress.ip_interface(words[0])
    except ValueError:
        raise f.problem(f"vrrpaddress must be an address with an optional prefix, not {words[0]!r}") from None
    dev = words[2] if len(words) == 3 else ""
    if dev and not _IFNAME.fullmatch(dev):
        raise f.problem(f"vrrpaddress dev must be a network interface name, not {dev!r}")
    return str(iface), dev


def _advert(f: Field, _: object) -> float:
    token = f.token()
    try:
        value = float(token)
    except ValueError:
        value = -1.0
    if not 0.01 <= value <= 255 or not re.fullmatch(r"[0-9]+(\.[0-9]{1,2})?", token, re.ASCII):
        raise f.problem(f"vrrpadvert must be seconds from 0.01 to 255 in steps of 0.01, not {token!r}")
    f.tail(len(token), after=token)
    return value


SYNC_ROLES = ("both", "master", "backup", "vrrp")
SYNC_DIRECTIVES = ("syncrole", "syncid", "syncmaxlen", "syncgroup", "syncport", "syncttl")  # need syncinterface


def interface_name(f: Field, _: object) -> str:
    """A network interface name (the pair's and the announce directives share it)."""
    token = f.token()
    if not _IFNAME.fullmatch(token):
        raise f.problem(f"{f.name} must be a network interface name (at most 15 characters), not {token!r}")
    f.tail(len(token), after=token)
    return token


def _syncgroup(f: Field, _: object) -> str:
    token = f.token()
    try:
        group = ipaddress.ip_address(token)
    except ValueError:
        raise f.problem(f"syncgroup must be a multicast address such as 224.0.0.81, not {token!r}") from None
    if not group.is_multicast:
        raise f.problem(f"syncgroup must be a multicast address (224.0.0.0/4 or ff00::/8), not {token}")
    f.tail(len(token), after=token)
    return str(group)


PAIR_DIRECTIVES: dict[str, tuple[Callable[[Field, object], object], bool]] = {  # name: (reader, may repeat)
    # the kernel's connection sync daemons
    "syncinterface": (interface_name, False),
    "syncrole": (lambda f, b: f.word(SYNC_ROLES, what="syncrole"), False),
    "syncid": (lambda f, b: f.integer(minimum=0, maximum=255), False),
    "syncmaxlen": (lambda f, b: f.integer(minimum=1, maximum=65507), False),
    "syncgroup": (_syncgroup, False),
    "syncport": (lambda f, b: f.integer(minimum=1, maximum=65535), False),
    "syncttl": (lambda f, b: f.integer(minimum=1, maximum=255), False),
    "vrrptrackfile": (_absolute, False),  # unserved virtual services, for keepalived's track_file
    # what `lvsd keepalived` writes into each node's VRRP configuration
    "vrrpinterface": (interface_name, False),
    "vrrpid": (lambda f, b: f.integer(minimum=1, maximum=255), False),
    "vrrpadvert": (_advert, False),
    "vrrpwarmup": (lambda f, b: f.integer(minimum=0, maximum=3600), False),
    "vrrpnode": (_vrrpnode, True),
    "vrrpaddress": (_vrrpaddress, True),
}


class Globals(Protocol):
    """The global directives as ldirectord.py holds them (its ``Scope``): settings with their line and column."""

    values: dict[str, Any]
    lists: dict[str, list[Any]]

    def get(self, key: str, default: Any = None) -> Any: ...
    def __contains__(self, key: str) -> bool: ...


Report = Callable[[int, int, str], None]  # an error at (line, col)


def sync_settings(g: Globals, error: Report) -> SyncSettings | None:
    if "syncinterface" not in g:
        for name in SYNC_DIRECTIVES:
            if name in g:
                error(g.values[name].line, g.values[name].col,
                      f"{name} needs syncinterface (the interface the sync daemons use)")
        return None
    return SyncSettings(interface=g.get("syncinterface"), role=g.get("syncrole", "both"),
                        syncid=g.get("syncid", 0), maxlen=g.get("syncmaxlen", 0), group=g.get("syncgroup", ""),
                        port=g.get("syncport", 0), ttl=g.get("syncttl", 0))


def vrrp_settings(g: Globals, error: Report) -> VrrpSettings | None:
    names = ("vrrpinterface", "vrrpid", "vrrpadvert", "vrrpwarmup")
    nodes = g.lists.get("vrrpnode", [])
    addresses = g.lists.get("vrrpaddress", [])
    if not nodes and not addresses and not any(n in g for n in names):
        return None
    seen: dict[str, int] = {}
    for node in nodes:
        name = node.value[0]
        if name in seen:
            error(node.line, node.col, f"vrrpnode {name} given twice (first on line {seen[name]})")
        seen.setdefault(name, node.line)
    return VrrpSettings(
        interface=g.get("vrrpinterface", ""), vrid=g.get("vrrpid", 51), advert=g.get("vrrpadvert", 1.0),
        warmup=g.get("vrrpwarmup", 30), nodes=tuple(VrrpNode(*n.value) for n in nodes),
        addresses=tuple(a.value for a in addresses))
