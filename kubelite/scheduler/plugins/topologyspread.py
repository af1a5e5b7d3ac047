"""PodTopologySpread: keep matching pods evenly spread across topology domains.

``whenUnsatisfiable: DoNotSchedule`` constraints filter: placing the pod in a domain must
not make that domain exceed the least-loaded eligible domain by more than ``maxSkew``
(with ``minDomains``: fewer eligible domains than that count the minimum as 0).
``ScheduleAnyway`` constraints score: fewer matching pods in the node's domains is better.
Eligible nodes honour the pod's node affinity/selector (``nodeAffinityPolicy: Honor``,
the default) and, when asked (``nodeTaintsPolicy: Honor``), its tolerations.

Pods with no constraints of their own but a controlling owner get the cluster defaults
(soft: hostname maxSkew 3, zone maxSkew 5), with the pod's own labels as the selector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kubelite.api import selectors
from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, objects
from kubelite.scheduler.plugins import nodeaffinity, taints

SKEW = framework.Reason("node(s) didn't match pod topology spread constraints")
MISSING = framework.Reason("node(s) didn't match pod topology spread constraints (missing required label)",
                           unresolvable=True)
HOSTNAME, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"


@dataclass
class Constraint:
    key: str
    max_skew: int
    hard: bool
    selector: selectors.LabelSelector
    min_domains: int
    honor_affinity: bool
    honor_taints: bool
    self_match: bool


def constraints_of(pod: dict[str, Any], info: cache_mod.PodInfo) -> list[Constraint]:
    spec = pod.get("spec") or {}
    raw = spec.get("topologySpreadConstraints") or []
    out: list[Constraint] = []
    for c in raw:
        sel = dict(c.get("labelSelector") or {})
        keys = [k for k in c.get("matchLabelKeys") or [] if k in info.labels]
        if keys:
            sel = {**sel, "matchExpressions": list(sel.get("matchExpressions") or [])
                   + [{"key": k, "operator": "In", "values": [info.labels[k]]} for k in keys]}
        selector = objects.label_selector(sel if c.get("labelSelector") is not None or keys else None)
        out.append(Constraint(
            key=c.get("topologyKey") or "", max_skew=int(c.get("maxSkew") or 1),
            hard=(c.get("whenUnsatisfiable") or "DoNotSchedule") == "DoNotSchedule",
            selector=selector, min_domains=int(c.get("minDomains") or 1),
            honor_affinity=(c.get("nodeAffinityPolicy") or "Honor") == "Honor",
            honor_taints=(c.get("nodeTaintsPolicy") or "Ignore") == "Honor",
            self_match=selector.matches(info.labels)))
    if not raw and info.owner_uid and info.labels:
        selector = selectors.LabelSelector([selectors.Requirement(k, "=", (v,)) for k, v in info.labels.items()])
        for key, skew in ((HOSTNAME, 3), (ZONE, 5)):
            out.append(Constraint(key, skew, False, selector, 1, True, False, True))
    return out


class PodTopologySpread:
    name = "PodTopologySpread"

    def __init__(self, *, weight: int = 2, default_constraints: bool = True) -> None:
        self.weight = weight
        self.default_constraints = default_constraints
        self.shapes = nodeaffinity.ShapeCache()

    def pre_filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.Status | None:
        cons = constraints_of(state.pod, state.info)
        if not self.default_constraints and not (state.pod.get("spec") or {}).get("topologySpreadConstraints"):
            cons = []
        state[self.name] = cons
        return None if any(c.hard for c in cons) else framework.SKIP

    def _eligible(self, c: Constraint, state: framework.CycleState, cache: cache_mod.NodeCache) -> np.ndarray:
        ok = cache.valid[: cache.rows].copy()
        if c.honor_affinity:
            mask = nodeaffinity.required_mask(cache, state.pod.get("spec") or {}, self.shapes)
            if mask is not None:
                ok &= mask
        if c.honor_taints:
            tolerations = (state.pod.get("spec") or {}).get("tolerations") or []
            for row in np.flatnonzero(ok):
                if cache.taints[row] and taints.untolerated(cache.taints[row], tolerations) is not None:
                    ok[row] = False
        return ok

    def _per_domain(self, c: Constraint, state: framework.CycleState,
                    cache: cache_mod.NodeCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(domain id per row, matching pods per domain, which domains are eligible)."""
        ids, values = cache.domains(c.key)
        eligible = self._eligible(c, state, cache) & (ids >= 0)
        counts = cache.count(c.selector, frozenset({state.info.namespace}))
        per_domain = np.bincount(ids[eligible], weights=counts[eligible], minlength=max(len(values), 1))
        present = np.zeros(max(len(values), 1), bool)
        present[ids[eligible]] = True
        return ids, per_domain, present

    def filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.FilterResult | None:
        fail = np.zeros(cache.rows, np.int64)
        for c in state[self.name]:
            if not c.hard:
                continue
            ids, per_domain, present = self._per_domain(c, state, cache)
            missing = ids < 0
            fail |= missing.astype(np.int64) << 1
            if not present.any():
                continue
            global_min = per_domain[present].min() if present.sum() >= c.min_domains else 0.0
            after = per_domain[np.maximum(ids, 0)] + (1 if c.self_match else 0)
            fail |= (~missing & (after - global_min > c.max_skew)).astype(np.int64)
        return framework.FilterResult(fail, [SKEW, MISSING]) if fail.any() else None

    def score(self, state: framework.CycleState, cache: cache_mod.NodeCache,
              rows: np.ndarray) -> np.ndarray | None:
        soft = [c for c in state.get(self.name) or [] if not c.hard]
        if not soft:
            return None  # no preference
        raw = np.zeros(cache.rows, np.float64)
        for c in soft:
            ids, per_domain, present = self._per_domain(c, state, cache)
            weight = np.log(present.sum() + 2)
            raw += np.where(ids >= 0, (per_domain[np.maximum(ids, 0)] + c.max_skew - 1) * weight, 0.0)
        feasible = raw[rows]
        lo, hi = feasible.min(), feasible.max()
        if hi <= 0:
            return None  # every feasible node scores the maximum
        result: np.ndarray = framework.MAX_NODE_SCORE * (hi + lo - raw) / hi
        return result
