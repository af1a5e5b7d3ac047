"""The EndpointSlice controller through the API: slices follow pod readiness and
termination, Service port changes, and split at 100 endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.api.test_controllers_support import make_node, mark_ready
from tests.conftest import wait_for

MANAGED = "endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io"
# No kubelet runs on the test's node: keep the scheduler from placing other tests' pods there.
FAKE_TAINT = {"key": "kubelite.test/fake-node", "value": "true", "effect": "NoSchedule"}


@pytest.fixture
def zone_node(k8s, namespace) -> Iterator[str]:  # type: ignore[no-untyped-def]
    core = client.CoreV1Api(k8s)
    node = f"zone-node-{namespace}"
    make_node(core, node, labels={"topology.kubernetes.io/zone": "z1", "kubernetes.io/hostname": node},
              taints=[FAKE_TAINT])
    yield node
    core.delete_node(node)


def _slices(disc: client.DiscoveryV1Api, ns: str, svc: str) -> list[Any]:
    return list(disc.list_namespaced_endpoint_slice(
        ns, label_selector=f"kubernetes.io/service-name={svc},{MANAGED}").items)


def _pod(name: str, *, labels: dict[str, str], port_name: str = "http", port: int = 8080,
         node: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx", "ports": [
        {"name": port_name, "containerPort": port}]}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "labels": labels}, "spec": spec}


def _view(disc: client.DiscoveryV1Api, ns: str, svc: str) -> dict[str, Any]:
    """name → (ready, serving, terminating, ports) over every slice of the Service."""
    out: dict[str, Any] = {}
    for sl in _slices(disc, ns, svc):
        ports = sorted((p.name, p.port) for p in sl.ports or [])
        for ep in sl.endpoints or []:
            c = ep.conditions
            out[ep.target_ref.name] = (c.ready, c.serving, c.terminating, ports)
    return out


def test_slices_follow_readiness_termination_and_ports(k8s, namespace, zone_node):
    core, disc = client.CoreV1Api(k8s), client.DiscoveryV1Api(k8s)
    node = zone_node
    svc = core.create_namespaced_service(namespace, {"metadata": {"name": "web", "labels": {"tier": "front"}},
                                                     "spec": {"selector": {"app": "web"}, "ports": [
                                                         {"name": "http", "port": 80, "targetPort": "http"}]}})
    # A Service without pods keeps one empty placeholder slice.
    first = wait_for(lambda: _slices(disc, namespace, "web"), 10, message="placeholder slice")
    assert len(first) == 1 and not first[0].endpoints

    for i in range(2):
        core.create_namespaced_pod(namespace, _pod(f"web-{i}", labels={"app": "web"}, node=node))
    mark_ready(core, core.read_namespaced_pod("web-0", namespace), ip="10.7.0.1")
    core.patch_namespaced_pod_status("web-1", namespace, {"status": {
        "phase": "Running", "podIP": "10.7.0.2", "conditions": [{"type": "Ready", "status": "False"}]}})
    wait_for(lambda: _view(disc, namespace, "web") == {
        "web-0": (True, True, False, [("http", 8080)]),
        "web-1": (False, False, False, [("http", 8080)])}, 10, message="ready and not-ready endpoints")

    (sl,) = _slices(disc, namespace, "web")
    assert sl.address_type == "IPv4"
    assert sl.metadata.generate_name == "web-"
    assert sl.metadata.labels["tier"] == "front"
    (owner,) = sl.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == ("Service", "web", svc.metadata.uid, True)
    ep0 = next(e for e in sl.endpoints if e.target_ref.name == "web-0")
    assert ep0.addresses == ["10.7.0.1"] and ep0.node_name == node and ep0.zone == "z1"
    assert ep0.target_ref.kind == "Pod"

    # A pod being deleted stays, terminating and not ready (it is still serving).
    core.create_namespaced_pod(namespace, {**_pod("web-2", labels={"app": "web"}, node=node),
                                           "metadata": {"name": "web-2", "labels": {"app": "web"},
                                                        "finalizers": ["example.com/hold"]}})
    mark_ready(core, core.read_namespaced_pod("web-2", namespace), ip="10.7.0.3")
    wait_for(lambda: _view(disc, namespace, "web").get("web-2") == (True, True, False, [("http", 8080)]), 10,
             message="web-2 ready")
    core.delete_namespaced_pod("web-2", namespace, grace_period_seconds=0)
    wait_for(lambda: _view(disc, namespace, "web").get("web-2") == (False, True, True, [("http", 8080)]), 10,
             message="terminating endpoint")
    core.patch_namespaced_pod("web-2", namespace, {"metadata": {"finalizers": None}})
    wait_for(lambda: "web-2" not in _view(disc, namespace, "web"), 10, message="deleted pod leaves the slice")

    # A port change of the Service is resolved against the pods again.
    core.patch_namespaced_service("web", namespace, {"spec": {"ports": [
        {"name": "http", "port": 80, "targetPort": 9090}]}})
    wait_for(lambda: {v[3][0] for v in _view(disc, namespace, "web").values()} == {("http", 9090)}, 10,
             message="new target port")
    assert len(_slices(disc, namespace, "web")) == 1

    # Minimal writes: a pod change that does not touch its endpoint writes nothing, so
    # the next real change bumps the slice's generation by exactly one.
    generation = _slices(disc, namespace, "web")[0].metadata.generation
    assert generation
    core.patch_namespaced_pod("web-0", namespace, {"metadata": {"annotations": {"touched": "yes"}}})
    mark_ready(core, core.read_namespaced_pod("web-1", namespace), ip="10.7.0.2")
    wait_for(lambda: _view(disc, namespace, "web").get("web-1") == (True, True, False, [("http", 9090)]), 10,
             message="web-1 ready")
    assert _slices(disc, namespace, "web")[0].metadata.generation == generation + 1

    core.delete_namespaced_service("web", namespace)
    wait_for(lambda: not _slices(disc, namespace, "web"), 10, message="slices removed with the Service")


def test_services_without_selector_are_left_alone(k8s, namespace):
    core, disc = client.CoreV1Api(k8s), client.DiscoveryV1Api(k8s)
    core.create_namespaced_service(namespace, {"metadata": {"name": "ext"}, "spec": {"ports": [{"port": 80}]}})
    disc.create_namespaced_endpoint_slice(namespace, {
        "metadata": {"name": "ext-1", "labels": {"kubernetes.io/service-name": "ext"}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["192.0.2.1"]}], "ports": [{"port": 80}]})
    core.create_namespaced_service(namespace, {"metadata": {"name": "sel"}, "spec": {
        "selector": {"app": "x"}, "ports": [{"port": 80}]}})
    wait_for(lambda: _slices(disc, namespace, "sel"), 10, message="slice of the selector Service")
    assert not _slices(disc, namespace, "ext")
    (mine,) = disc.list_namespaced_endpoint_slice(namespace, label_selector="kubernetes.io/service-name=ext").items
    assert mine.metadata.name == "ext-1" and mine.endpoints[0].addresses == ["192.0.2.1"]


def test_more_than_100_pods_split_into_two_slices(k8s, namespace):
    core, disc = client.CoreV1Api(k8s), client.DiscoveryV1Api(k8s)
    core.create_namespaced_service(namespace, {"metadata": {"name": "big"}, "spec": {
        "selector": {"app": "big"}, "ports": [{"name": "p", "port": 80, "targetPort": 8080}]}})
    for i in range(130):
        pod = core.create_namespaced_pod(namespace, _pod(f"big-{i}", labels={"app": "big"}))
        try:
            mark_ready(core, pod, ip=f"10.8.{i // 200}.{i % 200 + 1}")
        except ApiException as exc:  # pragma: no cover - the scheduler may race our status write
            if exc.status != 409:
                raise
            mark_ready(core, pod, ip=f"10.8.{i // 200}.{i % 200 + 1}")

    def sizes() -> list[int]:
        return sorted(len(s.endpoints or []) for s in _slices(disc, namespace, "big"))

    wait_for(lambda: sum(sizes()) == 130, 20, message="130 endpoints")
    assert sizes() == [30, 100]
    for sl in _slices(disc, namespace, "big"):
        assert len({e.target_ref.name for e in sl.endpoints}) == len(sl.endpoints)
    # Removing pods shrinks slices in place rather than reshuffling or adding any.
    for i in range(10):
        core.delete_namespaced_pod(f"big-{i}", namespace, grace_period_seconds=0)
    wait_for(lambda: sum(sizes()) == 120, 15, message="120 endpoints")
    assert len(sizes()) == 2
