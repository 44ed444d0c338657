"""Lab or no lab, and tools a test needs: skip, or fail when LVSD_REQUIRE_LAB=1.

Tests that need the kernel lab are marked ``lab``. Outside the lab (no
/proc/net/ip_vs, or LVSD_LAB unset) they are skipped, or fail when
LVSD_REQUIRE_LAB=1 (CI sets it, so they can never be skipped silently).
"""

from __future__ import annotations

import os

import pytest

HOW = "run them inside the kernel lab: tests/lab/run -- .venv/bin/python -m pytest ..."


def in_lab() -> bool:
    """True inside tests/lab/run: UML kernel with IPVS, LVSD_LAB=1, root."""
    return (os.environ.get("LVSD_LAB") == "1" and os.path.exists("/proc/net/ip_vs")
            and os.geteuid() == 0)


def lab_required() -> bool:
    return os.environ.get("LVSD_REQUIRE_LAB") == "1"


def missing(what: str) -> None:
    """A test cannot run here for want of ``what``: skip, or fail when LVSD_REQUIRE_LAB=1 (CI installs it all)."""
    if lab_required():
        pytest.fail(f"{what} while LVSD_REQUIRE_LAB=1 (scripts/setup installs it)", pytrace=False)
    pytest.skip(what)


def not_in_lab() -> None:
    """Skip, or fail when LVSD_REQUIRE_LAB=1, because the lab is not here."""
    if lab_required():
        pytest.fail("lab test outside the kernel lab while LVSD_REQUIRE_LAB=1 "
                    f"(LVSD_LAB={os.environ.get('LVSD_LAB')!r}, /proc/net/ip_vs "
                    f"{'present' if os.path.exists('/proc/net/ip_vs') else 'missing'}); "
                    + HOW, pytrace=False)
    pytest.skip("needs real IPVS; " + HOW)
