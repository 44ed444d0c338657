"""Shared pytest setup: the ``lab`` marker and the ``lab`` fixture (real IPVS in UML).

Tests that need the kernel lab are marked ``lab`` (using the ``lab`` fixture marks them
too). Outside the lab (no /proc/net/ip_vs, or LVSD_LAB unset) they are skipped, or
fail when LVSD_REQUIRE_LAB=1 (CI sets it, so they can never be skipped silently).
Run them with::

    tests/lab/run -- .venv/bin/python -m pytest -q tests/lab_selftest
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)  # makes `import lab` work whatever pytest's import mode

from lab.lab import Lab  # noqa: E402

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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab: needs the UML kernel lab with real IPVS (tests/lab/run)")
    config.addinivalue_line(
        "markers", "boot: boots the UML lab itself, so runs on the host (scripts/test runs these first)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "lab" in getattr(item, "fixturenames", ()) and item.get_closest_marker("lab") is None:
            item.add_marker(pytest.mark.lab)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("lab") is not None and not in_lab():
        not_in_lab()
    if item.get_closest_marker("boot") is not None and os.environ.get("LVSD_LAB") == "1":
        pytest.skip("boots UML itself: runs on the host, not inside the lab (scripts/test deselects it there)")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """A started lab with 3 real servers for one test module; stopped after it."""
    if not in_lab():
        not_in_lab()
    with Lab(n_reals=3) as started:
        yield started
