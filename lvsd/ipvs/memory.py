"""An in-memory IPVS table with the kernel's refusals, for unit tests and dry runs.

It answers like the kernel does where lvsd depends on it: adding what exists
is EEXIST, touching a missing service is ESRCH, a missing dest is ENOENT, an
unknown scheduler is ENOENT. It is never the only proof of a behaviour: the
lab tests run the same code against the real kernel.
"""

from __future__ import annotations

import errno

from lvsd.errors import IPVSError
from lvsd.ipvs.table import Op, Table

SCHEDULERS = frozenset("rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos".split())


class MemoryIPVS:
    def __init__(self, table: Table | None = None) -> None:
        self.table = table.copy() if table is not None else Table()
        self.applied: list[Op] = []
        self.fail_next: dict[str, int] = {}  # op kind -> errno to raise once (fault injection)

    async def __aenter__(self) -> MemoryIPVS:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None

    async def dump(self) -> Table:
        return self.table.copy()

    async def apply(self, op: Op) -> None:
        code = self.fail_next.pop(op.kind, None)
        if code is not None:
            raise IPVSError(op.ipvsadm(), code)
        key = op.service.key
        exists = key in self.table.services
        if op.kind == "add-service" and exists:
            raise IPVSError(op.ipvsadm(), errno.EEXIST)
        if op.kind != "add-service" and not exists:
            raise IPVSError(op.ipvsadm(), errno.ESRCH)
        if op.kind in ("add-service", "edit-service") and op.service.scheduler not in SCHEDULERS:
            raise IPVSError(op.ipvsadm(), errno.ENOENT)
        if op.dest is not None:
            present = op.dest.key in self.table.dests_of(key)
            if op.kind == "add-dest" and present:
                raise IPVSError(op.ipvsadm(), errno.EEXIST)
            if op.kind in ("edit-dest", "del-dest") and not present:
                raise IPVSError(op.ipvsadm(), errno.ENOENT)
        self.table.apply(op)
        self.applied.append(op)
