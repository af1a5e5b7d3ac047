"""The node agent's ``/metrics``, as kubelet's: a running pod shows in kubelet_running_pods
and kubelet_running_containers, and its start in kubelet_pod_start_duration_seconds; the
endpoint wants the same bearer token as logs and exec."""

from __future__ import annotations

from typing import Any

import requests as http
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import wait_for
from tests.node.conftest import NODE, Agent, pod_manifest


def scrape(url: str, token: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    resp = http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(resp.text) for s in f.samples}


def test_running_pods_containers_and_pod_starts(core: Any, agent: Agent, namespace: str) -> None:
    token = yaml.safe_load(agent.kubeconfig.read_text())["users"][0]["user"]["token"]
    url = core.read_node(NODE).metadata.annotations["kubelite.io/agent-url"]
    core.create_namespaced_pod(namespace, pod_manifest("sleeper", [
        {"name": "a", "command": ["sleep", "3600"]}, {"name": "b", "command": ["sleep", "3600"]}]))
    wait_for(lambda: core.read_namespaced_pod("sleeper", namespace).status.phase == "Running", 60,
             message="pod sleeper Running")

    def counted() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        found = scrape(url, token)
        started = sum(v for (n, _), v in found.items() if n == "kubelet_pod_start_duration_seconds_count")
        return found if started >= 1 else None

    found = wait_for(counted, 15, message="the pod's start counted")
    assert found[("kubelet_running_pods", frozenset())] >= 1
    assert found[("kubelet_running_containers", frozenset({("container_state", "running")}))] >= 2
    assert ("kubelet_running_containers", frozenset({("container_state", "exited")})) in found
    assert found[("process_resident_memory_bytes", frozenset())] > 0

    assert http.get(f"{url}/metrics", timeout=10).status_code == 401
    core.delete_namespaced_pod("sleeper", namespace, grace_period_seconds=0)
