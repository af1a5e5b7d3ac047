"""InterPodAffinity: place a pod near (affinity) or away from (anti-affinity) pods that
match a label selector, per topology domain (``topologyKey``: a node, a zone, …); and
honour the required anti-affinity of pods already placed; and score by the terms of pods
already placed that match this pod (upstream's symmetry: their required affinity with
hardPodAffinityWeight, their preferred affinity and anti-affinity with its weight).

All counting is done on the cache's incremental per-node counters
(``NodeCache.count``) folded into domains with ``np.bincount``: no loop over pods or
nodes per cycle. Existing pods' anti-affinity terms are grouped by identical term
(``NodeCache.anti_groups``), so a thousand replicas with the same rule cost one check.

Filter follows upstream's ``interpodaffinity/filtering.go``: one verdict per node, the
first check it fails, in upstream's order: the pod's required affinity
(UnschedulableAndUnresolvable), its required anti-affinity, then the required
anti-affinity of pods already placed (both Unschedulable: evicting may help). A placed
pod satisfies the affinity only if it matches *all* the terms (``podMatchesAllAffinityTerms``:
one counter of the terms' conjunction), and a node lacking any term's topologyKey never
does, not even for the first pod of a group that selects itself (``satisfyPodAffinity``).
"""

from __future__ import annotations

import numpy as np

from kubelite.api import selectors
from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, objects

AFFINITY = framework.Reason("node(s) didn't match pod affinity rules", unresolvable=True)
ANTI_AFFINITY = framework.Reason("node(s) didn't match pod anti-affinity rules")
EXISTING_ANTI = framework.Reason("node(s) didn't satisfy existing pods anti-affinity rules")


def namespaces_of(term: objects.AffinityTerm, cache: cache_mod.NodeCache) -> frozenset[str] | None:
    """The term's namespaces, with a namespaceSelector resolved against known namespaces."""
    if term.namespaces is None:
        return None
    if term.ns_selector is None or term.ns_selector.empty:
        return term.namespaces
    picked = {ns for ns, labels in cache.ns_labels.items() if term.ns_selector.matches(labels)}
    return frozenset(term.namespaces | picked)


def domain_counts(cache: cache_mod.NodeCache, term: objects.AffinityTerm) -> tuple[np.ndarray, np.ndarray]:
    """(domain id per row, matching pods per domain) for the term."""
    ids, values = cache.domains(term.topology_key)
    counts = cache.count(term.selector, namespaces_of(term, cache))
    has = ids >= 0
    per_domain = np.bincount(ids[has], weights=counts[has], minlength=max(len(values), 1))
    return ids, per_domain


def all_terms_counts(cache: cache_mod.NodeCache, terms: list[objects.AffinityTerm]) -> np.ndarray:
    """Per row, the placed pods matching *every* term (upstream's podMatchesAllAffinityTerms):
    one counter of the conjunction, the terms' requirements ANDed and namespaces intersected."""
    if len(terms) == 1:
        return cache.count(terms[0].selector, namespaces_of(terms[0], cache))
    requirements: list[selectors.Requirement] = []
    nothing = False
    namespaces: frozenset[str] | None = None
    for term in terms:
        requirements.extend(term.selector.requirements)
        nothing = nothing or term.selector.nothing
        names = namespaces_of(term, cache)
        if names is not None:
            namespaces = names if namespaces is None else namespaces & names
    return cache.count(selectors.LabelSelector(requirements, nothing=nothing), namespaces)


def rows_in_domains_of(cache: cache_mod.NodeCache, key: str, occupied_rows: np.ndarray) -> np.ndarray:
    """Rows sharing a ``key`` domain with any of ``occupied_rows`` (a bool mask)."""
    ids, values = cache.domains(key)
    hit = np.zeros(len(values) + 1, bool)
    hit[ids[occupied_rows & (ids >= 0)]] = True
    result: np.ndarray = (ids >= 0) & hit[ids]
    return result


