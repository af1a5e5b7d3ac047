"""The scheduler's VolumeBinding through the API: pods with PersistentVolumeClaims land
where their volumes can be, static PVs are bound by the scheduler and never given to two
claims, WaitForFirstConsumer claims get the node chosen for them
(``volume.kubernetes.io/selected-node``), and pending pods explain which volume rule
kept them out. Controllers are off on this server, so the tests play the PV controller
and the provisioner themselves where they need one.
"""

# ruff: noqa: F811  (pytest fixtures imported from scheduler_fixtures share their parameters' names)
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kubelite.scheduler import explain
from tests.api.scheduler_fixtures import Cluster, cluster, core, sched_server  # noqa: F401
from tests.conftest import wait_for

SELECTED_NODE = "volume.kubernetes.io/selected-node"
NO_BIND = "didn't find available persistent volumes to bind"


class Volumes:
    """PVs, PVCs and StorageClasses for one test; cluster-scoped ones are removed after."""

    def __init__(self, c: Cluster) -> None:
        from kubernetes import client

        self.c = c
        self.storage = client.StorageV1Api(c.core.api_client)
        self.pvs: list[str] = []
        self.classes: list[str] = []

    def manual_class(self) -> str:
        """A WaitForFirstConsumer class that cannot provision: static PVs only."""
        name = f"manual-{self.c.ns}"
        self.storage.create_storage_class({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                          "metadata": {"name": name}, "provisioner": "kubernetes.io/no-provisioner",
                                          "volumeBindingMode": "WaitForFirstConsumer"})
        self.classes.append(name)
        return name

    def pv(self, name: str, *, node: str, cls: str, size: str = "1Gi") -> str:
        name = f"{name}-{self.c.ns}"
        self.c.core.create_persistent_volume({
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                     "local": {"path": f"/mnt/{name}"},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}})
        # The PV controller would mark a new volume Available; it is not running here.
        self.c.core.patch_persistent_volume_status(name, {"status": {"phase": "Available"}})
        self.pvs.append(name)
        return name

    def pvc(self, name: str, *, cls: str | None = None, size: str = "1Gi") -> dict[str, Any]:
        spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
        if cls is not None:
            spec["storageClassName"] = cls
        return self._claim(self.c.core.create_namespaced_persistent_volume_claim(
            self.c.ns, {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
                        "spec": spec}))

    def claim(self, name: str) -> dict[str, Any]:
        return self._claim(self.c.core.read_namespaced_persistent_volume_claim(name, self.c.ns))

    def volume(self, name: str) -> dict[str, Any]:
        return self._claim(self.c.core.read_persistent_volume(name))

    def _claim(self, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = self.c.core.api_client.sanitize_for_serialization(obj)
        return out

    def cleanup(self) -> None:
        self.c.core.delete_collection_namespaced_pod(self.c.ns, grace_period_seconds=0)
        self.c.core.delete_collection_namespaced_persistent_volume_claim(self.c.ns)
        # Raw responses: what comes back is not what we check here.
        for name in self.pvs:
            self.c.core.delete_persistent_volume(name, _preload_content=False)
        for name in self.classes:
            self.storage.delete_storage_class(name, _preload_content=False)


@pytest.fixture
def volumes(cluster: Cluster) -> Iterator[Volumes]:
    v = Volumes(cluster)
    yield v
    v.cleanup()


def with_claims(*claims: str) -> dict[str, Any]:
    return {"volumes": [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims)]}


def test_a_static_local_volume_pins_the_pod_to_its_node(cluster: Cluster, volumes: Volumes) -> None:
    cluster.node("a")
    b = cluster.node("b")
    cluster.node("c")
    cls = volumes.manual_class()
    pv = volumes.pv("disk", node=b, cls=cls)
    volumes.pvc("data", cls=cls)
    cluster.pod("db", spec=with_claims("data"))
    assert cluster.wait_bound("db") == {"db": b}
    # The scheduler wrote both halves of the binding before binding the pod.
    assert volumes.claim("data")["spec"]["volumeName"] == pv
    ref = volumes.volume(pv)["spec"]["claimRef"]
    assert (ref["namespace"], ref["name"], ref["uid"]) == (cluster.ns, "data",
                                                           volumes.claim("data")["metadata"]["uid"])


def test_two_pods_never_get_the_same_static_volume(cluster: Cluster, volumes: Volumes) -> None:
    a = cluster.node("a")
    cluster.node("b")
    cls = volumes.manual_class()
    pv = volumes.pv("only", node=a, cls=cls)
    volumes.pvc("d1", cls=cls)
    volumes.pvc("d2", cls=cls)
    cluster.pod("p1", spec=with_claims("d1"))
    cluster.pod("p2", spec=with_claims("d2"))
    wait_for(lambda: any(cluster.node_of(p) for p in ("p1", "p2")), 15, message="one pod bound")
    winner, loser = ("p1", "p2") if cluster.node_of("p1") else ("p2", "p1")
    assert cluster.node_of(winner) == a
    claim = "d1" if winner == "p1" else "d2"
    assert volumes.volume(pv)["spec"]["claimRef"]["name"] == claim
    msg = cluster.wait_unschedulable(loser, NO_BIND)
    assert msg.startswith(f"0/2 nodes are available: 2 node(s) {NO_BIND}.")
    assert cluster.node_of(loser) == ""
    text = wait_for(lambda: NO_BIND in (t := explain.format_diagnosis(cluster.get(loser))) and t, 10,
                    message="explain shows the volume reason")
    assert "2 node(s)" in text and "StorageClass cannot provision" in text


def test_wait_for_first_consumer_claim_gets_the_chosen_node(cluster: Cluster, volumes: Volumes) -> None:
    nodes = {cluster.node("a"), cluster.node("b")}
    claim = volumes.pvc("data")  # the default class: local-path, WaitForFirstConsumer
    assert claim["spec"]["storageClassName"] == "local-path"
    cluster.pod("app", spec=with_claims("data"))
    chosen = wait_for(lambda: (volumes.claim("data")["metadata"].get("annotations") or {}).get(SELECTED_NODE),
                      15, message="selected-node annotation on the claim")
    assert chosen in nodes
    # The pod waits for its volume before it is bound.
    assert cluster.node_of("app") == ""
    # Play the provisioner: a PV on the chosen node, pre-bound to the claim, then the claim bound.
    name = f"pvc-{claim['metadata']['uid']}"
    cluster.core.create_persistent_volume({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
                 "hostPath": {"path": f"/var/lib/kubelite/storage/{name}"},
                 "claimRef": {"namespace": cluster.ns, "name": "data", "uid": claim["metadata"]["uid"]},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In", "values": [chosen]}]}]}}}})
    volumes.pvs.append(name)
    cluster.core.patch_namespaced_persistent_volume_claim("data", cluster.ns, {"spec": {"volumeName": name}})
    assert cluster.wait_bound("app", timeout=15) == {"app": chosen}


def test_a_pod_waits_for_its_missing_claim_then_schedules(cluster: Cluster, volumes: Volumes) -> None:
    a = cluster.node("a")
    cluster.pod("app", spec=with_claims("late"))
    msg = cluster.wait_unschedulable("app", 'persistentvolumeclaim "late" not found')
    assert msg.startswith('0/1 nodes are available: persistentvolumeclaim "late" not found.')
    cls = volumes.manual_class()
    volumes.pv("disk", node=a, cls=cls)
    volumes.pvc("late", cls=cls)
    assert cluster.wait_bound("app", timeout=15) == {"app": a}
