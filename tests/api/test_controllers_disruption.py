"""PodDisruptionBudget status through the API: the numbers for minAvailable and
maxUnavailable (integers and percentages), the DisruptionAllowed condition, and
disruptedPods entries that expire."""

from __future__ import annotations

import datetime
from typing import Any

from kubernetes import client

from tests.api.test_controllers_support import deployment, fake_kubelet, mark_ready
from tests.conftest import wait_for


def _pdb(policy: client.PolicyV1Api, ns: str, name: str, *, app: str, **spec: Any) -> None:
    policy.create_namespaced_pod_disruption_budget(ns, {"metadata": {"name": name}, "spec": {
        "selector": {"matchLabels": {"app": app}}, **spec}})


def _numbers(policy: client.PolicyV1Api, ns: str, name: str) -> tuple[Any, ...] | None:
    """(expectedPods, currentHealthy, desiredHealthy, disruptionsAllowed) once observed."""
    pdb = policy.read_namespaced_pod_disruption_budget(name, ns)
    s = pdb.status
    if s is None or s.observed_generation != pdb.metadata.generation:
        return None
    return (s.expected_pods, s.current_healthy, s.desired_healthy, s.disruptions_allowed)


def _condition(policy: client.PolicyV1Api, ns: str, name: str) -> tuple[str, str]:
    s = policy.read_namespaced_pod_disruption_budget(name, ns).status
    (cond,) = [c for c in s.conditions or [] if c.type == "DisruptionAllowed"]
    return cond.status, cond.reason


def test_min_available_counts_selected_ready_pods(k8s, namespace):
    core, policy = client.CoreV1Api(k8s), client.PolicyV1Api(k8s)
    for i in range(3):
        core.create_namespaced_pod(namespace, {"metadata": {"name": f"db-{i}", "labels": {"app": "db"}},
                                               "spec": {"containers": [{"name": "c", "image": "db"}]}})
    for i in range(2):
        mark_ready(core, core.read_namespaced_pod(f"db-{i}", namespace), ip=f"10.5.0.{i + 1}")
    _pdb(policy, namespace, "db", app="db", minAvailable=1)
    wait_for(lambda: _numbers(policy, namespace, "db") == (3, 2, 1, 1), 10, message="minAvailable 1 status")
    assert _condition(policy, namespace, "db") == ("True", "SufficientPods")

    policy.patch_namespaced_pod_disruption_budget("db", namespace, {"spec": {"minAvailable": 2}})
    wait_for(lambda: _numbers(policy, namespace, "db") == (3, 2, 2, 0), 10, message="minAvailable 2 status")
    assert _condition(policy, namespace, "db") == ("False", "InsufficientPods")

    # A pod being deleted is not healthy any more.
    policy.patch_namespaced_pod_disruption_budget("db", namespace, {"spec": {"minAvailable": 1}})
    core.patch_namespaced_pod("db-0", namespace, {"metadata": {"finalizers": ["example.com/hold"]}})
    core.delete_namespaced_pod("db-0", namespace)
    wait_for(lambda: _numbers(policy, namespace, "db") == (3, 1, 1, 0), 10, message="terminating pod unhealthy")
    core.patch_namespaced_pod("db-0", namespace, {"metadata": {"finalizers": None}})


def test_max_unavailable_and_percentages_use_the_controllers_scale(k8s, namespace):
    apps, policy = client.AppsV1Api(k8s), client.PolicyV1Api(k8s)
    core = client.CoreV1Api(k8s)
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=3))
    with fake_kubelet(core, namespace):
        wait_for(lambda: apps.read_namespaced_deployment("web", namespace).status.ready_replicas == 3, 15,
                 message="3 ready replicas")
        _pdb(policy, namespace, "max-int", app="web", maxUnavailable=1)
        _pdb(policy, namespace, "max-pct", app="web", maxUnavailable="50%")  # ceil(1.5) = 2 may go
        _pdb(policy, namespace, "min-pct", app="web", minAvailable="50%")  # ceil(1.5) = 2 must stay
        wait_for(lambda: _numbers(policy, namespace, "max-int") == (3, 3, 2, 1), 10, message="maxUnavailable 1")
        wait_for(lambda: _numbers(policy, namespace, "max-pct") == (3, 3, 1, 2), 10, message="maxUnavailable 50%")
        wait_for(lambda: _numbers(policy, namespace, "min-pct") == (3, 3, 2, 1), 10, message="minAvailable 50%")

        # The expected count is the Deployment's scale, ahead of the pods.
        apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 5}})
        wait_for(lambda: _numbers(policy, namespace, "max-pct") == (5, 5, 2, 3), 15, message="scaled to 5")


