"""Active-active directors behind an ECMP router, in the kernel lab (run inside UML).

Every namespace starts with ``e`` and every link or bridge the lab's root namespace sees starts
with ``labe``; :meth:`EcmpLab.teardown` (also run before :meth:`EcmpLab.build`) removes them.

* ``erouter``: the router. BIRD 2 with one eBGP session per director (router AS 65000, director
  N AS 6500N) and a kernel protocol with ``merge paths``, so the VIP's /32 becomes one route
  with a nexthop per director that announces it. The route's hash takes each packet's addresses
  and ports (``fib_multipath_hash_policy=3``, fields 0x37; :meth:`EcmpLab.build` says why not 1).
  192.0.2.1/24 towards the client, 203.0.113.1/24 on the LAN.
* ``ecl``: the client, 192.0.2.2/24 (tests/lab/ecmp_agent.py ``client``: long-lived echoing
  flows from fixed source ports).
* ``ed1``, ``ed2``, ``ed3``: directors, 203.0.113.11-13 on the LAN (the bridge ``labebr0``). Each
  has the VIP 198.51.100.1/32 on lo, ``net.ipv4.vs.sloppy_tcp=1`` (a flow the router moves to
  it mid-way is scheduled instead of dropped) and a service 198.51.100.1:80 forwarding by
  direct routing (gate). ed1 and ed2 announce the VIP with ExaBGP (its process API), ed3 with
  BIRD (a direct protocol on the dummy ``announce0``: the /32 there is announced).
* ``er1``..``er4``: real servers 203.0.113.21-24 (``real --name rsN``), VIP on lo,
  arp_ignore=1, arp_announce=2, default route via the router: replies skip the directors.

A director runs in one of two ways. ``manual``: the harness programs its table with
``ipvsadm`` and drives its announcement (ExaBGP: a helper that follows a state file; BIRD: the
address on ``announce0``). ``lvsd``: the real lvsd with a generated ldirectord.cf programs the
table and decides the announcement (``announce=exabgp``: ExaBGP runs ``lvsd exabgp -c CONFIG``;
``announce=interface``: lvsd puts the VIP on ``announce0``).

:meth:`EcmpLab.measure` runs one scenario on fresh flows: it opens them, notes which director
the router sends each flow to (``ip route get`` with the flow's ports, in one ``ip -batch``),
runs the action, lets things settle, notes again, and reports how many established flows broke
and how many the router moved. Everything is bounded in time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parents[2]
AGENT = [sys.executable, str(REPO / "tests" / "lab" / "ecmp_agent.py")]
LVSD = [sys.executable, "-m", "lvsd"]
EXABGP = str(Path(sys.executable).parent / "exabgp")
BIRD = "/usr/sbin/bird"
BIRDC = "/usr/sbin/birdc"

VIP = "198.51.100.1"
VPORT = 80
PREFIX = f"{VIP}/32"
BRIDGE = "labebr0"
LAN = "203.0.113"
ROUTER_NS, ROUTER_LAN, ROUTER_CLIENT, ROUTER_AS = "erouter", f"{LAN}.1", "192.0.2.1", 65000
CLIENT_NS, CLIENT_IP = "ecl", "192.0.2.2"
DIRECTORS: dict[str, tuple[str, int, str]] = {  # name: (LAN address, AS, BGP speaker)
    "ed1": (f"{LAN}.11", 65001, "exabgp"),
    "ed2": (f"{LAN}.12", 65002, "exabgp"),
    "ed3": (f"{LAN}.13", 65003, "bird"),
}
REALS: dict[str, tuple[str, str]] = {f"rs{i}": (f"er{i}", f"{LAN}.{20 + i}") for i in range(1, 5)}
ANNOUNCE_DEV = "announce0"
HOLD = 3  # BGP hold time (s): a silent director is dropped after this
KEEPALIVE = 1

Mode = Literal["manual", "lvsd"]
Scheduler = Literal["mh", "wlc"]


class EcmpLabError(RuntimeError):
    pass


def sh(*argv: str, check: bool = True, timeout: float = 30.0, input: str | None = None
       ) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input)
    except subprocess.TimeoutExpired as exc:
        raise EcmpLabError(f"{' '.join(argv)}: no answer within {timeout:g}s") from exc
    if check and proc.returncode != 0:
        raise EcmpLabError(f"{' '.join(argv)}: exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()}")
    return proc


def ns(netns: str, *argv: str, check: bool = True, timeout: float = 30.0, input: str | None = None
       ) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", netns, *argv, check=check, timeout=timeout, input=input)


def wait_for(pred: Callable[[], bool], timeout: float, every: float = 0.1) -> float | None:
    """Seconds until ``pred()`` held (polled every ``every``), or None if it did not within ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(every)
    return None


def stop_proc(p: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=timeout)


