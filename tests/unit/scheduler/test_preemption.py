"""DefaultPreemption's choices on the scheduler's cache: the fewest, least important
victims, PodDisruptionBudgets steering the choice of node, upstream's tie-breaks; and
nominated pods holding the space preemption freed for them."""

from __future__ import annotations

import orjson

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import explain, framework, plugins
from kubelite.scheduler.plugins import preemption
from tests.unit.scheduler.helpers import PDBS, cluster, node, pdb, place, pod, schedule


def preempt(c: cache_mod.NodeCache, p: dict) -> framework.PostFilterResult:
    fw = framework.Framework("t", plugins.default_plugins())
    state = framework.CycleState(p, cache_mod.pod_info(p, node=""))
    result = fw.schedule(state, c)
    assert not result.node and result.diagnosis is not None
    return preemption.DefaultPreemption().post_filter(state, c, result.diagnosis, fw)


def test_only_the_victims_needed_are_evicted_lowest_priority_first() -> None:
    c = cluster(node("a", cpu="1"))
    for name, prio in (("p1", 1), ("p2", 2), ("p3", 3)):
        place(c, pod(name, cpu="300m", priority=prio), "a")
    post = preempt(c, pod("high", cpu="400m", priority=10))
    assert post.nominated_node == "a"
    assert [v.name for v in post.victims] == ["p1"]
    assert len(c.pods) == 3  # the simulation left the cache as it was


def test_the_node_with_the_least_important_victims_wins_without_pdbs() -> None:
    c = cluster(node("a", cpu="1"), node("b", cpu="1"))
    place(c, pod("guarded", cpu="800m", priority=0, labels={"app": "db"}), "a")
    place(c, pod("other", cpu="800m", priority=5, labels={"app": "web"}), "b")
    post = preempt(c, pod("high", cpu="800m", priority=10))
    assert post.nominated_node == "a" and post.violations == 0


def test_a_pdb_protecting_pods_on_one_node_moves_preemption_to_another() -> None:
    c = cluster(node("a", cpu="1"), node("b", cpu="1"),
                objects=((PDBS, pdb("db", match={"app": "db"}, allowed=0)),))
    place(c, pod("guarded", cpu="800m", priority=0, labels={"app": "db"}), "a")
    place(c, pod("other", cpu="800m", priority=5, labels={"app": "web"}), "b")
    post = preempt(c, pod("high", cpu="800m", priority=10))
    assert post.nominated_node == "b"
    assert [v.name for v in post.victims] == ["other"] and post.violations == 0


def test_a_pdb_with_disruptions_left_does_not_count_as_violated() -> None:
    c = cluster(node("a", cpu="1"), node("b", cpu="1"),
                objects=((PDBS, pdb("db", match={"app": "db"}, allowed=1)),))
    place(c, pod("guarded", cpu="800m", priority=0, labels={"app": "db"}), "a")
    place(c, pod("other", cpu="800m", priority=5, labels={"app": "web"}), "b")
    assert preempt(c, pod("high", cpu="800m", priority=10)).nominated_node == "a"


def test_when_every_choice_violates_a_pdb_preemption_still_happens() -> None:
    c = cluster(node("a", cpu="1"), objects=((PDBS, pdb("db", match={"app": "db"}, allowed=0)),))
    place(c, pod("guarded", cpu="800m", labels={"app": "db"}), "a")
    post = preempt(c, pod("high", cpu="800m", priority=10))
    assert post.nominated_node == "a" and post.violations == 1


def test_pdb_protected_pods_are_reprieved_first_on_a_node() -> None:
    c = cluster(node("a", cpu="1"), objects=((PDBS, pdb("db", match={"app": "db"}, allowed=0)),))
    place(c, pod("guarded", cpu="400m", priority=1, labels={"app": "db"}), "a")
    place(c, pod("plain", cpu="400m", priority=1, labels={"app": "web"}), "a")
    post = preempt(c, pod("high", cpu="500m", priority=10))
    assert [v.name for v in post.victims] == ["plain"] and post.violations == 0


