"""The health state machine of one real server in one virtual service (pure).

A real server is *up*, *down*, or *unknown* (configured but never checked and
not adopted from the kernel). Counters are per (virtual, real), which fixes
ldirectord's shared-real bug.

* ``failurecount`` consecutive failures take an up server down (ldirectord);
  fewer are soft failures, and a success resets the count.
* A down server comes back after ``risecount`` consecutive successes (an lvsd
  extension; 1 = ldirectord, one success) AND once it has kept passing for
  ``reentry`` seconds since the first success of the streak (piranha's
  nanny; 0 = at once). Both hold only for a server that *failed*: an unknown
  server's first result decides at once, either way, so start-up and reload
  never hold back a server that was never seen failing.
* A *forced* failure (a maintenance drop-file) takes the server down at once,
  whatever failurecount says, as ldirectord's forced service_set does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum


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
    passing_since: float = 0.0  # monotonic time of the first success of the current streak

    @property
    def up(self) -> bool:
        return self.state is State.UP


class TransitionKind(StrEnum):
    UP = "up"
    DOWN = "down"
    SOFT_FAILURE = "soft-failure"  # a failure that did not (yet) take an up server down
    RESET = "reset"  # a success cleared the soft failures


@dataclass(frozen=True, slots=True)
class Transition:
    """What one check result did: a state change, a soft failure, or a reset."""

    kind: TransitionKind
    failures: int = 0

    @property
    def changed(self) -> bool:
        """The server went up or down (soft failures and resets leave it in service)."""
        return self.kind is TransitionKind.UP or self.kind is TransitionKind.DOWN


_RESET = Transition(TransitionKind.RESET)
_UP = Transition(TransitionKind.UP)


def observe(
    h: Health, ok: bool, reason: str, now: float, *, failurecount: int = 1, risecount: int = 1,
    reentry: float = 0.0, forced: bool = False,
) -> tuple[Health, Transition | None]:
    """Fold one check result into the state; return the new state and what happened."""
    # Built directly rather than with dataclasses.replace: this runs for every check result.
    if ok:
        successes = h.successes + 1
        passing_since = h.passing_since if h.successes else now
        if h.state is State.UP:
            reset = _RESET if h.failures > 0 else None
            return Health(h.state, 0, successes, reason, h.since, passing_since), reset
        if h.state is State.UNKNOWN or (successes >= risecount and now - passing_since >= reentry):
            return Health(State.UP, 0, successes, reason, now, passing_since), _UP
        return Health(h.state, 0, successes, reason, h.since, passing_since), None
    failures = h.failures + 1
    if h.state is State.UP and not forced and failures < failurecount:
        return Health(h.state, failures, 0, reason, h.since), Transition(TransitionKind.SOFT_FAILURE, failures)
    if h.state is State.DOWN:
        return Health(h.state, failures, 0, reason, h.since), None
    return Health(State.DOWN, failures, 0, reason, now), Transition(TransitionKind.DOWN, failures)
