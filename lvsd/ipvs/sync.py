"""The kernel's connection sync daemons as values, and the steps that make the running ones the wanted ones.

A director pair keeps its connections across a failover through the kernel's own sync
daemons: a *master* on the active director multicasts its connection entries, a *backup* on
the standby builds them into its own table (binding each only to a virtual service and real
server that exist there, which is why both directors run the same config). A node may run
one of each. Like the IPVS table, the daemons belong to a network namespace.

:func:`plan` is pure: the running daemons (as the kernel reports them) and the wanted ones in,
the stops and starts out, in the order to apply them. A daemon that already runs as wanted is
never restarted (a restart drops the connection entries it was about to send). The kernel
cannot change a running daemon, so a changed setting is a stop and a start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

SyncState = Literal["master", "backup"]
STATES: tuple[SyncState, ...] = ("master", "backup")
STATE_CODES: dict[SyncState, int] = {"master": 1, "backup": 2}
STATE_NAMES: dict[int, SyncState] = {v: k for k, v in STATE_CODES.items()}

# What the kernel uses when a setting is not given (net/netfilter/ipvs/ip_vs_sync.c).
DEFAULT_GROUP = "224.0.0.81"
DEFAULT_PORT = 8848
DEFAULT_TTL = 1
MAX_IFNAME = 15  # IP_VS_IFNAME_MAXLEN less its NUL


@dataclass(frozen=True, slots=True)
class SyncDaemon:
    """One sync daemon. 0 / "" for maxlen, group, port and ttl: the kernel's default.

    ``maxlen`` is the largest sync message (bytes of UDP payload); the kernel sizes it from the
    interface's MTU when it is not given, and reports the size it chose.
    """

    state: SyncState
    interface: str
    syncid: int = 0
    maxlen: int = 0
    group: str = ""
    port: int = 0
    ttl: int = 0

    def satisfies(self, wanted: SyncDaemon) -> bool:
        """Does this running daemon do what ``wanted`` asks (its defaults filled in as the kernel fills them)?"""
        return (
            self.state == wanted.state
            and self.interface == wanted.interface
            and self.syncid == wanted.syncid
            and (not wanted.maxlen or self.maxlen == wanted.kernel_maxlen())
            and (self.group or DEFAULT_GROUP) == (wanted.group or DEFAULT_GROUP)
            and (self.port or DEFAULT_PORT) == (wanted.port or DEFAULT_PORT)
            and (self.ttl or DEFAULT_TTL) == (wanted.ttl or DEFAULT_TTL)
        )

    def kernel_maxlen(self) -> int:
        """``maxlen`` as the kernel keeps it: at least 1,024 for a backup, at most what a UDP datagram carries."""
        headers = 48 if ":" in self.group else 28  # IPv6 or IPv4, plus UDP
        return max(1024 if self.state == "backup" else 1, min(self.maxlen, 65535 - headers))

    def ipvsadm(self) -> str:
        """The ipvsadm command that starts this daemon (for logs and dry runs)."""
        words = [f"--start-daemon {self.state} --mcast-interface {self.interface} --syncid {self.syncid}"]
        if self.maxlen:
            words.append(f"--sync-maxlen {self.maxlen}")
        if self.group:
            words.append(f"--mcast-group {self.group}")
        if self.port:
            words.append(f"--mcast-port {self.port}")
        if self.ttl:
            words.append(f"--mcast-ttl {self.ttl}")
        return "ipvsadm " + " ".join(words)

    def describe(self) -> str:
        """``master on eth1, syncid 5, group 224.0.0.81:8848 ttl 1, maxlen 1472``."""
        group = self.group or DEFAULT_GROUP
        where = f"[{group}]" if ":" in group else group
        text = (f"{self.state} on {self.interface}, syncid {self.syncid}, "
                f"group {where}:{self.port or DEFAULT_PORT} ttl {self.ttl or DEFAULT_TTL}")
        return text + (f", maxlen {self.maxlen}" if self.maxlen else "")


@dataclass(frozen=True, slots=True)
class SyncStep:
    """One change to the running sync daemons: stop the one of ``daemon.state``, or start ``daemon``."""

    kind: Literal["start", "stop"]
    daemon: SyncDaemon

    def ipvsadm(self) -> str:
        if self.kind == "stop":
            return f"ipvsadm --stop-daemon {self.daemon.state}"
        return self.daemon.ipvsadm()

    def __str__(self) -> str:
        return f"{self.kind} sync daemon {self.daemon.describe()}"


def plan(running: Iterable[SyncDaemon], wanted: Iterable[SyncDaemon]) -> list[SyncStep]:
    """The steps from ``running`` to ``wanted``: stops first, then starts (a role switch frees its state first).

    At most one daemon per state: a second wanted one of the same state is a ValueError (the
    kernel runs one master and one backup per namespace).
    """
    have = _by_state(running, "running")
    want = _by_state(wanted, "wanted")
    stops: list[SyncStep] = []
    starts: list[SyncStep] = []
    for state in STATES:
        cur, new = have.get(state), want.get(state)
        if cur is not None and (new is None or not cur.satisfies(new)):
            stops.append(SyncStep("stop", cur))
        if new is not None and (cur is None or not cur.satisfies(new)):
            starts.append(SyncStep("start", new))
    return stops + starts


def apply_to(running: Sequence[SyncDaemon], steps: Iterable[SyncStep]) -> list[SyncDaemon]:
    """The daemons that run once ``steps`` are done (for a table kept in memory)."""
    now = {d.state: d for d in running}
    for step in steps:
        if step.kind == "stop":
            now.pop(step.daemon.state, None)
        else:
            now[step.daemon.state] = step.daemon
    return [now[s] for s in STATES if s in now]


def _by_state(daemons: Iterable[SyncDaemon], what: str) -> dict[SyncState, SyncDaemon]:
    out: dict[SyncState, SyncDaemon] = {}
    for d in daemons:
        if d.state in out:
            raise ValueError(f"two {what} {d.state} sync daemons: the kernel runs one of each state")
        out[d.state] = d
    return out
