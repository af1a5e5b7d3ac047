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


class _Cycle:
    """A reference cycle that says when the collector freed it."""

    def __init__(self, freed: list[str], name: str) -> None:
        self.me = self
        self.name = name
        self.freed = freed

    def __del__(self) -> None:
        self.freed.append(self.name)


async def test_two_generations_promote_survivors_to_the_oldest_and_still_free_cycles() -> None:
    import asyncio

    assert gc.isenabled()
    policy = gctune.TwoGenerations(asyncio.get_running_loop(), young=1000, full_every=3, period=0.001).start()
    try:
        assert not gc.isenabled()  # no automatic collection while the policy runs
        freed: list[str] = []
        survivor = {"kept": [1, 2, 3]}  # alive through the collections below
        _Cycle(freed, "young")  # garbage at once, only a collection can free it
        garbage = [[i] for i in range(2000)]  # enough allocations for a young collection
        deadline = asyncio.get_running_loop().time() + 5
        while policy.collections < 1 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.005)
        assert policy.collections >= 1
        assert freed == ["young"]
        # No middle generation: what survived a young collection is in the oldest one.
        assert gc.get_count()[1] == 0
        assert any(obj is survivor for obj in gc.get_objects(generation=2))
        # A cycle that survives a young collection is freed by a full one (every third).
        late = _Cycle(freed, "old")
        garbage += [[i] for i in range(2000)]
        while policy.collections < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.005)
        del late
        while "old" not in freed and asyncio.get_running_loop().time() < deadline:
            garbage += [[i] for i in range(2000)]
            await asyncio.sleep(0.005)
        assert freed == ["young", "old"]
    finally:
        policy.stop()
    assert gc.isenabled()


async def test_a_due_full_collection_waits_for_a_quiet_moment_but_not_for_ever() -> None:
    """After ``full_every`` young collections a full one is due: it runs at the first
    quiet check, not in the middle of a burst of allocations; after twice ``full_every``
    it runs anyway."""
    import asyncio

    loop = asyncio.get_running_loop()
    policy = gctune.TwoGenerations(loop, young=2000, full_every=2, period=0.002).start()
    try:
        deadline = loop.time() + 10
        garbage: list[list[int]] = []
        # Busy: allocations at every check. Two young collections make a full one due; it
        # must not run before the fourth.
        while policy.collections < 2 and loop.time() < deadline:
            garbage += [[i] for i in range(1500)]
            await asyncio.sleep(0)
        assert policy.collections >= 2
        while policy.full_collections == 0 and loop.time() < deadline:
            assert policy.collections >= 2
            garbage += [[i] for i in range(1500)]
            await asyncio.sleep(0)
        assert policy.full_collections == 1
        assert policy.collections >= 4  # forced: the load never paused
        # Quiet: once due again, it runs at the next check without waiting for the limit.
        while policy.collections < 6 and loop.time() < deadline:
            garbage += [[i] for i in range(1500)]
            await asyncio.sleep(0)
        ran_at = policy.collections
        while policy.full_collections == 1 and loop.time() < deadline:
            await asyncio.sleep(0.002)  # no allocations: quiet
        assert policy.full_collections == 2
        assert policy.collections == ran_at  # it did not wait for more young collections
    finally:
        policy.stop()
