"""The scheduler through the API: each placement rule a user relies on, shown with fake
Nodes (status written directly, no agent) and real pods on a private kubelite server.

Every test waits on what a user would see (spec.nodeName, the PodScheduled condition,
Events), with deadlines; fixtures live in ``scheduler_fixtures.py``.
"""

# ruff: noqa: F811  (pytest fixtures imported from scheduler_fixtures share their parameters' names)
from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest

from kubelite.scheduler import explain
from tests.api.scheduler_fixtures import Cluster, cluster, core, sched_server  # noqa: F401
from tests.conftest import wait_for
from tests.support.rawapi import Api

CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def test_plain_pods_go_only_to_ready_schedulable_nodes(cluster: Cluster) -> None:
    good = {cluster.node("a"), cluster.node("b")}
    cluster.node("down", ready=False)
    cluster.node("cordoned", unschedulable=True)
    pods = [cluster.pod(f"p{i}", cpu="100m") for i in range(6)]
    placed = cluster.wait_bound(*pods)
    assert set(placed.values()) <= good
    # spread: the least-allocated node wins, so both good nodes get pods
    assert set(placed.values()) == good
    conds = {c["type"]: c["status"] for c in cluster.get("p0")["status"]["conditions"]}
    assert conds["PodScheduled"] == "True"


def test_node_selector_and_required_affinity(cluster: Cluster) -> None:
    ssd = cluster.node("ssd", labels={"disk": "ssd", "zone": "z1"})
    cluster.node("hdd", labels={"disk": "hdd", "zone": "z2"})
    cluster.pod("sel", spec={"nodeSelector": {"disk": "ssd"}})
    cluster.pod("aff", spec={"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}]}}}})
    cluster.pod("none", spec={"nodeSelector": {"disk": "nvme"}})
    assert cluster.wait_bound("sel", "aff") == {"sel": ssd, "aff": ssd}
    msg = cluster.wait_unschedulable("none")
    assert msg.startswith("0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.")


def test_preferred_affinity_picks_the_preferred_node(cluster: Cluster) -> None:
    cluster.node("plain1")
    fast = cluster.node("fast", labels={"speed": "fast"})
    cluster.node("plain2")
    pref = {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "preference": {"matchExpressions": [{"key": "speed", "operator": "In", "values": ["fast"]}]}}]}}}
    pods = [cluster.pod(f"p{i}", spec=pref) for i in range(3)]
    assert set(cluster.wait_bound(*pods).values()) == {fast}


def test_pods_go_where_placed_pods_prefer_them(cluster: Cluster) -> None:
    """Upstream's InterPodAffinity symmetry: a cache pod that prefers web pods near it draws
    web pods that state no affinity of their own to its node."""
    cluster.node("n0")
    near = cluster.node("n1")
    cluster.node("n2")
    likes_web = {"affinity": {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}},
                                            "topologyKey": "kubernetes.io/hostname"}}]}}}
    cluster.pod("cache", spec={"nodeName": near, **likes_web})
    cluster.wait_bound("cache")
    pods = [cluster.pod(f"web{i}", labels={"app": "web"}) for i in range(3)]
    assert set(cluster.wait_bound(*pods).values()) == {near}


def test_taints_repel_and_tolerations_admit(cluster: Cluster) -> None:
    gpu = cluster.node("gpu", taints=[{"key": "gpu", "value": "true", "effect": "NoSchedule"}])
    evict = cluster.node("evict", taints=[{"key": "maint", "effect": "NoExecute"}])
    cluster.pod("plain")
    cluster.pod("tolerant", spec={"tolerations": [{"key": "gpu", "operator": "Equal", "value": "true",
                                                   "effect": "NoSchedule"}],
                                  "nodeSelector": {"kubernetes.io/hostname": gpu}})
    cluster.pod("noexec", spec={"tolerations": [{"key": "maint", "operator": "Exists", "effect": "NoExecute"}],
                                "nodeSelector": {"kubernetes.io/hostname": evict}})
    assert cluster.wait_bound("tolerant", "noexec") == {"tolerant": gpu, "noexec": evict}
    msg = cluster.wait_unschedulable("plain")
    # upstream names no taint key or value in statuses and events since 1.34
    assert "2 node(s) had untolerated taint(s)" in msg


