"""``kubectl debug`` on a real Docker engine: an ephemeral container added to a running
pod starts in the pod, in its target container's PID namespace, reports
``ephemeralContainerStatuses``, is never restarted, can be attached to, and goes with the
pod."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import IMAGE, pod_manifest
from tests.node.helpers import condition, container_status, pod_json
from tests.support import processes

pytestmark = pytest.mark.docker

KUBECTL = str(Path(sys.executable).parent / "kubectl")


def kubectl(server: processes.ServerProcess, namespace: str, *args: str, stdin: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, "--kubeconfig", str(server.kubeconfig), "-n", namespace, *args],
                          capture_output=True, text=True, input=stdin, timeout=timeout, check=False)


def ephemeral_status(core: Any, namespace: str, pod: str, name: str) -> dict[str, Any]:
    for st in (pod_json(core, namespace, pod).get("status") or {}).get("ephemeralContainerStatuses") or []:
        if st.get("name") == name:
            return dict(st)
    return {}


def docker_ids(pod_uid: str) -> list[str]:
    return subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.kubelite.pod-uid={pod_uid}"],
                          capture_output=True, text=True, timeout=30).stdout.split()


def test_kubectl_debug_targets_a_container_and_sees_its_processes(
        core: Any, namespace: str, server: processes.ServerProcess) -> None:
    # one container: the pod has no sandbox container, the debugger joins that container's network
    core.create_namespaced_pod(namespace, pod_manifest("app", [{"name": "main", "command": ["sleep", "3601"]}]))
    wait_for(lambda: condition(core, namespace, "app", "Ready") == "True", 30, 0.1, "pod Ready")
    out = kubectl(server, namespace, "debug", "app", f"--image={IMAGE}", "--target=main", "-c", "dbg", "--",
                  "sh", "-c", "echo hi from the debugger; ps; sleep 2")
    assert out.returncode == 0, out.stderr
    wait_for(lambda: ephemeral_status(core, namespace, "app", "dbg").get("state", {}).get("terminated"), 60, 0.2,
             "the debugger ran and finished")
    status = ephemeral_status(core, namespace, "app", "dbg")
    assert status["state"]["terminated"]["exitCode"] == 0 and status["state"]["terminated"]["reason"] == "Completed"
    assert status["restartCount"] == 0 and status["ready"] is False and "started" not in status
    assert status["containerID"].startswith("docker://") and status["image"] == IMAGE and status["imageID"]
    logs = kubectl(server, namespace, "logs", "app", "-c", "dbg")
    assert logs.returncode == 0, logs.stderr
    assert "hi from the debugger" in logs.stdout
    assert "sleep 3601" in logs.stdout, logs.stdout  # the target's process, in the debugger's ps
    # the pod is as it was: the debugger counts neither in its readiness nor as a restart
    assert condition(core, namespace, "app", "Ready") == "True"
    main = container_status(core, namespace, "app", "main")
    assert main["restartCount"] == 0 and "running" in main["state"]
    # never restarted (the pod's restartPolicy is Always): still the one terminated instance
    uid = pod_json(core, namespace, "app")["metadata"]["uid"]
    assert len(docker_ids(uid)) == 2
    assert ephemeral_status(core, namespace, "app", "dbg")["containerID"] == status["containerID"]


def test_kubectl_debug_interactive_attaches_and_goes_with_the_pod(
        core: Any, namespace: str, server: processes.ServerProcess) -> None:
    # two containers: a sandbox container holds the pod's namespaces
    core.create_namespaced_pod(namespace, pod_manifest("two", [{"name": "main", "command": ["sleep", "3602"]},
                                                               {"name": "other", "command": ["sleep", "3603"]}]))
    wait_for(lambda: condition(core, namespace, "two", "Ready") == "True", 30, 0.1, "pod Ready")
    # stdin stays open until the shell exits, as a user's terminal does: Docker ends an
    # attach's output when its stdin closes (the container is not stdinOnce)
    proc = subprocess.Popen([KUBECTL, "--kubeconfig", str(server.kubeconfig), "-n", namespace, "debug", "-i", "two",
                             f"--image={IMAGE}", "--target=other", "-c", "shell", "--", "sh"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("echo typed-$((40+2)); ps; exit 3\n")
        proc.stdin.flush()
        proc.wait(timeout=60)
        typed = proc.stdout.read()
    finally:
        proc.kill()
        proc.communicate()
    assert "typed-42" in typed, typed
    assert "sleep 3603" in typed and "sleep 3602" not in typed, typed  # the target's PID namespace, not the pod's
    wait_for(lambda: ephemeral_status(core, namespace, "two", "shell").get("state", {}).get("terminated"), 30, 0.2,
             "the shell exited")
    assert ephemeral_status(core, namespace, "two", "shell")["state"]["terminated"]["exitCode"] == 3
    # a debugger that still runs is stopped with the pod
    out = kubectl(server, namespace, "debug", "two", f"--image={IMAGE}", "-c", "idle", "--", "sleep", "3604")
    assert out.returncode == 0, out.stderr
    wait_for(lambda: "running" in ephemeral_status(core, namespace, "two", "idle").get("state", {}), 60, 0.2,
             "the second debugger runs")
    uid = pod_json(core, namespace, "two")["metadata"]["uid"]
    core.delete_namespaced_pod("two", namespace)
    wait_for(lambda: not docker_ids(uid), 60, 0.2, "every container of the pod removed")