def pids_mentioning(text: str) -> list[int]:
    """Processes whose command line contains ``text`` (a path of this lab's own work folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


# -- configs ------------------------------------------------------------------------------------

ROUTER_BIRD = """\
router id {router};
log "{work}/bird.log" all;
protocol device {{ scan time 1; }}
protocol kernel {{
    ipv4 {{ import none; export all; }};
    merge paths on;
    learn off;
    scan time 2;
}}
template bgp director {{
    local {router} as {asn};
    hold time {hold};
    keepalive time {keepalive};
    connect retry time 1;
    connect delay time 1;
    error wait time 1, 3;
    ipv4 {{ import where net = {prefix}; export none; }};
}}
{peers}
"""
ROUTER_PEER = "protocol bgp {name} from director {{ neighbor {ip} as {asn}; }}\n"

DIRECTOR_BIRD = """\
router id {ip};
log "{work}/bird.log" all;
protocol device {{ scan time 1; }}
protocol direct announce {{
    ipv4;
    interface "{dev}";
}}
protocol bgp uplink {{
    local {ip} as {asn};
    neighbor {router} as {router_as};
    hold time {hold};
    keepalive time {keepalive};
    connect retry time 1;
    connect delay time 1;
    error wait time 1, 3;
    ipv4 {{ import none; export where proto = "announce" && net = {prefix}; next hop self; }};
}}
"""

EXABGP_CONF = """\
process announce {{
    run {run};
    encoder text;
}}
neighbor {router} {{
    router-id {ip};
    local-address {ip};
    local-as {asn};
    peer-as {router_as};
    hold-time {hold};
    group-updates false;
    family {{
        ipv4 unicast;
    }}
    api {{
        processes [ announce ];
    }}
}}
"""

LVSD_CONFIG = """\
checktimeout=1
checkinterval=1
logfile="{work}/lvsd.log"
announce={announce}
{announce_extra}announcerise={rise}
announcefall={fall}
withdrawwait={withdrawwait}

virtual={vip}:{port}
{reals}	service=http
	request="/health"
	receive="OK"
	scheduler={scheduler}
{schedflags}	checktype=negotiate
"""


def exabgp_env(work: Path) -> dict[str, str]:
    """ExaBGP 5's settings as environment variables (``exabgp.section.option`` spelt with ``_``)."""
    return dict(os.environ, **{
        "exabgp_daemon_user": "root",  # we run it as root inside UML; it would drop to 'nobody'
        "exabgp_daemon_drop": "false",
        "exabgp_daemon_daemonize": "false",
        "exabgp_daemon_pid": "",
        "exabgp_log_destination": str(work / "exabgp.log"),
        "exabgp_log_level": "INFO",
        "exabgp_log_statistics": "false",  # one line per keepalive otherwise
        "exabgp_api_cli": "false",  # no named pipes for exabgp-cli
        "exabgp_api_ack": "true",  # 'done' / 'error' back on the helper's stdin, per line
        "exabgp_api_respawn": "false",
        "exabgp_tcp_bind": "",
        "EXABGP_ENVFILE": str(work / "exabgp.env"),  # absent: only the variables count
        "PYTHONPATH": str(REPO),
        "LVSD_RUNDIR": str(work),
    })


# -- the pieces -----------------------------------------------------------------------------------

