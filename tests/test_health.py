"""The rise/fall state machine: failurecount, one success to come back, unknown servers."""

from lvsd.health import Health, State, observe


def run(results, failurecount=1, start=None):
    h, kinds = start or Health(), []
    for i, ok in enumerate(results):
        h, tr = observe(h, ok, "r", float(i), failurecount=failurecount)
        kinds.append(tr.kind if tr else None)
    return h, kinds


def test_unknown_server_comes_up_on_first_success():
    h, kinds = run([True])
    assert h.state is State.UP and kinds == ["up"]


def test_unknown_server_is_down_on_first_failure_even_with_failurecount():
    h, kinds = run([False], failurecount=3)
    assert h.state is State.DOWN and kinds == ["down"]


def test_up_server_goes_down_on_the_failurecount_th_consecutive_failure():
    up = Health(State.UP)
    h, kinds = run([False, False, False], failurecount=3, start=up)
    assert kinds == ["soft-failure", "soft-failure", "down"]
    assert h.state is State.DOWN


def test_a_success_resets_the_failure_count():
    up = Health(State.UP)
    h, kinds = run([False, False, True, False, False], failurecount=3, start=up)
    assert kinds == ["soft-failure", "soft-failure", "reset", "soft-failure", "soft-failure"]
    assert h.state is State.UP


def test_one_success_brings_a_down_server_back():
    _, kinds = run([False, False, True], start=Health(State.UP))
    assert kinds == ["down", None, "up"]


def test_since_changes_only_on_transitions():
    h, _ = run([True, True, True])
    assert h.since == 0.0
    h2, _ = observe(h, False, "x", 9.0)
    assert h2.since == 9.0 and h2.reason == "x"


def run_kw(results, start=None, times=None, **kw):
    h, kinds = start or Health(), []
    for i, ok in enumerate(results):
        h, tr = observe(h, ok, "r", float(times[i] if times else i), **kw)
        kinds.append(tr.kind if tr else None)
    return h, kinds


def test_risecount_successes_bring_a_down_server_back():
    h, kinds = run_kw([False, True, True, True], start=Health(State.UP), risecount=3)
    assert kinds == ["down", None, None, "up"]
    assert h.state is State.UP and h.failures == 0


def test_risecount_streak_is_broken_by_a_failure():
    _, kinds = run_kw([False, True, True, False, True, True, True], start=Health(State.UP), risecount=3)
    assert kinds == ["down", None, None, None, None, None, "up"]


def test_an_unknown_server_comes_up_on_its_first_success_whatever_risecount_says():
    h, kinds = run_kw([True], risecount=5, reentry=60)
    assert h.state is State.UP and kinds == ["up"]


def test_reentry_seconds_of_passing_checks_before_coming_back():
    # down at t=0; passes at t=1, 4, 7, 10, 13: reentry=10 counts from the first pass (t=1) -> up at t=13
    h, kinds = run_kw([False, True, True, True, True, True], start=Health(State.UP), reentry=10,
                      times=[0, 1, 4, 7, 10, 13])
    assert kinds == ["down", None, None, None, None, "up"]
    assert h.since == 13 and h.passing_since == 1


def test_reentry_and_risecount_both_hold():
    _, kinds = run_kw([False, True, True], start=Health(State.UP), reentry=1, risecount=3, times=[0, 1, 5])
    assert kinds == ["down", None, None]


def test_forced_failure_skips_failurecount():
    h, kinds = run_kw([False], start=Health(State.UP), failurecount=3, forced=True)
    assert kinds == ["down"] and h.state is State.DOWN
    h2, tr = observe(h, False, "Server in maintenance", 2.0, failurecount=3, forced=True)
    assert tr is None and h2.state is State.DOWN


def test_soft_failures_then_reset_log_as_ldirectord():
    h, kinds = run_kw([False, True], start=Health(State.UP), failurecount=2)
    assert kinds == ["soft-failure", "reset"] and h.state is State.UP
