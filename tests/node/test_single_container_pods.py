"""Single-container pods run as one Docker container (no pause sandbox) yet keep upstream
pod semantics: one IP for the pod's whole life, env ``status.podIP`` known at the first
start, hostname and hostPort, ``logs --previous``, adoption by a restarted agent. Pods
with several containers keep their pause sandbox, on the same pod network."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import Agent, pod_manifest
from tests.node.helpers import container_status, http_get, phase, pod_json

pytestmark = pytest.mark.docker


def containers_of(uid: str, *, running: bool = False) -> list[dict[str, Any]]:
    """Every container of the pod (any state), as ``docker inspect`` shows it."""
    args = ["docker", "ps", "-q", "--filter", f"label=io.kubelite.pod-uid={uid}"] + ([] if running else ["-a"])
    ids = subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()
    if not ids:
        return []
    out = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout
    return list(json.loads(out))


def kinds(uid: str) -> list[str]:
    return sorted(c["Config"]["Labels"]["io.kubelite.kind"] for c in containers_of(uid))


def ip_of(container: dict[str, Any]) -> str:
    return str(container["NetworkSettings"]["Networks"].get("kubelite", {}).get("IPAddress") or "")


def running_ips(uid: str) -> list[str]:
    return [ip_of(c) for c in containers_of(uid, running=True)]


def test_single_container_pod_has_no_pause_and_keeps_its_ip_across_a_crash(core: Any, namespace: str) -> None:
    env = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    core.create_namespaced_pod(namespace, pod_manifest("solo", [{
        "name": "app", "env": env,
        "command": ["sh", "-c", "echo ip=$POD_IP host=$(hostname); sleep 2; exit 3"]}]))
    wait_for(lambda: phase(core, namespace, "solo") == "Running", 20, 0.1, "solo Running")
    pod = pod_json(core, namespace, "solo")
    uid, pod_ip = pod["metadata"]["uid"], pod["status"]["podIP"]
    assert kinds(uid) == ["app"]  # no sandbox container
    assert wait_for(lambda: running_ips(uid), 10, 0.1, "app container running") == [pod_ip]
    wait_for(lambda: f"ip={pod_ip} host=solo" in core.read_namespaced_pod_log("solo", namespace), 10, 0.2,
             "env status.podIP and the hostname printed")

    # the container crashes; its replacement is a new container with the same address
    wait_for(lambda: container_status(core, namespace, "solo", "app").get("restartCount", 0) >= 1
             and running_ips(uid) == [pod_ip], 20, 0.2, "restarted on the same IP")
    assert pod_json(core, namespace, "solo")["status"]["podIP"] == pod_ip
    assert kinds(uid) == ["app", "app"]  # the exited one is kept for --previous
    previous = core.read_namespaced_pod_log("solo", namespace, previous=True)
    assert f"ip={pod_ip} host=solo" in previous


def test_two_container_pod_keeps_a_pause_sandbox_on_the_pod_network(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("pair", [
        {"name": "web"}, {"name": "side", "command": ["sleep", "3600"]}]))
    wait_for(lambda: phase(core, namespace, "pair") == "Running", 20, 0.1, "pair Running")
    pod = pod_json(core, namespace, "pair")
    uid, pod_ip = pod["metadata"]["uid"], pod["status"]["podIP"]
    assert kinds(uid) == ["app", "app", "sandbox"]
    sandbox = next(c for c in containers_of(uid) if c["Config"]["Labels"]["io.kubelite.kind"] == "sandbox")
    assert ip_of(sandbox) == pod_ip and sandbox["Config"]["Labels"]["io.kubelite.pod-ip"] == pod_ip
    assert wait_for(lambda: http_get(pod_ip), 10, 0.1, "HTTP answer", ignore=(OSError,)) == "hello from kubelite\n"


def test_host_port_reaches_a_single_container_pod(core: Any, namespace: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    core.create_namespaced_pod(namespace, pod_manifest("hp", [
        {"name": "web", "ports": [{"containerPort": 80, "hostPort": port}]}]))
    wait_for(lambda: phase(core, namespace, "hp") == "Running", 20, 0.1, "hp Running")
    assert kinds(pod_json(core, namespace, "hp")["metadata"]["uid"]) == ["app"]
    assert wait_for(lambda: http_get("127.0.0.1", port), 10, 0.1, "HTTP on the hostPort",
                    ignore=(OSError,)) == "hello from kubelite\n"


def test_restarted_agent_adopts_a_single_container_pod_on_its_ip(core: Any, namespace: str, agent: Agent) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("steady", [{"name": "web"}]))
    core.create_namespaced_pod(namespace, pod_manifest("victim", [{"name": "app", "command": ["sleep", "3600"]}]))
    for name in ("steady", "victim"):
        wait_for(lambda n=name: phase(core, namespace, n) == "Running", 20, 0.1, f"{name} Running")
    steady, victim = pod_json(core, namespace, "steady"), pod_json(core, namespace, "victim")
    steady_before = [c["Id"] for c in containers_of(steady["metadata"]["uid"])]
    victim_ip = victim["status"]["podIP"]

    agent.kill(signal.SIGKILL)
    # While the agent is down the victim's only container dies: the restarted agent must
    # replace it on the same address, knowing the pod only from container labels.
    subprocess.run(["docker", "kill", *[c["Id"] for c in containers_of(victim["metadata"]["uid"], running=True)]],
                   capture_output=True, check=True)
    agent.start()

    vuid = victim["metadata"]["uid"]
    wait_for(lambda: running_ips(vuid) == [victim_ip] and kinds(vuid) == ["app", "app"], 30, 0.2,
             f"victim restarted once on {victim_ip}:\n{agent.tail()}")
    wait_for(lambda: container_status(core, namespace, "victim", "app").get("restartCount") == 1, 20, 0.2,
             "status caught up")
    assert pod_json(core, namespace, "victim")["status"]["podIP"] == victim_ip
    # the untouched pod was adopted: the same single container, never a second copy
    assert [c["Id"] for c in containers_of(steady["metadata"]["uid"])] == steady_before
    assert pod_json(core, namespace, "steady")["status"]["podIP"] == steady["status"]["podIP"]
