"""A clock the test moves by hand, for the daemon's timers (resync, drains, resends, the config poll).

Checks still run on the event loop's own time; only what the daemon times
through its :class:`~lvsd.daemon.clock.Clock` waits for :meth:`ManualClock.advance`.
"""

from __future__ import annotations

import asyncio


class ManualClock:
    def __init__(self, start: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self.now = start
        self.wall = wall - start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall + self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.now + seconds, fut)
        self._sleepers.append(entry)
        try:
            await fut
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    async def advance(self, seconds: float) -> None:
        """Move time on and wake every sleeper now due; let them run."""
        self.now += seconds
        for due, fut in list(self._sleepers):
            if due <= self.now and not fut.done():
                fut.set_result(None)
        for _ in range(5):
            await asyncio.sleep(0)
