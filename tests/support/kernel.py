"""The kernel's IPVS table read back in the lab, two independent ways: ipvsadm (the kernel's
own client) and lvsd's netlink reader, as listings, as tables, or grouped per service so they
compare line by line."""

from __future__ import annotations

import asyncio
import re
import subprocess

from lvsd.ipvs.netlink import NetlinkIPVS
from lvsd.ipvs.table import Table

Grouped = dict[str, list[str]]  # "-A ..." service line -> its sorted "-a ..." lines
Listed = dict[str, dict[str, tuple[str, int]]]  # "TCP 198.51.100.1:80" -> {"203.0.113.11:80": ("Masq", 1)}


def run(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=True).stdout


def group(lines: list[str]) -> Grouped:
    """ipvsadm-save lines as {service line: sorted dest lines}, whatever order they came in."""
    services: dict[str, str] = {}
    dests: dict[str, list[str]] = {}
    for line in (" ".join(raw.split()) for raw in lines):
        if not line:
            continue
        words = line.split()
        ident = " ".join(words[1:4] if words[3:4] == ["-6"] else words[1:3])
        if words[0] == "-A":
            services[ident] = line
        else:
            dests.setdefault(ident, []).append(line)
    return {services[i]: sorted(dests.get(i, [])) for i in services}


def ipvsadm_save() -> Grouped:
    return group(run("ipvsadm-save", "-n").splitlines())


def service_of(grouped: Grouped, ident: str) -> tuple[str, list[str]] | None:
    """The (service line, dest lines) whose service is ``ident`` (``-t 198.51.100.1:80``)."""
    for line, dests in grouped.items():
        if line.startswith(f"-A {ident} "):
            return line, dests
    return None


def ipvsadm_table(text: str) -> Listed:
    """Parse ``ipvsadm -Ln``: {"TCP 198.51.100.1:80": {"203.0.113.11:80": ("Masq", 1)}}."""
    table: Listed = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^(TCP|UDP|SCTP|FWM)\s+(\S+)", line)
        if m:
            current = f"{m.group(1)} {m.group(2)}"
            table[current] = {}
            continue
        m = re.match(r"^\s+->\s+(\S+)\s+(\w+)\s+(\d+)", line)
        if m and current is not None:
            table[current][m.group(1)] = (m.group(2), int(m.group(3)))
    return table


def thresholds() -> dict[str, dict[str, tuple[int, int]]]:
    """``ipvsadm -Ln --thresholds``: {"TCP 198.51.100.1:80": {"203.0.113.11:80": (upper, lower)}}."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    current = ""
    for line in run("ipvsadm", "-Ln", "--thresholds").splitlines():
        m = re.match(r"^(TCP|UDP|SCTP|FWM)\s+(\S+)(\s+IPv6)?", line)
        if m:
            current = f"{m.group(1)} {m.group(2)}" + (" IPv6" if m.group(3) else "")
            out[current] = {}
            continue
        m = re.match(r"^\s+->\s+(\S+)\s+(\d+)\s+(\d+)", line)
        if m and current:
            out[current][m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return out


def listing() -> str:
    return run("ipvsadm", "-Ln")


def netlink_dump() -> Table:
    async def read() -> Table:
        async with NetlinkIPVS() as nl:
            return await nl.dump()

    return asyncio.run(read())


def netlink_table() -> Listed:
    """The table as lvsd's netlink reader sees it, in ``ipvsadm_table``'s shape."""
    t = netlink_dump()
    names = {"masq": "Masq", "gate": "Route", "ipip": "Tunnel"}
    return {str(key): {str(d): (names[d.forward], d.weight) for d in t.dests_of(key).values()}
            for key in t.services}

