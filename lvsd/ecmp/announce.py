"""Which VIPs this director announces to the routers, with hysteresis (pure).

A VIP is *servable* while every virtual service on its address has somewhere to send a new
connection in the kernel table: a configured real server at a non-zero weight, or the fallback
when ``announcefallback=yes``. A router that spreads flows by ECMP must only send a VIP's flows
to directors that can serve it, so its host route is announced while servable and withdrawn
otherwise.

:class:`Announcer` turns the servable map into route changes: the first decision (at start,
after the first round of checks) is taken at once, so a restarted lvsd keeps announcing what
it announced; later a VIP must stay servable ``rise`` seconds before it is announced, and
unservable ``fall`` seconds before it is withdrawn. :meth:`Announcer.hold` withdraws everything
and keeps it withdrawn (a planned leave, a stop) until :meth:`Announcer.release`, after which
the next decision is immediate again (the operator's join; the checks never stopped).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from lvsd.config.model import Config, VirtualService
from lvsd.ipvs.table import Table
from lvsd.reconcile import kernel_port


def host_prefix(ip: str) -> str:
    """A VIP's host route: ``198.51.100.1/32`` or ``2001:db8::1/128``."""
    addr = ipaddress.ip_address(ip)
    return f"{addr}/{addr.max_prefixlen}"


@dataclass(frozen=True, slots=True)
class Servable:
    """Whether a VIP can take new connections, and why (for status and the log)."""

    ok: bool
    reason: str
    services: tuple[str, ...]  # the virtual services on that address, as labelled in the log


def _serves(v: VirtualService, table: Table, fallback: bool) -> bool:
    dests = table.dests_of(v.key)
    for r in v.reals:
        d = dests.get((r.ip, kernel_port(v, r.forward, r.port)))
        if d is not None and d.weight > 0:
            return True
    fb = v.fallback
    if fallback and fb is not None:
        d = dests.get((fb.ip, kernel_port(v, fb.forward, fb.port)))
        return d is not None and d.weight > 0
    return False


def servable(config: Config, table: Table, *, fallback: bool = False) -> dict[str, Servable]:
    """Every VIP of ``config`` (fwmark services have no address to announce) and whether it is servable."""
    by_prefix: dict[str, list[VirtualService]] = {}
    for v in config.virtuals:
        if v.ip is not None:
            by_prefix.setdefault(host_prefix(v.ip), []).append(v)
    out: dict[str, Servable] = {}
    for prefix, virtuals in by_prefix.items():
        down = [v.ident for v in virtuals if not _serves(v, table, fallback)]
        labels = tuple(v.ident for v in virtuals)
        if down:
            what = "no real server in service" + ("" if fallback else " (the fallback does not count)")
            out[prefix] = Servable(False, f"{what}: {', '.join(down)}", labels)
        else:
            out[prefix] = Servable(True, "every virtual service has a real server in service", labels)
    return out


@dataclass(frozen=True, slots=True)
class Route:
    """What this director says of one VIP's host route."""

    prefix: str
    announced: bool
    servable: bool
    since: float  # monotonic time of the last announce or withdraw
    reason: str
    services: tuple[str, ...] = ()
    pending_since: float | None = None  # servable differs from announced since then (rise or fall running)

    def as_json(self, now: float) -> dict[str, object]:
        return {"prefix": self.prefix, "announced": self.announced, "servable": self.servable,
                "since": round(now - self.since, 1), "reason": self.reason, "services": list(self.services),
                "pending": None if self.pending_since is None else round(now - self.pending_since, 1)}


@dataclass(frozen=True, slots=True)
class RouteChange:
    """One announce or withdraw, a value until a speaker (or the log) prints it."""

    kind: Literal["announce", "withdraw"]
    prefix: str
    reason: str


class Announcer:
    def __init__(self, rise: float = 0.0, fall: float = 0.0) -> None:
        self.rise = rise
        self.fall = fall
        self.routes: dict[str, Route] = {}
        self.held: str | None = None  # why every route is held withdrawn (leave, stop), or None
        self.decided = False  # the first decision is taken at once (see the module)

    def configure(self, rise: float, fall: float) -> None:
        self.rise, self.fall = rise, fall

    def hold(self, reason: str) -> None:
        self.held = reason

    def release(self) -> None:
        """End a hold (``lvsd join``): the next decision is taken at once, as at start (health is current)."""
        self.held = None
        self.decided = False

    def announced(self) -> list[str]:
        return [p for p, r in self.routes.items() if r.announced]

    def observe(self, state: Mapping[str, Servable], now: float) -> list[RouteChange]:
        """Fold the servable map in at ``now``; return the announces and withdraws due, withdraws first."""
        changes: list[RouteChange] = []
        for prefix, route in list(self.routes.items()):
            if prefix not in state:  # its virtual services left the config
                if route.announced:
                    changes.append(RouteChange("withdraw", prefix, "no virtual service on this address any more"))
                del self.routes[prefix]
        first = not self.decided
        self.decided = True
        for prefix, s in state.items():
            route = self.routes.get(prefix) or Route(prefix, False, s.ok, now, s.reason, s.services)
            route = replace(route, servable=s.ok, services=s.services)
            want = s.ok and self.held is None
            if want == route.announced:
                route = replace(route, pending_since=None, reason=self.held or s.reason)
            elif self.held is not None or first:
                route = self._flip(route, want, now, self.held or s.reason, changes)
            else:
                since = route.pending_since if route.pending_since is not None else now
                delay = self.rise if want else self.fall
                if now - since >= delay:
                    route = self._flip(route, want, now, s.reason, changes)
                else:
                    route = replace(route, pending_since=since, reason=s.reason)
            self.routes[prefix] = route
        changes.sort(key=lambda c: c.kind != "withdraw")
        return changes

    @staticmethod
    def _flip(route: Route, want: bool, now: float, reason: str, changes: list[RouteChange]) -> Route:
        changes.append(RouteChange("announce" if want else "withdraw", route.prefix, reason))
        return replace(route, announced=want, since=now, reason=reason, pending_since=None)

    def next_due(self) -> float | None:
        """When a running rise or fall ends (the daemon observes again then), or None."""
        due = [r.pending_since + (self.fall if r.announced else self.rise)
               for r in self.routes.values() if r.pending_since is not None]
        return min(due, default=None)


def exabgp_line(change: RouteChange, attributes: str = "") -> str:
    """The line ExaBGP's process API reads for a change (announce with next-hop self and the attributes)."""
    if change.kind == "announce":
        return " ".join(x for x in ("announce route", change.prefix, "next-hop self", attributes) if x)
    return f"withdraw route {change.prefix} next-hop self"
