"""The director's health as a number for keepalived's VRRP: how many virtual services it cannot serve.

keepalived's ``track_file`` adds the number in a file, times its ``weight``, to a VRRP
instance's priority. lvsd writes there the count of its virtual services that have no
destination at a non-zero weight in the kernel table (no real server in service and no
fallback): 0 on a healthy director. With a negative weight, a director whose checks fail
(its link to the real servers is down, say) loses priority and a healthy peer takes the VIP;
two equally sick directors keep their order, so a fault everywhere does not flap the VIP.
Pure: the config and the kernel table in, the number out.
"""

from __future__ import annotations

from lvsd.config.model import Config
from lvsd.ipvs.table import Table


def unserved(config: Config, table: Table) -> list[str]:
    """The labels of the virtual services the kernel cannot send a new connection anywhere for."""
    return [v.label for v in config.virtuals
            if not any(d.weight > 0 for d in table.dests_of(v.key).values())]
