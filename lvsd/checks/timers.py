"""One loop timer for the checks: probes' next slots and checks' deadlines, in a heap of tuples.

``asyncio.sleep`` and ``asyncio.timeout`` give every sleeper and every check
its own timer handle, and the loop orders its handles with a Python-level
comparison; with thousands of checks a second that is a noticeable share of
each check's cost. Here entries are ``(when, seq, future, error)`` tuples
that compare in C, and the loop holds a single timer, re-armed to the
earliest entry. At its time an entry's future gets its result (a wake-up)
or ``error`` (a deadline), unless it is already done. A deadline whose check
finished is left in the heap and skipped when its time comes.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import weakref

_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Clock] = weakref.WeakKeyDictionary()


class Clock:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.heap: list[tuple[float, int, asyncio.Future[None] | asyncio.Future[object], BaseException | None]] = []
        self.seq = 0
        self.timer: asyncio.TimerHandle | None = None
        self.armed = math.inf

    def wait_until(self, when: float) -> asyncio.Future[None]:
        """A future that is done at ``when`` (loop time)."""
        fut: asyncio.Future[None] = self.loop.create_future()
        self._push(when, fut, None)
        return fut

    def expire(self, when: float, fut: asyncio.Future[object]) -> None:
        """Fail ``fut`` with TimeoutError at ``when`` unless it is done by then."""
        self._push(when, fut, TimeoutError())

    def _push(self, when: float, fut: asyncio.Future[object] | asyncio.Future[None],
              error: BaseException | None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (when, self.seq, fut, error))
        if when < self.armed:
            self._arm(when)

    def _arm(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.armed = when
        self.timer = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self.timer, self.armed = None, math.inf
        heap, now = self.heap, self.loop.time()
        while heap and heap[0][0] <= now:
            _, _, fut, error = heapq.heappop(heap)
            if not fut.done():
                if error is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(error)
        if heap:
            self._arm(heap[0][0])


def clock() -> Clock:
    """The running loop's clock."""
    loop = asyncio.get_running_loop()
    c = _clocks.get(loop)
    if c is None:
        c = _clocks[loop] = Clock(loop)
    return c
