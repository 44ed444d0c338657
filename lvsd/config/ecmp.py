"""The active-active directives of ldirectord.cf (lvsd extensions): announcing the VIPs to routers.

Behind routers that spread flows over several directors by ECMP, each director announces a
VIP's host route only while it can serve it (:class:`~lvsd.config.model.AnnounceSettings`):

* ``announce = exabgp | interface``: how. ``exabgp``: ExaBGP runs ``lvsd exabgp -c CONFIG`` as
  its process and sends the announce and withdraw lines it prints; ``interface``: lvsd puts the
  VIP's /32 (or /128) on ``announceinterface`` (a dummy) while it can serve it, for a speaker that
  exports the routes of an interface (BIRD's direct protocol, FRR's redistribute connected);
* ``announcerise`` / ``announcefall``: seconds a VIP must stay servable (unservable) before it is
  announced (withdrawn): the hysteresis on top of each real server's own;
* ``announcefallback = yes``: the fallback server counts as serving;
* ``withdrawwait``: at stop and ``lvsd leave``, seconds between the withdraw and what follows
  (the routers move the flows meanwhile);
* ``announceattributes``: BGP attributes ExaBGP adds to each announce (``med 100``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from lvsd.config.model import ANNOUNCE_MODES, AnnounceSettings, VirtualService
from lvsd.config.pair import Globals, Report, interface_name
from lvsd.config.values import Field

_ATTRIBUTES = re.compile(r"[A-Za-z0-9 _.:,\[\]-]+", re.ASCII)


def _seconds(f: Field, _: object) -> int:
    return f.integer(minimum=0, maximum=3600, what=f"{f.name} must be a whole number of seconds from 0 to 3600")


def _attributes(f: Field, _: object) -> str:
    text = f.nonempty(f.maybe_quoted(), "BGP attributes such as 'med 100'")
    if not _ATTRIBUTES.fullmatch(text) or "\n" in text:
        raise f.problem(f"announceattributes must be ExaBGP route attributes (letters, digits, spaces, "
                        f"'[]:,.-'), not {text!r}")
    return text


ANNOUNCE_DIRECTIVES: dict[str, tuple[Callable[[Field, object], object], bool]] = {  # name: (reader, may repeat)
    "announce": (lambda f, b: f.word(ANNOUNCE_MODES, what="announce"), False),
    "announceinterface": (interface_name, False),
    "announcerise": (_seconds, False),
    "announcefall": (_seconds, False),
    "announcefallback": (lambda f, b: f.yes_no(), False),
    # at most 50 s: a stop must end within lvsd stop's own wait (60 s) and systemd's TimeoutStopSec (90 s)
    "withdrawwait": (lambda f, b: f.integer(minimum=0, maximum=50,
                                            what="withdrawwait must be a whole number of seconds from 0 to 50"), False),
    "announceattributes": (_attributes, False),
}
NEEDS_ANNOUNCE = tuple(n for n in ANNOUNCE_DIRECTIVES if n != "announce")


def announce_settings(g: Globals, error: Report) -> AnnounceSettings | None:
    if "announce" not in g:
        for name in NEEDS_ANNOUNCE:
            if name in g:
                error(g.values[name].line, g.values[name].col,
                      f"{name} needs announce (exabgp or interface: how this director announces its VIPs)")
        return None
    mode = g.get("announce")
    if mode == "interface" and "announceinterface" not in g:
        at = g.values["announce"]
        error(at.line, at.col, "announce=interface needs announceinterface (the dummy interface lvsd puts "
                               "each servable VIP on, for the BGP speaker to export)")
    if mode == "exabgp" and "announceinterface" in g:
        at = g.values["announceinterface"]
        error(at.line, at.col, "announceinterface is for announce=interface; with announce=exabgp, ExaBGP "
                               "announces what 'lvsd exabgp' prints")
    return AnnounceSettings(
        mode=mode, interface=g.get("announceinterface", ""), rise=float(g.get("announcerise", 2)),
        fall=float(g.get("announcefall", 0)), fallback=g.get("announcefallback", False),
        withdrawwait=float(g.get("withdrawwait", 5)), attributes=g.get("announceattributes", ""))


def ecmp_warnings(virtuals: Iterable[VirtualService], announce: AnnounceSettings | None) -> list[tuple[int, int, str]]:
    """(line, col, message) for the virtual services whose settings defeat what active-active needs."""
    out = []
    for v in virtuals:
        if v.where is None:
            continue
        flags = (v.schedflags or "").split(",")
        if v.scheduler == "mh" and v.quiescent and v.fallback is None and "mh-fallback" not in flags:
            out.append((v.where.line, v.where.col, "scheduler=mh with quiescent=yes and no mh-fallback: a new flow "
                        "hashed to a failed real server is dropped until it is back (schedflags=mh-fallback, or "
                        "quiescent=no, sends it to another)"))
        if announce is not None and v.ip is not None and v.scheduler not in ("mh", "sh"):
            out.append((v.where.line, v.where.col, f"announce with scheduler={v.scheduler}: a flow the routers move "
                        "to this director from another goes to any real server and breaks; scheduler=mh sends it "
                        "to the same one on every director (docs/ecmp.md)"))
    return out
