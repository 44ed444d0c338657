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
import socket
from collections.abc import Collection

from lvsd.checks.base import CheckSpec
from lvsd.checks.httpplan import Plan
from lvsd.checks.socketwatch import OUT, SocketWatch
from lvsd.checks.timerheap import TimerHeap


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

    async def writable(self, sock: socket.socket, deadline: float | None) -> None:
        """Wait until ``sock`` is writable (its connect is over); TimeoutError at ``deadline`` (loop time)."""
        ready: asyncio.Future[None] = self.loop.create_future()
        fd = sock.fileno()
        self.sockets.watch(fd, OUT, lambda: _wake(ready))
        expiry = self.timers.expire(deadline, ready) if deadline is not None else 0
        try:
            await ready
        finally:
            if expiry:
                self.timers.cancel(expiry)
            self.sockets.forget(fd)  # the caller closes the socket next

    def close(self) -> None:
        self.sockets.close()
        self.timers.close()
        self.plans.clear()


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
