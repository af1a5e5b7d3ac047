"""The best node is picked among *all* the highest-scoring nodes, at random, even though
the set of best nodes is kept between decisions and corrected only where pods changed."""

from __future__ import annotations

import collections
import random

import numpy as np

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, ties
from kubelite.scheduler.plugins import resources
from tests.unit.scheduler import helpers


def _profile() -> framework.Framework:
    return framework.Framework("test", [resources.NodeResourcesFit(), resources.BalancedAllocation()],
                               rng=random.Random(3))


def _best_by_scan(fw: framework.Framework, cache: cache_mod.NodeCache, body: dict) -> set[int]:
    state = framework.CycleState(body, cache_mod.pod_info(body, node=""))
    scores = fw.run_scores(state, cache, np.arange(cache.rows))
    return set(np.flatnonzero(scores == scores.max()).tolist())


def test_picks_stay_among_the_best_nodes_through_placements_and_removals() -> None:
    rng = random.Random(5)
    cache = cache_mod.NodeCache()
    for i in range(24):
        cache.set_node(helpers.node(f"n{i}", cpu=rng.choice(["2", "4"])))
    fw, fresh = _profile(), _profile()
    placed: list[cache_mod.PodInfo] = []
    for step in range(600):
        body = helpers.pod(f"p{step}", cpu=rng.choice(["100m", "500m"]))
        best = _best_by_scan(fresh, cache, body)
        result = fw.schedule(framework.CycleState(body, cache_mod.pod_info(body, node="")), cache)
        if result.feasible == cache.rows:  # every node fits: the best of all of them
            assert cache.index[result.node] in best, step
        if result.node and (rng.random() < 0.6 or not placed):
            info = cache_mod.pod_info(body, node=result.node)
            cache.add_pod(info)
            placed.append(info)
        elif placed:  # a pod leaves: its node may become the single best one
            cache.remove_pod(placed.pop(rng.randrange(len(placed))).key)


def test_equal_nodes_share_the_load() -> None:
    cache = cache_mod.NodeCache()
    for i in range(4):
        cache.set_node(helpers.node(f"n{i}"))
    fw = _profile()
    body = helpers.pod("probe")
    chosen = collections.Counter(fw.schedule(framework.CycleState(body, cache_mod.pod_info(body, node="")),
                                             cache).node for _ in range(400))
    assert set(chosen) == {"n0", "n1", "n2", "n3"}
    assert min(chosen.values()) > 60  # about 100 each


def test_kept_best_rows_equal_a_fresh_scan() -> None:
    rng = random.Random(9)
    cache = cache_mod.NodeCache()
    for i in range(16):
        cache.set_node(helpers.node(f"n{i}"))
    values = np.zeros(cache.rows)
    kept = ties.BestRows()
    for step in range(300):
        kept.pick(cache, values, rng)
        row = rng.randrange(cache.rows)
        # What the memo does: change a row's value and record the row as touched.
        values[row] = rng.choice([0.0, 1.0, 2.0, values.max()])
        cache.touched.append(row)
        kept.pick(cache, values, rng)
        expected = set(np.flatnonzero(values == values.max()).tolist())
        have = (set(kept._candidates.tolist()) - kept._gone) | kept._extra
        assert kept.best == values.max() and have == expected, step
