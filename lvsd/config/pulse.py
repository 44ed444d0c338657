"""piranha's pulse failover settings as the director pair's (``lvsd convert`` of an lvs.cf keeps them).

pulse ran its own heartbeat; lvsd's pair runs on keepalived's VRRP (``lvsd keepalived``), so
primary and backup (with backup_active) become the two vrrpnode lines, deadtime / 3 (else
keepalive) the advertisement interval (VRRP declares a master dead after about three adverts),
the VIPs' device (``address = IP eth0:1``) the VRRP interface, vip_nmask and nat_router /
nat_nmask addresses that move with the VIPs, and syncdaemon / syncd_iface / syncd_id the sync
daemons. Problems are reported through the lvs.cf reader, at their line.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any, Protocol

from lvsd.config.model import SyncSettings, VrrpNode, VrrpSettings


class Reader(Protocol):
    """What of piranha.py's reader this uses: typed reads that report at the entry's line, and the source."""

    src: Any

    def get(self, blk: Any, key: str, fn: Callable[[Any], object], default: object = None) -> object: ...
    def address(self, e: Any, key: str, *, interface: bool = False) -> str: ...
    def flag(self, e: Any, key: str) -> bool: ...
    def integer(self, e: Any, key: str, low: int, high: int) -> int: ...


def pulse_pair(reader: Reader, root: Any) -> tuple[VrrpSettings | None, SyncSettings | None]:
    """The pair's VRRP and sync settings from the global section ``root`` of an lvs.cf (see the module)."""
    k = root.keys
    primary = reader.get(root, "primary", lambda e: reader.address(e, "primary"))
    backup = reader.get(root, "backup", lambda e: reader.address(e, "backup"))
    backup_active = reader.get(root, "backup_active", lambda e: reader.flag(e, "backup_active"), True)
    keepalive = reader.get(root, "keepalive", lambda e: reader.integer(e, "keepalive", 1, 255))
    deadtime = reader.get(root, "deadtime", lambda e: reader.integer(e, "deadtime", 1, 765))
    sync: SyncSettings | None = None
    if reader.get(root, "syncdaemon", lambda e: reader.flag(e, "syncdaemon"), False):
        iface = k["syncd_iface"].value.split()[0] if "syncd_iface" in k else ""
        if not iface:
            reader.src.error(k["syncdaemon"].line, k["syncdaemon"].col,
                           "syncdaemon = 1 needs syncd_iface = INTERFACE")
        syncid = reader.get(root, "syncd_id", lambda e: reader.integer(e, "syncd_id", 0, 255), 0)
        sync = SyncSettings(interface=iface, role="both", syncid=int(syncid))  # type: ignore[call-overload]
    if not isinstance(primary, str):
        return None, sync
    nodes = [VrrpNode("primary", 150, primary)]
    if isinstance(backup, str) and backup_active:
        nodes.append(VrrpNode("backup", 100, backup))
    elif "backup" in k:
        e = k["backup_active"] if "backup_active" in k else k["backup"]
        reader.src.warning(e.line, e.key_col, "backup_active = 0: no backup director, so no pair to write")
    advert = 1.0
    if isinstance(deadtime, int):
        advert = max(0.01, round(deadtime / 3, 2))
    elif isinstance(keepalive, int):
        advert = float(keepalive)
    interface = ""
    addresses: list[tuple[str, str]] = []
    for blk in root.children:
        vip = blk.keys.get("address") if blk.kind == "virtual" else None
        words = vip.value.split() if vip is not None else []
        dev = words[1].split(":")[0] if len(words) == 2 else ""
        interface = interface or dev
        nmask = blk.keys.get("vip_nmask")
        if words and nmask is not None and nmask.value != "255.255.255.255":
            try:
                net = ipaddress.ip_network(f"{words[0]}/{nmask.value}", strict=False)
            except ValueError:
                reader.src.error(nmask.line, nmask.col, f"vip_nmask must be a netmask, not {nmask.value!r}")
            else:
                addresses.append((f"{words[0]}/{net.prefixlen}", dev))
    if "nat_router" in k:
        e = k["nat_router"]
        words = e.value.split()
        try:
            ip = str(ipaddress.ip_address(words[0])) if words else ""
            prefix = ipaddress.ip_network(f"0.0.0.0/{k['nat_nmask'].value}").prefixlen if "nat_nmask" in k else 24
        except ValueError:
            reader.src.error(e.line, e.col, f"nat_router must be IP [DEVICE] with nat_nmask a netmask, not "
                           f"{e.value!r}")
        else:
            addresses.append((f"{ip}/{prefix}", words[1].split(":")[0] if len(words) > 1 else ""))
    return VrrpSettings(interface=interface, vrid=51, advert=advert, nodes=tuple(nodes),
                        addresses=tuple(addresses)), sync
