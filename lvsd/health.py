"""The health state machine of one real server in one virtual service (pure).

A real server is *up*, *down*, or *unknown* (configured but never checked and
not adopted from the kernel). ``failurecount`` consecutive failures take an up
server down (ldirectord's semantics; counters are per (virtual, real), which
fixes ldirectord's shared-real bug); ``risecount`` consecutive successes bring
a down or unknown server up (1 by default, as ldirectord). An unknown server's
first failure makes it down at once: it was never in service.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


class State(Enum):
    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Health:
    state: State = State.UNKNOWN
    failures: int = 0  # consecutive failed checks
    successes: int = 0  # consecutive passed checks
    reason: str = ""  # the last check's message
    since: float = 0.0  # monotonic time of the last state change

    @property
    def up(self) -> bool:
        return self.state is State.UP


@dataclass(frozen=True, slots=True)
class Transition:
    """What one check result did: a state change, a soft failure, or a reset."""

    kind: str  # "up" | "down" | "soft-failure" | "reset"
    failures: int = 0


def observe(
    h: Health, ok: bool, reason: str, now: float, *, failurecount: int = 1, risecount: int = 1
) -> tuple[Health, Transition | None]:
    """Fold one check result into the state; return the new state and what happened."""
    if ok:
        successes = h.successes + 1
        reset = Transition("reset") if h.failures > 0 and h.state is State.UP else None
        if h.state is not State.UP and successes >= risecount:
            return Health(State.UP, 0, successes, reason, now), Transition("up")
        return replace(h, failures=0, successes=successes, reason=reason), reset
    failures = h.failures + 1
    if h.state is State.UP:
        if failures >= failurecount:
            return Health(State.DOWN, failures, 0, reason, now), Transition("down", failures)
        return replace(h, failures=failures, successes=0, reason=reason), Transition("soft-failure", failures)
    if h.state is State.UNKNOWN:
        return Health(State.DOWN, failures, 0, reason, now), Transition("down", failures)
    return replace(h, failures=failures, successes=0, reason=reason), None
