"""DefaultPreemption (PostFilter): when no node fits, find the node where evicting the
fewest, least important lower-priority pods lets the pod fit.

For each node preemption could help on (its filter failures were resolvable), the
simulation removes every lower-priority pod from the cache, checks the pod fits, then
gives pods back highest priority first while the pod still fits; those it could not give
back are the victims. The best node has the lowest highest-victim priority, then the
lowest priority sum, then the fewest victims. The plugin only *decides*: the scheduler
sets ``status.nominatedNodeName`` and deletes the victims (graceful), and the pod is
scheduled for real once they are gone. The cache is restored before returning.
"""

from __future__ import annotations

import numpy as np

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod."
MAX_CANDIDATES = 100  # nodes simulated per attempt (upstream samples too)


class DefaultPreemption:
    name = "DefaultPreemption"

    def post_filter(self, state: framework.CycleState, cache: cache_mod.NodeCache,
                    diagnosis: framework.Diagnosis, framework_: framework.Framework) -> framework.PostFilterResult:
        pod, info = state.pod, state.info
        spec = pod.get("spec") or {}
        if spec.get("preemptionPolicy") == "Never":
            return framework.PostFilterResult(message="preemption: not eligible due to preemptionPolicy=Never.")
        nominated = (pod.get("status") or {}).get("nominatedNodeName")
        nominated_row = cache.index.get(nominated or "")
        if nominated_row is not None and any(p.terminating and p.priority < info.priority
                                             for p in cache.pods_on[nominated_row].values()):
            # Victims chosen earlier are still terminating: wait for them, evict no more.
            return framework.PostFilterResult(
                message="preemption: not eligible due to a terminating pod on the nominated node.")
        rows = cache.rows
        unresolvable = diagnosis.unresolvable if diagnosis.unresolvable is not None else np.zeros(rows, bool)
        candidates = np.flatnonzero(cache.valid[:rows] & ~unresolvable[:rows])
        counts = {NOT_HELPFUL: int((cache.valid[:rows] & unresolvable[:rows]).sum())}
        best: tuple[tuple[int, int, int], int, list[cache_mod.PodInfo]] | None = None
        no_victims = 0
        tried = 0
        for row in candidates:
            lower = [p for p in cache.pods_on[row].values() if p.priority < info.priority and not p.terminating]
            if not lower or tried >= MAX_CANDIDATES:
                no_victims += 1
                continue
            tried += 1
            victims = self._victims(state, cache, framework_, int(row), lower)
            if victims is None:
                no_victims += 1
                continue
            rank = (max(v.priority for v in victims), sum(v.priority for v in victims), len(victims))
            if best is None or rank < best[0]:
                best = (rank, int(row), victims)
        if best is None:
            counts[NO_VICTIMS] = no_victims
            counts = {k: v for k, v in counts.items() if v}
            return framework.PostFilterResult(
                message=f"preemption: 0/{cache.node_count} nodes are available: {framework.histogram(counts)}.")
        return framework.PostFilterResult(nominated_node=cache.names[best[1]], victims=best[2])

    def _victims(self, state: framework.CycleState, cache: cache_mod.NodeCache, fw: framework.Framework,
                 row: int, lower: list[cache_mod.PodInfo]) -> list[cache_mod.PodInfo] | None:
        for p in lower:
            cache.remove_pod(p.key)
        try:
            if not fw.fits_on(state, cache, row):
                return None
            victims: list[cache_mod.PodInfo] = []
            # Give back the most important pods first; keep evicting only what must go.
            for p in sorted(lower, key=lambda p: -p.priority):
                cache.add_pod(p)
                if not fw.fits_on(state, cache, row):
                    cache.remove_pod(p.key)
                    victims.append(p)
            return victims
        finally:
            for p in lower:
                if p.key not in cache.pods:
                    cache.add_pod(p)

