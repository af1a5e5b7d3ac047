"""The official ``kubernetes`` Python client, configured only from the written kubeconfig,
creates, reads, lists, patches, watches and deletes every served resource."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

from tests.conftest import wait_for


def _pod_spec() -> dict[str, Any]:
    return {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}


def _template(labels: dict[str, str], *, restart: str | None = None) -> dict[str, Any]:
    spec = _pod_spec()
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": labels}, "spec": spec}


# (apiVersion, kind, namespaced, body without metadata.name/namespace)
SAMPLES: list[tuple[str, str, bool, dict[str, Any]]] = [
    ("v1", "Namespace", False, {}),
    ("v1", "Pod", True, {"spec": _pod_spec()}),
    ("v1", "Service", True, {"spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}),
    ("v1", "Endpoints", True, {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]}),
    ("v1", "ConfigMap", True, {"data": {"a": "1"}}),
    ("v1", "Secret", True, {"stringData": {"password": "s3cret"}, "data": {"user": "YWRtaW4="}}),
    ("v1", "ServiceAccount", True, {}),
    ("v1", "Node", False, {"spec": {}}),
    ("v1", "Event", True, {"involvedObject": {"kind": "Pod", "name": "p", "namespace": "NS"},
                           "reason": "Tested", "message": "hello", "type": "Normal"}),
    ("v1", "PersistentVolume", False, {"spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                                                 "hostPath": {"path": "/tmp/pv"}}}),
    ("v1", "PersistentVolumeClaim", True, {"spec": {"accessModes": ["ReadWriteOnce"],
                                                     "resources": {"requests": {"storage": "1Gi"}}}}),
    ("apps/v1", "Deployment", True, {"spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}},
                                              "template": _template({"app": "d"})}}),
    ("apps/v1", "ReplicaSet", True, {"spec": {"replicas": 1, "selector": {"matchLabels": {"app": "r"}},
                                              "template": _template({"app": "r"})}}),
    ("apps/v1", "StatefulSet", True, {"spec": {"serviceName": "s", "selector": {"matchLabels": {"app": "s"}},
                                               "template": _template({"app": "s"})}}),
    ("apps/v1", "DaemonSet", True, {"spec": {"selector": {"matchLabels": {"app": "ds"}},
                                             "template": _template({"app": "ds"})}}),
    ("apps/v1", "ControllerRevision", True, {"revision": 1, "data": {"spec": {}}}),
    ("batch/v1", "Job", True, {"spec": {"template": _template({}, restart="Never")}}),
    ("batch/v1", "CronJob", True, {"spec": {"schedule": "*/5 * * * *",
                                            "jobTemplate": {"spec": {"template": _template({}, restart="OnFailure")}}}}),
    ("coordination.k8s.io/v1", "Lease", True, {"spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}}),
    ("events.k8s.io/v1", "Event", True, {"eventTime": "2026-11-21T21:00:00.000000Z", "reportingController": "tests",
                                         "reportingInstance": "tests-1", "action": "Testing", "reason": "Tested",
                                         "regarding": {"kind": "Pod", "name": "p", "namespace": "NS"},
                                         "note": "hello", "type": "Normal"}),
]


@pytest.mark.parametrize("api_version,kind,namespaced,body", SAMPLES, ids=[f"{a}/{k}" for a, k, _, _ in SAMPLES])
def test_every_resource_round_trips(k8s: client.ApiClient, namespace: str, api_version: str, kind: str,
                                    namespaced: bool, body: dict[str, Any]) -> None:
    dyn = dynamic.DynamicClient(k8s)
    res = dyn.resources.get(api_version=api_version, kind=kind)
    name = f"x-{uuid.uuid4().hex[:6]}"
    manifest = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "labels": {"suite": "rt"}}}
    manifest.update(_replace_ns(body, namespace))
    ns = namespace if namespaced else None

    # Watch from the list's resourceVersion in the background: the create must arrive.
    initial = res.get(namespace=ns, label_selector="suite=rt")
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def watcher() -> None:
        for ev in res.watch(namespace=ns, resource_version=initial.metadata.resourceVersion, timeout=10):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["object"].metadata.name == name and ev["type"] == "ADDED":
                done.set()
                return

    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()

    created = res.create(body=manifest, namespace=ns)
    assert created.kind == kind and created.apiVersion == api_version
    assert created.metadata.uid and created.metadata.resourceVersion and created.metadata.creationTimestamp
    assert done.wait(10), f"watch did not deliver ADDED for {name}: {seen}"

    got = res.get(name=name, namespace=ns)
    assert got.metadata.uid == created.metadata.uid

    listed = res.get(namespace=ns, label_selector="suite=rt")
    assert name in [i.metadata.name for i in listed.items]
    assert listed.kind == f"{kind}List"

    patched = res.patch(name=name, namespace=ns, body={"metadata": {"labels": {"patched": "yes"}}},
                        content_type="application/merge-patch+json")
    assert patched.metadata.labels["patched"] == "yes"
    assert int(patched.metadata.resourceVersion) > int(created.metadata.resourceVersion)

    res.delete(name=name, namespace=ns, body={"gracePeriodSeconds": 0})
    if kind == "Namespace":
        # Deleting a namespace leaves it Terminating until its contents are gone.
        assert res.get(name=name).status.phase == "Terminating"
        return

    def gone() -> bool:
        try:
            res.get(name=name, namespace=ns)
        except ApiException as exc:
            assert exc.status == 404, exc
            return True
        return False

    # PersistentVolumes and claims carry the protection finalizers (as upstream), so the
    # volume-protection controller removes them a moment after the delete.
    wait_for(gone, 10, message=f"{kind} {name} deleted")


def _replace_ns(body: dict[str, Any], namespace: str) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(body).replace('"NS"', f'"{namespace}"'))


def test_seed_pod_and_deployment_with_typed_apis(k8s: client.ApiClient) -> None:
    """The seed's Go example (Pod ``my-pod`` and Deployment ``my-deployment`` in default)."""
    core, apps = client.CoreV1Api(k8s), client.AppsV1Api(k8s)
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="my-pod", namespace="default"),
                       spec=client.V1PodSpec(containers=[client.V1Container(name="my-container", image="nginx")]))
    created = core.create_namespaced_pod("default", pod)
    assert created.metadata.name == "my-pod"
    # Defaults a user of Kubernetes relies on.
    assert created.spec.restart_policy == "Always"
    assert created.spec.dns_policy == "ClusterFirst"
    assert created.spec.termination_grace_period_seconds == 30
    assert created.spec.containers[0].image_pull_policy == "Always"  # no tag means :latest
    assert created.spec.containers[0].termination_message_path == "/dev/termination-log"
    assert created.status.phase == "Pending"

    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="my-deployment"),
        spec=client.V1DeploymentSpec(
            replicas=3, selector=client.V1LabelSelector(match_labels={"app": "my-app"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "my-app"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="my-container", image="nginx")]))))
    d = apps.create_namespaced_deployment("default", dep)
    assert d.metadata.generation == 1
    assert d.spec.strategy.type == "RollingUpdate"
    assert d.spec.strategy.rolling_update.max_surge == "25%"
    assert d.spec.strategy.rolling_update.max_unavailable == "25%"
    assert d.spec.revision_history_limit == 10

    # A spec change bumps generation; a label change does not.
    d2 = apps.patch_namespaced_deployment("my-deployment", "default", {"spec": {"replicas": 5}})
    assert d2.metadata.generation == 2
    d3 = apps.patch_namespaced_deployment("my-deployment", "default", {"metadata": {"labels": {"x": "y"}}})
    assert d3.metadata.generation == 2

    # The main endpoint ignores status; the status endpoint changes only status. The
    # deployment controller of the shared server writes status concurrently, but never
    # 7: spec.replicas is 5.
    d4 = apps.patch_namespaced_deployment("my-deployment", "default", {"status": {"replicas": 7}})
    assert d4.status.replicas != 7
    d5 = apps.patch_namespaced_deployment_status("my-deployment", "default",
                                                 {"status": {"replicas": 7}, "spec": {"replicas": 1}})
    assert d5.status.replicas == 7 and d5.spec.replicas == 5

    # Scale subresource.
    scale = apps.read_namespaced_deployment_scale("my-deployment", "default")
    assert scale.spec.replicas == 5 and scale.status.selector == "app=my-app"
    apps.patch_namespaced_deployment_scale("my-deployment", "default", {"spec": {"replicas": 2}})
    assert apps.read_namespaced_deployment("my-deployment", "default").spec.replicas == 2

    # Stale update → 409 Conflict.
    stale = apps.read_namespaced_deployment("my-deployment", "default")
    apps.patch_namespaced_deployment("my-deployment", "default", {"metadata": {"labels": {"bump": "1"}}})
    stale.metadata.labels = {"stale": "write"}
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment("my-deployment", "default", stale)
    assert err.value.status == 409 and "the object has been modified" in err.value.body

    # Watch sees the deletion.
    w = watch.Watch()
    rv = apps.list_namespaced_deployment("default").metadata.resource_version
    apps.delete_namespaced_deployment("my-deployment", "default")
    events = []
    for ev in w.stream(apps.list_namespaced_deployment, "default", resource_version=rv, timeout_seconds=5):
        events.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "DELETED":
            w.stop()
    assert ("DELETED", "my-deployment") in events
    core.delete_namespaced_pod("my-pod", "default")
