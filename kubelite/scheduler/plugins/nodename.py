"""NodeName and NodeUnschedulable: the two cheapest, most selective node filters.

NodeName keeps only the node a pod names in ``spec.nodeName`` (normally such pods never
reach the scheduler; the check keeps the filter layer complete). NodeUnschedulable
rejects cordoned nodes unless the pod tolerates ``node.kubernetes.io/unschedulable``.
Both are registered by ``plugins/__init__.py`` and run by ``framework.Framework``.
"""

from __future__ import annotations

import numpy as np

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, objects

NAME_MISMATCH = framework.Reason("node(s) didn't match the requested node name", unresolvable=True)
UNSCHEDULABLE = framework.Reason("node(s) were unschedulable", unresolvable=True)


class NodeName:
    name = "NodeName"

    def pre_filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.Status | None:
        if not (state.pod.get("spec") or {}).get("nodeName"):
            return framework.SKIP
        return None

    def filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.FilterResult | None:
        wanted = state.pod["spec"]["nodeName"]
        failed = np.ones(cache.rows, bool)
        row = cache.index.get(wanted)
        if row is not None:
            failed[row] = False
        return framework.FilterResult.single(failed, NAME_MISMATCH)


class NodeUnschedulable:
    name = "NodeUnschedulable"

    def __init__(self) -> None:
        # (cache serial, generation, rows) → some node is cordoned: a cordon changes
        # the generation, so most pods skip the scan.
        self._seen: tuple[tuple[int, int, int], bool] = ((0, -1, -1), False)

    def filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.FilterResult | None:
        unsched = cache.unschedulable[: cache.rows]
        seen = (cache.serial, cache.generation, cache.rows)
        if self._seen[0] != seen:
            self._seen = (seen, bool(np.count_nonzero(unsched)))
        if not self._seen[1]:
            return None
        tolerations = (state.pod.get("spec") or {}).get("tolerations") or []
        if objects.tolerates(tolerations, {"key": objects.UNSCHEDULABLE_TAINT_KEY, "effect": "NoSchedule"}):
            return None
        return framework.FilterResult.single(unsched, UNSCHEDULABLE)
