"""Issue 12, point 1, proven with two directors: connections made through one appear in the other's table.

The lab's director (the root namespace, with the client and the real servers) and a second
director in its own network namespace (``labpeer``, its own IPVS table) each run the real
lvsd with the same virtual service; only the sync interface's name differs. Both run
``syncrole=both``. A long-lived client connection through the VIP, once it has carried a few
packets (the kernel syncs a connection at its third packet), is in the peer's table too,
bound to the same real server: what a standby needs to carry it on after a failover.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.lab import Lab
from tests.support.director import Director
from tests.support.kernel import run
from tests.support.waiting import wait_until

pytestmark = pytest.mark.lab

PEER_NS = "labpeer"
LINK, PEER_LINK = "labsync0", "eth0"
HERE_IP, PEER_IP = "192.0.2.129/30", "192.0.2.130/30"

CONFIG = """\
checktimeout=2
checkinterval=1
logfile="{log}"
syncinterface={link}
syncid=12

virtual=198.51.100.1:80
	real=203.0.113.11:80 masq
	real=203.0.113.12:80 masq
	real=203.0.113.13:80 masq
	checktype=on
	scheduler=rr
"""


def in_peer(*argv: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", PEER_NS, *argv], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def peer(lab: Lab, tmp_path: Path) -> Iterator[Path]:
    """A second director namespace on a veth to this one, running the real lvsd in the foreground."""
    lab.ipvs_clear()
    subprocess.run(["ip", "netns", "del", PEER_NS], capture_output=True, check=False)
    run("ip", "netns", "add", PEER_NS)
    run("ip", "link", "add", LINK, "type", "veth", "peer", "name", PEER_LINK, "netns", PEER_NS)
    run("ip", "addr", "add", HERE_IP, "dev", LINK)
    run("ip", "link", "set", LINK, "up")
    for args in (("addr", "add", PEER_IP, "dev", PEER_LINK), ("link", "set", PEER_LINK, "up"),
                 ("link", "set", "lo", "up")):
        run("ip", "-n", PEER_NS, *args)
    folder = tmp_path / "peer"
    folder.mkdir()
    cfg = folder / "lvsd.cf"
    cfg.write_text(CONFIG.format(log=folder / "lvsd.log", link=PEER_LINK))
    proc = subprocess.Popen(["ip", "netns", "exec", PEER_NS, sys.executable, "-m", "lvsd", "-f", str(cfg), "start"],
                            env={"LVSD_RUNDIR": str(folder), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                 "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield folder
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        subprocess.run(["ip", "link", "del", LINK], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", PEER_NS], capture_output=True, check=False)
        lab.ipvs_clear()
        for state in ("master", "backup"):
            subprocess.run(["ipvsadm", "--stop-daemon", state], capture_output=True, check=False)


def daemons(out: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^(master|backup) sync daemon \(mcast=(\S+), syncid=12", out, re.M)}


def connections(listing: str, client: str) -> list[str]:
    """The entries of one client connection (``192.0.2.2:PORT``): other tests' closed ones linger in TIME_WAIT."""
    return [line for line in listing.splitlines() if f" {client} " in f" {line} " and "198.51.100.1:80" in line]


def test_a_connection_through_one_director_is_in_the_others_table(lab: Lab, peer: Path, tmp_path: Path) -> None:
    here = Director(tmp_path)
    here.write(CONFIG.format(log=here.logfile, link=LINK))
    started = here.cli("start")
    assert started.returncode == 0, started.stderr + here.log()
    try:
        wait_until(lambda: len(in_peer("ipvsadm", "-Ln").stdout.split("->")) > 3, 30, 0.2,
                   explain=lambda: (peer / "lvsd.log").read_text() if (peer / "lvsd.log").exists() else "no log")
        assert daemons(run("ipvsadm", "-L", "--daemon")) == {"master", "backup"}
        assert daemons(in_peer("ipvsadm", "-L", "--daemon").stdout) == {"master", "backup"}
        status = here.cli("status", "--json")
        assert '"role": "both"' in status.stdout and "master on labsync0, syncid 12" in status.stdout
        conn = lab.client.open_persistent()
        try:
            for _ in range(4):  # the kernel sends a connection at its third packet (sync_threshold 3 50)
                assert conn.request().ok
            client = f"192.0.2.2:{conn.local_port}"
            wait_until(lambda: connections(in_peer("ipvsadm", "-Lnc").stdout, client) != [], 10, 0.2,
                       explain=lambda: in_peer("ipvsadm", "-Lnc").stdout)
            (line,) = connections(in_peer("ipvsadm", "-Lnc").stdout, client)
            here_lines = connections(run("ipvsadm", "-Lnc"), client)
            assert len(here_lines) == 1, here_lines
            # the same client, virtual and real server on both directors
            assert here_lines[0].split()[3:6] == line.split()[3:6], (here_lines, line)
            assert line.split()[3].startswith("192.0.2.2:") and line.split()[5].startswith("203.0.113.1"), line
        finally:
            conn.close()
    finally:
        here.cli("stop")
    assert daemons(run("ipvsadm", "-L", "--daemon")) == set()  # the clean stop purged the table: sync went too
