"""Scheduling decisions and texts that follow upstream kube-scheduler's framework:
ErrNoNodesAvailable, the nominated node tried first, NodeAffinity's PreFilterResult for
pods that name their nodes (DaemonSet pods), the taint and volume texts of 1.34/1.33."""

from __future__ import annotations

from typing import Any

from kubelite.scheduler import framework
from tests.unit.scheduler.helpers import cluster, diagnose, node, place, pod, schedule

Obj = dict[str, Any]


def naming(p: Obj, *names: str, cpu: str = "") -> Obj:
    p["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": list(names)}]}]}}}
    if cpu:
        p["spec"]["containers"][0]["resources"]["requests"]["cpu"] = cpu
    return p


def test_no_nodes_at_all_is_upstreams_err_no_nodes_available() -> None:
    result = schedule(cluster(), pod("p"))
    assert not result.node and result.diagnosis is not None
    assert result.diagnosis.summary() == "no nodes available to schedule pods"


def test_a_nominated_node_that_fits_is_taken_before_any_other_is_scored() -> None:
    c = cluster(node("a"), node("b"))
    place(c, pod("busy", cpu="3"), "a")  # every scorer prefers the empty b
    assert schedule(c, pod("p")).node == "b"
    for _ in range(5):
        assert schedule(c, pod("p", nominated="a")).node == "a"
    assert schedule(c, pod("p", cpu="2", nominated="a")).node == "b"  # no longer fits there


def test_nodes_a_pod_does_not_name_are_not_filtered_but_charged_to_node_affinity() -> None:
    c = cluster(node("a", cpu="1"), node("b", cpu="1"), node("c"))
    d = diagnose(c, naming(pod("ds"), "b", cpu="2"))
    # a is not named: charged to NodeAffinity's PreFilterResult, not to its lack of cpu
    assert d.counts == {"Insufficient cpu": 1, "node(s) didn't satisfy plugin(s) [NodeAffinity]": 2}
    assert d.summary() == ("0/3 nodes are available: 1 Insufficient cpu, "
                           "2 node(s) didn't satisfy plugin(s) [NodeAffinity].")
    assert not d.unresolvable[c.index["b"]] and d.unresolvable[c.index["a"]]
    assert schedule(c, naming(pod("ds"), "c")).node == "c"
    assert schedule(c, naming(pod("ds"), "ghost")).diagnosis.counts == {  # type: ignore[union-attr]
        "node(s) didn't satisfy plugin(s) [NodeAffinity]": 3}


def test_terms_naming_no_common_node_conflict() -> None:
    p = pod("p")
    p["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a"]},
                                               {"key": "metadata.name", "operator": "In", "values": ["b"]}]}]}}}
    d = diagnose(cluster(node("a"), node("b")), p)
    assert d.summary() == "0/2 nodes are available: pod affinity terms conflict."


def test_a_term_without_names_lets_every_node_be_filtered() -> None:
    p = naming(pod("p"), "a")
    terms = p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    terms.append({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]})
    c = cluster(node("a", cpu="1"), node("b", labels={"zone": "z1"}), node("c"))
    assert schedule(c, p).node in ("a", "b")
    assert diagnose(c, naming(pod("q", cpu="2"), "a")).counts == {
        "Insufficient cpu": 1, "node(s) didn't satisfy plugin(s) [NodeAffinity]": 2}


def test_untolerated_taints_are_one_reason_that_names_no_taint() -> None:
    a, b = node("a"), node("b")
    a["spec"]["taints"] = [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]
    b["spec"]["taints"] = [{"key": "maint", "effect": "NoExecute"}]
    d = diagnose(cluster(a, b), pod("p"))
    assert d.counts == {"node(s) had untolerated taint(s)": 2}
    assert sorted(d.nodes["node(s) had untolerated taint(s)"]) == ["a", "b"]


def test_the_postfilter_message_is_appended_without_a_period_of_its_own() -> None:
    d = framework.Diagnosis(num_nodes=2, counts={"Insufficient cpu": 2},
                            post_filter_message="preemption: 0/2 nodes are available: 2 No preemption victims "
                                                "found for incoming pod.")
    assert d.summary() == ("0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
                           "2 No preemption victims found for incoming pod.")
