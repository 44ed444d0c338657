"""Wait until a condition holds, bounded by a deadline: ``until`` in async tests, ``wait_until`` in the others.

Both poll ``pred()`` (every 20 ms unless told), return the seconds it took to
hold, and raise AssertionError once ``limit`` seconds have passed without it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

FAILED = "condition not reached in time"


async def until(pred: Callable[[], bool], limit: float, poll: float = 0.02) -> float:
    """Poll ``pred`` on the running event loop until true; the seconds it took."""
    t0 = time.monotonic()
    while True:
        if pred():
            return time.monotonic() - t0
        if time.monotonic() - t0 > limit:
            raise AssertionError(FAILED)
        await asyncio.sleep(poll)


def wait_until(pred: Callable[[], bool], limit: float, poll: float = 0.02,
               explain: Callable[[], str] | None = None) -> float:
    """Poll ``pred`` (sleeping between tries) until true; the seconds it took. ``explain()`` says what was seen."""
    t0 = time.monotonic()
    while True:
        if pred():
            return time.monotonic() - t0
        if time.monotonic() - t0 > limit:
            raise AssertionError(f"not reached within {limit}s; {explain()}" if explain else FAILED)
        time.sleep(poll)
