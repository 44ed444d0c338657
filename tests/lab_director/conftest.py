"""Fixtures for tests that run the real lvsd in the lab: four backends (rs4 is the
fallback "sorry" server), a scratch folder per test, the sample config, and bounds."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab.lab import Lab

from tests.conftest import in_lab, not_in_lab
from tests.lab_director.director import VIP, Director

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


def config(quiescent: str = "no", cleanstop: str = "yes", w: int = 1) -> str:
    return CONFIG.format(quiescent=quiescent, cleanstop=cleanstop, w=w, vip=VIP)


def record(name: str, seconds: float) -> None:
    """Append a measured latency to $LVSD_MEASUREMENTS (for the issue's closing note)."""
    out = os.environ.get("LVSD_MEASUREMENTS")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps({"what": name, "seconds": round(seconds, 3)}) + "\n")


REALS = ("203.0.113.11:80", "203.0.113.12:80", "203.0.113.13:80")
FALLBACK = "203.0.113.14:80"


def all_up(t: dict[str, tuple[str, int]]) -> bool:
    return all(t.get(r, ("", 0))[1] == 1 for r in REALS) and FALLBACK not in t


@pytest.fixture(scope="module")
def lab4() -> Iterator[Lab]:
    if not in_lab():
        not_in_lab()
    with Lab(n_reals=4) as lab:
        yield lab


@pytest.fixture
def director(lab4: Lab, tmp_path: Path) -> Iterator[Director]:
    for i in range(1, 5):
        lab4.backend(f"rs{i}").set_mode("up")
    lab4.ipvs_clear()
    d = Director(tmp_path)
    yield d
    d.stop()
    lab4.ipvs_clear()


def start(d: Director, text: str) -> None:
    d.write(text)
    res = d.cli("start")
    assert res.returncode == 0, res.stderr + d.log()
    d.wait(all_up, 10)


