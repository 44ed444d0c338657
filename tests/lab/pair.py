"""Two directors in the kernel lab, each in its own network namespace with its own IPVS table.

One segment (the bridge ``labpb0`` in the lab's root namespace, which only switches) joins:

* ``pcl``: the client, 192.0.2.50/24; the VIP 198.51.100.10 is on-link (the VRRP master answers ARP);
* ``pda`` / ``pdb``: directors A and B, 192.0.2.61 / .62, each running either lvsd plus keepalived
  in VRRP-only mode (``stack="lvsd"``: the configs come from ``lvsd keepalived``) or keepalived's
  whole stack (its VRRP, its checker and its ``lvs_sync_daemon``: ``stack="keepalived"``);
* ``prs1`` / ``prs2``: real servers 192.0.2.71 / .72; tests/lab/pair_agent.py serves and echoes
  there. For direct routing (``forward="gate"``) each has the VIP on lo, arp_ignore=1 and
  arp_announce=2. For masq their default route is 192.0.2.1, an address VRRP moves with the VIP,
  and the client is 203.0.113.50 (another subnet on the same segment), so every reply goes back
  through the active director.

A scenario starts both directors (A has the higher priority), waits until A holds the VIP and B's
table is ready, runs the client (long-lived echoing connections plus a new connection every
100 ms), breaks A a few seconds in, and measures: how long until a new connection worked again
through B, how long until B held the VIP, and how many long-lived connections lived to the end.
Everything is bounded in time; every name starts with ``lab`` (links) or ``p`` (namespaces
owned here), and :meth:`PairLab.teardown` removes them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parents[2]
AGENT = [sys.executable, str(REPO / "tests" / "lab" / "pair_agent.py")]
LVSD = [sys.executable, "-m", "lvsd"]
BRIDGE = "labpb0"
VIP = "198.51.100.10"
CLIENT = ("pcl", "192.0.2.50")
DIRECTORS = {"a": ("pda", "192.0.2.61", 150), "b": ("pdb", "192.0.2.62", 100)}
REALS = {"rs1": ("prs1", "192.0.2.71"), "rs2": ("prs2", "192.0.2.72")}
SYNC_ID = 51
VRID = 51

Stack = Literal["lvsd", "keepalived"]
Failure = Literal["link", "kill", "checks", "switchover"]
Forward = Literal["gate", "masq"]
GATEWAY = "192.0.2.1"  # masq: the real servers' gateway, moved by VRRP with the VIP
MASQ_CLIENT = "203.0.113.50"


def sh(*argv: str, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


def ns(netns: str, *argv: str, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", netns, *argv, check=check, timeout=timeout)


LVSD_CONFIG = """\
checktimeout=1
checkinterval=1
logfile="{work}/lvsd.log"
syncinterface=eth0
syncrole={role}
syncid={syncid}
vrrptrackfile={work}/track
vrrpinterface=eth0
vrrpid={vrid}
vrrpadvert={advert}
vrrpwarmup={warmup}
vrrpnode=a 150 192.0.2.61
vrrpnode=b 100 192.0.2.62
{extra}
virtual={vip}:80
	real=192.0.2.71:80 {forward}
	real=192.0.2.72:80 {forward}
	service=http
	request="/health"
	receive="OK"
	scheduler=rr
	checktype=negotiate
"""

KEEPALIVED_STACK = """\
global_defs {{
    router_id ka_{node}
    lvs_sync_daemon eth0 VI_PAIR id {syncid}
    enable_script_security
    script_user root
}}

vrrp_instance VI_PAIR {{
    state BACKUP
    interface eth0
    virtual_router_id {vrid}
    priority {priority}
    advert_int {advert}{version}
    preempt_delay {warmup}
    unicast_src_ip {ip}
    unicast_peer {{
        {peer}
    }}
    virtual_ipaddress {{
        {vip}/32 dev eth0{gateway}
    }}
}}

