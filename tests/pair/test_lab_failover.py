"""Issue 12's acceptance in the lab: a director pair on keepalived's VRRP keeps its connections.

Two directors in their own network namespaces (tests/lab/pair.py), each running the real lvsd
and keepalived in VRRP-only mode with the configuration ``lvsd keepalived`` wrote; DR real
servers; a client holding six long-lived connections that echo every 200 ms while it opens a
new connection every 100 ms. Each test breaks the active director one way and checks that the
VIP moved, that new connections work again, and that every long-lived connection lived
through it. How fast, side by side with keepalived's own stack: bench/pair_failover.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.pair import PairLab, fresh_failback
from tests.support.skipping import in_lab, not_in_lab

pytestmark = pytest.mark.lab


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[PairLab]:
    if not in_lab():
        not_in_lab()
    lab = PairLab(tmp_path)
    try:
        yield lab
    finally:
        lab.teardown()


@pytest.mark.parametrize("forward, failure", [("gate", "link"), ("gate", "kill"), ("gate", "checks"),
                                              ("masq", "link")])
def test_the_standby_takes_over_and_every_long_lived_connection_survives(tmp_path: Path, forward: str,
                                                                         failure: str) -> None:
    """link: the active director's link goes down; kill: kill -9 of its lvsd and keepalived; checks: every real
    server fails its checks from the active director only (lvsd's track file hands the VIP over). masq: the real
    servers' gateway moves with the VIP."""
    if not in_lab():
        not_in_lab()
    lab = PairLab(tmp_path, forward)  # type: ignore[arg-type]  # gate or masq
    got = lab.scenario("lvsd", failure)  # type: ignore[arg-type]  # one of the Failure words (tears down itself)
    assert got["vip_moved_s"] is not None, got  # B holds the VIP
    assert got["new_connections_back_s"] is not None, got  # new connections work again, through B
    assert got["standby_held_before"] >= got["long_lived"] == 6, got  # B knew them (and any new one in flight)
    assert got["long_lived_kept"] == got["long_lived_opened"] == 6, got
    assert got["vip_lost_again"] == 0 and got["standby_became_master"] == 1, got  # no flapping, before or after


def test_with_syncrole_vrrp_keepalived_notify_switches_the_new_active_ones_sync_to_master(pair: PairLab) -> None:
    got = pair.scenario("lvsd", "link", role="vrrp")
    assert got["standby_sync_after"] == ["master"], got  # keepalived's notify ran lvsd vrrp on B
    assert got["long_lived_kept"] == got["long_lived_opened"] == 6, got


def test_a_planned_switchover_and_the_failback_after_warm_up_keep_every_connection(pair: PairLab) -> None:
    got = pair.switchover_and_back(warmup=6)
    assert got["to_b_s"] is not None and got["back_to_a_s"] is not None, got
    assert got["back_to_a_s"] >= 6 - 0.5, got  # A waited out its warm-up before taking the VIP back
    assert got["long_lived_kept"] == got["long_lived_opened"] == 6, got


def test_a_director_back_from_a_crash_takes_the_vip_only_after_its_warm_up_and_keeps_every_connection(
        tmp_path: Path) -> None:
    """A crashes (its link goes down, its table and sync daemons are gone, as after a reboot) and comes back
    with vrrpwarmup=15: it learns B's connections through its backup sync daemon before it takes the VIP back.
    (With no warm-up it takes the VIP back before it knows them, and every one breaks: bench/pair_failover.py
    --fresh 0,15 measures both.)"""
    if not in_lab():
        not_in_lab()
    got = fresh_failback(PairLab(tmp_path), warmup=15)
    assert got["b_took_over"] and got["a_back_after_s"] is not None, got
    assert got["a_back_after_s"] >= 15 - 0.5, got  # not before its warm-up
    assert got["long_lived_kept"] == got["long_lived"] == 6, got
