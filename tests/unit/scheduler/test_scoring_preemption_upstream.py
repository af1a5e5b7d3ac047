"""Scoring and preemption details checked against upstream kube-scheduler:

- the non-zero requests NodeResourcesFit scores with count init containers, sidecars and
  overhead (upstream resourcehelper.PodRequests with NonMissingContainerRequests), for the
  incoming pod and for the pods already on a node;
- NodeResourcesBalancedAllocation scores on the real requests and skips BestEffort pods;
- preemption reports the filter's reasons for a node where evicting every lower-priority
  pod is not enough, takes terminating pods as victims, and waits for a nominated node
  only while pods there terminate *because of preemption*;
- TaintToleration reads ``spec.taints`` alone: readiness adds no taint.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, objects, plugins
from kubelite.scheduler.plugins import preemption, resources
from tests.unit.scheduler.helpers import cluster, node, place, pod, schedule

Obj = dict[str, Any]
MI = 1024 * 1024
DELETED = "2026-01-01T00:00:00Z"


def spec_pod(name: str, spec: Obj, *, priority: int = 0) -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": {}},
            "spec": {"priority": priority, **spec}, "status": {}}


def container(name: str, **requests: str) -> Obj:
    return {"name": name, "image": "x", "resources": {"requests": requests} if requests else {}}


def sized_node(name: str, *, cpu: str = "4", memory: str = "8Gi", ready: bool = True,
               taints: list[Obj] | None = None) -> Obj:
    n = node(name, cpu=cpu)
    n["status"]["allocatable"]["memory"] = memory
    n["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
    if taints:
        n["spec"]["taints"] = taints
    return n


def terminating(p: Obj, *, by_preemption: bool = False) -> Obj:
    p["metadata"]["deletionTimestamp"] = DELETED
    if by_preemption:
        p["status"]["conditions"] = [{"type": "DisruptionTarget", "status": "True",
                                      "reason": "PreemptionByScheduler"}]
    return p


def preempt(c: cache_mod.NodeCache, p: Obj, plugin: preemption.DefaultPreemption | None = None
            ) -> framework.PostFilterResult:
    fw = framework.Framework("t", plugins.default_plugins())
    state = framework.CycleState(p, cache_mod.pod_info(p, node=""))
    result = fw.schedule(state, c)
    assert not result.node and result.diagnosis is not None
    return (plugin or preemption.DefaultPreemption()).post_filter(state, c, result.diagnosis, fw)


# --- 1. non-zero requests: init containers, sidecars, overhead ------------------------------

@pytest.mark.parametrize(("spec", "nonzero"), [
    # an init container's request beats the app containers' defaults
    ({"initContainers": [container("i", cpu="3")], "containers": [container("c")]}, (3000, 200 * MI)),
    # a sidecar without requests counts the defaults beside the app containers
    ({"initContainers": [{**container("s"), "restartPolicy": "Always"}],
      "containers": [container("c", cpu="500m", memory="1Gi")]}, (600, 1224 * MI)),
    # overhead is added on top
    ({"containers": [container("c")], "overhead": {"cpu": "250m", "memory": "64Mi"}}, (350, 264 * MI)),
])
def test_nonzero_requests_count_init_containers_sidecars_and_overhead(spec: Obj, nonzero: tuple[int, int]) -> None:
    assert cache_mod.pod_info(spec_pod("p", spec), node="").nonzero == nonzero


def test_a_node_holding_a_big_init_container_scores_as_busy() -> None:
    c = cluster(sized_node("a"), sized_node("b"))
    place(c, spec_pod("init-heavy", {"initContainers": [container("i", cpu="3")],
                                     "containers": [container("c")]}), "a")
    place(c, pod("one-cpu", cpu="1"), "b")
    assert schedule(c, spec_pod("new", {"containers": [container("c", cpu="10m", memory="10Mi")]})).node == "b"


# --- 2. BalancedAllocation ---------------------------------------------------------------

def test_balanced_allocation_scores_the_real_requests_not_the_defaults() -> None:
    c = cluster(sized_node("a"))  # 4 cpu, 8Gi, empty
    p = pod("cpu-only", cpu="100m")  # no memory request: 0, not 200Mi
    state = framework.CycleState(p, cache_mod.pod_info(p, node=""))
    ba = resources.BalancedAllocation()
    # cpu 2.5 %, memory 0 %: 100 - 2.5 / 2
    assert ba.score_rows(state, c, slice(0, c.rows)).tolist() == [98.75]
    assert ba.score_row(state, c, 0) == 98.75


def test_balanced_allocation_leaves_out_a_resource_the_node_has_none_of() -> None:
    c = cluster(sized_node("no-memory", memory="0"), sized_node("a"))
    p = pod("cpu-only", cpu="100m")
    state = framework.CycleState(p, cache_mod.pod_info(p, node=""))
    ba = resources.BalancedAllocation()
    # one fraction left on no-memory: no deviation, 100 (upstream skips allocatable 0)
    assert ba.score_rows(state, c, slice(0, c.rows)).tolist() == [100.0, 98.75]
    assert [ba.score_row(state, c, row) for row in range(c.rows)] == [100.0, 98.75]


def test_best_effort_pods_are_not_scored_by_balanced_allocation() -> None:
    # Upstream (kubernetes#129138): BestEffort pods went to the "balanced" node a.
    c = cluster(sized_node("a", memory="4Gi"), sized_node("b", memory="4Gi"))
    place(c, spec_pod("pa", {"containers": [container("c", cpu="2", memory="2Gi")]}), "a")
    place(c, spec_pod("pb", {"containers": [container("c", cpu="1", memory="2970Mi")]}), "b")
    best_effort = spec_pod("be", {"containers": [container("c")]})
    state = framework.CycleState(best_effort, cache_mod.pod_info(best_effort, node=""))
    assert {schedule(c, best_effort).node for _ in range(5)} == {"b"}
    assert resources.BalancedAllocation().pre_score(state, c, c.valid[: c.rows].nonzero()[0]) == framework.SKIP


# --- 3. preemption -----------------------------------------------------------------------

def test_a_node_where_eviction_is_not_enough_reports_the_filter_reason() -> None:
    c = cluster(sized_node("b"), sized_node("c", taints=[{"key": "dedicated", "effect": "NoSchedule"}]))
    place(c, pod("low", cpu="1", priority=100), "b")
    post = preempt(c, pod("high", cpu="8", priority=1000))
    assert not post.nominated_node
    assert post.message == ("preemption: 0/2 nodes are available: 1 Insufficient cpu, "
                            "1 Preemption is not helpful for scheduling.")


def test_the_no_victims_reason_has_no_period_of_its_own() -> None:
    c = cluster(sized_node("a", cpu="1"))
    post = preempt(c, pod("big", cpu="2", priority=1000))
    assert post.message == "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."


def test_terminating_pods_are_victims_like_any_other() -> None:
    c = cluster(sized_node("a", cpu="2"))
    place(c, terminating(pod("low", cpu="1", priority=100)), "a")  # deleted by a user, grace period running
    place(c, pod("low2", cpu="1", priority=100), "a")
    post = preempt(c, pod("high", cpu="2", priority=1000))
    assert post.nominated_node == "a"
    assert sorted(v.name for v in post.victims) == ["low", "low2"]


def test_a_pod_terminating_for_another_reason_does_not_hold_back_a_nominated_pod() -> None:
    c = cluster(sized_node("a", cpu="2"))
    place(c, terminating(pod("low", cpu="1", priority=100)), "a")  # no DisruptionTarget: not preemption
    place(c, pod("low2", cpu="1", priority=100), "a")
    post = preempt(c, pod("high", cpu="2", priority=1000, nominated="a"))
    assert "not eligible" not in post.message
    assert post.nominated_node == "a"


def test_an_unresolvable_nominated_node_does_not_hold_back_preemption_elsewhere() -> None:
    c = cluster(sized_node("a", cpu="2", taints=[{"key": "dedicated", "effect": "NoSchedule"}]),
                sized_node("b", cpu="2"))
    place(c, terminating(pod("victim", cpu="2", priority=100), by_preemption=True), "a")
    place(c, pod("other", cpu="2", priority=100), "b")
    post = preempt(c, pod("high", cpu="2", priority=1000, nominated="a"))
    assert post.nominated_node == "b"
    assert [v.name for v in post.victims] == ["other"]


def test_preemption_looks_past_the_first_hundred_nodes_for_victims() -> None:
    # 150 full nodes, each with a pod the preemptor may evict; only on the last is evicting
    # enough. Upstream simulates nodes until it has found max(100, 10 %) candidates, not
    # until it has tried that many (whichever node it starts from).
    nodes = [sized_node(f"n{i:03}", cpu="1") for i in range(150)]
    c = cluster(*nodes)
    for i in range(149):
        place(c, pod(f"peer{i}", cpu="500m", priority=1000), f"n{i:03}")
        place(c, pod(f"small{i}", cpu="500m", priority=10), f"n{i:03}")
    place(c, pod("low", cpu="1", priority=10), "n149")
    post = preempt(c, pod("high", cpu="1", priority=1000))
    assert post.nominated_node == "n149"
    assert [v.name for v in post.victims] == ["low"]


def test_preemption_stops_once_enough_candidates_are_found_from_a_random_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = [sized_node(f"n{i}", cpu="1") for i in range(6)]
    c = cluster(*nodes)
    for i in range(6):
        place(c, pod(f"low{i}", cpu="1", priority=10), f"n{i}")
    seen = set()
    simulated: list[int] = []
    original = preemption.DefaultPreemption._victims

    def counting(self: Any, state: Any, cache: Any, fw: Any, row: int, *rest: Any) -> Any:
        simulated.append(row)
        return original(self, state, cache, fw, row, *rest)

    monkeypatch.setattr(preemption.DefaultPreemption, "_victims", counting)
    for _ in range(40):
        simulated.clear()
        post = preempt(c, pod("high", cpu="1", priority=1000),
                       preemption.DefaultPreemption(min_candidates=2, min_candidate_percent=10))
        assert post.nominated_node and len(simulated) == 2
        seen.add(simulated[0])
    assert len(seen) > 1  # not always the first node


# --- 4. no synthetic not-ready taint ------------------------------------------------------

def test_readiness_adds_no_taint_only_spec_taints_count() -> None:
    unready = sized_node("down", ready=False)
    assert objects.node_taints(unready) == []
    assert schedule(cluster(unready), pod("p")).node == "down"
