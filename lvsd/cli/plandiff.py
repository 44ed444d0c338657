"""``lvsd plan FILE --diff``: the edits lvsd would make to the live kernel table now; nothing is changed.

The plan is the one a reload of FILE would apply (:func:`lvsd.reconcile.plan`)
against a fresh read of the kernel table. Health comes from the running
daemon for FILE when there is one (asked over its control socket), so the
plan is what it would really do; otherwise, and for reals it does not know,
from the kernel itself as lvsd adopts at start-up (one rule,
:func:`lvsd.reconcile.adopted_health`): a configured real present at a
non-zero weight is up, any other is planned out of service. Services the running daemon
manages that FILE drops are planned for removal, as a reload would.

Output: one edit per line in ipvsadm form, nothing when the table already
matches; where the health came from goes to stderr. Exit 0; 2 for a config
error; 1 when the kernel table cannot be read.
"""

from __future__ import annotations

import asyncio
import sys
import time

from lvsd.cli import exits
from lvsd.cli.paths import Paths, find_config
from lvsd.cli.running import ask, read_pid
from lvsd.config.model import Config, MemberKey
from lvsd.daemon.status import Snapshot
from lvsd.errors import IPVSError
from lvsd.health import Health
from lvsd.ipvs.table import ServiceKey, Table
from lvsd.reconcile import adopted_health, plan


def kernel_health(config: Config, table: Table) -> dict[MemberKey, Health]:
    """Health as the daemon adopts it at start-up (:func:`lvsd.reconcile.adopted_health`)."""
    return adopted_health(table, ((v, r) for v in config.virtuals for r in v.reals))


def daemon_health(config: Config, snapshot: Snapshot) -> dict[MemberKey, Health]:
    """The running daemon's states for the reals of ``config`` it knows (its ``status`` answer)."""
    known = {(sv.protocol, sv.label, sr.real): sr.state for sv in snapshot.virtuals for sr in sv.reals}
    out: dict[MemberKey, Health] = {}
    for v in config.virtuals:
        for r in v.reals:
            state = known.get((v.protocol, v.label, str(r)))
            if state is not None:
                out[v.member(r)] = Health(state)
    return out


def _key(protocol: str, label: str, table: Table) -> ServiceKey | None:
    """The service a daemon's status entry names (a fwmark is taken IPv6 only if only that one exists)."""
    if protocol == "fwm":
        if not label.isdigit():
            return None
        v4, v6 = ServiceKey.mark(int(label)), ServiceKey.mark(int(label), ipv6=True)
        return v6 if v6 in table.services and v4 not in table.services else v4
    host, _, port = label.rpartition(":")
    if not port.isdigit():
        return None
    return ServiceKey.inet(protocol, host.strip("[]"), int(port))


def removed_services(config: Config, snapshot: Snapshot, table: Table) -> set[ServiceKey]:
    configured = {v.key for v in config.virtuals}
    out = set()
    for sv in snapshot.virtuals:
        key = _key(sv.protocol, sv.label, table)
        if key is not None and key not in configured:
            out.add(key)
    return out


def diff(config: Config, table: Table, snapshot: Snapshot | None) -> list[str]:
    """The planned edits, in ipvsadm form."""
    health = kernel_health(config, table)
    removed: set[ServiceKey] = set()
    if snapshot is not None:
        health.update(daemon_health(config, snapshot))
        removed = removed_services(config, snapshot, table)
    steps = plan(config, health, table, removed=removed, readd=True, now=time.monotonic(), drain_since={})
    return [step.op.ipvsadm() for step in steps]


async def _read() -> Table:
    from lvsd.ipvs.netlink import NetlinkIPVS

    async with NetlinkIPVS() as nl:
        return await nl.dump()


def show(path: str) -> int:
    """Print the planned edits for the config at ``path``; where health came from goes to stderr."""
    from lvsd.cli.loading import load_or_report

    loaded = load_or_report(path)
    if loaded is None:
        return exits.CONFIG
    config = loaded.config
    try:
        table = asyncio.run(_read())
    except IPVSError as exc:
        sys.stderr.write(f"lvsd: cannot read the kernel table: {exc}\n")
        return exits.FAIL
    paths = Paths(find_config(config.path))
    pid, running = read_pid(paths)
    answer = ask(paths, "status") if running else None
    snapshot = None
    if answer is not None and answer.get("ok", True):
        snapshot = Snapshot.from_json(answer)
        sys.stderr.write(f"# health: the running lvsd (pid {pid}); other reals: the kernel's weights\n")
    else:
        sys.stderr.write("# health: the kernel's weights (no lvsd running for this config)\n")
    for line in diff(config, table, snapshot):
        print(line)
    return exits.OK
