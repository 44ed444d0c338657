"""Run the real ``lvsd`` program in the lab and read the kernel table two ways.

``Director`` writes a config into a scratch folder, starts ``lvsd CONFIG start``
(a real daemon with its PID file there, via LVSD_RUNDIR), drives it with the
CLI and signals, and reads the IPVS table with ``ipvsadm -Ln`` (the kernel's
own client) and with lvsd's netlink reader, which must agree.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from lvsd.ipvs.netlink import NetlinkIPVS

LVSD = [sys.executable, "-m", "lvsd"]
VIP = "198.51.100.1"


def ipvsadm_table(text: str) -> dict[str, dict[str, tuple[str, int]]]:
    """Parse ``ipvsadm -Ln``: {"TCP 198.51.100.1:80": {"203.0.113.11:80": ("Masq", 1)}}."""
    table: dict[str, dict[str, tuple[str, int]]] = {}
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


def netlink_table() -> dict[str, dict[str, tuple[str, int]]]:
    async def read() -> dict[str, dict[str, tuple[str, int]]]:
        async with NetlinkIPVS() as nl:
            t = await nl.dump()
        names = {"masq": "Masq", "gate": "Route", "ipip": "Tunnel"}
        out = {}
        for key in t.services:
            out[str(key)] = {str(d): (names[d.forward], d.weight) for d in t.dests_of(key).values()}
        return out

    return asyncio.run(read())


class Director:
    def __init__(self, workdir: Path, name: str = "lvsd.cf") -> None:
        self.dir = workdir
        self.config = workdir / name
        self.logfile = workdir / "lvsd.log"
        self.env = dict(os.environ, LVSD_RUNDIR=str(workdir))

    def write(self, text: str) -> None:
        self.config.write_text(text.replace("@LOG@", str(self.logfile)))

    def cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*LVSD, str(self.config), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    @property
    def pid(self) -> int | None:
        try:
            return int((self.dir / f"lvsd.{self.config.name}.pid").read_text())
        except (OSError, ValueError):
            return None

    def log(self) -> str:
        try:
            return self.logfile.read_text()
        except OSError:
            return ""

    def ipvsadm(self) -> dict[str, dict[str, tuple[str, int]]]:
        out = subprocess.run(["ipvsadm", "-Ln"], capture_output=True, text=True, timeout=10, check=True).stdout
        return ipvsadm_table(out)

    def service(self, key: str = f"TCP {VIP}:80") -> dict[str, tuple[str, int]]:
        return self.ipvsadm().get(key, {})

    def wait(self, pred, timeout: float, poll: float = 0.02) -> float:  # type: ignore[no-untyped-def]
        """Poll ``pred(service table)`` until true; return the seconds it took."""
        t0 = time.monotonic()
        while True:
            if pred(self.service()):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise AssertionError(
                    f"not reached within {timeout}s; table: {self.service()}\nlog:\n{self.log()[-3000:]}"
                )
            time.sleep(poll)

    def stop(self) -> None:
        if self.pid is not None:
            self.cli("stop")
