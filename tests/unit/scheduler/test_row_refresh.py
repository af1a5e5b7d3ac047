"""Verdicts and scores kept per pod shape and refreshed only on the rows whose pods
changed (the framework's summed resource scores, NodeResourcesFit's fit verdicts) must
be *exactly* what a fresh computation gives, whatever happened in between: equal
scores break ties at random, so a refreshed row one rounding step off would change
which nodes tie."""

from __future__ import annotations

import random

import numpy as np
import pytest

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework
from kubelite.scheduler.plugins import resources
from tests.unit.scheduler import helpers

STRATEGIES = ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio")
SHAPES = ("100m", "250m", "1", "3")


def _profile(strategy: str) -> framework.Framework:
    return framework.Framework("test", [resources.NodeResourcesFit(strategy=strategy, weight=2),
                                        resources.BalancedAllocation()])


def _state(body: dict) -> framework.CycleState:
    return framework.CycleState(body, cache_mod.pod_info(body, node=""))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_refreshed_totals_and_fit_verdicts_equal_fresh_ones_bit_for_bit(strategy: str) -> None:
    rng = random.Random(11)
    cache = cache_mod.NodeCache()
    for i in range(30):
        cache.set_node(helpers.node(f"n{i}", cpu=rng.choice(["1", "2", "4"])))
    kept = _profile(strategy)
    placed: list[cache_mod.PodInfo] = []
    for step in range(400):
        action = rng.random()
        if action < 0.65 or not placed:
            info = cache_mod.pod_info(helpers.pod(f"p{step}", cpu=rng.choice(SHAPES)), node=f"n{rng.randrange(30)}")
            cache.add_pod(info)
            placed.append(info)
        elif action < 0.95:
            assert cache.remove_pod(placed.pop(rng.randrange(len(placed))).key) is not None
        else:  # a node resized: every row is recomputed
            cache.set_node(helpers.node(f"n{rng.randrange(30)}", cpu=rng.choice(["1", "2", "4"])))
        probe = helpers.pod("probe", cpu=rng.choice(SHAPES))
        rows = np.arange(cache.rows)
        fresh = _profile(strategy)
        assert np.array_equal(kept.run_scores(_state(probe), cache, rows),
                              fresh.run_scores(_state(probe), cache, rows)), step
        kept_fit, fresh_fit = kept.filters[0].filter(_state(probe), cache), fresh.filters[0].filter(_state(probe), cache)
        assert (kept_fit is None) == (fresh_fit is None), step
        if kept_fit is not None and fresh_fit is not None:
            assert np.array_equal(kept_fit.fail, fresh_fit.fail), step
            assert kept_fit.reasons == fresh_fit.reasons


def test_a_full_node_is_rejected_once_the_last_placement_fills_it() -> None:
    cache = cache_mod.NodeCache()
    cache.set_node(helpers.node("small", cpu="1"))
    cache.set_node(helpers.node("big", cpu="8"))
    fw = _profile("LeastAllocated")
    probe = helpers.pod("probe", cpu="600m")
    assert fw.schedule(_state(probe), cache).feasible == 2
    cache.add_pod(cache_mod.pod_info(helpers.pod("filler", cpu="500m"), node="small"))
    result = fw.schedule(_state(probe), cache)
    assert (result.node, result.feasible) == ("big", 1)
    _ok, diagnosis = fw.run_filters(_state(helpers.pod("huge", cpu="9")), cache, diagnose=True)
    assert diagnosis is not None and diagnosis.summary() == "0/2 nodes are available: 2 Insufficient cpu."
