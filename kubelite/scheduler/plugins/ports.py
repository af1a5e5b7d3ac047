"""NodePorts: a pod asking for a hostPort cannot share a node with another pod holding
the same protocol/port on an overlapping host IP (0.0.0.0 overlaps every IP).

Reads the cache's port index (``(protocol, port) → rows``), so the cost is the number of
nodes using that port, not the number of nodes.
"""

from __future__ import annotations

import numpy as np

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, objects

CONFLICT = framework.Reason("node(s) didn't have free ports for the requested pod ports")


class NodePorts:
    name = "NodePorts"

    def pre_filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.Status | None:
        return None if state.info.ports else framework.SKIP

    def filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.FilterResult | None:
        failed = np.zeros(cache.rows, bool)
        for want in state.info.ports:
            _, proto, port = want
            for row, ips in (cache.ports.get((proto, port)) or {}).items():
                if any(objects.ports_conflict(want, (have, proto, port)) for have in ips):
                    failed[row] = True
        return framework.FilterResult.single(failed, CONFLICT) if failed.any() else None
