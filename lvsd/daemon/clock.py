"""The daemon's clock: monotonic time for timers and health, wall time for status, and sleeping.

Everything the owner loop times (resync passes, drain polls, email resends,
the config-file poll, the first round's deadline, health's ``since``) reads
this clock, and every wait of the loop ends by it, so a test can hand the
daemon a clock it moves by hand instead of waiting on the real one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (timers, health)."""
        ...

    def time(self) -> float:
        """Seconds since the epoch (status: uptime, the last reload's time)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""
        ...


class SystemClock:
    """The real clocks, and the event loop's sleep."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def next_item(queue: asyncio.Queue[T], clock: Clock, deadline: float) -> T | None:
    """The next item of ``queue``, or None once ``deadline`` has passed on ``clock``."""
    if not queue.empty():
        return queue.get_nowait()
    delay = deadline - clock.monotonic()
    if delay <= 0:
        await asyncio.sleep(0)  # let the rest run, whatever the clock says
        return None
    getter = asyncio.ensure_future(queue.get())
    timer = asyncio.ensure_future(clock.sleep(delay))
    try:
        await asyncio.wait((getter, timer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (getter, timer):
            task.cancel()  # a getter cancelled before it returned leaves the item queued
        await asyncio.gather(getter, timer, return_exceptions=True)
    return getter.result() if not getter.cancelled() else None
