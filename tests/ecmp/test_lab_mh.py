"""Issue 13, point 2 in the kernel: directors with different histories map every flow to the same real server.

Three director namespaces, each its own IPVS, each reached by its own client namespace with
the same address (192.0.2.2) over its own link, so a flow with a given source port hashes the
same way on each. Real servers are addresses on a segment behind each director; their health
comes from an external check that reads a flag file per real server, so the test sets each
director's health history by hand:

* A: lvsd started with all four real servers up;
* B: lvsd started with rs2 and rs4 down and only rs1-rs3 in its config; then rs2 and rs4 come
  back, rs4 is appended to the config (a reload), and lvsd is restarted (a handover) mid-way;
* C, the control, programmed by hand: first in reverse order (rs2 added at weight 0, then
  raised), later in config order but with a failed real server added at weight 0 instead of
  quiesced: each time the same weights as A and B, a different table.

A flow is a SYN from a fixed source port: IPVS schedules it and keeps a connection entry
(``ipvsadm -Lnc``) naming the real server chosen, whether or not the real server answers.
A and B must agree on every flow and show the same fingerprint in ``lvsd status``; C must not
(else the comparison proves nothing).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.pair import ns, sh
from tests.support.skipping import in_lab, not_in_lab

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
LVSD = [sys.executable, "-m", "lvsd"]
VIP = "198.51.100.1"
REALS = ("203.0.113.21", "203.0.113.22", "203.0.113.23", "203.0.113.24")
WEIGHTS = (1, 2, 1, 3)
DIRECTORS = ("mha", "mhb", "mhc")
FLOWS = 300

CHECK = """#!/bin/sh
# external check: VIP VPORT RIP RPORT; up unless FLAGS/down-RIP exists
test ! -e "{flags}/down-$3"
"""

CONFIG = """\
checktimeout=2
checkinterval=1
logfile="{work}/lvsd.log"
virtual={vip}:80
{reals}
\tchecktype=external
\tcheckcommand="{check}"
\tscheduler=mh
\tschedflags=mh-port
\tquiescent=no
"""


def config(work: Path, check: Path, n_reals: int) -> str:
    reals = "\n".join(f"\treal={ip}:80 gate {w}" for ip, w in list(zip(REALS, WEIGHTS, strict=True))[:n_reals])
    return CONFIG.format(work=work, vip=VIP, reals=reals, check=check)


class Director:
    def __init__(self, name: str, work: Path) -> None:
        self.name = name
        self.netns = f"e{name}"
        self.client = f"e{name}cl"
        self.work = work / name
        self.work.mkdir(parents=True, exist_ok=True)
        self.flags = self.work / "flags"
        self.flags.mkdir(exist_ok=True)
        self.check = self.work / "check"
        self.check.write_text(CHECK.format(flags=self.flags))
        self.check.chmod(0o755)
        self.cfg = self.work / "lvsd.cf"
        self.proc: subprocess.Popen[bytes] | None = None

    def build(self) -> None:
        for netns in (self.netns, self.client):
            sh("ip", "netns", "add", netns)
        # client 192.0.2.2 <-> director 192.0.2.1; the director's segment 203.0.113.0/24 leads to an empty netns
        sh("ip", "link", "add", "cl", "netns", self.client, "type", "veth", "peer", "name", "up", "netns", self.netns)
        sh("ip", "-n", self.client, "addr", "add", "192.0.2.2/24", "dev", "cl")
        sh("ip", "-n", self.netns, "addr", "add", "192.0.2.1/24", "dev", "up")
        sh("ip", "-n", self.netns, "link", "add", "lan", "type", "dummy")
        sh("ip", "-n", self.netns, "addr", "add", "203.0.113.1/24", "dev", "lan")
        sh("ip", "-n", self.netns, "addr", "add", f"{VIP}/32", "dev", "lo")
        for netns, links in ((self.client, ("lo", "cl")), (self.netns, ("lo", "up", "lan"))):
            for link in links:
                sh("ip", "-n", netns, "link", "set", "dev", link, "up")
        sh("ip", "-n", self.client, "route", "add", "default", "via", "192.0.2.1")
        ns(self.netns, "sysctl", "-q", "-w", "net.ipv4.vs.sloppy_tcp=1")
        for ip in REALS:  # a neighbour entry, so DR has a MAC to send to
            sh("ip", "-n", self.netns, "neigh", "replace", ip, "lladdr", "02:00:00:00:00:01", "dev", "lan")

    def down(self, *ips: str) -> None:
        for ip in REALS:
            flag = self.flags / f"down-{ip}"
            if ip in ips:
                flag.touch()
            else:
                flag.unlink(missing_ok=True)

    def start(self, n_reals: int = 4) -> None:
        self.cfg.write_text(config(self.work, self.check, n_reals))
        env = dict(os.environ, LVSD_RUNDIR=str(self.work), PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.netns, *LVSD, "-f", str(self.cfg), "start"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=open(self.work / "lvsd.err", "ab"))

    def status(self) -> dict[str, object]:
        env = dict(os.environ, LVSD_RUNDIR=str(self.work), PYTHONPATH=str(REPO))
        out = subprocess.run([*LVSD, "-f", str(self.cfg), "status", "--json"], env=env, capture_output=True,
                             text=True, timeout=30)
        try:
            return json.loads(out.stdout)  # type: ignore[no-any-return]
        except ValueError:
            return {}

    def weights(self) -> dict[str, int]:
        out = ns(self.netns, "ipvsadm", "-Ln").stdout
        return {line.split()[1].split(":")[0]: int(line.split()[3]) for line in out.splitlines()
                if line.strip().startswith("->") and line.split()[1][0].isdigit()}

    def wait_weights(self, want: dict[str, int], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.weights() == want:
                return
            time.sleep(0.2)
        raise AssertionError(f"{self.name}: weights {self.weights()} never became {want}; log:\n"
                             + (self.work / "lvsd.log").read_text()[-3000:] + (self.work / "lvsd.err").read_text())

    def fingerprint(self) -> str:
        virtuals = self.status().get("virtuals") or [{}]
        mh = virtuals[0].get("mh") or {}  # type: ignore[index, union-attr]
        return str(mh.get("fingerprint", ""))

    def reload(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def handover(self) -> None:
        """SIGUSR2: the daemon leaves its table for the next one (as ``lvsd restart`` does), then a new one starts."""
        assert self.proc is not None
        ns(self.netns, "kill", "-USR2", str(self._pid()))
        self.proc.wait(timeout=30)
        self.start()

    def _pid(self) -> int:
        return int((self.work / "lvsd.lvsd.cf.pid").read_text().split()[0])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def flows(self, first_port: int) -> dict[int, str]:
        """Send FLOWS SYNs from fixed source ports; the real server IPVS chose for each, by source port."""
        script = (
            "import socket, time\n"
            f"socks = []\nfor p in range({first_port}, {first_port + FLOWS}):\n"
            "    s = socket.socket(); s.setblocking(False)\n"
            "    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "    s.bind(('192.0.2.2', p)); s.connect_ex(('" + VIP + "', 80)); socks.append(s)\n"
            "time.sleep(0.5)\n"
        )
        ns(self.client, sys.executable, "-c", script, timeout=60)
        chosen: dict[int, str] = {}
        for line in ns(self.netns, "ipvsadm", "-Lnc").stdout.splitlines():
            words = line.split()
            if len(words) == 6 and words[3].startswith("192.0.2.2:"):
                port = int(words[3].rsplit(":", 1)[1])
                if first_port <= port < first_port + FLOWS:
                    chosen[port] = words[5].rsplit(":", 1)[0]
        return chosen


@pytest.fixture
def directors(tmp_path: Path) -> Iterator[dict[str, Director]]:
    if not in_lab():
        not_in_lab()
    ds = {name: Director(name, tmp_path) for name in DIRECTORS}
    try:
        for d in ds.values():
            for netns in (d.netns, d.client):
                sh("ip", "netns", "del", netns, check=False)
            d.build()
        yield ds
    finally:
        for d in ds.values():
            d.stop()
            for netns in (d.netns, d.client):
                sh("ip", "netns", "del", netns, check=False)


def test_directors_started_in_different_orders_map_every_flow_alike(directors: dict[str, Director]) -> None:
    a, b, c = directors["mha"], directors["mhb"], directors["mhc"]
    all_up = dict(zip(REALS, WEIGHTS, strict=True))
    a.down()
    a.start()
    b.down(REALS[1], REALS[3])
    b.start(n_reals=3)
    # C by hand: reverse order, rs2 added at weight 0 and raised later, rs4 added first
    ns(c.netns, "ipvsadm", "-A", "-t", f"{VIP}:80", "-s", "mh", "-b", "mh-fallback,mh-port")
    for ip, w in reversed(list(zip(REALS, WEIGHTS, strict=True))):
        ns(c.netns, "ipvsadm", "-a", "-t", f"{VIP}:80", "-r", f"{ip}:80", "-g", "-w", str(0 if ip == REALS[1] else w))
    ns(c.netns, "ipvsadm", "-e", "-t", f"{VIP}:80", "-r", f"{REALS[1]}:80", "-g", "-w", "2")
    a.wait_weights(all_up)
    b.wait_weights({REALS[0]: 1, REALS[1]: 0, REALS[2]: 1})  # rs2 down at start: in the table, quiesced
    b.down()
    b.wait_weights({REALS[0]: 1, REALS[1]: 2, REALS[2]: 1})
    b.cfg.write_text(config(b.work, b.check, 4))
    b.reload()
    b.wait_weights(all_up)  # rs4 appended to the config and added by a reload
    b.handover()  # a restart mid-way: the new daemon adopts the table, changes nothing
    deadline = time.monotonic() + 30
    while not b.fingerprint() and time.monotonic() < deadline:  # its control socket answers once it runs
        time.sleep(0.5)
    b.wait_weights(all_up)
    assert c.weights() == all_up  # the same weights everywhere ...

    fa, fb, fc = a.fingerprint(), b.fingerprint(), c.fingerprint()
    assert fa and fa == fb, (a.status(), b.status())
    assert fc == ""  # C runs no lvsd
    flows = {d.name: d.flows(41000) for d in (a, b, c)}
    assert len(flows["mha"]) == len(flows["mhb"]) == len(flows["mhc"]) == FLOWS
    assert set(flows["mha"].values()) == set(REALS)  # the flows spread over every real server
    same = sum(flows["mha"][p] == flows["mhb"][p] for p in flows["mha"])
    differ_c = sum(flows["mha"][p] != flows["mhc"][p] for p in flows["mha"])
    assert same == FLOWS, f"A and B disagree on {FLOWS - same} of {FLOWS} flows"
    # ... yet C's table is another: its rs2 added at weight 0 owns no slots until raised, its order is reversed
    print(f"mh: A and B agree on {same}/{FLOWS} flows; the hand-built C differs on {differ_c}/{FLOWS}")
    assert differ_c > 0

    # the same health change on A and B keeps them in step (rs3 fails: quiesced, never deleted)
    for d in (a, b):
        d.down(REALS[2])
    for d in (a, b):
        d.wait_weights({**all_up, REALS[2]: 0})
    assert a.fingerprint() == b.fingerprint() != fa
    fa2, fb2 = a.flows(42000), b.flows(42000)
    assert len(fa2) == FLOWS and fa2 == fb2 and REALS[2] not in fa2.values()  # mh-fallback: rs3's flows go on
    # C again, built in lvsd's order but with the failed rs3 added at weight 0 (as a tool that adds a down real
    # quiesced would): the same weights as A and B show, yet rs3 owns no slots there
    ns(c.netns, "ipvsadm", "-D", "-t", f"{VIP}:80")
    ns(c.netns, "ipvsadm", "-A", "-t", f"{VIP}:80", "-s", "mh", "-b", "mh-fallback,mh-port")
    for ip, w in zip(REALS, WEIGHTS, strict=True):
        ns(c.netns, "ipvsadm", "-a", "-t", f"{VIP}:80", "-r", f"{ip}:80", "-g", "-w", str(0 if ip == REALS[2] else w))
    assert c.weights() == a.weights()
    fc2 = c.flows(42000)
    differ_c2 = sum(fa2[p] != fc2[p] for p in fa2)
    print(f"mh: after rs3 failed, A and B agree on {FLOWS}/{FLOWS}; C with rs3 added at weight 0 differs on "
          f"{differ_c2}/{FLOWS}")
    assert differ_c2 > FLOWS // 20
