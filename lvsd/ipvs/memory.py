"""An in-memory IPVS table with the kernel's refusals, for unit tests and dry runs.

It answers like the kernel does where lvsd depends on it: adding what exists
is EEXIST, touching a missing service is ESRCH, a missing dest is ENOENT, an
unknown scheduler is ENOENT; a refused edit in a batch does not stop the
others. Faults can be injected (``fail_next``: the next edit of a kind fails
with an errno). It is never the only proof of a behaviour: the lab tests run
the same code against the real kernel.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence

from lvsd.errors import IPVSError
from lvsd.ipvs.messages import describe
from lvsd.ipvs.sync import SyncDaemon, SyncStep
from lvsd.ipvs.sync_messages import describe_sync
from lvsd.ipvs.table import Dest, Op, ServiceKey, Table

SCHEDULERS = frozenset("rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos".split())


class MemoryIPVS:
    def __init__(self, table: Table | None = None) -> None:
        self.table = table.copy() if table is not None else Table()
        self.applied: list[Op] = []
        self.fail_next: dict[str, int] = {}  # op kind -> errno to raise once (fault injection)
        self.ops_sent = 0
        self.writes = 0
        self.dumps = 0
        self.sync: dict[str, SyncDaemon] = {}  # the running sync daemons by state
        self.interfaces: set[str] | None = None  # None: every interface exists; else a missing one is ENODEV
        self.sync_steps: list[SyncStep] = []

    async def __aenter__(self) -> MemoryIPVS:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None

    async def dump(self) -> Table:
        self.dumps += 1
        return self.table.copy()

    async def dests(self, key: ServiceKey) -> dict[tuple[str, int], Dest]:
        return dict(self.table.dests_of(key))

    async def apply(self, op: Op) -> None:
        (result,) = await self.apply_many([op])
        if result is not None:
            raise result

    async def apply_many(self, ops: Sequence[Op]) -> list[IPVSError | None]:
        self.writes += 1
        results: list[IPVSError | None] = []
        for op in ops:
            self.ops_sent += 1
            code = self._refusal(op)
            if code:
                results.append(IPVSError(op.ipvsadm(), code, describe(code, op)))
                continue
            self.table.apply(op)
            self.applied.append(op)
            results.append(None)
        return results

    def _refusal(self, op: Op) -> int:
        code = self.fail_next.pop(op.kind, None)
        if code is not None:
            return code
        key = op.service.key
        exists = key in self.table.services
        if op.kind == "add-service" and exists:
            return errno.EEXIST
        if op.kind != "add-service" and not exists:
            return errno.ESRCH
        if op.kind in ("add-service", "edit-service") and op.service.scheduler not in SCHEDULERS:
            return errno.ENOENT
        if op.dest is not None:
            present = op.dest.key in self.table.dests_of(key)
            if op.kind == "add-dest" and present:
                return errno.EEXIST
            if op.kind in ("edit-dest", "del-dest") and not present:
                return errno.ENOENT
        return 0

    async def daemons(self) -> list[SyncDaemon]:
        return [self.sync[s] for s in ("master", "backup") if s in self.sync]

    async def sync_step(self, step: SyncStep) -> None:
        d = step.daemon
        code = self.fail_next.pop(f"sync-{step.kind}", 0)
        if not code and step.kind == "stop" and d.state not in self.sync:
            code = errno.ESRCH
        elif not code and step.kind == "start":
            if d.state in self.sync:
                code = errno.EEXIST
            elif self.interfaces is not None and d.interface not in self.interfaces:
                code = errno.ENODEV
        if code:
            raise IPVSError(step.ipvsadm(), code, describe_sync(code, step))
        self.sync_steps.append(step)
        if step.kind == "stop":
            del self.sync[d.state]
        else:
            self.sync[d.state] = d
