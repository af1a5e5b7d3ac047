"""Pod readiness gates and the conditions of other writers, end to end: a real server, a
real agent (process runtime: containers are host processes) and conditions patched onto
the pods' status as a load-balancer controller would.

As kubelet: a pod whose readiness gate's condition is missing or not True stays
``Ready=False`` (``ReadinessGatesNotReady``, upstream's messages) while ``ContainersReady``
is True, becomes Ready when another writer sets the condition True, and every condition
the agent does not own survives the agent's own status writes.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import Agent
from tests.node.helpers import pod_json
from tests.support import processes

NODE = "n-gates"
GATE = "sweep.io/gate"


@pytest.fixture(scope="module")
def gate_agent(server: processes.ServerProcess, core: Any,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    agent = Agent(kubeconfig=server.kubeconfig, data_dir=tmp_path_factory.mktemp("agent-gates"), node=NODE,
                  runtime="process").start()
    try:
        wait_for(lambda: any(c.type == "Ready" and c.status == "True"
                             for c in core.read_node(NODE).status.conditions or []),
                 30, 0.1, f"node {NODE} Ready", ignore=(Exception,))
    except AssertionError:
        agent.kill(signal.SIGKILL)
        raise AssertionError(f"agent never became ready:\n{agent.tail()}") from None
    yield agent
    agent.kill(signal.SIGTERM)
    core.delete_node(NODE)


@pytest.fixture
def ns(core: Any, gate_agent: Agent) -> Iterator[str]:
    name = f"g-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_collection_namespaced_pod(name)  # stopped by the agent, process groups and all
    wait_for(lambda: not core.list_namespaced_pod(name).items, 20, 0.2, "pods gone")
    core.delete_namespace(name)


def sleeper(name: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "app", "image": "unused-by-the-process-runtime", "command": ["sleep", "3600"]}
    container.update(spec.pop("container", {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": [container], **spec}}


def conditions(core: Any, ns: str, name: str) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (pod_json(core, ns, name).get("status") or {}).get("conditions") or []}


def set_condition(core: Any, ns: str, name: str, kind: str, status: str) -> None:
    """As a controller does: a strategic-merge patch of the status, merged by type."""
    core.patch_namespaced_pod_status(name, ns, {"status": {"conditions": [
        {"type": kind, "status": status, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})


def test_ready_waits_for_the_readiness_gate_condition(core: Any, ns: str) -> None:
    core.create_namespaced_pod(ns, sleeper("gated", readinessGates=[{"conditionType": GATE}]))
    wait_for(lambda: conditions(core, ns, "gated").get("ContainersReady", {}).get("status") == "True", 30, 0.1,
             "the container ready")
    time.sleep(1.0)  # the agent has had every chance to call the pod Ready
    ready = conditions(core, ns, "gated")["Ready"]
    assert (ready["status"], ready.get("reason"), ready.get("message")) == (
        "False", "ReadinessGatesNotReady",
        f'corresponding condition of pod readiness gate "{GATE}" does not exist.')
    assert pod_json(core, ns, "gated")["status"]["phase"] == "Running"

    set_condition(core, ns, "gated", GATE, "False")
    wait_for(lambda: conditions(core, ns, "gated")["Ready"].get("message") ==
             f'the status of pod readiness gate "{GATE}" is not "True", but False', 10, 0.1,
             "Ready explained by the gate's False condition")
    assert conditions(core, ns, "gated")["Ready"]["status"] == "False"

    # Another writer turns the gate True (a status-only change): the agent notices.
    set_condition(core, ns, "gated", GATE, "True")
    wait_for(lambda: conditions(core, ns, "gated")["Ready"]["status"] == "True", 10, 0.1, "pod Ready")
    final = conditions(core, ns, "gated")
    assert final[GATE]["status"] == "True"
    assert "reason" not in final["Ready"] and "message" not in final["Ready"]
    assert final["ContainersReady"]["status"] == "True"

    # And back: a gate that turns False again makes the pod unready again.
    set_condition(core, ns, "gated", GATE, "False")
    wait_for(lambda: conditions(core, ns, "gated")["Ready"]["status"] == "False", 10, 0.1, "pod unready again")
    assert conditions(core, ns, "gated")["Ready"]["reason"] == "ReadinessGatesNotReady"


def test_the_agent_keeps_conditions_it_does_not_own(core: Any, ns: str, tmp_path: Path) -> None:
    flag = tmp_path / "ready"
    probe = {"readinessProbe": {"exec": {"command": ["test", "-e", str(flag)]}, "periodSeconds": 1,
                                "failureThreshold": 1}}
    core.create_namespaced_pod(ns, sleeper("mixed", container=probe))
    # Patched in at once, racing the agent's first status writes, as in the report.
    set_condition(core, ns, "mixed", "sweep.io/other", "True")
    wait_for(lambda: pod_json(core, ns, "mixed")["status"].get("phase") == "Running", 30, 0.1, "pod Running")
    set_condition(core, ns, "mixed", "example.com/later", "False")
    flag.touch()  # the readiness probe passes: the agent writes Ready=True
    wait_for(lambda: conditions(core, ns, "mixed").get("Ready", {}).get("status") == "True", 15, 0.1, "pod Ready")
    flag.unlink()  # and fails: the agent writes Ready=False
    wait_for(lambda: conditions(core, ns, "mixed")["Ready"]["status"] == "False", 15, 0.1, "pod unready")
    found = conditions(core, ns, "mixed")
    assert found["sweep.io/other"]["status"] == "True"
    assert found["example.com/later"]["status"] == "False"
    assert found["example.com/later"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"  # untouched
    assert {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"} <= set(found)
    assert [c["type"] for c in pod_json(core, ns, "mixed")["status"]["conditions"]].count("Ready") == 1