def test_anti_affinity_spreads_replicas_one_per_node(cluster: Cluster) -> None:
    nodes = {cluster.node(f"n{i}") for i in range(3)}
    anti = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}}
    pods = [cluster.pod(f"web{i}", labels={"app": "web"}, spec=anti) for i in range(4)]
    wait_for(lambda: sum(1 for p in pods if cluster.node_of(p)) == 3, 10, message="3 replicas bound")
    placed = [cluster.node_of(p) for p in pods if cluster.node_of(p)]
    assert sorted(placed) == sorted(nodes)
    pending = next(p for p in pods if not cluster.node_of(p))
    msg = cluster.wait_unschedulable(pending)
    assert "3 node(s) didn't match pod anti-affinity rules" in msg


def test_topology_spread_stays_within_max_skew(cluster: Cluster) -> None:
    zone_of = {}
    for z in ("z1", "z2"):
        for i in range(2):
            zone_of[cluster.node(f"{z}n{i}", labels={"topology.kubernetes.io/zone": z})] = z
    # A third zone that is full: it must not count as the minimum (no eligible capacity
    # is still a domain upstream; here we keep it simple with two zones).
    spread = {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                             "whenUnsatisfiable": "DoNotSchedule",
                                             "labelSelector": {"matchLabels": {"app": "s"}}}],
              # prefer z1 strongly, so only the constraint keeps z2 in play
              "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                  {"weight": 100, "preference": {"matchExpressions": [
                      {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z1"]}]}}]}}}
    pods = []
    for i in range(6):
        pods.append(cluster.pod(f"s{i}", labels={"app": "s"}, spec=spread))
        cluster.wait_bound(pods[-1])
    per_zone = collections.Counter(zone_of[n] for n in cluster.wait_bound(*pods).values())
    assert per_zone == {"z1": 3, "z2": 3}


def test_resources_are_never_overcommitted(cluster: Cluster) -> None:
    nodes = [cluster.node(f"n{i}", cpu="2", memory="4Gi") for i in range(2)]
    pods = [cluster.pod(f"p{i}", cpu="1", memory="1Gi") for i in range(6)]
    wait_for(lambda: sum(1 for p in pods if cluster.node_of(p)) == 4, 10, message="4 pods bound")
    per_node = collections.Counter(cluster.node_of(p) for p in pods if cluster.node_of(p))
    assert per_node == {nodes[0]: 2, nodes[1]: 2}
    pending = [p for p in pods if not cluster.node_of(p)]
    assert len(pending) == 2
    assert "2 Insufficient cpu" in cluster.wait_unschedulable(pending[0])


def test_init_containers_count_toward_requests(cluster: Cluster) -> None:
    cluster.node("small", cpu="1")
    init = {"initContainers": [{"name": "i", "image": "busybox", "resources": {"requests": {"cpu": "2"}}}]}
    cluster.pod("big-init", cpu="100m", spec=init)
    assert "1 Insufficient cpu" in cluster.wait_unschedulable("big-init")


def test_host_port_conflicts_keep_pods_apart(cluster: Cluster) -> None:
    nodes = {cluster.node("a"), cluster.node("b")}
    port = [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}]
    pods = [cluster.pod(f"h{i}", ports=port) for i in range(3)]
    wait_for(lambda: sum(1 for p in pods if cluster.node_of(p)) == 2, 10, message="2 pods bound")
    assert {cluster.node_of(p) for p in pods if cluster.node_of(p)} == nodes
    pending = next(p for p in pods if not cluster.node_of(p))
    assert "2 node(s) didn't have free ports for the requested pod ports" in cluster.wait_unschedulable(pending)


