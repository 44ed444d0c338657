"""When the daemon re-reads and repairs the kernel table: resync, retry backoff, drain polling (pure)."""

from lvsd.daemon.resync import DRAIN_POLL, RETRY_INTERVAL, ResyncSchedule
from lvsd.ipvs.table import ServiceKey

KEY = (ServiceKey.inet("tcp", "198.51.100.1", 80), ("203.0.113.11", 80))


def test_a_full_pass_is_due_a_resync_interval_after_the_table_was_read():
    s = ResyncSchedule()
    assert not s.synced and s.next_pass(100.0) == 0.0  # the first pass runs at once
    s.reread(100.0, 30.0)
    assert s.synced and s.next_pass(100.0) == 130.0


def test_failures_bring_the_next_full_pass_forward_with_backoff_up_to_the_interval():
    s = ResyncSchedule()
    s.reread(0.0, 10.0)
    assert s.failed(0.0, 10.0) == RETRY_INTERVAL
    delays = []
    for now in (1.0, 3.0, 7.0, 15.0, 25.0):
        s.reread(now, 10.0)
        delays.append(s.failed(now, 10.0) - now)
    assert delays == [2.0, 4.0, 8.0, 10.0, 10.0]
    s.succeeded()
    s.reread(40.0, 10.0)
    assert s.failed(40.0, 10.0) == 40.0 + RETRY_INTERVAL


def test_drains_are_polled_and_remembered_from_when_first_seen():
    s = ResyncSchedule()
    s.reread(0.0, 30.0)
    s.track({KEY}, 5.0)
    s.track({KEY}, 9.0)
    assert s.drain_since == {KEY: 5.0}
    assert s.next_pass(9.0) == 9.0 + DRAIN_POLL
    s.track(set(), 10.0)
    assert s.drain_since == {} and s.next_pass(10.0) == 30.0
