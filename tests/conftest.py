"""Shared pytest setup: the ``lab``, ``boot`` and ``host`` markers, and the lab fixtures (real IPVS in UML).

Tests that need the kernel lab are marked ``lab`` (using the ``lab`` fixture marks them
too). Outside the lab (no /proc/net/ip_vs, or LVSD_LAB unset) they are skipped, or
fail when LVSD_REQUIRE_LAB=1 (CI sets it, so they can never be skipped silently).
Run them with::

    tests/lab/run -- .venv/bin/python -m pytest -q tests/lab/selftest

The fixtures: ``lab`` (a lab with 3 real servers per module), ``lab4`` (4 backends,
rs4 the fallback "sorry" server) and ``director`` (the real lvsd in a scratch folder,
see tests/support/director.py), which the daemon, ipvs and cli lab tests share.
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

from tests.support.director import Director  # noqa: E402
from tests.support.skipping import in_lab, missing, not_in_lab  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab: needs the UML kernel lab with real IPVS (tests/lab/run)")
    config.addinivalue_line(
        "markers", "boot: boots the UML lab itself, so runs on the host (scripts/test runs these first)")
    config.addinivalue_line(
        "markers", "host: needs no IPVS but runs a program that is slow under UML; scripts/test runs it on the host")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "lab" in getattr(item, "fixturenames", ()) and item.get_closest_marker("lab") is None:
            item.add_marker(pytest.mark.lab)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("lab") is not None and not in_lab():
        not_in_lab()
    if item.get_closest_marker("boot") is not None and os.environ.get("LVSD_LAB") == "1":
        # UML cannot boot inside UML: scripts/test runs these on the host and deselects them in the lab.
        missing("a host to boot UML on (boot tests run outside the lab: pytest -m boot)")


def _started_lab(n_reals: int) -> Iterator[Lab]:
    if not in_lab():
        not_in_lab()
    with Lab(n_reals=n_reals) as started:
        yield started


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """A started lab with 3 real servers for one test module; stopped after it."""
    yield from _started_lab(3)


@pytest.fixture(scope="module")
def lab4() -> Iterator[Lab]:
    """A started lab with 4 real servers (rs4: the fallback) for one test module."""
    yield from _started_lab(4)


@pytest.fixture
def director(lab4: Lab, tmp_path: Path) -> Iterator[Director]:
    """The real lvsd in a scratch folder, every backend up and the kernel table empty before and after."""
    for i in range(1, 5):
        lab4.backend(f"rs{i}").set_mode("up")
    lab4.ipvs_clear()
    d = Director(tmp_path)
    yield d
    d.stop()
    lab4.ipvs_clear()