class InterPodAffinity:
    name = "InterPodAffinity"

    def __init__(self, *, weight: int = 2, hard_pod_affinity_weight: int = 1) -> None:
        self.weight = weight
        # upstream's InterPodAffinityArgs.hardPodAffinityWeight: how much a placed pod's
        # *required* affinity for this pod draws it near (0: not at all)
        self.hard_pod_affinity_weight = hard_pod_affinity_weight

    def pre_filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.Status | None:
        pod = state.pod
        state[self.name] = (objects.affinity_terms(pod, "podAffinity", True),
                            objects.affinity_terms(pod, "podAntiAffinity", True))
        if not state[self.name][0] and not state[self.name][1] and not cache.anti_groups:
            return framework.SKIP
        return None

    def filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.FilterResult | None:
        affinity, anti = state[self.name]
        rows = cache.rows
        info = state.info
        # 1. This pod's required affinity (upstream satisfyPodAffinity): every term's key on
        # the node, and in each term's domain a placed pod matching all the terms.
        affinity_fail: np.ndarray | None = None
        if affinity:
            counts = all_terms_counts(cache, affinity)
            has_keys = np.ones(rows, bool)
            found = np.ones(rows, bool)
            any_match = False  # upstream: the affinity counts map is not empty
            for term in affinity:
                ids, values = cache.domains(term.topology_key)
                has = ids >= 0
                per_domain = np.bincount(ids[has], weights=counts[has], minlength=max(len(values), 1))
                any_match = any_match or bool(per_domain.any())
                has_keys &= has
                found &= has & (per_domain[np.maximum(ids, 0)] > 0)
            # The first pod of a group that selects itself may go to any node with the keys.
            if not any_match and all(t.matches(info.namespace, info.labels, cache.ns_labels) for t in affinity):
                found = has_keys
            affinity_fail = ~found
        # 2. This pod's required anti-affinity: no matching pod in the node's domain.
        anti_fail: np.ndarray | None = None
        for term in anti:
            ids, per_domain = domain_counts(cache, term)
            crowded = (ids >= 0) & (per_domain[np.maximum(ids, 0)] > 0)
            anti_fail = crowded if anti_fail is None else anti_fail | crowded
        # 3. Pods already placed whose required anti-affinity matches this pod.
        existing_fail: np.ndarray | None = None
        for group in cache.anti_groups.values():
            anti_term = group.term
            assert anti_term is not None
            occupied = group.counts[:rows] > 0
            if not occupied.any() or not anti_term.matches(info.namespace, info.labels, cache.ns_labels):
                continue
            near = rows_in_domains_of(cache, anti_term.topology_key, occupied)
            existing_fail = near if existing_fail is None else existing_fail | near
        # One status per node: the first check it fails (upstream Filter).
        fail = np.zeros(rows, np.int64)
        decided = np.zeros(rows, bool)
        for bit, failed in enumerate((affinity_fail, anti_fail, existing_fail)):
            if failed is None:
                continue
            fail |= (failed & ~decided).astype(np.int64) << bit
            decided |= failed
        if not decided.any():
            return None
        return framework.FilterResult(fail, [AFFINITY, ANTI_AFFINITY, EXISTING_ANTI])

    def score(self, state: framework.CycleState, cache: cache_mod.NodeCache,
              rows: np.ndarray) -> np.ndarray | None:
        pod = state.pod
        total = np.zeros(cache.rows, np.float64)
        used = False
        for kind, sign in (("podAffinity", 1.0), ("podAntiAffinity", -1.0)):
            for term in objects.affinity_terms(pod, kind, False):
                if not term.weight:
                    continue
                ids, per_domain = domain_counts(cache, term)
                total += np.where(ids >= 0, per_domain[np.maximum(ids, 0)], 0.0) * term.weight * sign
                used = True
        # Symmetry: placed pods whose terms match this pod weigh on their own domains.
        info = state.info
        for (_signature, weight), group in cache.score_groups.items():
            weight = weight or self.hard_pod_affinity_weight
            placed_term = group.term
            assert placed_term is not None
            counts = group.counts[: cache.rows]
            if not weight or not counts.any() or not placed_term.matches(info.namespace, info.labels,
                                                                         cache.ns_labels):
                continue
            ids, values = cache.domains(placed_term.topology_key)
            has = ids >= 0
            per_domain = np.bincount(ids[has], weights=counts[has], minlength=max(len(values), 1))
            total += np.where(has, per_domain[np.maximum(ids, 0)], 0.0) * weight
            used = True
        if not used:
            return None  # no preference
        feasible = total[rows]
        lo, hi = feasible.min(), feasible.max()
        return (total - lo) * framework.MAX_NODE_SCORE / (hi - lo) if hi > lo else None
