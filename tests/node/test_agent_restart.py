"""A node agent killed with SIGKILL and started again adopts its containers: never a
second copy, status catches up, and pods deleted meanwhile lose their containers. Stopped
with SIGTERM, it exits cleanly and leaves them running, as kubelet does."""

from __future__ import annotations

import signal
import subprocess
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import Agent, pod_manifest
from tests.node.helpers import container_status, phase, pod_json

pytestmark = pytest.mark.docker


def containers_of(uid: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-a", "--filter", f"label=io.kubelite.pod-uid={uid}",
                          "--format", '{{.Label "io.kubelite.kind"}}/{{.Label "io.kubelite.container"}}/{{.State}}'],
                         capture_output=True, text=True, check=True).stdout.split()
    return sorted(out)


def test_restarted_agent_adopts_containers_and_catches_up(core: Any, namespace: str, agent: Agent) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("keep", [
        {"name": "web"}, {"name": "sleeper", "command": ["sleep", "3600"]}]))
    core.create_namespaced_pod(namespace, pod_manifest("doomed", [{"name": "web"}]))
    for name in ("keep", "doomed"):
        wait_for(lambda n=name: phase(core, namespace, n) == "Running", 20, 0.1, f"{name} Running")
    keep_uid = pod_json(core, namespace, "keep")["metadata"]["uid"]
    doomed_uid = pod_json(core, namespace, "doomed")["metadata"]["uid"]
    before = containers_of(keep_uid)
    assert before == ["app/sleeper/running", "app/web/running", "sandbox//running"]

    agent.kill(signal.SIGKILL)
    # While the agent is down: a container dies, and a pod is force-deleted from the API.
    sleeper = subprocess.run(["docker", "ps", "-q", "--filter", f"label=io.kubelite.pod-uid={keep_uid}",
                              "--filter", "label=io.kubelite.container=sleeper"],
                             capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["docker", "kill", *sleeper], capture_output=True, check=True)
    core.delete_namespaced_pod("doomed", namespace, grace_period_seconds=0)
    agent.start()

    # exactly one running container per pod container (the dead sleeper kept as lastState)
    wait_for(lambda: containers_of(keep_uid) == ["app/sleeper/exited", "app/sleeper/running",
                                                 "app/web/running", "sandbox//running"],
             30, 0.2, "sleeper restarted once, web adopted")
    wait_for(lambda: container_status(core, namespace, "keep", "sleeper").get("restartCount") == 1
             and "running" in container_status(core, namespace, "keep", "sleeper").get("state", {}),
             20, 0.2, "status caught up")
    assert container_status(core, namespace, "keep", "web")["restartCount"] == 0
    wait_for(lambda: containers_of(doomed_uid) == [], 40, 0.2, "orphaned containers removed")


def test_an_agent_stopped_by_sigterm_leaves_its_containers_to_the_next(core: Any, namespace: str,
                                                                        agent: Agent) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("stay", [{"name": "web"}]))
    wait_for(lambda: phase(core, namespace, "stay") == "Running", 20, 0.1, "stay Running")
    uid = pod_json(core, namespace, "stay")["metadata"]["uid"]
    before = container_status(core, namespace, "stay", "web")["containerID"]

    agent.kill(signal.SIGTERM)
    assert agent.proc is not None and agent.proc.returncode == 0, agent.tail()
    assert containers_of(uid) == ["app/web/running"]  # the engine's containers outlive the agent

    agent.start()
    # A spec change the new agent must sync: once it reports the new generation, it has
    # looked at the pod, and adopted the container rather than starting another.
    core.patch_namespaced_pod("stay", namespace, {"spec": {"activeDeadlineSeconds": 3600}})
    wait_for(lambda: pod_json(core, namespace, "stay")["status"].get("observedGeneration") == 2, 30, 0.2,
             f"the new agent synced the pod:\n{agent.tail()}")
    assert containers_of(uid) == ["app/web/running"]
    web = container_status(core, namespace, "stay", "web")
    assert (web["containerID"], web["restartCount"]) == (before, 0)
