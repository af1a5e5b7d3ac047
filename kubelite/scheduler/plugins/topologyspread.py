"""PodTopologySpread: keep matching pods evenly spread across topology domains.

``whenUnsatisfiable: DoNotSchedule`` constraints filter: placing the pod in a domain must
not make that domain exceed the least-loaded eligible domain by more than ``maxSkew``
(with ``minDomains``: fewer eligible domains than that count the minimum as 0).
``ScheduleAnyway`` constraints score: fewer matching pods in the node's domains is better.
Eligible nodes honour the pod's node affinity/selector (``nodeAffinityPolicy: Honor``,
the default) and, when asked (``nodeTaintsPolicy: Honor``), its tolerations.

As upstream (``podtopologyspread/{common,filtering,scoring}.go``):

- terminating pods (``deletionTimestamp`` set) are not counted (``countPodsMatchSelector``,
  kubernetes#87621), neither when filtering nor when scoring;
- pods are counted only on nodes carrying *every* constraint's topology key
  (``nodeLabelsMatchSpreadConstraints``): all the hard ones when filtering, all the soft
  ones when scoring the pod's own constraints;
- Filter checks the hard constraints in order and charges a node to the *first* one it
  fails: a missing key is UnschedulableAndUnresolvable, too much skew Unschedulable;
- Score ignores the feasible nodes lacking one of the soft constraints' keys: they score 0,
  the worst (``IgnoredNodes``); not so with the cluster defaults, which let a node without
  a zone still be spread over by hostname.

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


@dataclass
class Spread:
    """What PreFilter keeps for the cycle: the hard constraints (in the pod's order) and
    the soft ones apart; ``own``: the pod's own constraints, not the cluster defaults."""

    hard: list[Constraint]
    soft: list[Constraint]
    own: bool


class Terminating:
    """The terminating pods (``deletionTimestamp`` set) placed on nodes, by row: upstream's
    ``countPodsMatchSelector`` skips them (kubernetes#87621). Kept current from the rows the
    cache touched since the last look (usually one: the pod last placed), so that the
    selector counters the cache maintains serve as they are whenever no pod is terminating;
    what to subtract from one of them is kept per selector until the terminating pods change."""

    MEMO = 256

    def __init__(self) -> None:
        self.serial = -1
        self.mark = -1
        self.version = 0  # changes whenever ``by_row`` does
        self.by_row: dict[int, list[cache_mod.PodInfo]] = {}
        # (selector, namespace) → (version, rows, per-row terminating pods matching, or None)
        self.memo: dict[tuple[Any, ...], tuple[int, int, np.ndarray | None]] = {}

    def get(self, cache: cache_mod.NodeCache) -> dict[int, list[cache_mod.PodInfo]]:
        mark = cache.touch_mark
        if self.serial == cache.serial and self.mark == mark:
            return self.by_row
        touched = cache.touched_since(self.mark) if self.serial == cache.serial else None
        if touched is None or len(touched) > cache.rows:
            by_row: dict[int, list[cache_mod.PodInfo]] = {}
            for p in cache.pods.values():
                if p.terminating and p.row >= 0:
                    by_row.setdefault(p.row, []).append(p)
            if by_row or self.by_row:
                self.by_row = by_row
                self.version += 1
        else:
            for row in set(touched):
                dying = [p for p in cache.pods_on[row].values() if p.terminating]
                if dying != self.by_row.get(row, []):
                    self.version += 1
                    if dying:
                        self.by_row[row] = dying
                    else:
                        del self.by_row[row]
        self.serial, self.mark = cache.serial, mark
        return self.by_row

    def matching(self, cache: cache_mod.NodeCache, selector: selectors.LabelSelector,
                 namespace: str) -> np.ndarray | None:
        """Per row, the terminating pods of ``namespace`` that ``selector`` matches (None:
        none at all). Call ``get`` first."""
        key = (str(selector), selector.nothing, namespace)
        found = self.memo.get(key)
        if found is not None and found[0] == self.version and found[1] == cache.rows:
            return found[2]
        result: np.ndarray | None = None
        for row, pods in self.by_row.items():
            n = sum(1 for p in pods if p.namespace == namespace and selector.matches(p.labels))
            if n and row < cache.rows:
                if result is None:
                    result = np.zeros(cache.rows, np.int64)
                result[row] = n
        if len(self.memo) >= self.MEMO:
            self.memo.clear()
        self.memo[key] = (self.version, cache.rows, result)
        return result


class PodTopologySpread:
    name = "PodTopologySpread"

    def __init__(self, *, weight: int = 2, default_constraints: bool = True) -> None:
        self.weight = weight
        self.default_constraints = default_constraints
        self.shapes = nodeaffinity.ShapeCache()
        self.terminating = Terminating()

    def pre_filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.Status | None:
        own = bool((state.pod.get("spec") or {}).get("topologySpreadConstraints"))
        cons = constraints_of(state.pod, state.info) if own or self.default_constraints else []
        spread = Spread([c for c in cons if c.hard], [c for c in cons if not c.hard], own)
        state[self.name] = spread
        return None if spread.hard else framework.SKIP

    def _eligible(self, c: Constraint, state: framework.CycleState, cache: cache_mod.NodeCache,
                  memo: dict[tuple[bool, bool], np.ndarray]) -> np.ndarray:
        """Rows whose pods count for ``c``: upstream's matchNodeInclusionPolicies (read-only;
        ``memo`` shares the mask between constraints with the same policies)."""
        key = (c.honor_affinity, c.honor_taints)
        found = memo.get(key)
        if found is not None:
            return found
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
        memo[key] = ok
        return ok

    def _counts(self, c: Constraint, state: framework.CycleState, cache: cache_mod.NodeCache,
                dying: dict[int, list[cache_mod.PodInfo]]) -> np.ndarray:
        """Per row, the pods of the pod's namespace matching ``c``'s selector, terminating
        ones left out (read-only)."""
        namespace = state.info.namespace
        counts = cache.count(c.selector, frozenset({namespace}))
        if not dying:
            return counts
        leaving = self.terminating.matching(cache, c.selector, namespace)
        return counts if leaving is None else counts - leaving

    def filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.FilterResult | None:
        """Upstream's calPreFilterState and Filter: pods counted only on eligible nodes that
        carry every hard constraint's key; each node charged to the first constraint it
        fails, in the pod's order."""
        hard: list[Constraint] = state[self.name].hard
        rows = cache.rows
        keyed = [cache.domains(c.key) for c in hard]
        all_keys = keyed[0][0] >= 0
        for ids, _values in keyed[1:]:
            all_keys = all_keys & (ids >= 0)
        dying = self.terminating.get(cache)
        memo: dict[tuple[bool, bool], np.ndarray] = {}
        fail = np.zeros(rows, np.int64)
        decided = np.zeros(rows, bool)
        for c, (ids, values) in zip(hard, keyed, strict=True):
            missing = ids < 0
            eligible = self._eligible(c, state, cache, memo) & all_keys
            counts = self._counts(c, state, cache, dying)
            domains = max(len(values), 1)
            per_domain = np.bincount(ids[eligible], weights=counts[eligible], minlength=domains)
            present = np.zeros(domains, bool)
            present[ids[eligible]] = True
            n_present = int(np.count_nonzero(present))
            failed = missing
            if n_present:  # else every domain counts 0 against a minimum of 0: no skew
                global_min = per_domain[present].min() if n_present >= c.min_domains else 0.0
                after = per_domain[np.maximum(ids, 0)] + (1 if c.self_match else 0)
                skewed = ~missing & (after - global_min > c.max_skew)
                fail |= (skewed & ~decided).astype(np.int64)
                failed = missing | skewed
            fail |= (missing & ~decided).astype(np.int64) << 1
            decided |= failed
        return framework.FilterResult(fail, [SKEW, MISSING]) if decided.any() else None

    def score(self, state: framework.CycleState, cache: cache_mod.NodeCache,
              rows: np.ndarray) -> np.ndarray | None:
        """Upstream's PreScore, Score and NormalizeScore: per constraint, the matching pods
        of the node's domain times log(domains among the scored nodes + 2), plus maxSkew-1;
        fewer is better. With the pod's own constraints, feasible nodes lacking a key are
        ignored (score 0, the worst) and pods on such nodes not counted."""
        spread: Spread | None = state.get(self.name)
        if spread is None or not spread.soft:
            return None  # no preference
        soft = spread.soft
        keyed = [cache.domains(c.key) for c in soft]
        all_keys: np.ndarray | None = None
        scored = rows
        if spread.own:
            all_keys = keyed[0][0] >= 0
            for ids, _values in keyed[1:]:
                all_keys = all_keys & (ids >= 0)
            scored = rows[all_keys[rows]]
            if not len(scored):
                return None  # every feasible node is ignored: all score 0
        dying = self.terminating.get(cache)
        memo: dict[tuple[bool, bool], np.ndarray] = {}
        raw = np.zeros(cache.rows, np.float64)
        for c, (ids, values) in zip(soft, keyed, strict=True):
            has = ids >= 0
            counts = self._counts(c, state, cache, dying)
            if c.key == HOSTNAME:
                size = len(scored)  # each node is its own domain: its own pods count
                matching: np.ndarray = counts
            else:
                domains = max(len(values), 1)
                candidates = ids[scored]
                seen = np.zeros(domains, bool)
                seen[candidates[candidates >= 0]] = True
                size = int(np.count_nonzero(seen))
                if all_keys is None and (candidates < 0).any():
                    size += 1  # upstream: with the defaults, a scored node without the key adds domain ""
                eligible = self._eligible(c, state, cache, memo) & has
                if all_keys is not None:
                    eligible &= all_keys
                per_domain = np.bincount(ids[eligible], weights=counts[eligible], minlength=domains)
                matching = per_domain[np.maximum(ids, 0)]
            raw += np.where(has, matching * np.log(size + 2) + (c.max_skew - 1), 0.0)
        raw = np.floor(raw + 0.5)  # upstream's Score is an integer (math.Round)
        feasible = raw[scored]
        lo, hi = feasible.min(), feasible.max()
        ignored = len(scored) < len(rows)
        if hi <= 0:
            if not ignored:
                return None  # every feasible node scores the maximum
            result = np.zeros(cache.rows, np.float64)
            result[scored] = framework.MAX_NODE_SCORE
            return result
        result = framework.MAX_NODE_SCORE * (hi + lo - raw) / hi
        if ignored:
            assert all_keys is not None
            result[rows[~all_keys[rows]]] = 0.0
        return result
