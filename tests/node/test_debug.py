"""``kubectl debug`` on a real Docker engine: an ephemeral container added to a running
pod starts in the pod, in its target container's PID namespace, reports
``ephemeralContainerStatuses``, is never restarted, can be attached to, and goes with the
pod. On the process runtime, a debugger is one more host process."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import IMAGE, Agent, pod_manifest
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


def test_kubectl_debug_it_gives_a_terminal_in_the_target(
        core: Any, namespace: str, server: processes.ServerProcess) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("tty", [{"name": "main", "command": ["sleep", "3606"]}]))
    wait_for(lambda: condition(core, namespace, "tty", "Ready") == "True", 30, 0.1, "pod Ready")
    controller, terminal = pty.openpty()  # kubectl -t wants a terminal, as a user's shell gives it
    proc = subprocess.Popen([KUBECTL, "--kubeconfig", str(server.kubeconfig), "-n", namespace, "debug", "-it", "tty",
                             f"--image={IMAGE}", "--target=main", "-c", "term", "--", "sh"],
                            stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    seen = b""

    def read_until(wanted: bytes, timeout: float) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while wanted not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {wanted!r} in {seen!r}"
            if select.select([controller], [], [], left)[0]:
                try:
                    seen += os.read(controller, 4096)
                except OSError:  # kubectl closed its terminal
                    assert wanted in seen, f"no {wanted!r} in {seen!r}"

    try:
        wait_for(lambda: "running" in ephemeral_status(core, namespace, "tty", "term").get("state", {}), 60, 0.2,
                 "the debugger runs")
        read_until(b"If you don't see a command prompt", 30)
        os.write(controller, b"echo tty-$((6*7)); [ -t 0 ] && echo on-a-terminal; ps\r")
        read_until(b"sleep 3606", 30)  # the target's process
        assert b"tty-42" in seen and b"on-a-terminal" in seen, seen
        os.write(controller, b"exit\r")
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait()
        os.close(controller)
    assert ephemeral_status(core, namespace, "tty", "term")["restartCount"] == 0


def test_on_the_process_runtime_a_debugger_is_one_more_host_process(
        core: Any, server: processes.ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> None:
    node, namespace = "n-proc-debug", f"pd-{uuid.uuid4().hex[:6]}"
    agent = Agent(kubeconfig=server.kubeconfig, data_dir=tmp_path_factory.mktemp("agent-proc-debug"), node=node,
                  runtime="process").start()
    try:
        wait_for(lambda: any(c.type == "Ready" and c.status == "True" for c in core.read_node(node).status.conditions
                             or []), 30, 0.1, f"node {node} Ready", ignore=(Exception,))
        core.create_namespace({"metadata": {"name": namespace}})
        core.create_namespaced_pod(namespace, {"metadata": {"name": "shell"}, "spec": {
            "nodeName": node, "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "unused-by-the-process-runtime", "command": ["sleep", "3605"]}]}})
        wait_for(lambda: condition(core, namespace, "shell", "Ready") == "True", 30, 0.1, "pod Ready")
        out = kubectl(server, namespace, "debug", "shell", "--image=unused", "--target=main", "-c", "dbg", "--",
                      "sh", "-c", "echo hi from the host; ps -eo args")
        assert out.returncode == 0, out.stderr
        wait_for(lambda: ephemeral_status(core, namespace, "shell", "dbg").get("state", {}).get("terminated"), 30,
                 0.2, "the debugger ran")
        assert ephemeral_status(core, namespace, "shell", "dbg")["state"]["terminated"]["exitCode"] == 0
        logs = kubectl(server, namespace, "logs", "shell", "-c", "dbg").stdout
        assert "hi from the host" in logs and "sleep 3605" in logs, logs  # the host's processes: the target's too
    except AssertionError:
        raise AssertionError(f"the process agent failed:\n{agent.tail()}") from None
    finally:
        try:  # the agent ends the pod's processes; killed first, it would leave them behind
            core.delete_namespaced_pod("shell", namespace)
            wait_for(lambda: not core.list_namespaced_pod(namespace).items, 20, 0.2, "pod gone")
        except Exception:  # noqa: BLE001 - best effort clean-up
            pass
        agent.kill(signal.SIGTERM)
        try:
            core.delete_namespace(namespace)
            core.delete_node(node)
        except Exception:  # noqa: BLE001 - best effort clean-up
            pass
