"""Which sync daemons a director runs: from its sync settings and, with ``syncrole=vrrp``, the VRRP state it follows.

Pure: the settings and keepalived's word for this node's state in, :class:`~lvsd.ipvs.sync.SyncDaemon`
values out.

* ``both`` (the default): a master and a backup on every node, whoever is active. Each director
  sends its own connections and learns its peer's, so a failover, a failback or a switchover
  finds the connections on whichever side takes over, with no role switch at all;
* ``master`` / ``backup``: the one daemon, whatever happens (a fixed primary and standby);
* ``vrrp``: the master while keepalived's VRRP says MASTER, the backup in every other state
  (BACKUP, FAULT, STOP, or not yet known: a node that does not know it is active is a standby).
"""

from __future__ import annotations

from typing import Literal

from lvsd.config.model import SyncSettings
from lvsd.ipvs.sync import SyncDaemon, SyncState

VrrpState = Literal["MASTER", "BACKUP", "FAULT", "STOP"]
VRRP_STATES: tuple[VrrpState, ...] = ("MASTER", "BACKUP", "FAULT", "STOP")


def sync_states(settings: SyncSettings, vrrp: VrrpState | None) -> tuple[SyncState, ...]:
    if settings.role == "both":
        return ("master", "backup")
    if settings.role == "vrrp":
        return ("master",) if vrrp == "MASTER" else ("backup",)
    return (settings.role,)


def wanted_daemons(settings: SyncSettings | None, vrrp: VrrpState | None = None) -> list[SyncDaemon]:
    """The sync daemons this director should run now (none without sync settings)."""
    if settings is None:
        return []
    s = settings
    return [SyncDaemon(state, s.interface, syncid=s.syncid, maxlen=s.maxlen, group=s.group, port=s.port, ttl=s.ttl)
            for state in sync_states(s, vrrp)]
