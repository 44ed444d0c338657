"""What the hot checks (plain HTTP, connect) share on one event loop, owned by whoever runs them.

A :class:`CheckContext` holds the socket watch (one epoll for the checks'
bare sockets), the timer heap (the scheduler's slots and the checks'
deadlines behind one loop timer) and each HTTP spec's plan (its request
bytes and addresses, worked out once). The scheduler makes one when it
starts its probes, keeps only the plans of the specs it still runs after a
reload (:meth:`retain`) and closes it with its probes; a one-off check
(``lvsd probe``, tests) gets a context of its own, closed when it ends.
Nothing here is process-wide: two schedulers on two loops share nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import TYPE_CHECKING

from lvsd.checks.base import CheckSpec
from lvsd.checks.socketwatch import SocketWatch
from lvsd.checks.timerheap import TimerHeap

if TYPE_CHECKING:  # httpplan builds on the HTTP client, which takes a context: a type-only import
    from lvsd.checks.httpplan import Plan


class CheckContext:
    __slots__ = ("loop", "plans", "sockets", "timers")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sockets = SocketWatch(loop)
        self.timers = TimerHeap(loop)
        self.plans: dict[CheckSpec, Plan] = {}  # filled by the http check, at its first run of a spec

    def retain(self, specs: Collection[CheckSpec]) -> None:
        """Forget the plans of specs no longer checked (a reload dropped or changed them)."""
        if any(spec not in specs for spec in self.plans):
            self.plans = {spec: p for spec, p in self.plans.items() if spec in specs}

    def close(self) -> None:
        self.sockets.close()
        self.timers.close()
        self.plans.clear()
