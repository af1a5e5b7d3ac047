"""The collector settings every kubelite process starts with (kubelite/aio/gctune.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kubelite.aio import gctune


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_young_collections_are_rare_and_startup_state_is_frozen(restore_gc: None) -> None:
    gctune.tune()
    assert gc.get_threshold() == (50_000, 20, 100)
    kept = [{"metadata": {"name": f"pod-{i}"}} for i in range(1000)]
    gctune.freeze_startup()
    assert gc.get_freeze_count() >= len(kept)