def test_high_priority_pod_preempts_low_priority_pod(cluster: Cluster) -> None:
    node = cluster.node("only", cpu="1")
    cluster.pod("low", cpu="800m")
    cluster.wait_bound("low")
    # Priority comes from a PriorityClass, resolved at admission (a bare spec.priority is refused).
    cluster.pod("high", cpu="800m", spec={"priorityClassName": "system-cluster-critical"})

    def low_gone() -> bool:
        try:
            cluster.get("low")
        except Exception as exc:  # noqa: BLE001 - ApiException 404
            return getattr(exc, "status", None) == 404
        return False

    wait_for(low_gone, 15, message="low-priority victim deleted")
    assert cluster.wait_bound("high", timeout=15) == {"high": node}
    events = cluster.core.list_namespaced_event(cluster.ns).items
    assert any(e.reason == "Preempted" and e.involved_object.name == "low" for e in events)


def test_failed_scheduling_message_matches_upstream(cluster: Cluster) -> None:
    for i in range(3):
        cluster.node(f"w{i}", cpu="1")
    for i in range(2):
        cluster.node(f"cp{i}", cpu="8", taints=[CONTROL_PLANE_TAINT])
    cluster.pod("huge", cpu="2")
    expected = ("0/5 nodes are available: 2 node(s) had untolerated taint(s), "
                "3 Insufficient cpu. preemption: 0/5 nodes are available: 2 Preemption is not helpful for "
                "scheduling, 3 No preemption victims found for incoming pod.")
    wait_for(lambda: cluster.unschedulable_message("huge") == expected, 10,
             message="the upstream FailedScheduling summary")
    cond = next(c for c in cluster.get("huge")["status"]["conditions"] if c["type"] == "PodScheduled")
    assert cond["reason"] == "Unschedulable"
    assert cond["observedGeneration"] == 1  # pod generation tracking (GA in 1.35)
    wait_for(lambda: any(e.reason == "FailedScheduling" and e.message == expected and e.type == "Warning"
                         for e in cluster.core.list_namespaced_event(cluster.ns).items), 10,
             message="a FailedScheduling event")
    text = wait_for(lambda: "w0" in (t := explain.format_diagnosis(cluster.get("huge"))) and t, 10,
                    message="per-node reasons on the pod")
    assert "Insufficient cpu" in text and "3 node(s)" in text


def test_pods_for_other_schedulers_are_left_alone(cluster: Cluster) -> None:
    cluster.node("n")
    cluster.pod("mine")
    cluster.pod("theirs", spec={"schedulerName": "someone-else"})
    cluster.wait_bound("mine")
    assert cluster.node_of("theirs") == ""
    assert cluster.unschedulable_message("theirs") == ""


def test_pending_pod_is_scheduled_when_a_node_arrives(cluster: Cluster) -> None:
    cluster.pod("waiting", cpu="1")
    msg = cluster.wait_unschedulable("waiting")
    # the earlier tests' nodes are deleted: upstream's ErrNoNodesAvailable once they are gone
    assert msg == "no nodes available to schedule pods" or msg.startswith("0/"), msg
    node = cluster.node("late")
    assert cluster.wait_bound("waiting") == {"waiting": node}


