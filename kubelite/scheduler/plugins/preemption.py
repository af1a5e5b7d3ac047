"""DefaultPreemption (PostFilter): when no node fits, find the node where evicting the
fewest, least important lower-priority pods lets the pod fit, sparing pods that a
PodDisruptionBudget protects where it can (upstream pkg/scheduler/framework/preemption
and plugins/defaultpreemption).

For each node preemption could help on (its filter failures were resolvable), the
simulation removes every lower-priority pod from the cache (terminating ones too: only
priority decides, as upstream) and checks the pod fits (nominated pods still hold their
space); where it still does not, the node is reported with the reasons of the filter
that rejects it ("Insufficient cpu"), as upstream's SelectVictimsOnNode returns that
status. It then gives pods back, most important first
(priority, then the earlier start), the pods whose eviction would break a PDB before the
others, keeping each one the pod still fits beside; those it could not give back are the
victims, and the PDB-protected among them count as violations. The node chosen is, in
upstream's pickOneNodeForPreemption order: fewest PDB violations, then the lowest
highest-victim priority, the lowest priority sum, the fewest victims, and the latest
start among the highest-priority victims.

A pod already nominated to a node waits instead of preempting again while lower-priority
pods there are terminating *because of preemption* (upstream PodEligibleToPreemptOthers
and podTerminatingByPreemption), unless the filters found that node unresolvable.

The plugin only *decides*: the scheduler sets ``status.nominatedNodeName`` and deletes the
victims directly, as upstream does (not through the eviction subresource: PDBs only
steer the choice); the pod is scheduled for real once they are gone. The cache is
restored before returning.
"""

from __future__ import annotations

import datetime
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, objects

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"  # no period: upstream's text
# Upstream's DryRunPreemption: the nodes are simulated from a random one on, until
# max(100, 10 % of the nodes) candidates are found, at least one of them breaking no
# PodDisruptionBudget; the best of those is chosen.
MIN_CANDIDATES = 100
CANDIDATE_PERCENT = 10
PRIORITY_OFFSET = 2**31  # upstream adds MaxInt32+1 per victim so negative priorities sum right

Obj = dict[str, Any]


@dataclass
class Candidate:
    row: int
    victims: list[cache_mod.PodInfo]  # most important first
    violations: int = 0  # victims whose eviction breaks a PodDisruptionBudget


@dataclass
class Budget:
    """A PodDisruptionBudget as preemption reads it."""

    namespace: str
    selector: Any
    allowed: int
    disrupted: frozenset[str] = field(default_factory=frozenset)


def budgets(pdbs: list[Obj]) -> list[Budget]:
    out = []
    for pdb in pdbs:
        meta, spec, status = pdb.get("metadata") or {}, pdb.get("spec") or {}, pdb.get("status") or {}
        raw = spec.get("selector")
        sel = objects.label_selector(raw) if raw is not None else None
        # Upstream: a nil or empty selector matches nothing here.
        if sel is None or sel.empty or sel.nothing:
            continue
        out.append(Budget(meta.get("namespace") or "", sel, int(status.get("disruptionsAllowed") or 0),
                          frozenset(status.get("disruptedPods") or {})))
    return out


def split_by_pdb(pods: list[cache_mod.PodInfo], pdbs: list[Budget]) -> tuple[list[cache_mod.PodInfo],
                                                                            list[cache_mod.PodInfo]]:
    """(violating, non-violating), order kept (upstream filterPodsWithPDBViolation): each
    pod matched by a PDB uses one of its allowed disruptions; a pod the PDB has already
    recorded as disrupted (the API server processed its eviction) uses none."""
    allowed = [b.allowed for b in pdbs]
    violating: list[cache_mod.PodInfo] = []
    fine: list[cache_mod.PodInfo] = []
    for p in pods:
        broken = False
        for i, b in enumerate(pdbs):
            if b.namespace != p.namespace or not b.selector.matches(p.labels) or p.name in b.disrupted:
                continue
            allowed[i] -= 1
            if allowed[i] < 0:
                broken = True
        (violating if broken else fine).append(p)
    return violating, fine


