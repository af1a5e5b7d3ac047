"""Preemption and nominated pods through the API: PodDisruptionBudgets steer which pods
are preempted, a pod nominated to a node keeps lower-priority pods off the space it waits
for, and a nomination is dropped once the pod is bound elsewhere. Priorities come from
PriorityClasses, as users set them. Controllers are off on this server, so the tests
write PDB status themselves (the disruption controller's job).
"""

# ruff: noqa: F811  (pytest fixtures imported from scheduler_fixtures share their parameters' names)
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kubelite.scheduler import explain
from tests.api.scheduler_fixtures import Cluster, cluster, core, sched_server  # noqa: F401
from tests.conftest import wait_for


class Policy:
    """PriorityClasses and PDBs for one test; the classes are removed after."""

    def __init__(self, c: Cluster) -> None:
        from kubernetes import client

        self.c = c
        self.scheduling = client.SchedulingV1Api(c.core.api_client)
        self.policy = client.PolicyV1Api(c.core.api_client)
        self.classes: list[str] = []

    def priority(self, name: str, value: int) -> dict[str, Any]:
        """Pod spec fields that give the pod this priority."""
        full = f"{name}-{self.c.ns}"
        self.scheduling.create_priority_class({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                               "metadata": {"name": full}, "value": value})
        self.classes.append(full)
        return {"priorityClassName": full}

    def pdb(self, name: str, *, match: dict[str, str], allowed: int) -> None:
        self.policy.create_namespaced_pod_disruption_budget(self.c.ns, {
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": match}}})
        self.policy.patch_namespaced_pod_disruption_budget_status(name, self.c.ns, {"status": {
            "disruptionsAllowed": allowed, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1,
            "observedGeneration": 1}})

    def cleanup(self) -> None:
        for name in self.classes:
            self.scheduling.delete_priority_class(name, _preload_content=False)


@pytest.fixture
def policy(cluster: Cluster) -> Iterator[Policy]:
    p = Policy(cluster)
    yield p
    p.cleanup()


def gone(c: Cluster, name: str) -> bool:
    try:
        c.get(name)
    except Exception as exc:  # noqa: BLE001 - ApiException 404
        return getattr(exc, "status", None) == 404
    return False


def pinned(node: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {"nodeSelector": {"kubernetes.io/hostname": node}, **extra}


def test_a_pdb_on_one_nodes_pods_makes_preemption_pick_another_node(cluster: Cluster, policy: Policy) -> None:
    a = cluster.node("a", cpu="1")
    b = cluster.node("b", cpu="1")
    lowest = policy.priority("lowest", 1)
    low = policy.priority("low", 5)
    high = policy.priority("high", 1000)
    policy.pdb("db", match={"app": "db"}, allowed=0)
    # Without the PDB, a's victim (priority 1) would be the cheaper one to evict.
    cluster.pod("guarded", cpu="800m", labels={"app": "db"}, spec=pinned(a, lowest))
    cluster.pod("other", cpu="800m", labels={"app": "web"}, spec=pinned(b, low))
    cluster.wait_bound("guarded", "other")
    cluster.pod("important", cpu="800m", spec=high)
    wait_for(lambda: gone(cluster, "other"), 15, message="the unprotected victim on b deleted")
    assert cluster.wait_bound("important", timeout=15) == {"important": b}
    assert cluster.node_of("guarded") == a
    events = cluster.core.list_namespaced_event(cluster.ns).items
    assert any(e.reason == "Preempted" and e.involved_object.name == "other" for e in events)
    assert not any(e.reason == "Preempted" and e.involved_object.name == "guarded" for e in events)


def test_a_nominated_pod_keeps_its_space_from_lower_priority_pods(cluster: Cluster, policy: Policy) -> None:
    a = cluster.node("a", cpu="1")
    high = policy.priority("high", 1000)
    # A high-priority pod nominated to a (as a preemption would) that cannot bind yet:
    # it waits for a label no node has.
    cluster.pod("waiting", cpu="800m", spec={"nodeSelector": {"ready-for": "waiting"}, **high})
    cluster.wait_unschedulable("waiting")
    cluster.core.patch_namespaced_pod_status("waiting", cluster.ns, {"status": {"nominatedNodeName": a}})
    cluster.pod("filler", cpu="500m")
    msg = cluster.wait_unschedulable("filler", "Insufficient cpu")
    assert msg.startswith("0/1 nodes are available: 1 Insufficient cpu.")
    text = wait_for(lambda: "Space held" in (t := explain.format_diagnosis(cluster.get("filler"))) and t, 10,
                    message="explain names the nominated pod")
    assert f"{a}: {cluster.ns}/waiting (priority 1000)" in text
    # Once the nominated pod is gone, its space is free for others.
    cluster.core.delete_namespaced_pod("waiting", cluster.ns, grace_period_seconds=0)
    assert cluster.wait_bound("filler", timeout=15) == {"filler": a}


def test_a_nomination_is_cleared_when_the_pod_is_bound_elsewhere(cluster: Cluster, policy: Policy) -> None:
    a = cluster.node("a", cpu="1")
    b = cluster.node("b", cpu="1")
    high = policy.priority("high", 1000)
    cluster.pod("mover", cpu="100m", spec={"nodeSelector": {"ready-for": "mover"}, **high})
    cluster.wait_unschedulable("mover")
    cluster.core.patch_namespaced_pod_status("mover", cluster.ns, {"status": {"nominatedNodeName": a}})
    cluster.core.patch_node(b, {"metadata": {"labels": {"ready-for": "mover"}}})
    assert cluster.wait_bound("mover") == {"mover": b}
    wait_for(lambda: not cluster.get("mover")["status"].get("nominatedNodeName"), 10,
             message="nominatedNodeName cleared")
