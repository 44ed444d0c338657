"""Fixtures for the in-process daemon tests: real web servers on 127.0.0.1 whose behaviour a test switches."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.switchable import Switchable


@pytest.fixture
async def servers() -> AsyncIterator[list[Switchable]]:
    """Two web servers, rs1 and rs2, up."""
    ss = [Switchable(f"rs{i}") for i in (1, 2)]
    for s in ss:
        await s.start()
    yield ss
    for s in ss:
        await s.stop()


@pytest.fixture
async def server() -> AsyncIterator[Switchable]:
    """One web server, rs1, up."""
    s = Switchable("rs1")
    await s.start()
    yield s
    await s.stop()