def start_time(p: cache_mod.PodInfo, now: float) -> float:
    """status.startTime as seconds; a pod not started yet counts as starting now (upstream)."""
    raw = (p.obj.get("status") or {}).get("startTime")
    if not raw:
        return now
    try:
        return datetime.datetime.fromisoformat(str(raw)).timestamp()
    except ValueError:
        return now


def pick_one(candidates: list[Candidate]) -> Candidate:
    """Upstream pickOneNodeForPreemption, criteria in order; the first candidate wins ties."""
    now = time.time()

    def latest_start_of_top(c: Candidate) -> float:
        top = max(v.priority for v in c.victims)
        return min(start_time(v, now) for v in c.victims if v.priority == top)

    if any(not c.victims for c in candidates):
        return next(c for c in candidates if not c.victims)
    keys: list[Callable[[Candidate], float]] = [
        lambda c: c.violations,
        lambda c: max(v.priority for v in c.victims),
        lambda c: sum(v.priority + PRIORITY_OFFSET for v in c.victims),
        lambda c: len(c.victims),
        lambda c: -latest_start_of_top(c),
    ]
    for key in keys:
        best = min(key(c) for c in candidates)
        candidates = [c for c in candidates if key(c) == best]
        if len(candidates) == 1:
            break
    return candidates[0]


