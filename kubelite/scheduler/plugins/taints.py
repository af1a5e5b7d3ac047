"""TaintToleration: a node's NoSchedule/NoExecute taints repel pods that do not tolerate
them; untolerated PreferNoSchedule taints lower its score.

The failure text is upstream's since 1.34, "node(s) had untolerated taint(s)": pod
statuses and events no longer name taint keys or values (kubernetes#134740). Only
``spec.taints`` count, as upstream: an unready node is repelled by the taints the node
lifecycle controller gives it. Results are cached per set of tolerations until a node
changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, objects
from kubelite.scheduler.plugins import nodeaffinity

_NONE = orjson.dumps([])  # the shape key of a pod without tolerations (most pods)
UNTOLERATED = framework.Reason("node(s) had untolerated taint(s)", unresolvable=True)


def untolerated(taints: list[dict[str, Any]], tolerations: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first NoSchedule/NoExecute taint the tolerations do not cover, if any."""
    for t in taints:
        if t.get("effect") in ("NoSchedule", "NoExecute") and not objects.tolerates(tolerations, t):
            return t
    return None


class TaintToleration:
    name = "TaintToleration"

    def __init__(self, *, weight: int = 3) -> None:
        self.weight = weight
        self.shapes = nodeaffinity.ShapeCache()
        self.pref_shapes = nodeaffinity.ShapeCache()

    def filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.FilterResult | None:
        tolerations = (state.pod.get("spec") or {}).get("tolerations") or []
        key = orjson.dumps(tolerations, option=orjson.OPT_SORT_KEYS) if tolerations else _NONE
        cached = self.shapes.get(cache, key)
        if cached is None or len(cached.fail) != cache.rows:
            fail = np.zeros(cache.rows, np.int64)
            for row in range(cache.rows):
                if cache.taints[row] and untolerated(cache.taints[row], tolerations) is not None:
                    fail[row] = 1
            reasons = [UNTOLERATED] if fail.any() else []
            cached = self.shapes.put(key, framework.FilterResult(fail, reasons))
        return cached if cached.reasons else None

    def score(self, state: framework.CycleState, cache: cache_mod.NodeCache,
              rows: np.ndarray) -> np.ndarray | None:
        tolerations = [t for t in (state.pod.get("spec") or {}).get("tolerations") or []
                       if not t.get("effect") or t.get("effect") == "PreferNoSchedule"]
        key = orjson.dumps(tolerations, option=orjson.OPT_SORT_KEYS) if tolerations else _NONE
        cached = self.pref_shapes.get(cache, key)
        if cached is None or len(cached[0]) != cache.rows:
            counts = np.zeros(cache.rows, np.float64)
            for row in range(cache.rows):
                for t in cache.taints[row]:
                    if t.get("effect") == "PreferNoSchedule" and not objects.tolerates(tolerations, t):
                        counts[row] += 1
            cached = self.pref_shapes.put(key, (counts, bool(counts.any())))
        counts, some = cached
        if not some:
            return None  # no node has a PreferNoSchedule taint these tolerations miss
        top = counts[rows].max() if len(rows) else 0.0
        # Fewer intolerable taints is better: reverse the normalised count. No feasible
        # node with such a taint: all score the maximum, no preference.
        return framework.MAX_NODE_SCORE - counts * framework.MAX_NODE_SCORE / top if top > 0 else None
