"""ResourceQuotas and LimitRanges through the real server and the real kubectl: ``kubectl
create quota``, ``get``/``describe`` of both kinds, upstream's 403 refusals when a pod,
a Deployment's pods, a Service or a claim does not fit, LimitRange defaults in created
pods, usage that goes back down, concurrent creates that cannot overrun a quota, and
upstream's 422 for invalid objects."""

from __future__ import annotations

import concurrent.futures
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl, rows
from tests.api.test_controllers_support import deployment
from tests.conftest import wait_for
from tests.support.rawapi import Api

kubectl = kubectl_runner.kubectl

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def api(kubeconfig: Path) -> Api:
    return Api(kubeconfig)


def pod_body(name: str, *, requests: Obj | None = None, limits: Obj | None = None) -> Obj:
    resources: Obj = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "main", "image": "busybox", "resources": resources}]}}


def create_pod(api: Api, ns: str, body: Obj) -> tuple[int, Obj]:
    resp = api.send("POST", f"/api/v1/namespaces/{ns}/pods", body=body)
    return resp.status_code, resp.json()


def used(k8s: Any, ns: str, name: str) -> dict[str, str]:
    status = client.CoreV1Api(k8s).read_namespaced_resource_quota(name, ns).status
    return dict(status.used or {}) if status is not None else {}


def wait_counted(k8s: Any, ns: str, name: str) -> dict[str, str]:
    """The controller has filled in status.used (admission refuses tracked objects until then)."""
    return wait_for(lambda: used(k8s, ns, name), timeout=10, message=f"quota {ns}/{name} counted")


def apply(kubectl: Kubectl, ns: str, obj: Obj, *, check: bool = True) -> kubectl_runner.Result:
    return kubectl.run("apply", "-n", ns, "-f", "-", stdin=json.dumps(obj), check=check)


# --- kubectl create / get / describe ------------------------------------------------


def test_discovery_serves_both_kinds_with_upstreams_short_names(kubectl: Kubectl) -> None:
    out = rows(kubectl("api-resources", "--api-group="))
    by_name = {r[0]: r for r in out[1:]}
    assert by_name["resourcequotas"][1:] == ["quota", "v1", "true", "ResourceQuota"]
    assert by_name["limitranges"][1:] == ["limits", "v1", "true", "LimitRange"]


def test_pods_beyond_a_quota_are_refused_and_usage_follows_deletes(kubectl: Kubectl, api: Api, k8s: Any,
                                                                   namespace: str) -> None:
    kubectl("create", "quota", "q", "--hard=pods=2,requests.cpu=1", "-n", namespace)
    assert wait_counted(k8s, namespace, "q") == {"pods": "0", "requests.cpu": "0"}
    for name in ("a", "b"):
        status, body = create_pod(api, namespace, pod_body(name, requests={"cpu": "500m"}))
        assert status == 201, body
    status, body = create_pod(api, namespace, pod_body("c", requests={"cpu": "100m"}))
    assert status == 403, body
    assert body["reason"] == "Forbidden"
    assert body["message"] == ('pods "c" is forbidden: exceeded quota: q, requested: pods=1,requests.cpu=100m, '
                               'used: pods=2,requests.cpu=1, limited: pods=2,requests.cpu=1')
    table = rows(kubectl("get", "quota", "-n", namespace))
    assert table[0] == ["NAME", "AGE", "REQUEST", "LIMIT"]
    assert table[1][0] == "q" and table[1][2] == "pods: 2/2, requests.cpu: 1/1"

    kubectl("delete", "pod", "a", "-n", namespace)
    wait_for(lambda: used(k8s, namespace, "q") == {"pods": "1", "requests.cpu": "500m"}, timeout=10,
             message="usage after the delete")
    assert "pods: 1/2, requests.cpu: 500m/1" in kubectl("get", "quota", "q", "-n", namespace)
    status, body = create_pod(api, namespace, pod_body("c", requests={"cpu": "100m"}))
    assert status == 201, body