def test_ties_go_to_fewer_victims_then_to_the_most_recently_started() -> None:
    c = cluster(node("a", cpu="1"), node("b", cpu="1"), node("c", cpu="1"))
    place(c, pod("a1", cpu="400m", priority=1), "a")
    place(c, pod("a2", cpu="400m", priority=1), "a")
    place(c, pod("b1", cpu="800m", priority=2, start="2026-01-01T00:00:00Z"), "b")
    place(c, pod("c1", cpu="800m", priority=2, start="2026-06-01T00:00:00Z"), "c")
    # a's victims have the lowest highest priority: a wins outright.
    assert preempt(c, pod("high", cpu="700m", priority=10)).nominated_node == "a"
    c.remove_pod("default/a1")
    c.remove_pod("default/a2")
    place(c, pod("a3", cpu="800m", priority=2, start="2026-03-01T00:00:00Z"), "a")
    # Same priorities and counts everywhere: the node whose victim started last.
    assert preempt(c, pod("high", cpu="700m", priority=10)).nominated_node == "c"


def test_a_nominated_pod_holds_its_space_against_lower_priority_pods() -> None:
    c = cluster(node("a", cpu="1"), node("b", cpu="1"))
    place(c, pod("busy-b", cpu="600m"), "b")
    c.nominate(cache_mod.pod_info(pod("high", cpu="800m", priority=100, nominated="a"), node="a"))
    low = pod("low", cpu="500m", priority=0)
    result = schedule(c, low)
    assert not result.node and result.diagnosis is not None
    assert result.diagnosis.counts == {"Insufficient cpu": 2}
    assert result.diagnosis.nominated == {"a": ["default/high (priority 100)"]}
    text = explain.format_diagnosis({"metadata": {"name": "low", "namespace": "default", "annotations": {
        "scheduler.kubelite.io/diagnosis": orjson.dumps(result.diagnosis.to_json()).decode()}},
        "spec": {}, "status": {}})
    assert "Space held for higher-priority pods nominated by preemption:" in text
    assert "a: default/high (priority 100)" in text


def test_nominated_space_does_not_stop_the_pod_itself_or_more_important_pods() -> None:
    c = cluster(node("a", cpu="1"))
    high = pod("high", cpu="800m", priority=100, nominated="a")
    c.nominate(cache_mod.pod_info(high, node="a"))
    assert schedule(c, high).node == "a"
    assert schedule(c, pod("higher", cpu="800m", priority=200)).node == "a"
    assert schedule(c, pod("equal", cpu="800m", priority=100)).node == ""
    c.unnominate("default/high")
    assert schedule(c, pod("low", cpu="800m")).node == "a"


def test_a_node_is_checked_with_its_own_nominated_pods_only() -> None:
    # "web" pods refuse to share a zone with another "web" pod. "high" is nominated to a;
    # a and b are in zone 1, c in zone 2. Upstream adds a node's own nominated pods to
    # that node's copy of the state: a is refused (high is counted there), b is not (a's
    # nomination does not count when b is checked, same zone or not).
    zone = {"topology.kubernetes.io/zone": "z1"}
    c = cluster(node("a", labels=zone), node("b", labels=zone),
                node("c", labels={"topology.kubernetes.io/zone": "z2"}))
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "topology.kubernetes.io/zone"}]}}
    high = pod("high", priority=100, labels={"app": "web"}, nominated="a")
    high["spec"]["affinity"] = anti
    c.nominate(cache_mod.pod_info(high, node="a"))
    low = pod("low", labels={"app": "web"})
    low["spec"]["affinity"] = anti
    fw = framework.Framework("test", plugins.default_plugins())
    ok, d = fw.run_filters(framework.CycleState(low, cache_mod.pod_info(low, node="")), c, diagnose=True)
    assert [c.names[int(r)] for r in ok.nonzero()[0]] == ["b", "c"]
    assert d is not None and d.nominated == {"a": ["default/high (priority 100)"]}
