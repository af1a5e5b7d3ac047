"""HorizontalPodAutoscalers through the real server: autoscaling/v2 and autoscaling/v1
CRUD, upstream's defaults and validation messages, ``kubectl autoscale``, ``kubectl get
hpa`` columns and ``kubectl describe hpa``, and what the controller does without metrics
(the api tier's nodes are simulated, so no pod has CPU figures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl, header, rows
from tests.api.test_controllers_support import deployment as deployment_body
from tests.conftest import wait_for
from tests.support.rawapi import Api

kubectl = kubectl_runner.kubectl


def deployment(apps: client.AppsV1Api, ns: str, name: str, *, replicas: int) -> None:
    apps.create_namespaced_deployment(ns, deployment_body(name, replicas=replicas))


def _v2(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                            "maxReplicas": 4}
    body.update(spec)
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name},
            "spec": body}


@pytest.fixture(scope="module")
def api(kubeconfig: Path) -> Api:
    return Api(kubeconfig)


def _raw(api: Api, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    resp = api.send(method, path, body=body)
    return resp.status_code, resp.json()


def _v2_path(ns: str, name: str = "") -> str:
    return f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers" + (f"/{name}" if name else "")


def _v1_path(ns: str, name: str = "") -> str:
    return f"/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers" + (f"/{name}" if name else "")


# --- the API ---------------------------------------------------------------------------


def test_discovery_serves_v2_preferred_and_v1(kubectl: Kubectl) -> None:
    out = kubectl("api-resources", "--api-group=autoscaling", "-o", "wide")
    (row,) = [r for r in rows(out)[1:] if r[0] == "horizontalpodautoscalers"]
    assert row[1:4] == ["hpa", "autoscaling/v2", "true"]
    assert "autoscaling/v1" in kubectl("api-versions").split()


def test_v2_create_fills_upstream_defaults(k8s: Any, namespace: str) -> None:
    api = client.AutoscalingV2Api(k8s)
    api.create_namespaced_horizontal_pod_autoscaler(namespace, _v2("web"))
    hpa = api.read_namespaced_horizontal_pod_autoscaler("web", namespace).to_dict()
    assert hpa["spec"]["min_replicas"] == 1
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource"
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "average_utilization": 80,
                                            "average_value": None, "value": None}
    assert hpa["spec"]["behavior"] is None  # upstream defaults behavior only when it is given


def test_v2_behavior_defaults_are_upstreams(api: Api, k8s: Any, namespace: str) -> None:
    status, body = _raw(api, "POST", _v2_path(namespace), _v2("web", behavior={"scaleDown": {
        "stabilizationWindowSeconds": 0}}))
    assert status == 201, body
    behavior = body["spec"]["behavior"]
    assert behavior["scaleUp"] == {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]}
    assert behavior["scaleDown"] == {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
        {"type": "Percent", "value": 100, "periodSeconds": 15}]}


@pytest.mark.parametrize(("spec", "field", "message"), [
    ({"minReplicas": 0}, "spec.minReplicas", "Invalid value: 0: must be greater than or equal to 1"),
    ({"minReplicas": 5, "maxReplicas": 3}, "spec.maxReplicas",
     "Invalid value: 3: must be greater than or equal to `minReplicas`"),
    ({"scaleTargetRef": {"name": "web"}}, "spec.scaleTargetRef.kind", "Required value"),
    ({"scaleTargetRef": {"kind": "Deployment"}}, "spec.scaleTargetRef.name", "Required value"),
    ({"metrics": [{"type": "Resource"}]}, "spec.metrics[0].resource",
     "Required value: must populate information for the given metric source"),
    ({"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                              "averageUtilization": 50}},
                   "pods": {"metric": {"name": "x"}, "target": {"type": "AverageValue", "averageValue": "1"}}}]},
     "spec.metrics[0].pods", "Forbidden: must populate the given metric source only"),
    ({"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}}]},
     "spec.metrics[0].resource.target.averageUtilization",
     "Required value: must set either a target raw value or a target utilization"),
    ({"metrics": [{"type": "Bogus"}]}, "spec.metrics[0].type", 'Unsupported value: "Bogus"'),
    ({"behavior": {"scaleUp": {"stabilizationWindowSeconds": 3601}}},
     "spec.behavior.scaleUp.stabilizationWindowSeconds", "Invalid value: 3601: must be less than or equal to 3600"),
    ({"behavior": {"scaleDown": {"policies": [{"type": "Percent", "value": 0, "periodSeconds": 15}]}}},
     "spec.behavior.scaleDown.policies[0].value", "Invalid value: 0: must be greater than zero"),
])
def test_invalid_specs_are_refused_with_upstreams_messages(api: Api, k8s: Any, namespace: str, spec: dict[str, Any],
                                                           field: str, message: str) -> None:
    body = _v2("bad")
    if "scaleTargetRef" in spec:
        body["spec"]["scaleTargetRef"] = spec.pop("scaleTargetRef")
    body["spec"].update(spec)
    status, answer = _raw(api, "POST", _v2_path(namespace), body)
    assert status == 422, answer
    assert answer["reason"] == "Invalid"
    causes = {c["field"]: c["message"] for c in answer["details"]["causes"]}
    assert field in causes, causes
    assert causes[field].startswith(message), causes


def test_v1_and_v2_are_one_object(api: Api, k8s: Any, namespace: str) -> None:
    v1 = client.AutoscalingV1Api(k8s)
    v1.create_namespaced_horizontal_pod_autoscaler(namespace, {
        "metadata": {"name": "web"}, "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 60}})

    def v2_read_modify_write() -> bool:  # retried: the controller writes status meanwhile
        status, v2 = _raw(api, "GET", _v2_path(namespace, "web"))
        assert status == 200
        assert v2["apiVersion"] == "autoscaling/v2"
        assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]
        # a v2-only setting survives a v1 read-modify-write, in upstream's annotation
        v2["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 30}}
        return _raw(api, "PUT", _v2_path(namespace, "web"), v2)[0] == 200

    wait_for(v2_read_modify_write, timeout=10, message="a v2 update")

    def v1_read_modify_write() -> bool:  # retried: the controller writes status meanwhile
        got = v1.read_namespaced_horizontal_pod_autoscaler("web", namespace)
        assert got.spec.target_cpu_utilization_percentage == 60
        assert "autoscaling.alpha.kubernetes.io/behavior" in got.metadata.annotations
        got.spec.max_replicas = 7
        v1.replace_namespaced_horizontal_pod_autoscaler("web", namespace, got)
        return True

    wait_for(v1_read_modify_write, timeout=10, ignore=(client.ApiException,), message="a v1 update")
    status, v2 = _raw(api, "GET", _v2_path(namespace, "web"))
    assert v2["spec"]["maxReplicas"] == 7
    assert v2["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30
    assert "annotations" not in v2["metadata"]
    assert [i.metadata.name for i in v1.list_namespaced_horizontal_pod_autoscaler(namespace).items] == ["web"]
    v1.delete_namespaced_horizontal_pod_autoscaler("web", namespace)
    assert _raw(api, "GET", _v2_path(namespace, "web"))[0] == 404


# --- kubectl -----------------------------------------------------------------------------


def test_kubectl_autoscale_creates_a_v2_hpa_and_get_shows_upstreams_columns(
        kubectl: Kubectl, k8s: Any, namespace: str) -> None:
    deployment(client.AppsV1Api(k8s), namespace, "web", replicas=1)
    out = kubectl("autoscale", "deployment", "web", "--cpu-percent=50", "--min=1", "--max=4", "-n", namespace)
    assert "horizontalpodautoscaler.autoscaling/web autoscaled" in out
    hpa = json.loads(kubectl("get", "hpa", "web", "-n", namespace, "-o", "json"))
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 50}
    table = kubectl("get", "hpa", "-n", namespace)
    assert header(table) == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    (row,) = rows(table)[1:]
    assert row[:5] == ["web", "Deployment/web", "cpu: <unknown>/50%", "1", "4"]
    v1_table = kubectl("get", "horizontalpodautoscalers.v1.autoscaling", "-n", namespace)
    assert rows(v1_table)[1][:5] == row[:5]
    v1 = json.loads(kubectl("get", "horizontalpodautoscalers.v1.autoscaling", "web", "-n", namespace, "-o", "json"))
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50


def test_kubectl_describe_hpa(kubectl: Kubectl, k8s: Any, namespace: str) -> None:
    deployment(client.AppsV1Api(k8s), namespace, "web", replicas=1)
    kubectl("autoscale", "deployment", "web", "--cpu-percent=50", "--min=1", "--max=4", "-n", namespace)
    out = wait_for(lambda: (o := kubectl("describe", "hpa", "web", "-n", namespace)) and "ScalingActive" in o and o,
                   timeout=20, message="the controller's conditions in describe")
    assert "Reference:" in out and "Deployment/web" in out
    assert "Min replicas:" in out and "Max replicas:" in out
    assert 'resource cpu on pods  (as a percentage of request):  <unknown> / 50%' in out


# --- the controller through the API ----------------------------------------------------------


def _condition(hpa: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    return next((c for c in (hpa.get("status") or {}).get("conditions") or [] if c["type"] == ctype), None)


def test_controller_raises_the_target_to_min_replicas(api: Api, k8s: Any, namespace: str) -> None:
    apps = client.AppsV1Api(k8s)
    deployment(apps, namespace, "web", replicas=1)
    assert _raw(api, "POST", _v2_path(namespace), _v2("web", minReplicas=3))[0] == 201
    wait_for(lambda: apps.read_namespaced_deployment_scale("web", namespace).spec.replicas == 3, timeout=20,
             message="the deployment scaled to minReplicas")
    hpa = wait_for(lambda: (h := _raw(api, "GET", _v2_path(namespace, "web"))[1]).get("status", {}).get(
        "lastScaleTime") and h, timeout=20, message="status with lastScaleTime")
    assert hpa["status"]["desiredReplicas"] == 3
    assert _condition(hpa, "AbleToScale")["status"] == "True"
    events = client.CoreV1Api(k8s).list_namespaced_event(namespace, field_selector="involvedObject.name=web").items
    messages = [e.message for e in events if e.reason == "SuccessfulRescale"]
    assert "New size: 3; reason: Current number of replicas below Spec.MinReplicas" in messages


def test_controller_without_metrics_says_scaling_is_not_active(api: Api, k8s: Any, namespace: str) -> None:
    deployment(client.AppsV1Api(k8s), namespace, "web", replicas=1)
    assert _raw(api, "POST", _v2_path(namespace), _v2("web"))[0] == 201
    hpa = wait_for(lambda: (h := _raw(api, "GET", _v2_path(namespace, "web"))[1]) and _condition(h, "ScalingActive")
                   and h, timeout=20, message="ScalingActive condition")
    active = _condition(hpa, "ScalingActive")
    assert active["status"] == "False"
    assert active["reason"] == "FailedGetResourceMetric"
    assert active["message"].startswith("the HPA was unable to compute the replica count: ")


def test_controller_reports_unserved_custom_metrics(api: Api, k8s: Any, namespace: str) -> None:
    deployment(client.AppsV1Api(k8s), namespace, "web", replicas=1)
    body = _v2("web", metrics=[{"type": "Pods", "pods": {"metric": {"name": "qps"},
                                                        "target": {"type": "AverageValue", "averageValue": "10"}}}])
    assert _raw(api, "POST", _v2_path(namespace), body)[0] == 201
    hpa = wait_for(lambda: (h := _raw(api, "GET", _v2_path(namespace, "web"))[1]) and _condition(h, "ScalingActive")
                   and h, timeout=20, message="ScalingActive condition")
    assert _condition(hpa, "ScalingActive")["reason"] == "FailedGetPodsMetric"
