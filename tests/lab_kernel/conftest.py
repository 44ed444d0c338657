"""Fixtures for the kernel-table lab tests: the lab_director ones (four backends, a
Director per test), reused, plus the bounds these tests share."""

from __future__ import annotations

from tests.lab_director.conftest import director, lab4  # noqa: F401  (pytest fixtures, reused)

RESYNC = 2  # resyncinterval of the configs that measure drift repair
