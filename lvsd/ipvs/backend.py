"""What the daemon needs of a kernel table, and the optional faster paths a backend may offer.

Every backend (netlink, in-memory) is a :class:`Backend`: it can ``dump()``,
``apply(op)`` and ``close()``. A backend
that can also apply many edits in one exchange (``apply_many``) or read one
service's dests (``dests``) is used that way; :func:`apply_all` and
:func:`read_dests` fall back to the basic calls for one that cannot, so test
doubles stay small.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from lvsd.errors import IPVSError
from lvsd.ipvs.sync import SyncDaemon, SyncStep
from lvsd.ipvs.table import Dest, Op, ServiceKey, Table


class Applies(Protocol):
    async def apply(self, op: Op) -> None: ...


class Dumps(Protocol):
    async def dump(self) -> Table: ...


class Backend(Applies, Dumps, Protocol):
    """A kernel table the daemon owns: read it whole, edit it, let it go."""

    def close(self) -> None: ...


@runtime_checkable
class Batches(Protocol):
    async def apply_many(self, ops: Sequence[Op]) -> list[IPVSError | None]: ...


@runtime_checkable
class ReadsDests(Protocol):
    async def dests(self, key: ServiceKey) -> dict[tuple[str, int], Dest]: ...


@runtime_checkable
class SyncsConnections(Protocol):
    """A backend that runs the kernel's connection sync daemons (the netlink one; the in-memory one for tests)."""

    async def daemons(self) -> list[SyncDaemon]: ...
    async def sync_step(self, step: SyncStep) -> None: ...


async def apply_all(backend: Applies, ops: Sequence[Op]) -> list[IPVSError | None]:
    """Apply ``ops`` in order; one result per op (None = done). A refusal never stops the rest."""
    if isinstance(backend, Batches):
        return await backend.apply_many(ops)
    results: list[IPVSError | None] = []
    for op in ops:
        try:
            await backend.apply(op)
        except IPVSError as exc:
            results.append(exc)
        else:
            results.append(None)
    return results


async def read_dests(backend: Dumps, key: ServiceKey) -> dict[tuple[str, int], Dest]:
    """One service's dests with current counters (a whole dump if the backend cannot do less)."""
    if isinstance(backend, ReadsDests):
        return await backend.dests(key)
    return (await backend.dump()).dests_of(key)
