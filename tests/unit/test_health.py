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
