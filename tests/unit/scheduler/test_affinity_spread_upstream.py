"""PodTopologySpread and InterPodAffinity as upstream kube-scheduler has them
(``podtopologyspread/{common,filtering,scoring}.go``, ``interpodaffinity/filtering.go``):
terminating pods left out of spread counts, pods counted only on nodes with every
constraint's key, one reason per node (the first check failed), nodes lacking a soft
constraint's key scored worst, required affinity satisfied only by pods matching all
its terms and never on a node without a term's topology key."""

from __future__ import annotations

from typing import Any

import numpy as np

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework
from kubelite.scheduler.plugins import topologyspread
from tests.unit.scheduler.helpers import cluster, diagnose, node, place, pod, schedule

Obj = dict[str, Any]
ZONE, HOST = "topology.kubernetes.io/zone", "kubernetes.io/hostname"
SKEW = "node(s) didn't match pod topology spread constraints"
MISSING = "node(s) didn't match pod topology spread constraints (missing required label)"
AFFINITY = "node(s) didn't match pod affinity rules"
ANTI = "node(s) didn't match pod anti-affinity rules"
EXISTING = "node(s) didn't satisfy existing pods anti-affinity rules"


def web(name: str, *, cpu: str = "100m", labels: dict[str, str] | None = None, dying: bool = False) -> Obj:
    p = pod(name, cpu=cpu, labels=labels or {"app": "web"})
    if dying:
        p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return p


def spread(p: Obj, *keys: str, when: str = "DoNotSchedule", app: str = "web") -> Obj:
    p["spec"]["topologySpreadConstraints"] = [
        {"maxSkew": 1, "topologyKey": k, "whenUnsatisfiable": when, "labelSelector": {"matchLabels": {"app": app}}}
        for k in keys]
    return p


def term(match: dict[str, str], key: str) -> Obj:
    return {"labelSelector": {"matchLabels": match}, "topologyKey": key}


def affine(p: Obj, *, affinity: tuple[Obj, ...] = (), anti: tuple[Obj, ...] = ()) -> Obj:
    block: Obj = {}
    if affinity:
        block["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": list(affinity)}
    if anti:
        block["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": list(anti)}
    p["spec"]["affinity"] = block
    return p


def unresolvable(c: cache_mod.NodeCache, d: framework.Diagnosis) -> set[str]:
    assert d.unresolvable is not None
    return {c.names[row] for row in np.flatnonzero(d.unresolvable[: c.rows])}


# --- 1. terminating pods ------------------------------------------------------------------

def test_hard_spread_does_not_count_terminating_pods() -> None:
    c = cluster(node("a", labels={ZONE: "z1"}), node("c", cpu="1", labels={ZONE: "z2"}))
    place(c, web("w1"), "a")
    place(c, web("w2"), "a")
    new = spread(web("new", cpu="2"), ZONE)
    assert not schedule(c, new).node  # z1 holds 2, z2 0: a is too skewed, c too small
    # Both get deleted with a grace period: the informer re-adds them terminating.
    place(c, web("w1", dying=True), "a")
    place(c, web("w2", dying=True), "a")
    assert schedule(c, new).node == "a"


def test_soft_spread_does_not_count_terminating_pods() -> None:
    c = cluster(node("a"), node("b"))
    for i in range(3):
        place(c, web(f"old{i}", dying=True), "a")
    place(c, web("live"), "b")
    fw = framework.Framework("t", [topologyspread.PodTopologySpread()])
    p = spread(web("new"), HOST, when="ScheduleAnyway")
    for _ in range(5):
        assert fw.schedule(framework.CycleState(p, cache_mod.pod_info(p, node="")), c).node == "a"


# --- 2. several hard constraints ------------------------------------------------------------

def two_key_cluster(crowded: str) -> cache_mod.NodeCache:
    """a (z1, r1), b (z1, no rack), c (z2, r2, 1 cpu); two web pods on ``crowded``."""
    c = cluster(node("a", labels={ZONE: "z1", "rack": "r1"}), node("b", labels={ZONE: "z1"}),
                node("c", cpu="1", labels={ZONE: "z2", "rack": "r2"}))
    place(c, web("w1"), crowded)
    place(c, web("w2"), crowded)
    return c


def test_one_reason_per_node_the_first_constraint_failed() -> None:
    c = two_key_cluster("a")
    d = diagnose(c, spread(web("two", cpu="2"), ZONE, "rack"))
    # b fails the zone skew first: charged to it alone, and preemption may still help there
    assert d.counts == {"Insufficient cpu": 1, SKEW: 2}
    assert unresolvable(c, d) == set()
    assert d.summary() == ("0/3 nodes are available: 1 Insufficient cpu, "
                           "2 node(s) didn't match pod topology spread constraints.")


def test_a_missing_key_is_charged_when_it_is_the_first_constraint_failed() -> None:
    c = two_key_cluster("a")
    d = diagnose(c, spread(web("two", cpu="2"), "rack", ZONE))
    assert d.counts == {"Insufficient cpu": 1, SKEW: 1, MISSING: 1}
    assert unresolvable(c, d) == {"b"}


