"""The real ``lvsd`` program in the kernel lab: the Director that runs it, the sample config, the bounds.

``Director`` writes a config into a scratch folder, starts ``lvsd CONFIG start``
(a real daemon with its PID file there, via LVSD_RUNDIR), drives it with the
CLI and signals, and reads the IPVS table with ``ipvsadm -Ln`` (the kernel's
own client). The sample config has three masq reals on four lab backends
(rs4 is the fallback "sorry" server), checked every second with a 3 s timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.kernel import Listed, ipvsadm_table
from tests.support.waiting import wait_until

LVSD = [sys.executable, "-m", "lvsd"]
VIP = "198.51.100.1"

INTERVAL, TIMEOUT = 1, 3
DOWN_BOUND = INTERVAL + TIMEOUT + 0.5
UP_BOUND = INTERVAL + 0.5
MODES = ["refuse", "wrongpage", "error500", "slow", "blackhole"]
SVC = f"TCP {VIP}:80"

CONFIG = """\
checktimeout=3
checkinterval=1
failurecount=1
quiescent={quiescent}
cleanstop={cleanstop}
logfile="@LOG@"

virtual={vip}:80
	real=203.0.113.11:80 masq {w}
	real=203.0.113.12:80 masq {w}
	real=203.0.113.13:80 masq {w}
	fallback=203.0.113.14:80 masq
	service=http
	request="/"
	receive="OK"
	scheduler=wrr
	checktype=negotiate
"""

REALS = ("203.0.113.11:80", "203.0.113.12:80", "203.0.113.13:80")
FALLBACK = "203.0.113.14:80"


def config(quiescent: str = "no", cleanstop: str = "yes", w: int = 1) -> str:
    return CONFIG.format(quiescent=quiescent, cleanstop=cleanstop, w=w, vip=VIP)


def record(name: str, seconds: float) -> None:
    """Append a measured latency to $LVSD_MEASUREMENTS (for the issue's closing note)."""
    out = os.environ.get("LVSD_MEASUREMENTS")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps({"what": name, "seconds": round(seconds, 3)}) + "\n")


def all_up(t: dict[str, tuple[str, int]]) -> bool:
    return all(t.get(r, ("", 0))[1] == 1 for r in REALS) and FALLBACK not in t


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

    def ipvsadm(self) -> Listed:
        out = subprocess.run(["ipvsadm", "-Ln"], capture_output=True, text=True, timeout=10, check=True).stdout
        return ipvsadm_table(out)

    def service(self, key: str = f"TCP {VIP}:80") -> dict[str, tuple[str, int]]:
        return self.ipvsadm().get(key, {})

    def wait(self, pred: Callable[[dict[str, tuple[str, int]]], bool], timeout: float, poll: float = 0.02) -> float:
        """Poll ``pred(service table)`` until true; return the seconds it took."""
        return wait_until(lambda: pred(self.service()), timeout, poll,
                          explain=lambda: f"table: {self.service()}\nlog:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.pid is not None:
            self.cli("stop")


def start(d: Director, text: str) -> None:
    d.write(text)
    res = d.cli("start")
    assert res.returncode == 0, res.stderr + d.log()
    d.wait(all_up, 10)
