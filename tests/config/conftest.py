"""Fixtures for the config tests."""

from __future__ import annotations

import pytest

from tests.config.helpers import FakeResolver


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver()