def test_scheduling_gates_hold_a_pod_until_the_last_one_is_removed(cluster: Cluster, sched_server: Any) -> None:
    from kubernetes.client import ApiException

    node = cluster.node("n")
    gates = [{"name": "example.com/quota"}, {"name": "example.com/arch"}]
    cluster.pod("gated", spec={"schedulingGates": gates})
    cluster.pod("free")
    assert cluster.wait_bound("free") == {"free": node}
    cond = next(c for c in cluster.get("gated")["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False", "SchedulingGated", "Scheduling is blocked due to non-empty scheduling gates")
    table = Api(Path(sched_server.kubeconfig)).send(
        "GET", f"/api/v1/namespaces/{cluster.ns}/pods/gated",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).json()
    assert table["rows"][0]["cells"][2] == "SchedulingGated"  # kubectl get's STATUS column

    with pytest.raises(ApiException) as bound:  # nobody may bind it, the scheduler included
        cluster.core.create_namespaced_pod_binding("gated", cluster.ns, {
            "metadata": {"name": "gated"}, "target": {"kind": "Node", "name": node}}, _preload_content=False)
    assert bound.value.status == 409
    refusal = json.loads(str(bound.value.body))["message"]
    assert 'pods/binding "gated": pod gated has non-empty .spec.schedulingGates' in refusal
    with pytest.raises(ApiException) as added:  # gates may only be removed
        cluster.core.patch_namespaced_pod("gated", cluster.ns, {"spec": {"schedulingGates": [*gates, {"name": "x"}]}})
    assert added.value.status == 422
    assert "only deletion is allowed, but found new scheduling gate 'x'" in json.loads(str(added.value.body))["message"]

    # a gated pod's placement may still be narrowed: its nodeSelector only grows
    cluster.core.patch_namespaced_pod("gated", cluster.ns, {"spec": {
        "schedulingGates": gates[:1], "nodeSelector": {"kubernetes.io/hostname": node}}})
    assert cluster.node_of("gated") == ""
    assert not any(e.reason == "FailedScheduling" and e.involved_object.name == "gated"
                   for e in cluster.core.list_namespaced_event(cluster.ns).items)
    cluster.core.patch_namespaced_pod("gated", cluster.ns, [{"op": "remove", "path": "/spec/schedulingGates"}])
    assert cluster.wait_bound("gated") == {"gated": node}
    with pytest.raises(ApiException) as ungated:  # once scheduled, the usual pod update rules
        cluster.core.patch_namespaced_pod("gated", cluster.ns, {"spec": {"nodeSelector": {"more": "x"}}})
    assert ungated.value.status == 422


def test_a_binding_spends_the_pods_nomination(cluster: Cluster) -> None:
    node = cluster.node("n")
    cluster.pod("p", spec={"schedulerName": "someone-else"})
    cluster.core.patch_namespaced_pod_status("p", cluster.ns, {"status": {"nominatedNodeName": node}})
    assert cluster.get("p")["status"]["nominatedNodeName"] == node
    cluster.core.create_namespaced_pod_binding("p", cluster.ns, {
        "metadata": {"name": "p"}, "target": {"kind": "Node", "name": node}}, _preload_content=False)
    status = cluster.get("p")["status"]
    assert cluster.node_of("p") == node and "nominatedNodeName" not in status, status


def test_match_label_keys_keep_one_revisions_anti_affinity_to_itself(cluster: Cluster) -> None:
    nodes = {cluster.node("a"), cluster.node("b")}
    anti = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname",
         "matchLabelKeys": ["rev"]}]}}}
    old = [cluster.pod(f"old{i}", labels={"app": "web", "rev": "1"}, spec=anti) for i in range(2)]
    assert set(cluster.wait_bound(*old).values()) == nodes
    anti_terms = cluster.get("old0")["spec"]["affinity"]["podAntiAffinity"]
    term = anti_terms["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["labelSelector"]["matchExpressions"] == [{"key": "rev", "operator": "In", "values": ["1"]}]
    # the next revision's pod repels only its own revision: it fits beside the old ones
    cluster.pod("new0", labels={"app": "web", "rev": "2"}, spec=anti)
    assert cluster.wait_bound("new0")["new0"] in nodes
    cluster.pod("old2", labels={"app": "web", "rev": "1"}, spec=anti)
    assert "2 node(s) didn't match pod anti-affinity rules" in cluster.wait_unschedulable("old2")