def test_describe_quota_and_limits_show_used_and_hard(kubectl: Kubectl, k8s: Any, namespace: str) -> None:
    kubectl("create", "quota", "q", "--hard=pods=3,limits.memory=1Gi", "-n", namespace)
    wait_counted(k8s, namespace, "q")
    described = kubectl("describe", "quota", "q", "-n", namespace)
    table = rows(described[described.index("Resource"):])
    assert table[0] == ["Resource", "Used", "Hard"]
    assert sorted(table[2:]) == [["limits.memory", "0", "1Gi"], ["pods", "0", "3"]]
    apply(kubectl, namespace, {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"}, "spec": {
        "limits": [{"type": "Container", "min": {"cpu": "50m"}, "max": {"cpu": "1"}, "default": {"cpu": "500m"},
                    "defaultRequest": {"cpu": "100m"}}]}})
    described = kubectl("describe", "limits", "lr", "-n", namespace)
    assert ["Container", "cpu", "50m", "1", "100m", "500m", "-"] in rows(described)
    assert rows(kubectl("get", "limits", "-n", namespace))[0] == ["NAME", "CREATED AT"]


# --- what a quota checks ------------------------------------------------------------


def test_a_quota_on_cpu_refuses_containers_that_do_not_say_how_much(api: Api, kubectl: Kubectl, k8s: Any,
                                                                    namespace: str) -> None:
    kubectl("create", "quota", "compute", "--hard=requests.cpu=2,limits.cpu=4", "-n", namespace)
    wait_counted(k8s, namespace, "compute")
    status, body = create_pod(api, namespace, pod_body("bare", requests={"memory": "64Mi"}))
    assert status == 403
    assert body["message"] == ('pods "bare" is forbidden: failed quota: compute: must specify limits.cpu for: main; '
                               'requests.cpu for: main')


def test_a_deployment_cannot_scale_past_its_quota(api: Api, kubectl: Kubectl, k8s: Any, namespace: str) -> None:
    kubectl("create", "quota", "q", "--hard=pods=2", "-n", namespace)
    wait_counted(k8s, namespace, "q")
    client.AppsV1Api(k8s).create_namespaced_deployment(namespace, deployment("web", replicas=4))
    core = client.CoreV1Api(k8s)

    def failed_create() -> list[Any]:
        events = core.list_namespaced_event(namespace).items
        return [e for e in events if e.reason == "FailedCreate" and "exceeded quota: q" in (e.message or "")]

    (event, *_) = wait_for(failed_create, timeout=15, message="a FailedCreate event")
    assert event.involved_object.kind == "ReplicaSet"
    assert event.message.startswith('Error creating: pods "web-')
    assert "is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2" in event.message
    assert len(core.list_namespaced_pod(namespace).items) == 2
    (rs,) = client.AppsV1Api(k8s).list_namespaced_replica_set(namespace).items
    conditions = {c.type: c for c in rs.status.conditions or []}
    assert conditions["ReplicaFailure"].reason == "FailedCreate"


def test_object_counts_limit_any_resource(kubectl: Kubectl, k8s: Any, namespace: str) -> None:
    kubectl("create", "quota", "objects", "--hard=count/deployments.apps=1,configmaps=2", "-n", namespace)
    wait_for(lambda: len(used(k8s, namespace, "objects")) == 2, timeout=10, message="quota counted")
    kubectl("create", "deployment", "one", "--image=busybox", "-n", namespace)
    refused = kubectl.run("create", "deployment", "two", "--image=busybox", "-n", namespace, check=False)
    assert refused.returncode != 0
    assert ('deployments.apps "two" is forbidden: exceeded quota: objects, requested: count/deployments.apps=1, '
            'used: count/deployments.apps=1, limited: count/deployments.apps=1') in refused.stderr
    kubectl("delete", "deployment", "one", "-n", namespace)
    wait_for(lambda: used(k8s, namespace, "objects").get("count/deployments.apps") == "0", timeout=10,
             message="the count after the delete")
    kubectl("create", "deployment", "two", "--image=busybox", "-n", namespace)