virtual_server {vip} 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind {kind}
    protocol TCP
{reals}
}}
"""

KEEPALIVED_REAL = """\
    real_server {ip} 80 {{
        weight 1
        HTTP_GET {{
            url {{
                path /health
                status_code 200
            }}
            connect_timeout 1
            retry 0
        }}
    }}"""


@dataclass
class Director:
    name: str
    netns: str
    ip: str
    priority: int
    work: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def holds_vip(self) -> bool:
        out = ns(self.netns, "ip", "-4", "-o", "addr", "show", "dev", "eth0", check=False).stdout
        return f" {VIP}/" in out

    def table_ready(self) -> bool:
        out = ns(self.netns, "ipvsadm", "-Ln", check=False).stdout
        return out.count("-> 192.0.2.7") == 2

    def connections(self) -> int:
        """Entries for the VIP in this director's connection table (its own or synced)."""
        out = ns(self.netns, "ipvsadm", "-Lnc", check=False).stdout
        return sum(1 for line in out.splitlines() if f"{VIP}:80" in line and "ESTABLISHED" in line)

    def syncing(self) -> bool:
        return "sync daemon" in ns(self.netns, "ipvsadm", "-L", "--daemon", check=False).stdout

    def pids(self) -> list[int]:
        """Every process of this director: lvsd, keepalived and keepalived's children (from its pid files)."""
        found = [p.pid for p in self.procs if p.poll() is None]
        for pidfile in self.work.glob("*.pid"):
            try:
                found.append(int(pidfile.read_text().split()[0]))
            except (OSError, ValueError, IndexError):
                pass
        return sorted(set(found))

    def kill(self) -> None:
        """kill -9 of everything at once: a crash, so nothing says goodbye (no VRRP priority 0, no VIP removed).

        Every process is stopped first: killing keepalived's parent before its children would let them
        hear of it (keepalived's children get SIGTERM when their parent dies) and leave cleanly."""
        pids = self.pids()
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        for pid in self.pids():  # keepalived's children, should any outlive their parent
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.procs.clear()