def test_pods_on_nodes_lacking_another_constraints_key_are_not_counted() -> None:
    c = two_key_cluster("b")  # b has no rack label: its pods count for neither constraint
    assert schedule(c, spread(web("cnt", cpu="2"), ZONE, "rack")).node == "a"


# --- 3. soft spread and nodes without the key -------------------------------------------------

def test_nodes_without_a_soft_constraints_key_score_worst() -> None:
    c = cluster(node("zoned", labels={ZONE: "z1"}), node("unzoned"))
    for i in range(4):
        p = spread(web(f"soft{i}", labels={"app": f"s{i}"}), ZONE, when="ScheduleAnyway", app=f"s{i}")
        result = schedule(c, p)
        assert result.node == "zoned"
        place(c, p, result.node)
    # Not so with the cluster defaults (requireAllTopologies is false for them): the
    # hostname default still spreads a ReplicaSet's pods onto the node without a zone.
    owner = [{"uid": "rs-1", "controller": True, "kind": "ReplicaSet", "name": "rs"}]
    for i in range(3):
        r = web(f"r{i}", labels={"app": "r"})
        r["metadata"]["ownerReferences"] = owner
        place(c, r, "zoned")
    r = web("r3", labels={"app": "r"})
    r["metadata"]["ownerReferences"] = owner
    for _ in range(5):
        assert schedule(c, r).node == "unzoned"


# --- 4. required affinity ---------------------------------------------------------------------

def test_first_pod_of_a_self_affine_group_needs_the_topology_key() -> None:
    c = cluster(node("zoned", cpu="1", labels={ZONE: "z1"}), node("unzoned"))
    p = affine(web("self", cpu="2", labels={"app": "db"}), affinity=(term({"app": "db"}, ZONE),))
    result = schedule(c, p)
    assert not result.node and result.diagnosis is not None
    assert result.diagnosis.counts == {"Insufficient cpu": 1, AFFINITY: 1}


def test_first_pod_path_when_no_pod_matches_all_the_terms() -> None:
    # db-0 matches one term of two: upstream's affinity counts stay empty, so a pod that
    # matches all its own terms starts the group, on any node with the topology key.
    c = cluster(node("a", cpu="1", labels={ZONE: "z1"}), node("b", labels={ZONE: "z2"}), node("nozone"))
    place(c, web("db-0", cpu="1", labels={"app": "db"}), "a")
    both = {"app": "db", "tier": "cache"}
    p = affine(web("first", labels=both), affinity=(term({"app": "db"}, ZONE), term({"tier": "cache"}, ZONE)))
    for _ in range(5):
        assert schedule(c, p).node == "b"
    d = diagnose(c, p)
    assert d.counts == {"Insufficient cpu": 1, AFFINITY: 1}  # a is full; nozone lacks the key


def test_every_affinity_term_must_be_matched_by_the_same_pod() -> None:
    c = cluster(node("a", labels={ZONE: "z1"}), node("b", labels={ZONE: "z2"}))
    place(c, web("db", labels={"app": "db"}), "a")
    place(c, web("cache", labels={"tier": "cache"}), "a")
    p = affine(web("multi", labels={"app": "y"}),
               affinity=(term({"app": "db"}, ZONE), term({"tier": "cache"}, ZONE)))
    result = schedule(c, p)
    assert not result.node and result.diagnosis is not None
    assert result.diagnosis.counts == {AFFINITY: 2}
    # One pod matching both terms, in z2, makes b (only) feasible.
    place(c, web("both", labels={"app": "db", "tier": "cache"}), "b")
    for _ in range(5):
        assert schedule(c, p).node == "b"


# --- 5. one InterPodAffinity status per node ------------------------------------------------

def test_affinity_is_checked_first_and_alone_charged() -> None:
    c = cluster(node("a", labels={ZONE: "z1"}), node("b", labels={ZONE: "z2"}))
    place(c, web("web"), "a")
    p = affine(web("both", labels={"app": "x"}),
               affinity=(term({"app": "db"}, ZONE),), anti=(term({"app": "web"}, HOST),))
    d = diagnose(c, p)
    assert d.counts == {AFFINITY: 2}
    assert unresolvable(c, d) == {"a", "b"}  # affinity: preemption is not helpful
    assert d.summary() == "0/2 nodes are available: 2 node(s) didn't match pod affinity rules."


def test_own_anti_affinity_comes_before_existing_pods_anti_affinity() -> None:
    c = cluster(node("a", labels={ZONE: "z1"}), node("b", labels={ZONE: "z2"}))
    guard = affine(web("guard", labels={"app": "guard"}), anti=(term({"app": "intruder"}, ZONE),))
    place(c, guard, "a")
    place(c, web("other", labels={"app": "guard"}), "b")
    # a: breaks both its own anti-affinity (guard is there) and guard's; b: only its own.
    p = affine(web("intruder", labels={"app": "intruder"}), anti=(term({"app": "guard"}, HOST),))
    d = diagnose(c, p)
    assert d.counts == {ANTI: 2}
    assert unresolvable(c, d) == set()  # anti-affinity: evicting may help
    # Without its own rule, a is charged to guard's anti-affinity.
    d = diagnose(c, web("intruder", labels={"app": "intruder"}))
    assert d.counts == {EXISTING: 1}
