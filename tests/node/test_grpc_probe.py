"""A gRPC readiness probe end to end: a real server, a real agent (process runtime: the
container is a host process, pod IP 127.0.0.1) and a container serving the standard gRPC
health service. The pod is Ready while the service answers SERVING, and not Ready, with
kubelet's message in an ``Unhealthy`` event, once it answers NOT_SERVING."""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import Agent
from tests.support import processes

NODE = "n-grpc"
REPO = str(Path(__file__).resolve().parents[2])


@pytest.fixture(scope="module")
def process_agent(server: processes.ServerProcess, core: Any,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    agent = Agent(kubeconfig=server.kubeconfig, data_dir=tmp_path_factory.mktemp("agent-grpc"), node=NODE,
                  runtime="process").start()
    wait_for(lambda: any(c.type == "Ready" and c.status == "True"
                         for c in core.read_node(NODE).status.conditions or []),
             30, 0.1, f"node {NODE} Ready", ignore=(Exception,))
    yield agent
    agent.kill(signal.SIGTERM)
    core.delete_node(NODE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ready(core: Any, ns: str, name: str) -> bool:
    pod = core.read_namespaced_pod(name, ns)
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def test_grpc_readiness_follows_the_health_service(core: Any, namespace: str, process_agent: Agent,
                                                   tmp_path: Path) -> None:
    port, flag = free_port(), tmp_path / "not-serving"
    core.create_namespaced_pod(namespace, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "grpc"},
        "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 2, "containers": [{
            "name": "health", "image": "unused-by-the-process-runtime",
            "command": [sys.executable, "-m", "tests.support.grpchealth", str(port), str(flag)],
            "workingDir": REPO, "env": [{"name": "PYTHONPATH", "value": REPO}],
            "readinessProbe": {"grpc": {"port": port}, "periodSeconds": 1, "failureThreshold": 1}}]}})
    wait_for(lambda: ready(core, namespace, "grpc"), 30, 0.2, "pod Ready through its gRPC probe")
    flag.touch()
    wait_for(lambda: not ready(core, namespace, "grpc"), 15, 0.2, "pod not Ready once NOT_SERVING")
    messages = [e.message for e in core.list_namespaced_event(namespace).items if e.reason == "Unhealthy"]
    assert 'Readiness probe failed: service unhealthy (responded with "NOT_SERVING")' in messages
    flag.unlink()
    wait_for(lambda: ready(core, namespace, "grpc"), 15, 0.2, "pod Ready again once SERVING")
    # A graceful delete completes once the agent has stopped the container (its process).
    core.delete_namespaced_pod("grpc", namespace)
    wait_for(lambda: not any(p.metadata.name == "grpc" for p in core.list_namespaced_pod(namespace).items), 30, 0.2,
             "pod gone, its process stopped by the agent")