class PairLab:
    def __init__(self, work: Path, forward: Forward = "gate") -> None:
        self.work = work
        self.forward = forward
        self.reals: list[subprocess.Popen[bytes]] = []
        self.fail_file = work / "fail-for"
        self.directors: dict[str, Director] = {}

    # -- the segment ---------------------------------------------------------

    def build(self) -> None:
        self.teardown()
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "link", "set", BRIDGE, "up")
        masq = self.forward == "masq"
        client = (CLIENT[0], MASQ_CLIENT) if masq else CLIENT
        for netns, ip in [client, *((d[0], d[1]) for d in DIRECTORS.values()), *REALS.values()]:
            self._attach(netns, ip)
        sh("ip", "-n", CLIENT[0], "route", "add", f"{VIP}/32", "dev", "eth0")
        for netns, _ip in REALS.values():
            if masq:
                sh("ip", "-n", netns, "route", "add", "default", "via", GATEWAY)
                continue
            sh("ip", "-n", netns, "addr", "add", f"{VIP}/32", "dev", "lo")
            for key, value in (("arp_ignore", "1"), ("arp_announce", "2")):
                for dev in ("all", "eth0"):
                    ns(netns, "sysctl", "-q", "-w", f"net.ipv4.conf.{dev}.{key}={value}")
        if masq:  # the directors route the replies back to the client's subnet
            for netns, _ip, _p in DIRECTORS.values():
                sh("ip", "-n", netns, "route", "add", "203.0.113.0/24", "dev", "eth0")
                ns(netns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        self.fail_file.write_text("")
        for name, (netns, _ip) in REALS.items():
            self.reals.append(subprocess.Popen(
                ["ip", "netns", "exec", netns, *AGENT, "real", "--name", name, "--fail-file", str(self.fail_file)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def _attach(self, netns: str, ip: str) -> None:
        link = f"lab{netns}"
        sh("ip", "netns", "add", netns)
        sh("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", netns)
        sh("ip", "link", "set", link, "master", BRIDGE, "up")
        sh("ip", "-n", netns, "addr", "add", f"{ip}/24", "dev", "eth0")
        sh("ip", "-n", netns, "link", "set", "eth0", "up")
        sh("ip", "-n", netns, "link", "set", "lo", "up")

    def teardown(self) -> None:
        for d in self.directors.values():
            d.stop()
        self.directors.clear()
        for p in self.reals:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.reals.clear()
        for netns in [CLIENT[0], *(d[0] for d in DIRECTORS.values()), *(r[0] for r in REALS.values())]:
            sh("ip", "netns", "del", netns, check=False)
            sh("ip", "link", "del", f"lab{netns}", check=False)
        sh("ip", "link", "del", BRIDGE, check=False)

    # -- directors -----------------------------------------------------------

    def start(self, stack: Stack, *, advert: float = 1.0, warmup: int = 0, role: str = "both",
              only: Sequence[str] = ("a", "b")) -> None:
        for name in only:
            netns, ip, priority = DIRECTORS[name]
            work = self.work / f"{stack}-{name}"
            work.mkdir(parents=True, exist_ok=True)
            for old in ("keepalived.log", "lvsd.log", "lvsd.err"):  # each run's logs are its own
                (work / old).unlink(missing_ok=True)
            d = Director(name, netns, ip, priority, work)
            self.directors[name] = d
            if stack == "lvsd":
                self._start_lvsd(d, advert, warmup, role)
            else:
                self._start_keepalived_stack(d, advert, warmup)

    def _start_lvsd(self, d: Director, advert: float, warmup: int, role: str) -> None:
        cfg = d.work / "lvsd.cf"
        extra = f"vrrpaddress={GATEWAY}/24 dev eth0\n" if self.forward == "masq" else ""
        cfg.write_text(LVSD_CONFIG.format(work=d.work, role=role, syncid=SYNC_ID, vrid=VRID, advert=f"{advert:g}",
                                          warmup=warmup, vip=VIP, extra=extra, forward=self.forward))
        env = dict(os.environ, LVSD_RUNDIR=str(d.work), PYTHONPATH=str(REPO))
        # keepalived runs its notify command as root from a directory only root can write
        notify = Path("/run") / f"lvsd-pair-{d.name}"
        notify.write_text(f"#!/bin/sh\nLVSD_RUNDIR={d.work} PYTHONPATH={REPO} exec {sys.executable} -m lvsd \"$@\"\n")
        notify.chmod(0o755)
        conf = d.work / "keepalived.conf"
        made = sh(*LVSD, "keepalived", str(cfg), "--node", d.name, "--lvsd", str(notify))
        conf.write_text(made.stdout)
        d.procs.append(subprocess.Popen(["ip", "netns", "exec", d.netns, *LVSD, "-f", str(cfg), "start"], env=env,
                                        stdout=subprocess.DEVNULL, stderr=open(d.work / "lvsd.err", "ab")))
        self._keepalived(d, conf, vrrp_only=True)

    def _start_keepalived_stack(self, d: Director, advert: float, warmup: int) -> None:
        peer = next(ip for n, (_ns, ip, _p) in DIRECTORS.items() if n != d.name)
        reals = "\n".join(KEEPALIVED_REAL.format(ip=ip) for _n, ip in REALS.values())
        conf = d.work / "keepalived.conf"
        conf.write_text(KEEPALIVED_STACK.format(node=d.name, syncid=SYNC_ID, vrid=VRID, priority=d.priority,
                                                advert=f"{advert:g}", warmup=warmup, ip=d.ip, peer=peer, vip=VIP,
                                                reals=reals, kind="NAT" if self.forward == "masq" else "DR",
                                                version="" if float(advert).is_integer() else "\n    version 3",
                                                gateway=f"\n        {GATEWAY}/24 dev eth0"
                                                if self.forward == "masq" else ""))
        self._keepalived(d, conf, vrrp_only=False)

    def _keepalived(self, d: Director, conf: Path, *, vrrp_only: bool) -> None:
        for pid in d.work.glob("*.pid"):
            pid.unlink()
        argv = ["ip", "netns", "exec", d.netns, "keepalived", "-n", "-l", "-D", "-f", str(conf),
                "-p", str(d.work / "ka.pid"), "-r", str(d.work / "vrrp.pid"), "-c", str(d.work / "check.pid")]
        if vrrp_only:
            argv.append("-P")
        d.procs.append(subprocess.Popen(argv, stdout=open(d.work / "keepalived.log", "ab"), stderr=subprocess.STDOUT))

    def wait_ready(self, timeout: float = 60.0) -> None:
        """A holds the VIP; both tables have both reals; both run sync daemons (so B learns A's connections)."""
        a, b = self.directors["a"], self.directors["b"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if a.holds_vip() and not b.holds_vip() and a.table_ready() and b.table_ready() and a.syncing() \
                    and b.syncing():
                return
            time.sleep(0.2)
        raise RuntimeError(f"the pair did not come up in {timeout:g}s: A vip={a.holds_vip()} table={a.table_ready()} "
                           f"sync={a.syncing()}, B vip={b.holds_vip()} table={b.table_ready()} sync={b.syncing()}\n"
                           + "".join(f"\n--- {p}:\n" + p.read_text(errors="replace")[-1500:]
                                     for d in (a, b) for p in (d.work / "lvsd.err", d.work / "keepalived.log")
                                     if p.exists()))

    # -- breaking A ------------------------------------------------------------

    def fail(self, failure: Failure) -> None:
        a = self.directors["a"]
        if failure == "link":
            sh("ip", "link", "set", f"lab{a.netns}", "down")
        elif failure == "kill":
            a.kill()
        elif failure == "checks":
            self.fail_file.write_text(a.ip + "\n")
        elif failure == "switchover":  # planned: A's keepalived stops cleanly, handing the VIP over
            for p in a.procs:
                if "keepalived" in " ".join(map(str, p.args)):
                    p.terminate()

    # -- one run -----------------------------------------------------------------

    def scenario(self, stack: Stack, failure: Failure, *, seconds: float = 18.0, fail_after: float = 4.0,
                 n_long: int = 6, advert: float = 1.0, role: str = "both") -> dict[str, Any]:
        self.build()
        try:
            self.start(stack, advert=advert, role=role)
            self.wait_ready()
            out = self.work / f"client-{stack}-{failure}.json"
            client = start_client(out, seconds, n_long)
            time.sleep(fail_after)
            synced = self.directors["b"].connections()  # what the standby holds of the long-lived ones
            broke = time.monotonic()
            self.fail(failure)
            b = self.directors["b"]
            vip_moved = None
            held, flaps = False, 0
            while client.poll() is None and time.monotonic() - broke < seconds:
                now_held = b.holds_vip()
                if vip_moved is None and now_held:
                    vip_moved = time.monotonic() - broke
                flaps += now_held != held and vip_moved is not None and not now_held
                held = now_held
                time.sleep(0.05)
            found = summarise(client_results(client, out, seconds), broke, vip_moved, stack, failure)
            daemons = ns(b.netns, "ipvsadm", "-L", "--daemon", check=False).stdout
            log = b.work / "keepalived.log"
            # B became MASTER once (at the break); more means the VIP flapped, before or after it
            b_master = log.read_text(errors="replace").count("Entering MASTER STATE") if log.exists() else None
            return {**found, "forward": self.forward, "standby_held_before": synced, "advert": advert,
                    "vip_lost_again": flaps, "standby_became_master": b_master,
                    "standby_sync_after": sorted(w for w in ("master", "backup") if f"{w} sync daemon" in daemons)}
        finally:
            self.teardown()


    def switchover_and_back(self, *, warmup: int = 6, seconds: float = 40.0, n_long: int = 6) -> dict[str, Any]:
        """A planned switchover to B (A's keepalived stops cleanly), then A's keepalived back: after ``warmup``
        seconds (preempt_delay) A takes the VIP again. Long-lived connections must live through both."""
        self.build()
        try:
            self.start("lvsd", warmup=warmup)
            self.wait_ready()
            a, b = self.directors["a"], self.directors["b"]
            out = self.work / "client-switchover.json"
            client = start_client(out, seconds, n_long)
            time.sleep(4)
            keepalived = next(p for p in a.procs if "keepalived" in " ".join(map(str, p.args)))
            switched = time.monotonic()
            keepalived.terminate()
            keepalived.wait(timeout=15)
            a.procs.remove(keepalived)
            to_b = _wait(b.holds_vip, 20)
            time.sleep(4)
            back = time.monotonic()
            self._keepalived(a, a.work / "keepalived.conf", vrrp_only=True)
            to_a = _wait(lambda: a.holds_vip() and not b.holds_vip(), warmup + 30)
            run = client_results(client, out, seconds)
            longs = run["long"]
            return {"to_b_s": None if to_b is None else round(to_b - switched, 2),
                    "back_to_a_s": None if to_a is None else round(to_a - back, 2), "warmup": warmup,
                    "failed_new_connections": sum(1 for t, ok in run["attempts"] if t >= switched and not ok),
                    "long_lived_kept": sum(1 for x in longs if x["alive"]), "long_lived": len(longs),
                    "long_lived_opened": sum(1 for x in longs if x["opened"])}
        finally:
            self.teardown()


def fresh_failback(lab: PairLab, *, warmup: int, seconds: float = 50.0, n_long: int = 6) -> dict[str, Any]:
    """A crashes and comes back as if rebooted (empty table, no sync daemons, no VIP), then takes the VIP back
    after ``warmup`` seconds: what its backup sync daemon learned from B in that time is what survives."""
    lab.build()
    try:
        lab.start("lvsd", warmup=warmup)
        lab.wait_ready()
        a, b = lab.directors["a"], lab.directors["b"]
        out = lab.work / "client-fresh.json"
        client = start_client(out, seconds, n_long)
        time.sleep(4)
        crashed = time.monotonic()
        a.kill()
        a.procs.clear()
        sh("ip", "link", "set", f"lab{a.netns}", "down")  # a dead machine says nothing until it has booted
        for argv in (("ipvsadm", "-C"), ("ipvsadm", "--stop-daemon", "master"), ("ipvsadm", "--stop-daemon", "backup"),
                     ("ip", "addr", "del", f"{VIP}/32", "dev", "eth0")):
            ns(a.netns, *argv, check=False)
        to_b = _wait(b.holds_vip, 20)
        time.sleep(6)
        restarted = time.monotonic()
        sh("ip", "link", "set", f"lab{a.netns}", "up")
        lab.start("lvsd", warmup=warmup, only=("a",))
        a = lab.directors["a"]
        to_a = _wait(lambda: a.holds_vip() and not b.holds_vip(), warmup + 30)
        a_held = a.connections()
        longs = client_results(client, out, seconds)["long"]
        return {"scenario": "fresh-failback", "warmup": warmup, "b_took_over": to_b is not None,
                "a_back_after_s": None if to_a is None else round(to_a - restarted, 2),
                "a_held_when_back": a_held, "long_lived_kept": sum(1 for x in longs if x["alive"]),
                "long_lived": len(longs), "b_took_over_after_s": None if to_b is None else round(to_b - crashed, 2),
                "lost_after_crash_s": sorted(round(x["lost_at"] - crashed, 2) for x in longs if x["lost_at"])}
    finally:
        lab.teardown()


def start_client(out: Path, seconds: float, n_long: int) -> subprocess.Popen[bytes]:
    """The client agent in its namespace: ``n_long`` echoing connections and a new one every 100 ms."""
    return subprocess.Popen(["ip", "netns", "exec", CLIENT[0], *AGENT, "client", "--vip", VIP, "--seconds",
                             str(seconds), "--long", str(n_long), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def client_results(client: subprocess.Popen[bytes], out: Path, seconds: float) -> dict[str, Any]:
    """What the client wrote once it ended (bounded by its own ``seconds``)."""
    _, err = client.communicate(timeout=seconds + 30)
    if client.returncode != 0:
        raise RuntimeError(f"client failed: {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _wait(pred: Any, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return time.monotonic()
        time.sleep(0.05)
    return None


def summarise(run: dict[str, Any], broke: float, vip_moved: float | None, stack: Stack,
              failure: Failure) -> dict[str, Any]:
    """Failover time: from the break to the first new connection that worked after the last one that failed."""
    attempts = [(t, ok) for t, ok in run["attempts"]]
    failed_after = [t for t, ok in attempts if t >= broke and not ok]
    if failed_after:
        last_fail = max(failed_after)
        back = [t for t, ok in attempts if t > last_fail and ok]
        answered = round(min(back) - broke, 2) if back else None
    else:
        answered = 0.0  # no new connection ever failed
    longs = run["long"]
    return {
        "stack": stack, "failure": failure,
        "vip_moved_s": None if vip_moved is None else round(vip_moved, 2),
        "new_connections_back_s": answered,
        "failed_new_connections": len(failed_after),
        "long_lived_kept": sum(1 for x in longs if x["alive"]), "long_lived": len(longs),
        "long_lived_opened": sum(1 for x in longs if x["opened"]),
    }
