"""When the daemon re-reads and repairs the kernel table (pure bookkeeping, time as an argument).

* A full pass (dump, plan, apply) runs every ``resyncinterval`` seconds and
  repairs drift (someone ran ``ipvsadm`` by hand).
* After a failed edit the next pass comes sooner: ``RETRY_INTERVAL``,
  doubling while passes keep failing, up to the resync interval. That pass
  re-reads the table, since a refusal usually means lvsd's copy was wrong.
* While real servers drain (``drain=yes``), their services' dests are re-read
  every ``DRAIN_POLL`` seconds so a drain ends soon after its last connection.
  ``drain_since`` remembers when each drain was first seen; after a restart
  that is the new daemon's start, so a resumed drain may last up to one more
  ``draintimeout``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lvsd.reconcile import DestId

RETRY_INTERVAL = 1.0
DRAIN_POLL = 1.0


@dataclass(slots=True)
class ResyncSchedule:
    synced: bool = False  # a first full pass ran (the start-up pass is a forced one)
    full_due: float = 0.0  # monotonic time of the next full pass
    retry: float = 0.0  # the current retry delay; 0 when the last pass went through
    drain_since: dict[DestId, float] = field(default_factory=dict)

    def failed(self, now: float, interval: float) -> float:
        """An edit failed: a full pass (which re-reads the table) comes sooner; return when."""
        self.retry = min(interval, self.retry * 2) if self.retry else min(interval, RETRY_INTERVAL)
        self.full_due = min(self.full_due, now + self.retry)
        return self.full_due

    def reread(self, now: float, interval: float) -> None:
        """The table was just read whole: the next full pass is a resync interval away."""
        self.synced = True
        self.full_due = now + interval

    def succeeded(self) -> None:
        """Every edit of a full pass went through: no retry pending, the backoff starts over."""
        self.retry = 0.0

    def track(self, draining: set[DestId], now: float) -> None:
        """Remember when each drain began; forget the ones that ended."""
        for dest in draining:
            self.drain_since.setdefault(dest, now)
        for dest in list(self.drain_since):
            if dest not in draining:
                del self.drain_since[dest]

    def next_pass(self, now: float) -> float:
        """When the next pass (full or drain poll) is due."""
        if self.drain_since:
            return min(self.full_due, now + DRAIN_POLL)
        return self.full_due
