"""Build and tear down the lab's network inside the UML kernel with `ip` commands.

Layout (documentation addresses only, nothing reaches the host):

* director = the root network namespace (where lvsd and pytest run): VIPs
  198.51.100.x/32 on the dummy interface ``labvip0``; 192.0.2.1/24 on ``labcl``
  (veth to the client); 203.0.113.1/24 on the bridge ``labbr0`` (the real servers' LAN).
* ``client`` namespace: 192.0.2.2/24 on ``eth0``, default route via 192.0.2.1.
* ``rs1``..``rsN`` namespaces: 203.0.113.(10+i)/24 on ``eth0``, whose peer ``labrsI``
  is a port of ``labbr0``; default route via 203.0.113.1, so IPVS masq works end to end.

Without the bridge module the reals are "routed" instead: each ``labrsI`` carries
203.0.113.1/32 and a /32 route to its real. Every name starts with ``lab`` (director
side) or is a namespace this module owns, so :meth:`Topology.teardown` (also run
before :meth:`Topology.build`) can remove leftovers of an earlier run in the same boot.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

VIP = "198.51.100.1"
CLIENT_IP = "192.0.2.2"
DIRECTOR_CLIENT_IP = "192.0.2.1"
DIRECTOR_REAL_IP = "203.0.113.1"
REAL_NET = "203.0.113.0/24"
CLIENT_NS = "client"
VIP_DEV = "labvip0"
BRIDGE_DEV = "labbr0"
CLIENT_DEV = "labcl"
MAX_REALS = 50

LinkMode = Literal["auto", "bridge", "routed"]


class LabError(RuntimeError):
    """A lab command failed or the lab is not usable here."""


def run_ip(args: Sequence[str], *, netns: str | None = None, batch: str | None = None,
           check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run ``ip [-n NS] ARGS`` (or ``ip -batch -`` fed with *batch*), bounded in time."""
    argv = ["ip"]
    if netns is not None:
        argv += ["-n", netns]
    if batch is not None:
        argv += ["-batch", "-"]
    argv += list(args)
    return run(argv, input=batch, check=check, timeout=timeout)