def test_disrupted_pods_are_not_healthy_until_they_expire(k8s, namespace):
    core, policy = client.CoreV1Api(k8s), client.PolicyV1Api(k8s)
    for i in range(3):
        core.create_namespaced_pod(namespace, {"metadata": {"name": f"q-{i}", "labels": {"app": "q"}},
                                               "spec": {"containers": [{"name": "c", "image": "q"}]}})
        mark_ready(core, core.read_namespaced_pod(f"q-{i}", namespace), ip=f"10.6.0.{i + 1}")
    _pdb(policy, namespace, "q", app="q", minAvailable=1)
    wait_for(lambda: _numbers(policy, namespace, "q") == (3, 3, 1, 2), 10, message="initial status")

    now = datetime.datetime.now(datetime.UTC)
    stamp = (now - datetime.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = (now - datetime.timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # What the eviction subresource records: q-0 granted just now, q-1 long ago.
    status = policy.read_namespaced_pod_disruption_budget("q", namespace).status
    policy.patch_namespaced_pod_disruption_budget_status("q", namespace, {"status": {
        "disruptionsAllowed": status.disruptions_allowed - 1, "disruptedPods": {"q-0": stamp, "q-1": old}}})

    def disrupted() -> dict[str, Any]:
        return dict(policy.read_namespaced_pod_disruption_budget("q", namespace).status.disrupted_pods or {})

    wait_for(lambda: list(disrupted()) == ["q-0"] and _numbers(policy, namespace, "q") == (3, 2, 1, 1), 10,
             message="q-0 disrupted, q-1's entry expired")
    # Deleted pods leave the list.
    core.delete_namespaced_pod("q-0", namespace, grace_period_seconds=0)
    wait_for(lambda: not disrupted() and _numbers(policy, namespace, "q") == (2, 2, 1, 1), 10,
             message="deleted pod forgotten")


def test_unmanaged_pods_with_max_unavailable_allow_nothing(k8s, namespace):
    core, policy = client.CoreV1Api(k8s), client.PolicyV1Api(k8s)
    core.create_namespaced_pod(namespace, {"metadata": {"name": "solo", "labels": {"app": "solo"}},
                                           "spec": {"containers": [{"name": "c", "image": "s"}]}})
    mark_ready(core, core.read_namespaced_pod("solo", namespace))
    _pdb(policy, namespace, "solo", app="solo", maxUnavailable=1)
    wait_for(lambda: _numbers(policy, namespace, "solo") == (0, 1, 0, 0), 10, message="no expected pods")
    wait_for(lambda: any(e.reason == "UnmanagedPods" and e.type == "Warning"
                         for e in core.list_namespaced_event(namespace).items), 10, message="UnmanagedPods event")


def test_a_disruption_that_did_not_happen_is_reset_after_two_minutes(k8s, namespace):  # type: ignore[no-untyped-def]
    core = client.CoreV1Api(k8s)
    now = datetime.datetime.now(datetime.UTC)

    def marked(name: str, since: datetime.datetime) -> None:
        core.create_namespaced_pod(namespace, {"metadata": {"name": name}, "spec": {
            "containers": [{"name": "c", "image": "busybox"}]}})
        core.patch_namespaced_pod_status(name, namespace, {"status": {"conditions": [{
            "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
            "message": "preempted", "lastTransitionTime": since.strftime("%Y-%m-%dT%H:%M:%SZ")}]}})

    def target(name: str) -> Any:
        conds = core.read_namespaced_pod(name, namespace).status.conditions or []
        return next((c for c in conds if c.type == "DisruptionTarget"), None)

    marked("recent", now)
    marked("stale", now - datetime.timedelta(minutes=3))
    reset = wait_for(lambda: (c := target("stale")) is not None and c.status == "False" and c, timeout=15)
    assert reset.reason is None and reset.message is None
    # the recent mark was seen first and is not two minutes old: it stands
    assert target("recent").status == "True"
