"""The kernel settings a director behind ECMP routers needs, and what is wrong with the ones it has (pure).

When a router moves a flow to another director (a director left, joined, or the router
rehashed), the new director sees a mid-connection packet with no connection entry. IPVS
schedules only connection-opening packets unless ``net.ipv4.vs.sloppy_tcp`` (and, for SCTP
services, ``sloppy_sctp``) is 1: without it every moved flow is dropped, whatever ``mh`` does.
lvsd reports these rather than changing the host's settings behind the operator's back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lvsd.config.model import Config


@dataclass(frozen=True, slots=True)
class Sysctl:
    name: str  # under net.ipv4.vs
    want: str
    why: str

    @property
    def path(self) -> str:
        return f"net.ipv4.vs.{self.name}"


def wanted(config: Config) -> list[Sysctl]:
    """What this config needs: only directors that announce their VIPs or run ``mh`` services."""
    ecmp = config.announce is not None or any(v.scheduler == "mh" for v in config.virtuals)
    if not ecmp:
        return []
    protocols = {v.protocol for v in config.virtuals}
    out = []
    if protocols & {"tcp", "fwm"}:
        out.append(Sysctl("sloppy_tcp", "1", "a TCP flow the routers move here mid-connection is dropped"))
    if "sctp" in protocols:
        out.append(Sysctl("sloppy_sctp", "1", "an SCTP association the routers move here is dropped"))
    return out


def problems(config: Config, read: Callable[[str], str | None]) -> list[str]:
    """One sentence per needed setting that is not as needed (``read(name)``: its value, None if unreadable)."""
    out = []
    for s in wanted(config):
        have = read(s.name)
        if have is None:
            out.append(f"{s.path} cannot be read (is ip_vs loaded?)")
        elif have.strip() != s.want:
            out.append(f"{s.path} is {have.strip()}, wants {s.want}: {s.why}")
    return out
