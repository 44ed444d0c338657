"""Issue 5, point 6: ``lvsd plan FILE --diff`` prints what lvsd would do to the live table, and does nothing.

Without a daemon, health is read from the kernel (as start-up adoption does);
with one running for FILE, its own health view is used, so a real it holds
down is not planned back in.
"""

from __future__ import annotations

import subprocess

import pytest
from lab.lab import Lab

from tests.support.director import DOWN_BOUND, LVSD, VIP, Director, config, start
from tests.support.kernel import ipvsadm_save

pytestmark = pytest.mark.lab


def plan_diff(d: Director) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LVSD, "plan", str(d.config), "--diff"], env=d.env, capture_output=True, text=True,
                          timeout=60)


def test_plan_diff_against_the_kernel_alone(lab4: Lab, director: Director) -> None:
    lab4.ipvsadm(f"-A -t {VIP}:80 -s rr")
    lab4.ipvsadm(f"-a -t {VIP}:80 -r 203.0.113.11:80 -m -w 1")
    lab4.ipvsadm(f"-a -t {VIP}:80 -r 203.0.113.12:80 -m -w 5")
    lab4.ipvsadm(f"-a -t {VIP}:80 -r 203.0.113.99:80 -m -w 1")
    lab4.ipvsadm(f"-A -t {VIP}:8080 -s rr")  # foreign
    director.write(config())
    before = ipvsadm_save()
    res = plan_diff(director)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        f"ipvsadm -E -t {VIP}:80 -s wrr",
        f"ipvsadm -e -t {VIP}:80 -r 203.0.113.12:80 -m -w 1",
        f"ipvsadm -d -t {VIP}:80 -r 203.0.113.99:80",
    ]
    assert "the kernel's weights" in res.stderr
    assert ipvsadm_save() == before  # nothing changed


def test_plan_diff_uses_the_running_daemons_health(lab4: Lab, director: Director) -> None:
    start(director, config())
    lab4.backend("rs2").set_mode("error500")
    director.wait(lambda t: "203.0.113.12:80" not in t, DOWN_BOUND + 2)
    before = ipvsadm_save()
    director.write(config().replace("real=203.0.113.11:80 masq 1", "real=203.0.113.11:80 masq 3")
                   + f"\nvirtual={VIP}:81\n\treal=203.0.113.13:80 masq\n\tchecktype=on\n")
    res = plan_diff(director)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        f"ipvsadm -e -t {VIP}:80 -r 203.0.113.11:80 -m -w 3",  # rs2 stays out: the daemon holds it down
        f"ipvsadm -A -t {VIP}:81 -s wrr",  # a new virtual; its real is unknown to the daemon and not in the kernel
    ]
    assert "the running lvsd" in res.stderr
    assert ipvsadm_save() == before
    bad = director.config.read_text() + "\tbogus=1\n"
    director.config.write_text(bad)
    res = plan_diff(director)
    assert res.returncode == 2 and "bogus" in res.stderr