@dataclass
class Director:
    name: str
    ip: str
    asn: int
    speaker: str  # "exabgp" | "bird"
    work: Path
    mode: Mode = "manual"
    scheduler: Scheduler = "mh"
    reals: list[str] = field(default_factory=lambda: ["rs1", "rs2", "rs3"])
    lvsd: subprocess.Popen[bytes] | None = None
    bgp: subprocess.Popen[bytes] | None = None

    @property
    def netns(self) -> str:
        return self.name

    @property
    def link(self) -> str:
        return f"labe{self.name}"

    @property
    def config(self) -> Path:
        return self.work / "lvsd.cf"

    @property
    def state_file(self) -> Path:
        return self.work / "announce.state"

    @property
    def bird_socket(self) -> Path:
        return self.work / "bird.ctl"

    def env(self) -> dict[str, str]:
        return dict(os.environ, LVSD_RUNDIR=str(self.work), PYTHONPATH=str(REPO))

    # hand-programmed table (phase 1)
    def program(self, scheduler: Scheduler, reals: Sequence[str]) -> None:
        flags = ["-b", "mh-port"] if scheduler == "mh" else []
        lines = [f"-A -t {VIP}:{VPORT} -s {scheduler} {' '.join(flags)}".strip()]
        lines += [f"-a -t {VIP}:{VPORT} -r {REALS[r][1]}:{VPORT} -g -w 1" for r in reals]
        ns(self.netns, "ipvsadm", "-C")
        ns(self.netns, "ipvsadm", "-R", input="\n".join(lines) + "\n")
        self.scheduler = scheduler
        self.reals = list(reals)

    def add_real(self, real: str) -> None:
        if self.mode == "manual":
            ns(self.netns, "ipvsadm", "-a", "-t", f"{VIP}:{VPORT}", "-r", f"{REALS[real][1]}:{VPORT}", "-g", "-w", "1")
            self.reals.append(real)
        else:
            self.reals.append(real)
            self.write_lvsd_config()
            self.reload()

    def reload(self) -> None:
        """lvsd re-reads its config (SIGHUP to the daemon, as ldirectord's reload)."""
        if self.lvsd is None or self.lvsd.poll() is not None:
            raise EcmpLabError(f"{self.name}: lvsd is not running")
        self.lvsd.send_signal(signal.SIGHUP)

    def table(self) -> str:
        return ns(self.netns, "ipvsadm", "-Ln", check=False).stdout

    def table_ready(self) -> bool:
        out = self.table()
        return all(f"-> {REALS[r][1]}:{VPORT}" in out for r in self.reals)

    # announcements
    def announce(self, up: bool) -> None:
        """Manual mode: announce or withdraw the VIP by hand."""
        if self.speaker == "exabgp":
            self.state_file.write_text("up\n" if up else "down\n")
        elif up:
            ns(self.netns, "ip", "addr", "replace", PREFIX, "dev", ANNOUNCE_DEV)
        else:
            ns(self.netns, "ip", "addr", "del", PREFIX, "dev", ANNOUNCE_DEV, check=False)

    def write_lvsd_config(self, withdrawwait: int = 4, rise: int = 1, fall: int = 1) -> None:
        announce = "exabgp" if self.speaker == "exabgp" else "interface"
        extra = "" if announce == "exabgp" else f"announceinterface={ANNOUNCE_DEV}\n"
        reals = "".join(f"\treal={REALS[r][1]}:{VPORT} gate\n" for r in self.reals)
        flags = "\tschedflags=mh-port\n" if self.scheduler == "mh" else ""
        self.config.write_text(LVSD_CONFIG.format(
            work=self.work, announce=announce, announce_extra=extra, rise=rise, fall=fall,
            withdrawwait=withdrawwait, vip=VIP, port=VPORT, reals=reals, scheduler=self.scheduler, schedflags=flags))

    def start_lvsd(self) -> None:
        self.lvsd = subprocess.Popen(["ip", "netns", "exec", self.netns, *LVSD, "-f", str(self.config), "start"],
                                     env=self.env(), stdout=subprocess.DEVNULL,
                                     stderr=open(self.work / "lvsd.err", "ab"))

    def lvsd_command(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """``lvsd ARGS -c CONFIG`` in the director's namespace (leave, join, status...)."""
        proc = subprocess.run(["ip", "netns", "exec", self.netns, *LVSD, *args, "-c", str(self.config)],
                              env=self.env(), capture_output=True, text=True, timeout=timeout)
        return proc

    def status(self) -> str:
        """``lvsd CONFIG status``: its routes and, for mh services, the table's fingerprint."""
        proc = subprocess.run(["ip", "netns", "exec", self.netns, *LVSD, str(self.config), "status"], env=self.env(),
                              capture_output=True, text=True, timeout=30)
        return proc.stdout + proc.stderr

    def start_speaker(self) -> None:
        if self.speaker == "exabgp":
            if self.mode == "manual":
                run = " ".join([*AGENT, "announcer", "--state", str(self.state_file), "--prefix", PREFIX])
            else:
                run = " ".join([*LVSD, "exabgp", "-c", str(self.config)])
            conf = self.work / "exabgp.conf"
            conf.write_text(EXABGP_CONF.format(run=run, router=ROUTER_LAN, ip=self.ip, asn=self.asn,
                                               router_as=ROUTER_AS, hold=HOLD))
            self.bgp = subprocess.Popen(["ip", "netns", "exec", self.netns, EXABGP, "server", str(conf)],
                                        env=exabgp_env(self.work), stdout=open(self.work / "exabgp.out", "ab"),
                                        stderr=subprocess.STDOUT)
        else:
            conf = self.work / "bird.conf"
            conf.write_text(DIRECTOR_BIRD.format(ip=self.ip, work=self.work, dev=ANNOUNCE_DEV, asn=self.asn,
                                                 router=ROUTER_LAN, router_as=ROUTER_AS, hold=HOLD,
                                                 keepalive=KEEPALIVE, prefix=PREFIX))
            self.bgp = subprocess.Popen(["ip", "netns", "exec", self.netns, BIRD, "-f", "-c", str(conf),
                                         "-s", str(self.bird_socket), "-P", str(self.work / "bird.pid")],
                                        stdout=open(self.work / "bird.out", "ab"), stderr=subprocess.STDOUT)

    def own_pids(self) -> list[int]:
        """Every process of this director: lvsd, its speaker and the speaker's helper (all name its work folder)."""
        return pids_mentioning(str(self.work) + "/")

    def kill(self) -> None:
        """kill -9 of lvsd, the speaker and its helper at once (stopped first, so none hears of the others)."""
        pids = self.own_pids()
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        for p in (self.lvsd, self.bgp):
            if p is not None:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        self.lvsd = self.bgp = None

    def stop(self) -> None:
        for p in (self.lvsd, self.bgp):
            if p is not None:
                stop_proc(p, timeout=20)
        self.lvsd = self.bgp = None
        for pid in self.own_pids():  # a helper that outlived its speaker
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def logs(self, tail: int = 1500) -> str:
        out = []
        for name in ("lvsd.err", "lvsd.log", "exabgp.out", "exabgp.log", "bird.out", "bird.log",
                     "announce.state.acks"):
            p = self.work / name
            if p.exists():
                out.append(f"--- {self.name}/{name}:\n{p.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)


@dataclass
class Flows:
    """One client run: ``n`` flows from ports ``base``.. to the VIP."""
    proc: subprocess.Popen[bytes]
    out: Path
    n: int
    base: int
    seconds: float
    result: dict[str, Any] | None = None

    @property
    def ports(self) -> list[int]:
        return [self.base + i for i in range(self.n)]

    def finish(self) -> dict[str, Any]:
        if self.result is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            _, err = self.proc.communicate(timeout=30)
            if self.proc.returncode != 0 or not self.out.exists():
                raise EcmpLabError(f"client failed (exit {self.proc.returncode}): {err.decode()[-2000:]}")
            self.result = json.loads(self.out.read_text())
        return self.result


class EcmpLab:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.directors: dict[str, Director] = {
            name: Director(name, ip, asn, speaker, work / name) for name, (ip, asn, speaker) in DIRECTORS.items()}
        self.router_bird: subprocess.Popen[bytes] | None = None
        self.reals: dict[str, subprocess.Popen[bytes]] = {}
        self.next_port = 40000
        self.runs = 0

    # -- network -------------------------------------------------------------------------------

    def build(self) -> None:
        self.teardown()
        for d in self.directors.values():
            d.work.mkdir(parents=True, exist_ok=True)
        (self.work / "router").mkdir(parents=True, exist_ok=True)
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "link", "set", BRIDGE, "up")
        self._attach(ROUTER_NS, ROUTER_LAN)
        for name, d in self.directors.items():
            self._attach(name, d.ip)
        for _name, (netns, ip) in REALS.items():
            self._attach(netns, ip)
        # the client hangs off the router alone
        sh("ip", "netns", "add", CLIENT_NS)
        sh("ip", "-n", ROUTER_NS, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", CLIENT_NS)
        sh("ip", "-n", ROUTER_NS, "addr", "add", f"{ROUTER_CLIENT}/24", "dev", "eth1")
        sh("ip", "-n", ROUTER_NS, "link", "set", "eth1", "up")
        sh("ip", "-n", CLIENT_NS, "addr", "add", f"{CLIENT_IP}/24", "dev", "eth0")
        sh("ip", "-n", CLIENT_NS, "link", "set", "eth0", "up")
        sh("ip", "-n", CLIENT_NS, "link", "set", "lo", "up")
        sh("ip", "-n", CLIENT_NS, "route", "add", "default", "via", ROUTER_CLIENT)
        # Policy 3 (custom fields: addresses, protocol, ports) rather than 1 (L4): under 1 the kernel takes the
        # hash a packet already carries, and a packet from a local socket crosses the veth with its socket's
        # random txhash (re-drawn at every retransmission timeout), so paths would be random per connection and
        # change on each RTO. A router hashing the 5-tuple of the packet itself is what policy 3 gives.
        for key, value in (("net.ipv4.ip_forward", "1"), ("net.ipv4.fib_multipath_hash_policy", "3"),
                           ("net.ipv4.fib_multipath_hash_fields", "0x0037"),
                           ("net.ipv4.conf.all.rp_filter", "0"), ("net.ipv4.conf.default.rp_filter", "0")):
            ns(ROUTER_NS, "sysctl", "-q", "-w", f"{key}={value}")
        for d in self.directors.values():
            n = d.netns
            sh("ip", "-n", n, "route", "add", "default", "via", ROUTER_LAN)
            sh("ip", "-n", n, "addr", "add", PREFIX, "dev", "lo")
            sh("ip", "-n", n, "link", "add", ANNOUNCE_DEV, "type", "dummy")
            sh("ip", "-n", n, "link", "set", ANNOUNCE_DEV, "up")
            for key, value in (("net.ipv4.vs.sloppy_tcp", "1"), ("net.ipv4.conf.all.rp_filter", "0"),
                               ("net.ipv4.conf.all.arp_ignore", "1"), ("net.ipv4.conf.all.arp_announce", "2")):
                ns(n, "sysctl", "-q", "-w", f"{key}={value}")
        for _name, (netns, _ip) in REALS.items():
            sh("ip", "-n", netns, "route", "add", "default", "via", ROUTER_LAN)
            sh("ip", "-n", netns, "addr", "add", PREFIX, "dev", "lo")
            for key, value in (("arp_ignore", "1"), ("arp_announce", "2")):
                for dev in ("all", "eth0"):
                    ns(netns, "sysctl", "-q", "-w", f"net.ipv4.conf.{dev}.{key}={value}")
            ns(netns, "sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0")
        for name in REALS:
            self.start_real(name)
        self.start_router()

    def _attach(self, netns: str, ip: str) -> None:
        link = f"labe{netns}"
        sh("ip", "netns", "add", netns)
        sh("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", netns)
        sh("ip", "link", "set", link, "master", BRIDGE, "up")
        sh("ip", "-n", netns, "addr", "add", f"{ip}/24", "dev", "eth0")
        sh("ip", "-n", netns, "link", "set", "eth0", "up")
        sh("ip", "-n", netns, "link", "set", "lo", "up")

    def namespaces(self) -> list[str]:
        return [ROUTER_NS, CLIENT_NS, *self.directors, *(r[0] for r in REALS.values())]

    def teardown(self) -> None:
        for d in self.directors.values():
            d.stop()
        if self.router_bird is not None:
            stop_proc(self.router_bird)
            self.router_bird = None
        for p in self.reals.values():
            stop_proc(p)
        self.reals.clear()
        for pid in pids_mentioning(str(self.work) + "/"):  # the client, or anything else left over
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for netns in self.namespaces():
            sh("ip", "netns", "del", netns, check=False)
            sh("ip", "link", "del", f"labe{netns}", check=False)
        sh("ip", "link", "del", BRIDGE, check=False)

    # -- router ----------------------------------------------------------------------------------

    def start_router(self) -> None:
        work = self.work / "router"
        peers = "".join(ROUTER_PEER.format(name=n, ip=d.ip, asn=d.asn) for n, d in self.directors.items())
        conf = work / "bird.conf"
        conf.write_text(ROUTER_BIRD.format(router=ROUTER_LAN, work=work, asn=ROUTER_AS, hold=HOLD,
                                           keepalive=KEEPALIVE, prefix=PREFIX, peers=peers))
        self.router_bird = subprocess.Popen(
            ["ip", "netns", "exec", ROUTER_NS, BIRD, "-f", "-c", str(conf), "-s", str(work / "bird.ctl"),
             "-P", str(work / "bird.pid")], stdout=open(work / "bird.out", "ab"), stderr=subprocess.STDOUT)

    def birdc(self, *command: str) -> str:
        return ns(ROUTER_NS, BIRDC, "-s", str(self.work / "router" / "bird.ctl"), *command, check=False,
                  timeout=10).stdout

    def nexthops(self) -> list[str]:
        """The router's nexthops for the VIP, in the kernel's order."""
        out = ns(ROUTER_NS, "ip", "-4", "route", "show", f"{VIP}/32", check=False).stdout
        return re.findall(r"via (\S+)", out)

    def route_text(self) -> str:
        return ns(ROUTER_NS, "ip", "-4", "route", "show", f"{VIP}/32", check=False).stdout.strip()

    def wait_nexthops(self, want: Iterable[str], timeout: float = 30.0) -> float | None:
        """Seconds until the route's nexthops are exactly the directors ``want``."""
        ips = sorted(self.directors[n].ip for n in want)
        return wait_for(lambda: sorted(self.nexthops()) == ips, timeout, every=0.05)

    def flow_owners(self) -> dict[int, set[str]]:
        """Client port -> the directors whose IPVS connection table holds an entry for that flow."""
        owners: dict[int, set[str]] = {}
        for name, d in self.directors.items():
            out = ns(d.netns, "ipvsadm", "-Lnc", check=False).stdout
            for m in re.finditer(rf"{re.escape(CLIENT_IP)}:(\d+)\s+{re.escape(VIP)}:{VPORT}", out):
                owners.setdefault(int(m.group(1)), set()).add(name)
        return owners

    def flow_paths(self, ports: Sequence[int]) -> dict[int, str | None]:
        """Which director the router sends each flow (client port -> director name) to now."""
        if not ports:
            return {}
        batch = "".join(f"route get {VIP} from {CLIENT_IP} iif eth1 ipproto tcp sport {p} dport {VPORT}\n"
                        for p in ports)
        out = ns(ROUTER_NS, "ip", "-batch", "-", input=batch, check=False).stdout.splitlines()
        by_ip = {d.ip: n for n, d in self.directors.items()}
        hops = [re.search(r"via (\S+)", line) for line in out if line.startswith(VIP)]
        if len(hops) != len(ports):
            raise EcmpLabError(f"ip route get answered {len(hops)} lines for {len(ports)} flows: {out[:4]}")
        return {p: (by_ip.get(m.group(1)) if m else None) for p, m in zip(ports, hops, strict=True)}

    # -- real servers -----------------------------------------------------------------------------

    def start_real(self, name: str) -> None:
        netns, _ip = REALS[name]
        self.reals[name] = subprocess.Popen(["ip", "netns", "exec", netns, *AGENT, "real", "--name", name],
                                            stdout=subprocess.DEVNULL, stderr=open(self.work / f"{name}.err", "ab"))
        ip = REALS[name][1]
        if wait_for(lambda: ns(ROUTER_NS, "bash", "-c", f"exec 3<>/dev/tcp/{ip}/{VPORT}", check=False,
                                 timeout=5).returncode == 0, 15, every=0.2) is None:
            raise EcmpLabError(f"{name} does not listen on {ip}:{VPORT}")

    def stop_real(self, name: str) -> None:
        """The real server's agent exits: its connections are reset, its health check fails."""
        p = self.reals.pop(name, None)
        if p is not None:
            p.kill()
            p.wait(timeout=10)

    # -- directors -------------------------------------------------------------------------------

    def start_directors(self, mode: Mode, scheduler: Scheduler, reals: Sequence[str] = ("rs1", "rs2", "rs3"),
                        *, only: Iterable[str] | None = None, announce: bool = True) -> None:
        for name in (only or self.directors):
            self.start_director(name, mode, scheduler, reals, announce=announce)

    def start_director(self, name: str, mode: Mode, scheduler: Scheduler,
                       reals: Sequence[str] = ("rs1", "rs2", "rs3"), *, announce: bool = True) -> None:
        d = self.directors[name]
        d.mode = mode
        d.scheduler = scheduler
        d.reals = list(reals)
        ns(d.netns, "ip", "addr", "flush", "dev", ANNOUNCE_DEV, check=False)
        if mode == "manual":
            d.program(scheduler, reals)
            d.state_file.write_text("up\n" if announce else "down\n")
        else:
            ns(d.netns, "ipvsadm", "-C")
            d.write_lvsd_config()
            d.start_lvsd()
        if d.bgp is None or d.bgp.poll() is not None:
            d.start_speaker()
        if mode == "manual" and announce:
            d.announce(True)

    def stop_directors(self) -> None:
        for d in self.directors.values():
            d.stop()
            ns(d.netns, "ipvsadm", "-C", check=False)
            ns(d.netns, "ip", "addr", "flush", "dev", ANNOUNCE_DEV, check=False)

    def wait_ready(self, want: Iterable[str] | None = None, timeout: float = 60.0) -> float:
        """Every director's table is set and the router's route has a nexthop for each director in ``want``."""
        want = list(want or self.directors)
        took = wait_for(lambda: all(self.directors[n].table_ready() for n in want), timeout, every=0.2)
        if took is not None:
            more = self.wait_nexthops(want, timeout)
            took = None if more is None else took + more
        if took is None:
            raise EcmpLabError(f"not ready in {timeout:g}s: route {self.route_text()!r}\n"
                               + self.birdc("show", "protocols") + "\n" + self.diagnostics())
        return took

    def diagnostics(self) -> str:
        parts = [d.logs() for d in self.directors.values()]
        for name in ("bird.out", "bird.log"):
            p = self.work / "router" / name
            if p.exists():
                parts.append(f"--- router/{name}:\n{p.read_text(errors='replace')[-1500:]}")
        return "\n".join(parts)

    # -- events (each returns when it is done; what it waited for goes in the notes) -------------------

    def withdraw(self, name: str) -> dict[str, Any]:
        """Manual mode: the director withdraws the VIP; how long until the router dropped its nexthop."""
        others = [n for n in self.nexthop_names() if n != name]
        self.directors[name].announce(False)
        return {"route_change_s": self.wait_nexthops(others, 15)}

    def reannounce(self, name: str) -> dict[str, Any]:
        want = sorted({*self.nexthop_names(), name})
        self.directors[name].announce(True)
        return {"route_change_s": self.wait_nexthops(want, 15)}

    def nexthop_names(self) -> list[str]:
        by_ip = {d.ip: n for n, d in self.directors.items()}
        return [by_ip.get(ip, ip) for ip in self.nexthops()]

    def leave(self, name: str, *, stop: bool = True) -> dict[str, Any]:
        """lvsd mode, planned: ``lvsd leave`` (withdraw, wait withdrawwait, stay withdrawn); then, with ``stop``,
        the director stops (lvsd and its speaker). ``route_change_s`` counts from the start of ``lvsd leave``."""
        d = self.directors[name]
        others = [n for n in self.nexthop_names() if n != name]
        t = time.monotonic()
        proc = subprocess.Popen(["ip", "netns", "exec", d.netns, *LVSD, "leave", "-c", str(d.config)], env=d.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        route = self.wait_nexthops(others, 15)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate(timeout=10)
        left = time.monotonic() - t
        if stop:
            d.stop()
        return {"leave_exit": proc.returncode, "leave_s": round(left, 2), "route_change_s": route,
                "leave_output": out.decode(errors="replace").strip()[-500:]}

    def join(self, name: str) -> dict[str, Any]:
        """lvsd mode: a director that left comes back: ``lvsd join`` if its lvsd still runs, else it starts
        again (and announces once it can serve). ``route_change_s`` counts from here."""
        d = self.directors[name]
        want = sorted({*self.nexthop_names(), name})
        t = time.monotonic()
        notes: dict[str, Any] = {}
        if d.lvsd is not None and d.lvsd.poll() is None:
            proc = d.lvsd_command("join")
            notes = {"join_exit": proc.returncode, "join_output": (proc.stdout + proc.stderr).strip()[-500:]}
        else:
            self.start_director(name, "lvsd", d.scheduler, d.reals)
        took = self.wait_nexthops(want, 60)
        return {**notes, "route_change_s": None if took is None else time.monotonic() - t}

    def crash(self, name: str) -> dict[str, Any]:
        """kill -9 of the director's lvsd and BGP speaker, and its LAN link down: the router notices by hold time."""
        d = self.directors[name]
        others = [n for n in self.nexthop_names() if n != name]
        sh("ip", "link", "set", d.link, "down")  # first: the kernel's FIN for the killed speaker's session is lost
        d.kill()
        return {"route_change_s": self.wait_nexthops(others, HOLD + 15)}

    def recover(self, name: str) -> dict[str, Any]:
        """The crashed director comes back (as after a reboot: empty table, nothing announced)."""
        d = self.directors[name]
        ns(d.netns, "ipvsadm", "-C", check=False)
        ns(d.netns, "ip", "addr", "flush", "dev", ANNOUNCE_DEV, check=False)
        sh("ip", "link", "set", d.link, "up")
        want = sorted({*self.nexthop_names(), name})
        self.start_director(name, d.mode, d.scheduler, d.reals)
        return {"route_change_s": self.wait_nexthops(want, 60)}

    def weights(self, real: str) -> dict[str, int | None]:
        """Director -> the weight of ``real`` in its table (None: not in it)."""
        found: dict[str, int | None] = {}
        for name, d in self.directors.items():
            m = re.search(rf"-> {re.escape(REALS[real][1])}:{VPORT}\s+\S+\s+(\d+)", d.table())
            found[name] = int(m.group(1)) if m else None
        return found

    def running(self) -> list[str]:
        """The directors whose table the harness drives now (manual) or whose lvsd runs."""
        return [n for n, d in self.directors.items()
                if d.mode == "manual" or (d.lvsd is not None and d.lvsd.poll() is None)]

    def fail_real(self, name: str) -> dict[str, Any]:
        """The real server's agent exits; in lvsd mode, how long until no running director sends it new flows."""
        self.stop_real(name)
        if all(self.directors[n].mode == "manual" for n in self.running()):
            return {}
        took = wait_for(lambda: all(not w for n, w in self.weights(name).items() if n in self.running()), 30, 0.2)
        return {"table_s": took}

    def restore_real(self, name: str) -> dict[str, Any]:
        self.start_real(name)
        if all(self.directors[n].mode == "manual" for n in self.running()):
            return {}
        took = wait_for(lambda: all(w for n, w in self.weights(name).items() if n in self.running()), 30, 0.2)
        return {"table_s": took}

    def add_real(self, name: str) -> dict[str, Any]:
        """Every director gets real ``name``: ipvsadm -a (manual) or config + SIGHUP (lvsd)."""
        for d in self.directors.values():
            if d.mode == "manual" or d.lvsd is not None:
                d.add_real(name)
        took = wait_for(lambda: all(d.table_ready() for d in self.directors.values()
                                    if d.mode == "manual" or d.lvsd is not None), 30, every=0.2)
        return {"table_s": took}

    def switch_scheduler(self, scheduler: Scheduler) -> dict[str, Any]:
        """lvsd mode: every running director's config gets ``scheduler`` and is reloaded (the service is edited in
        place: established connections keep their entries)."""
        for d in self.directors.values():
            if d.lvsd is not None and d.lvsd.poll() is None:
                d.scheduler = scheduler
                d.write_lvsd_config()
                d.reload()
        took = wait_for(lambda: all(f"TCP {VIP}:{VPORT} {scheduler}" in " ".join(d.table().split())
                                    for d in self.directors.values() if d.lvsd is not None), 30, every=0.2)
        return {"table_s": took}

    def scenarios(self, mode: Mode) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
        """The steps of a run, in order, each measured on fresh flows by :meth:`measure`. ``manual``: the
        announcements by hand (ExaBGP ed2, BIRD ed3) and a crash. ``lvsd``: a real server fails and comes back,
        rs4 is added, ed2 (ExaBGP) and ed3 (BIRD, interface mode) leave planned and join, ed1 is killed and
        comes back."""
        if mode == "manual":
            return [
                ("ed2 withdraws (ExaBGP)", lambda: self.withdraw("ed2")),
                ("ed2 announces again", lambda: self.reannounce("ed2")),
                ("ed3 withdraws (BIRD)", lambda: self.withdraw("ed3")),
                ("ed3 announces again", lambda: self.reannounce("ed3")),
                ("ed1 killed, link down", lambda: self.crash("ed1")),
                ("ed1 back", lambda: self.recover("ed1")),
            ]
        return [
            ("rs1 fails", lambda: self.fail_real("rs1")),
            ("rs1 back", lambda: self.restore_real("rs1")),
            ("rs4 added", lambda: self.add_real("rs4")),
            ("ed2 leaves (ExaBGP)", lambda: self.leave("ed2")),
            ("ed2 joins", lambda: self.join("ed2")),
            ("ed3 leaves (BIRD)", lambda: self.leave("ed3")),
            ("ed3 joins", lambda: self.join("ed3")),
            ("ed1 killed, link down", lambda: self.crash("ed1")),
            ("ed1 back", lambda: self.recover("ed1")),
        ]

    # -- measuring ---------------------------------------------------------------------------------

    def open_flows(self, n: int, seconds: float = 120.0) -> Flows:
        self.runs += 1
        base = self.next_port
        self.next_port += n + 10  # fresh source ports each time: no TIME_WAIT, no stale IPVS entries
        out = self.work / f"client-{self.runs}.json"
        proc = subprocess.Popen(["ip", "netns", "exec", CLIENT_NS, *AGENT, "client", "--src", CLIENT_IP, "--vip",
                                 VIP, "--port", str(VPORT), "--flows", str(n), "--base-port", str(base), "--seconds",
                                 str(seconds), "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return Flows(proc, out, n, base, seconds)

    def measure(self, label: str, action: Callable[[], dict[str, Any] | None], *, flows: int = 60,
                warm: float = 4.0, settle: float = 12.0) -> dict[str, Any]:
        """Fresh flows; after ``warm`` s note the paths, run ``action``, wait ``settle`` s (longer than the
        client's 8 s echo wait, so a flow stuck by the change is counted), note the paths again."""
        f = self.open_flows(flows, seconds=warm + settle + 90)
        try:
            time.sleep(warm)
            before = self.flow_paths(f.ports)
            t0 = time.monotonic()
            notes = action() or {}
            time.sleep(settle)
            t1 = time.monotonic()
            after = self.flow_paths(f.ports)
        finally:
            run = f.finish()
        return summarise(label, run["flows"], before, after, t0, t1, notes)


def summarise(label: str, flows: list[dict[str, Any]], before: dict[int, str | None], after: dict[int, str | None],
              t0: float, t1: float, notes: dict[str, Any]) -> dict[str, Any]:
    """Established = opened, answered, and not broken before ``t0``; broken = broke in (t0, t1]."""
    est = [f for f in flows if f["opened_at"] is not None and f["server"] is not None
           and (f["broken_at"] is None or f["broken_at"] > t0)]
    broken = [f for f in est if f["broken_at"] is not None and f["broken_at"] <= t1]
    moved = {p for p in before if before[p] is not None and after.get(p) != before[p]}
    reasons: dict[str, int] = {}
    for f in broken:
        key = (f["reason"] or "?").split(" to ")[0]
        reasons[key] = reasons.get(key, 0) + 1
    spread: dict[str, int] = {}
    for f in est:
        spread[f["server"]] = spread.get(f["server"], 0) + 1
    broken_on: dict[str, int] = {}
    for f in broken:
        broken_on[f["server"]] = broken_on.get(f["server"], 0) + 1
    via: dict[str, int] = {}
    for p in before.values():
        via[str(p)] = via.get(str(p), 0) + 1
    return {
        "label": label, "flows": len(flows), "established": len(est), "broken": len(broken),
        "broken_pct": round(100.0 * len(broken) / len(est), 1) if est else None,
        "moved": sum(1 for f in est if f["port"] in moved),
        "broken_moved": sum(1 for f in broken if f["port"] in moved),
        "broken_unmoved": sum(1 for f in broken if f["port"] not in moved),
        "reasons": reasons, "servers": dict(sorted(spread.items())), "broken_servers": dict(sorted(broken_on.items())),
        "directors_before": dict(sorted(via.items())),
        **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in notes.items()},
    }