def test_changing_a_service_to_node_port_is_charged(api: Api, kubectl: Kubectl, k8s: Any, namespace: str) -> None:
    kubectl("create", "quota", "svc", "--hard=services=2,services.nodeports=0", "-n", namespace)
    wait_counted(k8s, namespace, "svc")
    kubectl("create", "service", "clusterip", "web", "--tcp=80:8080", "-n", namespace)
    refused = kubectl.run("patch", "service", "web", "-n", namespace, "-p", '{"spec":{"type":"NodePort"}}',
                          check=False)
    assert refused.returncode != 0
    assert ('services "web" is forbidden: exceeded quota: svc, requested: services.nodeports=1, '
            'used: services.nodeports=0, limited: services.nodeports=0') in refused.stderr
    assert used(k8s, namespace, "svc") == {"services": "1", "services.nodeports": "0"}


def test_claims_are_charged_their_storage(api: Api, kubectl: Kubectl, k8s: Any, namespace: str) -> None:
    kubectl("create", "quota", "disk", "--hard=requests.storage=5Gi,persistentvolumeclaims=3", "-n", namespace)
    wait_counted(k8s, namespace, "disk")

    def claim(name: str, size: str) -> tuple[int, Obj]:
        resp = api.send("POST", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims", body={
            "metadata": {"name": name}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                 "resources": {"requests": {"storage": size}}}})
        return resp.status_code, resp.json()

    assert claim("one", "4Gi")[0] == 201
    status, body = claim("two", "2Gi")
    assert status == 403
    assert body["message"] == ('persistentvolumeclaims "two" is forbidden: exceeded quota: disk, requested: '
                               'requests.storage=2Gi, used: requests.storage=4Gi, limited: requests.storage=5Gi')


def test_concurrent_creates_never_overrun_a_quota(api: Api, kubectl: Kubectl, k8s: Any, namespace: str) -> None:
    kubectl("create", "quota", "q", "--hard=pods=4", "-n", namespace)
    wait_counted(k8s, namespace, "q")
    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(lambda i: create_pod(api, namespace, pod_body(f"p{i}")), range(24)))
    codes = sorted(status for status, _ in results)
    assert codes == [201] * 4 + [403] * 20, [body.get("message") for _, body in results]
    assert all("exceeded quota: q" in body["message"] for status, body in results if status == 403)
    assert len(client.CoreV1Api(k8s).list_namespaced_pod(namespace).items) == 4
    assert used(k8s, namespace, "q") == {"pods": "4"}


def test_a_finished_pod_gives_its_place_back(api: Api, kubectl: Kubectl, k8s: Any, namespace: str) -> None:
    kubectl("create", "quota", "q", "--hard=pods=1", "-n", namespace)
    wait_counted(k8s, namespace, "q")
    assert create_pod(api, namespace, pod_body("job"))[0] == 201
    assert create_pod(api, namespace, pod_body("next"))[0] == 403
    resp = api.send("PATCH", f"/api/v1/namespaces/{namespace}/pods/job/status",
                    body={"status": {"phase": "Succeeded"}}, content_type="application/merge-patch+json")
    assert resp.status_code == 200, resp.text
    wait_for(lambda: used(k8s, namespace, "q") == {"pods": "0"}, timeout=10, message="the finished pod uncounted")
    assert create_pod(api, namespace, pod_body("next"))[0] == 201


# --- LimitRanges --------------------------------------------------------------------


LIMITS = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits"}, "spec": {"limits": [
    {"type": "Container", "default": {"cpu": "300m", "memory": "256Mi"},
     "defaultRequest": {"cpu": "100m", "memory": "128Mi"}, "min": {"cpu": "50m"}, "max": {"cpu": "1"}},
    {"type": "PersistentVolumeClaim", "max": {"storage": "2Gi"}}]}}


