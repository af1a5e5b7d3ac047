"""A second delete with a shorter grace period hurries a pod that is already terminating,
as kubelet does (``kubectl delete pod x`` and then ``kubectl delete pod x --grace-period=2``):
a real server and agent (process runtime), a container that ignores SIGTERM."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client import ApiException

from tests.conftest import wait_for
from tests.node.conftest import Agent
from tests.support import processes

NODE = "n-grace"


@pytest.fixture(scope="module")
def grace_agent(server: processes.ServerProcess, core: Any,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    agent = Agent(kubeconfig=server.kubeconfig, data_dir=tmp_path_factory.mktemp("agent-grace"), node=NODE,
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


def gone(core: Any, ns: str, name: str) -> bool:
    try:
        core.read_namespaced_pod(name, ns)
    except ApiException as exc:
        return exc.status == 404
    return False


def test_a_shorter_grace_period_hurries_a_terminating_pod(core: Any, grace_agent: Agent) -> None:
    ns = f"gr-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": ns}})
    try:
        # SIGTERM is ignored (inherited by sleep): only the grace period's SIGKILL stops it
        core.create_namespaced_pod(ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stubborn"}, "spec": {
            "nodeName": NODE, "terminationGracePeriodSeconds": 60,
            "containers": [{"name": "app", "image": "unused", "command": ["sh", "-c", "trap '' TERM; exec sleep 3600"]}]}})
        wait_for(lambda: (core.read_namespaced_pod("stubborn", ns).status.phase == "Running"), 30, 0.1, "running")
        core.delete_namespaced_pod("stubborn", ns)  # grace 60 s
        wait_for(lambda: core.read_namespaced_pod("stubborn", ns).metadata.deletion_timestamp is not None, 5, 0.1,
                 "terminating")
        started = time.monotonic()
        core.delete_namespaced_pod("stubborn", ns, grace_period_seconds=2)
        assert core.read_namespaced_pod("stubborn", ns).metadata.deletion_grace_period_seconds == 2
        wait_for(lambda: gone(core, ns, "stubborn"), 20, 0.1, "the pod gone well before its first 60 s")
        assert time.monotonic() - started < 15
    finally:
        core.delete_namespace(ns)