def run(argv: Sequence[str], *, input: str | None = None, check: bool = True,
        timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output, raise :class:`LabError` on failure if *check*."""
    try:
        proc = subprocess.run(list(argv), input=input, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(argv)}: no answer within {timeout}s") from exc
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]}: not installed") from exc
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} exited {proc.returncode}: "
                       f"{(proc.stderr or proc.stdout).strip()}")
    return proc


def netns_exec(netns: str, argv: Sequence[str]) -> list[str]:
    """The argv that runs *argv* inside network namespace *netns*."""
    return ["ip", "netns", "exec", netns, *argv]


@dataclass(frozen=True, slots=True)
class Real:
    """One real server's namespace and addresses."""

    name: str  # namespace name, also the backend's name: rs1, rs2, ...
    ip: str  # its address, 203.0.113.(10+index)
    index: int  # 1-based
    director_dev: str  # the director side of its veth: labrs1, ...


@dataclass
class Topology:
    """The director/client/real-server network; :meth:`build` then :meth:`teardown`."""

    n_reals: int = 3
    vips: Sequence[str] = (VIP,)
    link: LinkMode = "auto"
    reals: list[Real] = field(init=False)
    extra_vips: set[str] = field(init=False, default_factory=set)
    built: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        if not 1 <= self.n_reals <= MAX_REALS:
            raise ValueError(f"n_reals must be 1..{MAX_REALS}")
        for vip in self.vips:
            _check_vip(vip)
        self.reals = [Real(f"rs{i}", f"203.0.113.{10 + i}", i, f"labrs{i}")
                      for i in range(1, self.n_reals + 1)]

    @property
    def vip(self) -> str:
        return self.vips[0]

    @property
    def namespaces(self) -> list[str]:
        return [CLIENT_NS, *(r.name for r in self.reals)]

    def real(self, name: str) -> Real:
        for r in self.reals:
            if r.name == name or r.ip == name:
                return r
        raise KeyError(name)

    def build(self) -> None:
        """Create everything; removes leftovers of an earlier lab first."""
        if not os.path.exists("/proc/net/ip_vs"):
            raise LabError("no IPVS in this kernel: run inside tests/lab/run")
        self.teardown(leftovers=True)
        mode = self._link_mode()
        run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        lines = [f"netns add {ns}" for ns in self.namespaces]
        lines += [f"link add {VIP_DEV} type dummy", f"link set {VIP_DEV} up"]
        lines += [f"addr add {vip}/32 dev {VIP_DEV}" for vip in self.vips]
        lines += [f"link add {CLIENT_DEV} type veth peer name eth0 netns {CLIENT_NS}",
                  f"addr add {DIRECTOR_CLIENT_IP}/24 dev {CLIENT_DEV}",
                  f"link set {CLIENT_DEV} up"]
        if mode == "bridge":
            lines += [f"link add {BRIDGE_DEV} type bridge stp_state 0 forward_delay 0",
                      f"addr add {DIRECTOR_REAL_IP}/24 dev {BRIDGE_DEV}",
                      f"link set {BRIDGE_DEV} up"]
        for r in self.reals:
            lines.append(f"link add {r.director_dev} type veth peer name eth0 netns {r.name}")
            if mode == "bridge":
                lines.append(f"link set {r.director_dev} master {BRIDGE_DEV}")
            else:
                lines.append(f"addr add {DIRECTOR_REAL_IP}/32 dev {r.director_dev}")
            lines.append(f"link set {r.director_dev} up")
            if mode == "routed":
                lines.append(f"route add {r.ip}/32 dev {r.director_dev}")
        self.built = True
        run_ip([], batch="\n".join(lines) + "\n")
        run_ip([], netns=CLIENT_NS, batch=(
            "link set lo up\n"
            f"addr add {CLIENT_IP}/24 dev eth0\n"
            "link set eth0 up\n"
            f"route add default via {DIRECTOR_CLIENT_IP}\n"))
        for r in self.reals:
            run_ip([], netns=r.name, batch=(
                "link set lo up\n"
                f"addr add {r.ip}/24 dev eth0\n"
                "link set eth0 up\n"
                f"route add default via {DIRECTOR_REAL_IP}\n"))

    def teardown(self, *, leftovers: bool = False) -> None:
        """Remove every namespace, link and extra VIP this topology made (idempotent)."""
        if not (self.built or leftovers):
            return
        lines = [f"link del {r.director_dev}" for r in self.reals]
        if leftovers:
            lines += [f"link del labrs{i}" for i in range(self.n_reals + 1, MAX_REALS + 1)]
        lines += [f"link del {dev}" for dev in (CLIENT_DEV, BRIDGE_DEV, VIP_DEV)]
        existing = set(_links())
        lines = [ln for ln in lines if ln.split()[-1] in existing]
        present = set(_namespaces())
        names = set(self.namespaces)
        if leftovers:
            names |= {f"rs{i}" for i in range(1, MAX_REALS + 1)}
        lines += [f"netns del {ns}" for ns in sorted(names & present)]
        if lines:
            # -force: go on past a line that fails (something already gone).
            run(["ip", "-force", "-batch", "-"], input="\n".join(lines) + "\n", check=False)
        self.extra_vips.clear()
        self.built = False

    def add_vip(self, vip: str) -> None:
        """Put another VIP (198.51.100.x) on the director's dummy interface."""
        _check_vip(vip)
        if vip in self.vips or vip in self.extra_vips:
            return
        run_ip(["addr", "add", f"{vip}/32", "dev", VIP_DEV])
        self.extra_vips.add(vip)

    def remove_vip(self, vip: str) -> None:
        if vip in self.extra_vips:
            run_ip(["addr", "del", f"{vip}/32", "dev", VIP_DEV], check=False)
            self.extra_vips.discard(vip)

    def set_link(self, name: str, up: bool) -> None:
        """Unplug (or plug back) a real's cable on the director side."""
        dev = self.real(name).director_dev
        run_ip(["link", "set", dev, "up" if up else "down"])

    def _link_mode(self) -> Literal["bridge", "routed"]:
        if self.link != "auto":
            return self.link
        return "bridge" if os.path.isdir("/sys/module/bridge") else "routed"


def _check_vip(vip: str) -> None:
    parts = vip.split(".")
    if len(parts) != 4 or parts[:3] != ["198", "51", "100"] or not parts[3].isdigit() \
            or not 1 <= int(parts[3]) <= 254:
        raise ValueError(f"VIPs must be 198.51.100.1-254, not {vip!r}")


def _links() -> list[str]:
    out = run_ip(["-o", "link", "show"], check=False).stdout
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@", 1)[0])
    return names


def _namespaces() -> list[str]:
    try:
        return os.listdir("/run/netns")
    except FileNotFoundError:
        return []
