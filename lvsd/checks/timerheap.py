"""One loop timer for the checks: the scheduler's next slots and the checks' deadlines, in a heap of tuples.

``asyncio.sleep`` and ``asyncio.timeout`` give every sleeper and every check
its own timer handle, and the loop orders its handles with a Python-level
comparison; with thousands of checks a second that is a noticeable share of
each check's cost. Here entries are ``(when, seq)`` tuples that compare in C,
and the loop holds a single timer, re-armed to the earliest entry. At its
time an entry's future gets its result (a wake-up) or a TimeoutError (a
deadline), unless it is already done. A deadline whose check is over is
cancelled: its entry stays in the heap, holding nothing, until its time.
A :class:`TimerHeap` belongs to the :class:`~lvsd.checks.context.CheckContext`
that made it, which closes it when its checks are over.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from typing import Any


class TimerHeap:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # Entries hold only a float and an int (which the cyclic collector soon stops tracking); the
        # futures wait in ``pending``, and a deadline whose check is over is dropped from there at once.
        self.heap: list[tuple[float, int]] = []
        self.pending: dict[int, tuple[asyncio.Future[Any], bool]] = {}  # seq -> (future, is a deadline)
        self.seq = 0
        self.timer: asyncio.TimerHandle | None = None
        self.armed = math.inf

    def wait_until(self, when: float) -> asyncio.Future[None]:
        """A future that is done at ``when`` (loop time)."""
        fut: asyncio.Future[None] = self.loop.create_future()
        self._push(when, fut, False)
        return fut

    def expire(self, when: float, fut: asyncio.Future[Any]) -> int:
        """Fail ``fut`` with TimeoutError at ``when`` unless it is done by then, or :meth:`cancel` is called."""
        return self._push(when, fut, True)

    def cancel(self, seq: int) -> None:
        self.pending.pop(seq, None)

    def close(self) -> None:
        """Disarm: nothing waiting here is woken or failed any more (its owner has ended those tasks)."""
        if self.timer is not None:
            self.timer.cancel()
        self.timer, self.armed = None, math.inf
        self.heap.clear()
        self.pending.clear()

    def _push(self, when: float, fut: asyncio.Future[Any], deadline: bool) -> int:
        self.seq += 1
        self.pending[self.seq] = (fut, deadline)
        heapq.heappush(self.heap, (when, self.seq))
        if when < self.armed:
            self._arm(when)
        return self.seq

    def _arm(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.armed = when
        self.timer = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self.timer, self.armed = None, math.inf
        heap, pending, now = self.heap, self.pending, self.loop.time()
        while heap and heap[0][0] <= now:
            entry = pending.pop(heapq.heappop(heap)[1], None)
            if entry is not None and not entry[0].done():
                if entry[1]:
                    entry[0].set_exception(TimeoutError())
                else:
                    entry[0].set_result(None)
        if heap:
            self._arm(heap[0][0])

