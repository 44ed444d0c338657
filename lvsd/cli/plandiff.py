"""``lvsd plan FILE --diff``: the edits lvsd would make to the live kernel table now; nothing is changed.

The plan is the one a reload of FILE would apply (:func:`lvsd.reconcile.plan`)
against a fresh read of the kernel table. Health comes from the running
daemon for FILE when there is one (asked over its control socket), so the
plan is what it would really do; otherwise, and for reals it does not know,
from the kernel itself as lvsd adopts at start-up: a configured real present
at a non-zero weight is up, any other is down. Services the running daemon
manages that FILE drops are planned for removal, as a reload would.

Output: one edit per line in ipvsadm form, nothing when the table already
matches; where the health came from goes to stderr. Exit 0; 2 for a config
error; 1 when the kernel table cannot be read.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Mapping
from typing import Any

from lvsd.cli import exits
from lvsd.cli.paths import Paths, find_config
from lvsd.cli.running import ask, read_pid
from lvsd.config.errors import ConfigError
from lvsd.config.model import Config
from lvsd.errors import IPVSError
from lvsd.health import Health, State
from lvsd.ipvs.table import ServiceKey, Table
from lvsd.reconcile import HealthKey, kernel_port, plan, service_key


def kernel_health(config: Config, table: Table) -> dict[HealthKey, Health]:
    """Start-up adoption's rule: a configured real in the kernel at a non-zero weight is up."""
    out: dict[HealthKey, Health] = {}
    for v in config.virtuals:
        dests = table.dests_of(service_key(v))
        for r in v.reals:
            d = dests.get((r.ip, kernel_port(v, r.forward, r.port)))
            out[(v.key, r.key)] = Health(State.UP if d is not None and d.weight > 0 else State.DOWN)
    return out


def daemon_health(config: Config, snapshot: Mapping[str, Any]) -> dict[HealthKey, Health]:
    """The running daemon's states for the reals of ``config`` it knows (its ``status`` answer)."""
    known: dict[tuple[str, str, str], str] = {}
    for sv in snapshot.get("virtuals", []):
        for sr in sv.get("reals", []):
            known[(sv.get("protocol", ""), sv.get("label", ""), sr.get("real", ""))] = sr.get("state", "")
    out: dict[HealthKey, Health] = {}
    for v in config.virtuals:
        for r in v.reals:
            state = known.get((v.protocol, v.label, str(r)))
            if state in ("up", "down", "unknown"):
                out[(v.key, r.key)] = Health(State(state))
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


def removed_services(config: Config, snapshot: Mapping[str, Any], table: Table) -> set[ServiceKey]:
    configured = {service_key(v) for v in config.virtuals}
    out = set()
    for sv in snapshot.get("virtuals", []):
        key = _key(str(sv.get("protocol", "")), str(sv.get("label", "")), table)
        if key is not None and key not in configured:
            out.add(key)
    return out


def diff(config: Config, table: Table, snapshot: Mapping[str, Any] | None) -> list[str]:
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
    from lvsd import director

    try:
        config = director.load(path).config
    except ConfigError as exc:
        sys.stderr.write(exc.format() + "\n")
        return exits.CONFIG
    for warning in config.warnings:
        sys.stderr.write(warning.format() + "\n")
    try:
        table = asyncio.run(_read())
    except IPVSError as exc:
        sys.stderr.write(f"lvsd: cannot read the kernel table: {exc}\n")
        return exits.FAIL
    paths = Paths(find_config(config.path))
    pid, running = read_pid(paths)
    snapshot = ask(paths, "status") if running else None
    if snapshot is not None and snapshot.get("ok", True):
        sys.stderr.write(f"# health: the running lvsd (pid {pid}); other reals: the kernel's weights\n")
    else:
        snapshot = None
        sys.stderr.write("# health: the kernel's weights (no lvsd running for this config)\n")
    for line in diff(config, table, snapshot):
        print(line)
    return exits.OK
