"""Fixtures of the controller unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kubelite.aio import tasks


@pytest.fixture
async def group() -> AsyncIterator[tasks.TaskGroup]:
    """The task group a controller spawns its event recordings in."""
    tg = tasks.TaskGroup("test")
    yield tg
    await tg.close()
