"""The node says which generation of a pod it has synced (pod generation tracking, GA in
Kubernetes 1.35): ``status.observedGeneration`` and the ``observedGeneration`` of every
condition the agent writes follow ``metadata.generation`` as the spec changes, so a client
can tell when its change has reached the node. A condition another writer owns (a
readiness gate's) is left as that writer wrote it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import pod_manifest
from tests.node.helpers import condition, phase, pod_json

pytestmark = pytest.mark.docker

OWNED = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
GATE = "example.com/gate"


def synced(core: Any, namespace: str, name: str, generation: int) -> bool:
    """Whether the pod is at ``generation`` and the node's status reports it, everywhere."""
    pod = pod_json(core, namespace, name)
    status = pod.get("status") or {}
    by_type = {c["type"]: c for c in status.get("conditions") or []}
    return (pod["metadata"].get("generation") == generation and status.get("observedGeneration") == generation
            and all(by_type.get(kind, {}).get("observedGeneration") == generation for kind in OWNED))


def test_the_status_follows_the_generation_of_the_spec(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("gen", [{"name": "web"}],
                                                       readinessGates=[{"conditionType": GATE}]))
    wait_for(lambda: phase(core, namespace, "gen") == "Running", 20, 0.1, "gen Running")
    wait_for(lambda: synced(core, namespace, "gen", 1), 10, 0.1, "generation 1 observed")

    # A controller's condition for the gate, as controllers write it (no generation).
    core.patch_namespaced_pod_status("gen", namespace, {"status": {"conditions": [{"type": GATE, "status": "True"}]}})
    wait_for(lambda: condition(core, namespace, "gen", "Ready") == "True", 10, 0.1, "Ready through its gate")

    core.patch_namespaced_pod("gen", namespace, {"spec": {"activeDeadlineSeconds": 3600}})
    wait_for(lambda: synced(core, namespace, "gen", 2), 10, 0.1, "generation 2 observed")
    # Tolerations may only be added: the patch, which replaces the list, keeps those the
    # pod has (DefaultTolerationSeconds gave it two).
    core.patch_namespaced_pod("gen", namespace, {"spec": {"tolerations": pod_json(core, namespace, "gen")["spec"][
        "tolerations"] + [{"key": "example.com/maintenance", "operator": "Exists", "effect": "NoSchedule"}]}})
    wait_for(lambda: synced(core, namespace, "gen", 3), 10, 0.1, "generation 3 observed")

    conditions = {c["type"]: c for c in pod_json(core, namespace, "gen")["status"]["conditions"]}
    assert "observedGeneration" not in conditions[GATE]  # the gate's writer did not set one
    assert conditions["Ready"]["status"] == "True" and phase(core, namespace, "gen") == "Running"


def test_a_deadline_set_on_a_running_pod_fails_it_at_that_generation(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("late", [{"name": "web"}]))
    wait_for(lambda: synced(core, namespace, "late", 1) and phase(core, namespace, "late") == "Running", 20, 0.1,
             "late Running at generation 1")
    core.patch_namespaced_pod("late", namespace, {"spec": {"activeDeadlineSeconds": 1}})
    wait_for(lambda: phase(core, namespace, "late") == "Failed", 20, 0.1, "late failed by its deadline")
    status = pod_json(core, namespace, "late")["status"]
    assert (status["reason"], status["observedGeneration"]) == ("DeadlineExceeded", 2)
    assert {c["type"]: c.get("observedGeneration") for c in status["conditions"]} == dict.fromkeys(OWNED, 2)


def test_a_condition_the_agent_owns_changed_by_another_writer_is_put_right(core: Any, namespace: str) -> None:
    """The node lifecycle controller marks the pods of a node it stopped hearing from not
    Ready; once the agent is heard again it says Ready again, as kubelet's status manager
    reconciles what the server holds with what it knows."""
    core.create_namespaced_pod(namespace, pod_manifest("back", [{"name": "web"}]))
    wait_for(lambda: condition(core, namespace, "back", "Ready") == "True", 20, 0.1, "back Ready")
    conditions = pod_json(core, namespace, "back")["status"]["conditions"]
    marked = [{**c, "status": "False"} if c["type"] == "Ready" else c for c in conditions]
    core.patch_namespaced_pod_status("back", namespace, {"status": {"conditions": marked}})
    wait_for(lambda: condition(core, namespace, "back", "Ready") == "True", 15, 0.1, "Ready again")
