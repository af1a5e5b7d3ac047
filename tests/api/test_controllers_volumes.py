"""Persistent volumes through the API: local-path provisioning on the selected node
(WaitForFirstConsumer), reclaim on claim deletion, claim protection while a pod uses it,
and static binding for an Immediate class."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.api.test_controllers_support import make_node
from tests.conftest import wait_for

# No kubelet runs on the test's node: keep the scheduler from placing other tests' pods there.
FAKE_TAINT = {"key": "kubelite.test/fake-node", "value": "true", "effect": "NoSchedule"}


@pytest.fixture
def disk_node(k8s, namespace) -> Iterator[str]:  # type: ignore[no-untyped-def]
    core = client.CoreV1Api(k8s)
    node = f"disk-{namespace}"
    make_node(core, node, labels={"kubernetes.io/hostname": node}, taints=[FAKE_TAINT])
    yield node
    core.delete_node(node)


def _gone(read: Any, *args: Any) -> bool:
    try:
        read(*args)
    except ApiException as exc:
        return exc.status == 404
    return False


def _reasons(core: client.CoreV1Api, ns: str, name: str) -> dict[str, str]:
    return {e.reason: e.message for e in core.list_namespaced_event(ns).items
            if e.involved_object.name == name}


def _claim(name: str, *, cls: str, size: str = "1Gi", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"storageClassName": cls, "accessModes": ["ReadWriteOnce"],
                                                 "resources": {"requests": {"storage": size}}, **spec}}


def _storage_class(storage: client.StorageV1Api, name: str, *, provisioner: str, mode: str,
                   reclaim: str = "Delete") -> None:
    storage.create_storage_class({"metadata": {"name": name}, "provisioner": provisioner,
                                  "volumeBindingMode": mode, "reclaimPolicy": reclaim})


def test_local_path_claim_is_provisioned_on_the_selected_node_and_reclaimed(k8s, namespace, disk_node):
    core, storage = client.CoreV1Api(k8s), client.StorageV1Api(k8s)
    node = disk_node
    cls = f"lp-{namespace}"
    _storage_class(storage, cls, provisioner="kubelite.io/local-path", mode="WaitForFirstConsumer")
    pvc = core.create_namespaced_persistent_volume_claim(namespace, _claim("data", cls=cls, size="2Gi"))

    wait_for(lambda: "WaitForFirstConsumer" in _reasons(core, namespace, "data"), 10,
             message="WaitForFirstConsumer event")
    assert _reasons(core, namespace, "data")["WaitForFirstConsumer"] == \
        "waiting for first consumer to be created before binding"
    wait_for(lambda: "kubernetes.io/pvc-protection" in (
        core.read_namespaced_persistent_volume_claim("data", namespace).metadata.finalizers or []), 10,
        message="pvc-protection finalizer")
    current = core.read_namespaced_persistent_volume_claim("data", namespace)
    assert current.status.phase == "Pending" and not current.spec.volume_name
    assert _gone(core.read_persistent_volume, f"pvc-{pvc.metadata.uid}")

    # What the scheduler's VolumeBinding plugin does once a pod using the claim is placed.
    core.patch_namespaced_persistent_volume_claim("data", namespace, {"metadata": {"annotations": {
        "volume.kubernetes.io/selected-node": node}}})
    bound = wait_for(lambda: (c := core.read_namespaced_persistent_volume_claim("data", namespace))
                     .status.phase == "Bound" and c, 15, message="claim Bound")
    pv_name = f"pvc-{pvc.metadata.uid}"
    assert bound.spec.volume_name == pv_name
    assert bound.metadata.annotations["pv.kubernetes.io/bind-completed"] == "yes"
    assert bound.metadata.annotations["volume.kubernetes.io/storage-provisioner"] == "kubelite.io/local-path"
    assert bound.status.capacity == {"storage": "2Gi"} and bound.status.access_modes == ["ReadWriteOnce"]
    pv = core.read_persistent_volume(pv_name)
    assert pv.status.phase == "Bound"
    assert pv.metadata.annotations["pv.kubernetes.io/provisioned-by"] == "kubelite.io/local-path"
    assert pv.spec.host_path.path.endswith(f"/pvc-{pvc.metadata.uid}_{namespace}_data")
    assert pv.spec.persistent_volume_reclaim_policy == "Delete"
    assert pv.spec.capacity == {"storage": "2Gi"} and pv.spec.storage_class_name == cls
    (term,) = pv.spec.node_affinity.required.node_selector_terms
    assert [(e.key, e.operator, e.values) for e in term.match_expressions] == [
        ("kubernetes.io/hostname", "In", [node])]
    assert (pv.spec.claim_ref.name, pv.spec.claim_ref.uid) == ("data", pvc.metadata.uid)
    wait_for(lambda: "ProvisioningSucceeded" in _reasons(core, namespace, "data"), 10,
             message="ProvisioningSucceeded event")
    assert _reasons(core, namespace, "data")["ProvisioningSucceeded"] == f"Successfully provisioned volume {pv_name}"

    # A scheduled pod still using the claim keeps it (and so its volume) alive.
    core.create_namespaced_pod(namespace, {"metadata": {"name": "user"}, "spec": {
        "nodeName": node, "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}})
    core.patch_namespaced_pod_status("user", namespace, {"status": {"phase": "Running"}})
    core.delete_namespaced_persistent_volume_claim("data", namespace)
    wait_for(lambda: core.read_namespaced_persistent_volume_claim("data", namespace).metadata.deletion_timestamp,
             5, message="claim terminating")
    # The protection controller has looked at the deletion once it has protected a claim
    # created after it.
    core.create_namespaced_persistent_volume_claim(namespace, _claim("probe", cls=cls))
    wait_for(lambda: core.read_namespaced_persistent_volume_claim("probe", namespace).metadata.finalizers, 10,
             message="probe claim protected")
    assert core.read_persistent_volume(pv_name).status.phase == "Bound"
    assert not _gone(core.read_namespaced_persistent_volume_claim, "data", namespace)

    core.delete_namespaced_pod("user", namespace, grace_period_seconds=0)
    wait_for(lambda: _gone(core.read_namespaced_persistent_volume_claim, "data", namespace), 10,
             message="claim deleted once unused")
    # The volume's data is on its node: the volume waits, Terminating, for that node's agent
    # to remove the directory and its finalizer (tests/node/test_local_path.py shows a real
    # agent doing it; this node has none, so the test plays its part).
    wait_for(lambda: (v := core.read_persistent_volume(pv_name)).metadata.deletion_timestamp
             and v.metadata.finalizers == ["kubelite.io/local-path-cleanup"], 10,
             message="Delete-policy volume deleting, waiting only for its node's agent")
    core.patch_persistent_volume(pv_name, [{"op": "remove", "path": "/metadata/finalizers/0"}])  # a JSON patch
    wait_for(lambda: _gone(core.read_persistent_volume, pv_name), 10, message="Delete-policy volume deleted")


def test_immediate_local_path_claim_is_refused_with_a_warning(k8s, namespace):
    core, storage = client.CoreV1Api(k8s), client.StorageV1Api(k8s)
    cls = f"lp-now-{namespace}"
    _storage_class(storage, cls, provisioner="kubelite.io/local-path", mode="Immediate")
    core.create_namespaced_persistent_volume_claim(namespace, _claim("now", cls=cls))
    wait_for(lambda: "ProvisioningFailed" in _reasons(core, namespace, "now"), 10, message="ProvisioningFailed")
    event = next(e for e in core.list_namespaced_event(namespace).items if e.reason == "ProvisioningFailed")
    assert event.type == "Warning" and "no node was specified" in event.message
    assert "WaitForFirstConsumer" in event.message
    assert core.read_namespaced_persistent_volume_claim("now", namespace).status.phase == "Pending"


def test_static_volume_binds_to_an_immediate_claim(k8s, namespace):
    core, storage = client.CoreV1Api(k8s), client.StorageV1Api(k8s)
    cls = f"manual-{namespace}"
    _storage_class(storage, cls, provisioner="kubernetes.io/no-provisioner", mode="Immediate", reclaim="Retain")

    def volume(name: str, size: str, *, klass: str = cls, labels: dict[str, str] | None = None,
               modes: tuple[str, ...] = ("ReadWriteOnce",)) -> str:
        full = f"{namespace}-{name}"
        core.create_persistent_volume({"metadata": {"name": full, "labels": labels or {}}, "spec": {
            "capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": klass,
            "hostPath": {"path": f"/tmp/{full}"}}})
        return full

    small = volume("small", "1Gi")
    volume("other-class", "2Gi", klass="")
    volume("read-only", "2Gi", modes=("ReadOnlyMany",))
    fits = volume("fits", "3Gi", labels={"speed": "fast"})
    big = volume("big", "10Gi", labels={"speed": "fast"})
    volume("slow", "2Gi", labels={"speed": "slow"})
    # Every candidate Available first: the binder only offers Available volumes, and the
    # controller marks them one by one.
    wait_for(lambda: all(core.read_persistent_volume(v).status.phase == "Available" for v in (small, fits, big)),
             10, message="PVs Available")

    core.create_namespaced_persistent_volume_claim(namespace, _claim(
        "static", cls=cls, size="2Gi", selector={"matchLabels": {"speed": "fast"}}))
    claim = wait_for(lambda: (c := core.read_namespaced_persistent_volume_claim("static", namespace))
                     .status.phase == "Bound" and c, 10, message="claim Bound")
    assert claim.spec.volume_name == fits  # the smallest fitting volume the selector accepts
    assert claim.metadata.annotations["pv.kubernetes.io/bind-completed"] == "yes"
    assert claim.metadata.annotations["pv.kubernetes.io/bound-by-controller"] == "yes"
    assert claim.status.capacity == {"storage": "3Gi"}
    pv = wait_for(lambda: (v := core.read_persistent_volume(fits)).status.phase == "Bound" and v, 10,
                  message="volume Bound")
    assert pv.metadata.annotations["pv.kubernetes.io/bound-by-controller"] == "yes"
    assert (pv.spec.claim_ref.namespace, pv.spec.claim_ref.name, pv.spec.claim_ref.uid) == (
        namespace, "static", claim.metadata.uid)
    assert core.read_persistent_volume(small).status.phase == "Available"

    # A claim nothing fits stays Pending, and says why.
    core.create_namespaced_persistent_volume_claim(namespace, _claim("huge", cls=cls, size="100Gi"))
    wait_for(lambda: "FailedBinding" in _reasons(core, namespace, "huge"), 10, message="FailedBinding event")
    assert core.read_namespaced_persistent_volume_claim("huge", namespace).status.phase == "Pending"

    # Retain: the claim goes, the volume stays Released with its data.
    core.delete_namespaced_persistent_volume_claim("static", namespace)
    wait_for(lambda: core.read_persistent_volume(fits).status.phase == "Released", 10, message="volume Released")
    assert not _gone(core.read_persistent_volume, fits)


def _ephemeral(name: str, *, cls: str) -> dict[str, Any]:
    return {"name": name, "ephemeral": {"volumeClaimTemplate": {
        "metadata": {"labels": {"made-for": "scratch"}},
        "spec": {"storageClassName": cls, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}}}


def test_an_ephemeral_volume_gets_a_claim_owned_by_its_pod_and_gone_with_it(k8s, namespace):
    core = client.CoreV1Api(k8s)
    pod = core.create_namespaced_pod(namespace, {"metadata": {"name": "eph"}, "spec": {
        "containers": [{"name": "c", "image": "busybox", "volumeMounts": [{"name": "scratch", "mountPath": "/s"}]}],
        "volumes": [_ephemeral("scratch", cls="local-path")]}})
    # <pod>-<volume>, from the template, owned by the pod (tests/node/test_local_path.py
    # shows a real node mounting one).
    claim = wait_for(lambda: not _gone(core.read_namespaced_persistent_volume_claim, "eph-scratch", namespace)
                     and core.read_namespaced_persistent_volume_claim("eph-scratch", namespace), 10,
                     message="the ephemeral volume's claim")
    assert claim.metadata.labels == {"made-for": "scratch"}
    assert claim.spec.storage_class_name == "local-path" and claim.spec.resources.requests == {"storage": "1Gi"}
    (owner,) = claim.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == ("Pod", "eph", pod.metadata.uid, True)
    # Deleted, it is made again while the pod lives.
    core.delete_namespaced_persistent_volume_claim("eph-scratch", namespace)
    wait_for(lambda: (c := core.read_namespaced_persistent_volume_claim("eph-scratch", namespace))
             .metadata.uid != claim.metadata.uid and not c.metadata.deletion_timestamp, 10,
             message="the claim made again", ignore=(ApiException,))
    # The claim dies with its pod (the garbage collector follows the owner).
    core.delete_namespaced_pod("eph", namespace, grace_period_seconds=0)
    wait_for(lambda: _gone(core.read_namespaced_persistent_volume_claim, "eph-scratch", namespace), 15,
             message="the ephemeral claim deleted with its pod")


def test_a_same_named_claim_not_made_for_the_pod_is_left_alone_and_reported(k8s, namespace):
    core = client.CoreV1Api(k8s)
    # a node, so that the scheduler gets as far as the claim (with none it says only "no nodes
    # available to schedule pods", as upstream)
    node = f"vol-{namespace}"
    make_node(core, node)
    try:
        core.create_namespaced_persistent_volume_claim(namespace, _claim("other-scratch", cls="none"))
        core.create_namespaced_pod(namespace, {"metadata": {"name": "other"}, "spec": {
            "containers": [{"name": "c", "image": "busybox"}], "volumes": [_ephemeral("scratch", cls="none")]}})
        expected = f"PVC {namespace}/other-scratch was not created for pod {namespace}/other (pod is not owner)"
        wait_for(lambda: _reasons(core, namespace, "other").get("FailedBinding") == expected, 10,
                 message="FailedBinding event on the pod")
        claim = core.read_namespaced_persistent_volume_claim("other-scratch", namespace)
        assert not claim.metadata.owner_references  # untouched
        wait_for(lambda: expected in (next((c.message for c in core.read_namespaced_pod("other", namespace).status.conditions
                                            or [] if c.type == "PodScheduled"), "") or ""), 10,
                 message="the scheduler says why the pod waits")
    finally:
        core.delete_node(node)