def terminating_by_preemption(p: cache_mod.PodInfo) -> bool:
    """Upstream podTerminatingByPreemption: being deleted, with the condition
    DisruptionTarget=True reason PreemptionByScheduler. Also while this scheduler's own
    eviction is on its way (it marks the victim ``terminating`` before any write lands,
    and writes the condition before deleting): upstream's asynchronous preemption keeps
    the preemptor out of the queue for that time instead."""
    meta = p.obj.get("metadata") or {}
    if p.terminating and not meta.get("deletionTimestamp"):
        return True  # marked by the scheduler's _preempt, the deletion not seen yet
    for cond in (p.obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "DisruptionTarget":
            return bool(cond.get("status") == "True" and cond.get("reason") == "PreemptionByScheduler")
    return False


def row_reasons(fw: framework.Framework, state: framework.CycleState, cache: cache_mod.NodeCache,
                row: int) -> list[str]:
    """Why the pod does not fit on ``row`` as the cache stands: every reason of the first
    Filter that rejects it, with the node's nominated pods placed first, then without
    (upstream RunFilterPluginsWithNominatedPods' status). Call right after
    ``fw.fits_on`` said no: the PreFilter state in ``state`` is the one it computed."""
    name = cache.names[row]
    held = [p for p in cache.nominated_for(state.info) if p.node == name] if cache.nominated else []
    for with_held in (True, False) if held else (False,):
        if with_held:
            for p in held:
                cache.add_pod(p)
        try:
            for plugin in fw.filters:
                if plugin.name in state.skip:
                    continue
                res = plugin.filter(state, cache)
                bits = int(res.fail[row]) if res is not None and row < len(res.fail) else 0
                if bits:
                    return [r.text for i, r in enumerate(res.reasons) if bits >> i & 1]
        finally:
            if with_held:
                for p in held:
                    cache.remove_pod(p.key)
    return []


class DefaultPreemption:
    name = "DefaultPreemption"

    def __init__(self, *, min_candidate_percent: int = CANDIDATE_PERCENT,
                 min_candidates: int = MIN_CANDIDATES) -> None:
        # The plugin's args (minCandidateNodesPercentage, minCandidateNodesAbsolute).
        self.min_candidate_percent = min_candidate_percent
        self.min_candidates = min_candidates

    def post_filter(self, state: framework.CycleState, cache: cache_mod.NodeCache,
                    diagnosis: framework.Diagnosis, framework_: framework.Framework) -> framework.PostFilterResult:
        pod, info = state.pod, state.info
        spec = pod.get("spec") or {}
        if spec.get("preemptionPolicy") == "Never":
            return framework.PostFilterResult(message="preemption: not eligible due to preemptionPolicy=Never.")
        rows = cache.rows
        unresolvable = diagnosis.unresolvable if diagnosis.unresolvable is not None else np.zeros(rows, bool)
        nominated = (pod.get("status") or {}).get("nominatedNodeName")
        nominated_row = cache.index.get(nominated or "")
        if (nominated_row is not None and not (nominated_row < len(unresolvable) and unresolvable[nominated_row])
                and any(p.priority < info.priority and terminating_by_preemption(p)
                        for p in cache.pods_on[nominated_row].values())):
            # Victims chosen earlier are still terminating: wait for them, evict no more.
            return framework.PostFilterResult(
                message="preemption: not eligible due to a terminating pod on the nominated node.")
        potential = np.flatnonzero(cache.valid[:rows] & ~unresolvable[:rows])
        counts = {NOT_HELPFUL: int((cache.valid[:rows] & unresolvable[:rows]).sum())}
        wanted = max(self.min_candidates, cache.node_count * self.min_candidate_percent // 100, 1)
        pdbs = budgets(cache.listers.pdbs())
        found: list[Candidate] = []
        offset = random.randrange(len(potential)) if len(potential) else 0
        for row in np.roll(potential, -offset):
            # Only priority decides who may go (upstream isPreemptionAllowed): pods being
            # deleted already are victims like any other.
            lower = [p for p in cache.pods_on[row].values() if p.priority < info.priority]
            if not lower:
                counts[NO_VICTIMS] = counts.get(NO_VICTIMS, 0) + 1
                continue
            cand = self._victims(state, cache, framework_, int(row), lower, pdbs)
            if isinstance(cand, list):  # no fit even without them: the rejecting filter's reasons
                for reason in cand or [NO_VICTIMS]:
                    counts[reason] = counts.get(reason, 0) + 1
                continue
            found.append(cand)
            if len(found) >= wanted and any(not c.violations for c in found):
                break
        if not found:
            counts = {k: v for k, v in counts.items() if v}
            # No node would fit even after evictions: a nomination the pod carries is stale.
            return framework.PostFilterResult(
                message=f"preemption: 0/{cache.node_count} nodes are available: {framework.histogram(counts)}.",
                clear_nominated=True)
        best = pick_one(found)
        return framework.PostFilterResult(nominated_node=cache.names[best.row], victims=best.victims,
                                          violations=best.violations)

    def _victims(self, state: framework.CycleState, cache: cache_mod.NodeCache, fw: framework.Framework,
                 row: int, lower: list[cache_mod.PodInfo], pdbs: list[Budget]) -> Candidate | list[str]:
        """Upstream SelectVictimsOnNode over the cache (restored on return): the victims,
        or why the pod does not fit even with every lower-priority pod gone."""
        for p in lower:
            cache.remove_pod(p.key)
        try:
            if not fw.fits_on(state, cache, row):
                return row_reasons(fw, state, cache, row)
            now = time.time()
            lower = sorted(lower, key=lambda p: (-p.priority, start_time(p, now)))
            violating, fine = split_by_pdb(lower, pdbs) if pdbs else ([], lower)
            cand = Candidate(row, [])
            # Reprieve the PDB-protected pods first, so the budget is broken only if it must be.
            for group, counts in ((violating, True), (fine, False)):
                for p in group:
                    cache.add_pod(p)
                    if not fw.fits_on(state, cache, row):
                        cache.remove_pod(p.key)
                        cand.victims.append(p)
                        cand.violations += counts
            cand.victims.sort(key=lambda p: (-p.priority, start_time(p, now)))
            return cand
        finally:
            for p in lower:
                if p.key not in cache.pods:
                    cache.add_pod(p)
