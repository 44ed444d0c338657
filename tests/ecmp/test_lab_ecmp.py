"""Issue 13's acceptance in the kernel lab: three directors behind a BGP/ECMP router, real traffic.

tests/lab/ecmp.py: a BIRD router learns 198.51.100.1/32 from three directors (ed1 and ed2 with
ExaBGP running ``lvsd exabgp``, ed3 with BIRD exporting what lvsd puts on ``announce0``) and
installs one ECMP route; the directors run lvsd (``scheduler=mh``, DR) in front of real servers
whose agents tag every echo with their name; a client keeps 60 long-lived flows per step. Each
step runs on fresh flows and counts the established ones that broke and the ones the router
moved to another director.

Under ``mh`` a real server failure breaks only that server's flows, a real server added leaves
every director with the same table, and a planned leave (``lvsd leave``: withdraw, wait, stay
withdrawn) and a kill of a director break none although the router moves many flows. The
same planned leave under ``wlc`` (the scheduler switched by a reload, in the same run) breaks
most of the flows moved: the comparison that shows the test can fail. The full set, both
schedulers, each step both ways: bench/ecmp_flows.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lvsd import control
from tests.lab.ecmp import ANNOUNCE_DEV, PREFIX, EcmpLab, ns
from tests.support.skipping import in_lab, not_in_lab

pytestmark = pytest.mark.lab
FLOWS = 60
SETTLE = 9.0  # longer than the client's 8 s echo wait: a flow the change stalled is counted


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[EcmpLab]:
    if not in_lab():
        not_in_lab()
    e = EcmpLab(tmp_path)
    try:
        e.build()
        yield e
    finally:
        e.teardown()


def fingerprints(lab: EcmpLab) -> dict[str, str]:
    """Each director's mh table fingerprint, from its status over the control socket."""
    found = {}
    for name, d in lab.directors.items():
        state = control.ask(str(d.work / "lvsd.lvsd.cf.sock"), "status")
        found[name] = str((state["virtuals"][0].get("mh") or {}).get("fingerprint"))
    return found


def test_mh_keeps_every_moved_flow_and_wlc_does_not(lab: EcmpLab) -> None:
    lab.start_directors("lvsd", "mh")
    lab.wait_ready(timeout=90)
    assert sorted(lab.nexthop_names()) == ["ed1", "ed2", "ed3"], lab.route_text()
    prints = fingerprints(lab)
    assert len(set(prints.values())) == 1 and "None" not in prints.values(), prints  # one table everywhere
    assert PREFIX in ns("ed3", "ip", "-o", "addr", "show", "dev", ANNOUNCE_DEV).stdout  # interface mode

    failed = lab.measure("mh: rs1 fails", lambda: lab.fail_real("rs1"), flows=FLOWS, settle=SETTLE)
    assert failed["table_s"] is not None
    on_rs1 = failed["servers"].get("rs1", 0)
    assert on_rs1 > 0 and failed["broken_servers"] == {"rs1": on_rs1}, failed  # its own flows, no other
    lab.restore_real("rs1")

    assert lab.add_real("rs4")["table_s"] is not None  # flows across an add: bench/ecmp_flows.py (0 broken)
    assert len(set(fingerprints(lab).values())) == 1

    # a planned leave (lvsd leave: withdraw, wait withdrawwait, stay withdrawn), then lvsd join
    left = lab.measure("mh: ed2 leaves", lambda: lab.leave("ed2", stop=False), flows=FLOWS, settle=SETTLE)
    assert left["leave_exit"] == 0 and left["route_change_s"] is not None, left
    assert left["moved"] > 0 and left["broken"] == 0, left
    joined = lab.join("ed2")
    assert joined["join_exit"] == 0 and joined["route_change_s"] is not None, joined

    killed = lab.measure("mh: ed1 killed", lambda: lab.crash("ed1"), flows=FLOWS, settle=SETTLE)
    assert killed["route_change_s"] is not None and killed["moved"] > 0 and killed["broken"] == 0, killed

    # the same planned leave with the scheduler switched to wlc by a reload on the directors left
    assert lab.switch_scheduler("wlc")["table_s"] is not None
    wlc = lab.measure("wlc: ed3 leaves", lambda: lab.leave("ed3", stop=False), flows=FLOWS, settle=SETTLE)
    assert wlc["moved"] > 0 and wlc["broken_moved"] > wlc["moved"] // 3, wlc
    assert wlc["broken_unmoved"] == 0, wlc
    print(f"ecmp: mh: rs1 failed: {failed['broken']}/{failed['established']} broken, all on rs1; "
          f"ed2 left: {left['broken']} of {left['moved']} moved; ed1 killed: "
          f"{killed['broken']} of {killed['moved']} moved; wlc: ed3 left: {wlc['broken_moved']} of {wlc['moved']} "
          "moved broke")
