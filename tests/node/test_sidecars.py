"""Native sidecars (init containers with ``restartPolicy: Always``, GA in Kubernetes 1.33)
on a real Docker engine: they start before the app containers and keep running beside
them, count in the pod's readiness, are restarted whatever the pod's restartPolicy, do not
keep a Job's pod from finishing, and stop after the app containers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiException

from tests.conftest import wait_for
from tests.node.conftest import IMAGE, pod_manifest
from tests.node.helpers import condition, container_status, events, phase, pod_json
from tests.support import processes

pytestmark = pytest.mark.docker

KUBECTL = str(Path(sys.executable).parent / "kubectl")
SLEEP = ["sh", "-c", "sleep 3600"]


def sidecar(name: str, command: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "restartPolicy": "Always", "command": command, **extra}


def kubectl_get(server: processes.ServerProcess, namespace: str, name: str) -> list[str]:
    """The pod's row of ``kubectl get pod``: NAME READY STATUS RESTARTS AGE."""
    out = subprocess.run([KUBECTL, "--kubeconfig", str(server.kubeconfig), "-n", namespace, "get", "pod", name,
                          "--no-headers"], capture_output=True, text=True, timeout=30, check=True).stdout
    return out.split()


def test_a_sidecar_runs_beside_the_app_and_counts_in_its_readiness(
        core: Any, namespace: str, server: processes.ServerProcess) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("web", [{"name": "main", "command": SLEEP}],
                                                       initContainers=[sidecar("side", SLEEP)]))
    wait_for(lambda: condition(core, namespace, "web", "Ready") == "True", 30, 0.1, "pod Ready")
    side = container_status(core, namespace, "web", "side", init=True)
    assert "running" in side["state"] and side["started"] is True and side["ready"] is True
    assert side["restartCount"] == 0 and side["containerID"].startswith("docker://")
    assert "running" in container_status(core, namespace, "web", "main")["state"]
    assert phase(core, namespace, "web") == "Running"
    assert condition(core, namespace, "web", "Initialized") == "True"
    assert kubectl_get(server, namespace, "web")[1:3] == ["2/2", "Running"]
    wait_for(lambda: {e["involvedObject"].get("fieldPath") for e in events(core, namespace, "web")
                      if e["reason"] == "Started"} == {"spec.initContainers{side}", "spec.containers{main}"},
             10, 0.1, "a Started event for each")


def test_the_app_starts_only_once_the_sidecar_has_started(core: Any, namespace: str) -> None:
    # The sidecar is started when its startupProbe passes (after ~2 s); the app fails, and
    # would be restarted, if it ran before the sidecar made its file.
    mount = [{"name": "shared", "mountPath": "/shared"}]
    core.create_namespaced_pod(namespace, pod_manifest("ordered", [
        {"name": "main", "command": ["sh", "-c", "test -f /shared/up || exit 1; sleep 3600"], "volumeMounts": mount},
    ], initContainers=[sidecar("side", ["sh", "-c", "sleep 2; touch /shared/up; sleep 3600"], volumeMounts=mount,
                               startupProbe={"exec": {"command": ["test", "-f", "/shared/up"]}, "periodSeconds": 1,
                                             "failureThreshold": 30})],
        volumes=[{"name": "shared", "emptyDir": {}}]))
    wait_for(lambda: condition(core, namespace, "ordered", "Ready") == "True", 40, 0.1, "pod Ready")
    main = container_status(core, namespace, "ordered", "main")
    assert main["restartCount"] == 0 and "running" in main["state"]
    assert container_status(core, namespace, "ordered", "side", init=True)["started"] is True


def test_a_sidecar_that_exits_is_restarted_whatever_the_pods_restart_policy(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("flaky", [{"name": "main", "command": SLEEP}],
                                                       initContainers=[sidecar("side", ["sh", "-c", "sleep 1"])],
                                                       restartPolicy="Never"))
    wait_for(lambda: container_status(core, namespace, "flaky", "side", init=True).get("restartCount", 0) >= 2,
             40, 0.1, "the sidecar restarted twice")
    main = container_status(core, namespace, "flaky", "main")
    assert main["restartCount"] == 0 and "running" in main["state"]
    assert phase(core, namespace, "flaky") == "Running"
    assert condition(core, namespace, "flaky", "Initialized") == "True"


def test_a_jobs_pod_completes_when_its_app_is_done_and_its_sidecar_is_stopped(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("job", [{"name": "main", "command": ["sh", "-c", "sleep 1"]}],
                                                       initContainers=[sidecar("side", SLEEP)],
                                                       restartPolicy="Never"))
    wait_for(lambda: phase(core, namespace, "job") == "Succeeded", 40, 0.1, "pod Succeeded")
    assert "terminated" in container_status(core, namespace, "job", "side", init=True)["state"]
    assert container_status(core, namespace, "job", "main")["state"]["terminated"]["reason"] == "Completed"
    by_type = {c["type"]: c for c in pod_json(core, namespace, "job")["status"]["conditions"]}
    assert (by_type["Initialized"]["status"], by_type["Initialized"].get("reason")) == ("True", "PodCompleted")
    assert by_type["Ready"]["reason"] == "PodCompleted"


def test_sidecars_stop_after_the_app_in_reverse_order(core: Any, namespace: str, tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.touch()
    os.chmod(tmp_path, 0o777)
    os.chmod(log, 0o666)

    def script(name: str, delay: str) -> list[str]:
        # Each one notes when SIGTERM reached it; the app and the later sidecar take their
        # time, so that a sidecar stopped alongside them would write first.
        trap = f"sleep {delay}; echo {name} >> /data/log; exit 0"
        return ["sh", "-c", f'trap "{trap}" TERM; while true; do sleep 0.1; done']

    mount = [{"name": "data", "mountPath": "/data"}]
    core.create_namespaced_pod(namespace, pod_manifest("ordered-stop", [
        {"name": "main", "command": script("main", "1"), "volumeMounts": mount},
    ], initContainers=[sidecar("first", script("first", "0"), volumeMounts=mount),
                       sidecar("second", script("second", "0.5"), volumeMounts=mount)],
        volumes=[{"name": "data", "hostPath": {"path": str(tmp_path)}}], terminationGracePeriodSeconds=20))
    wait_for(lambda: condition(core, namespace, "ordered-stop", "Ready") == "True", 30, 0.1, "pod Ready")
    core.delete_namespaced_pod("ordered-stop", namespace)

    def gone() -> bool:
        try:
            pod_json(core, namespace, "ordered-stop")
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, 30, 0.1, "pod deleted")
    assert log.read_text().split() == ["main", "second", "first"]
