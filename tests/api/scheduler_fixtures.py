"""Fixtures for the scheduler's API tests: a private ``kubelite server`` (so no other
test's nodes change the count of nodes a message reports), and a ``cluster`` helper
that creates fake Nodes (status set directly, no agent) and pods, and deletes every
node it made when the test ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.support import processes


@pytest.fixture(scope="module")
def sched_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.ServerProcess]:
    srv = processes.ServerProcess(data_dir=tmp_path_factory.mktemp("kubelite-sched"),
                                  extra_args=["--disable-controllers"])
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def core(sched_server: processes.ServerProcess) -> Iterator[Any]:
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(Path(sched_server.kubeconfig)), client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        yield client.CoreV1Api(api)


class Cluster:
    def __init__(self, core: Any, namespace: str) -> None:
        self.core = core
        self.ns = namespace
        self.nodes: list[str] = []

    def node(self, name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
             labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None,
             ready: bool = True, unschedulable: bool = False) -> str:
        name = f"{name}-{self.ns}"
        alloc = {"cpu": cpu, "memory": memory, "pods": pods}
        if not ready:  # what the node lifecycle controller (not run here) would add
            taints = [*(taints or []), {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]
        self.core.create_node({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"capacity": alloc, "allocatable": alloc,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}})
        self.nodes.append(name)
        return name

    def pod(self, name: str, *, cpu: str = "", memory: str = "", spec: dict[str, Any] | None = None,
            labels: dict[str, str] | None = None, ports: list[dict[str, Any]] | None = None) -> str:
        requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
        container: dict[str, Any] = {"name": "c", "image": "registry.k8s.io/pause:3.9",
                                     "resources": {"requests": requests}}
        if ports:
            container["ports"] = ports
        self.core.create_namespaced_pod(self.ns, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"containers": [container], "terminationGracePeriodSeconds": 0, **(spec or {})}})
        return name

    def get(self, name: str) -> dict[str, Any]:
        return self.core.api_client.sanitize_for_serialization(self.core.read_namespaced_pod(name, self.ns))

    def node_of(self, name: str) -> str:
        return self.get(name)["spec"].get("nodeName") or ""

    def wait_bound(self, *names: str, timeout: float = 10.0) -> dict[str, str]:
        wait_for(lambda: all(self.node_of(n) for n in names), timeout, message=f"pods {names} bound")
        return {n: self.node_of(n) for n in names}

    def unschedulable_message(self, name: str) -> str:
        for c in self.get(name).get("status", {}).get("conditions") or []:
            if c.get("type") == "PodScheduled" and c.get("status") == "False":
                return str(c.get("message") or "")
        return ""

    def wait_unschedulable(self, name: str, contains: str = "", timeout: float = 10.0) -> str:
        return wait_for(lambda: contains in (m := self.unschedulable_message(name)) and m, timeout,
                        message=f"pod {name} reported unschedulable with {contains!r}")

    def cleanup(self) -> None:
        self.core.delete_collection_namespaced_pod(self.ns, grace_period_seconds=0)
        for n in self.nodes:
            self.core.delete_node(n)


@pytest.fixture
def cluster(core: Any) -> Iterator[Cluster]:
    ns = f"s{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    c = Cluster(core, ns)
    yield c
    c.cleanup()