def test_limit_range_defaults_appear_in_created_pods(kubectl: Kubectl, k8s: Any, namespace: str) -> None:
    apply(kubectl, namespace, LIMITS)
    wait_for(lambda: client.CoreV1Api(k8s).list_namespaced_limit_range(namespace).items, timeout=5,
             message="the LimitRange listed")
    kubectl("run", "plain", "--image=busybox", "-n", namespace)
    pod = client.CoreV1Api(k8s).read_namespaced_pod("plain", namespace)
    resources = pod.spec.containers[0].resources
    assert resources.requests == {"cpu": "100m", "memory": "128Mi"}
    assert resources.limits == {"cpu": "300m", "memory": "256Mi"}
    assert pod.status.qos_class == "Burstable"
    assert pod.metadata.annotations["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container plain; cpu, memory limit for container plain")


def test_limit_range_minimum_and_maximum_are_enforced(api: Api, kubectl: Kubectl, namespace: str) -> None:
    apply(kubectl, namespace, LIMITS)
    wait_for(lambda: api.send("GET", f"/api/v1/namespaces/{namespace}/limitranges").json()["items"], timeout=5,
             message="the LimitRange listed")
    status, body = create_pod(api, namespace, pod_body("tiny", requests={"cpu": "10m"}))
    assert status == 403
    assert body["message"] == 'pods "tiny" is forbidden: minimum cpu usage per Container is 50m, but request is 10m'
    status, body = create_pod(api, namespace, pod_body("huge", limits={"cpu": "2"}))
    assert status == 403
    assert body["message"] == 'pods "huge" is forbidden: maximum cpu usage per Container is 1, but limit is 2'
    resp = api.send("POST", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims", body={
        "metadata": {"name": "big"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                              "resources": {"requests": {"storage": "5Gi"}}}})
    assert resp.status_code == 403
    assert resp.json()["message"] == ('persistentvolumeclaims "big" is forbidden: maximum storage usage per '
                                      'PersistentVolumeClaim is 2Gi, but request is 5Gi')


# --- bad input ----------------------------------------------------------------------


def test_invalid_quotas_and_limit_ranges_are_refused_with_upstreams_words(kubectl: Kubectl, api: Api,
                                                                          namespace: str) -> None:
    refused = kubectl.run("create", "quota", "neg", "--hard=pods=-1", "-n", namespace, check=False)
    assert refused.returncode != 0
    assert ('ResourceQuota "neg" is invalid: spec.hard[pods]: Invalid value: "-1": must be greater than or equal '
            'to 0') in refused.stderr
    resp = api.send("POST", f"/api/v1/namespaces/{namespace}/limitranges", body={
        "metadata": {"name": "bad"}, "spec": {"limits": [{"type": "Container", "min": {"memory": "1Gi"},
                                                          "max": {"memory": "512Mi"}}]}})
    assert resp.status_code == 422
    assert resp.json()["message"] == ('LimitRange "bad" is invalid: spec.limits[0].min[memory]: Invalid value: '
                                      '"1Gi": min value 1Gi is greater than max value 512Mi')
    resp = api.send("POST", f"/api/v1/namespaces/{namespace}/resourcequotas", body={
        "metadata": {"name": "scoped"}, "spec": {"hard": {"pods": "1"}, "scopes": ["Terminating", "NotTerminating"]}})
    assert resp.status_code == 422
    assert "spec.scopes: Invalid value: " in resp.json()["message"]
    assert "conflicting scopes" in resp.json()["message"]


def test_status_is_the_controllers_not_the_clients(api: Api, kubectl: Kubectl, k8s: Any, namespace: str) -> None:
    created = api.send("POST", f"/api/v1/namespaces/{namespace}/resourcequotas", body={
        "metadata": {"name": "q"}, "spec": {"hard": {"pods": "1"}}, "status": {"used": {"pods": "5"}}})
    assert created.status_code == 201
    assert created.json()["status"] == {}
    assert wait_counted(k8s, namespace, "q") == {"pods": "0"}
