"""Resource scores kept by ``cache.RowMemo`` (recomputed only on rows whose pods changed)
must equal scores computed from scratch, whatever happened in between."""

from __future__ import annotations

import random

import numpy as np
import pytest

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, plugins
from kubelite.scheduler.plugins import resources
from tests.unit.scheduler import helpers

STRATEGIES = ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio")


def _scores(plugin: object, cache: cache_mod.NodeCache, body: dict) -> np.ndarray:
    info = cache_mod.pod_info(body, node="")
    state = framework.CycleState(body, info)
    rows = np.arange(cache.rows)
    return np.array(plugin.score(state, cache, rows), copy=True)  # type: ignore[attr-defined]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_memoised_scores_equal_fresh_ones_through_placements_removals_and_node_changes(strategy: str) -> None:
    rng = random.Random(7)
    cache = cache_mod.NodeCache()
    for i in range(40):
        cache.set_node(helpers.node(f"n{i}", cpu=rng.choice(["2", "4", "8"])))
    kept = [resources.NodeResourcesFit(strategy=strategy), resources.BalancedAllocation()]
    shapes = ["100m", "250m", "1"]
    placed: list[cache_mod.PodInfo] = []
    for step in range(300):
        action = rng.random()
        if action < 0.6 or not placed:
            body = helpers.pod(f"p{step}", cpu=rng.choice(shapes))
            info = cache_mod.pod_info(body, node=f"n{rng.randrange(40)}")
            cache.add_pod(info)
            placed.append(info)
        elif action < 0.9:
            assert cache.remove_pod(placed.pop(rng.randrange(len(placed))).key) is not None
        else:  # a node resized: every row's inverse changes
            cache.set_node(helpers.node(f"n{rng.randrange(40)}", cpu=rng.choice(["2", "4", "8"])))
        probe = helpers.pod("probe", cpu=rng.choice(shapes))
        fresh = [resources.NodeResourcesFit(strategy=strategy), resources.BalancedAllocation()]
        for memo_plugin, fresh_plugin in zip(kept, fresh):
            assert np.allclose(_scores(memo_plugin, cache, probe), _scores(fresh_plugin, cache, probe)), step


def test_a_memo_is_not_taken_for_another_cache_in_the_same_state() -> None:
    plugin = resources.NodeResourcesFit()
    one, two = cache_mod.NodeCache(), cache_mod.NodeCache()
    for cache in (one, two):
        cache.set_node(helpers.node("n0"))
    one.add_pod(cache_mod.pod_info(helpers.pod("big", cpu="3"), node="n0"))
    probe = helpers.pod("probe")
    busy = _scores(plugin, one, probe)
    idle = _scores(plugin, two, probe)
    assert idle[0] > busy[0]


def test_a_framework_used_with_another_cache_does_not_reuse_its_node_masks() -> None:
    """Per-shape node masks (nodeaffinity.ShapeCache) are kept per node cache, as the score
    memos are: a plugin used with another cache whose generation number happens to be the
    same must not apply the first cache's masks to it."""
    fw = framework.Framework("test", plugins.default_plugins())
    p = helpers.pod("picky")
    p["spec"]["nodeSelector"] = {"disk": "ssd"}
    first = helpers.cluster(helpers.node("a", labels={"disk": "ssd"}), helpers.node("b"))
    second = helpers.cluster(helpers.node("a"), helpers.node("b", labels={"disk": "ssd"}))
    assert first.generation == second.generation  # the same numbers, different nodes
    assert helpers.schedule(first, p, fw).node == "a"
    assert helpers.schedule(second, p, fw).node == "b"
