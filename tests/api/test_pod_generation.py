"""Pod generation tracking (upstream KEP-5067, GA in Kubernetes 1.35), through the API:
a pod's ``metadata.generation`` starts at 1 and follows its spec, and the
``observedGeneration`` its status writers record survives writers that leave it out."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client


def _pod(core: client.CoreV1Api, ns: str) -> dict[str, Any]:
    core.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {
        "schedulerName": "nobody",  # left alone: this test writes the status itself
        "containers": [{"name": "c", "image": "busybox"}]}})
    return core.api_client.sanitize_for_serialization(core.read_namespaced_pod("p", ns))


def test_generation_follows_the_spec_not_metadata_or_status(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    assert _pod(core, namespace)["metadata"]["generation"] == 1
    core.patch_namespaced_pod("p", namespace, {"metadata": {"labels": {"x": "y"}}})
    core.patch_namespaced_pod_status("p", namespace, {"status": {"message": "hello"}})
    assert core.read_namespaced_pod("p", namespace).metadata.generation == 1
    core.patch_namespaced_pod("p", namespace, {"spec": {"activeDeadlineSeconds": 600}})
    assert core.read_namespaced_pod("p", namespace).metadata.generation == 2


def test_a_status_write_that_leaves_observed_generation_out_keeps_it(k8s: client.ApiClient,
                                                                      namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    _pod(core, namespace)
    core.patch_namespaced_pod_status("p", namespace, {"status": {
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "False", "observedGeneration": 1},
                       {"type": "example.com/gate", "status": "True", "observedGeneration": 1}]}})
    # An older writer replaces the whole status, knowing nothing of the field (a PUT).
    pod = core.api_client.sanitize_for_serialization(core.read_namespaced_pod("p", namespace))
    pod["status"].pop("observedGeneration")
    for c in pod["status"]["conditions"]:
        c.pop("observedGeneration")
    pod["status"]["conditions"][0]["status"] = "True"
    core.replace_namespaced_pod_status("p", namespace, pod)
    status = core.read_namespaced_pod("p", namespace).status
    assert status.observed_generation == 1
    assert {c.type: (c.status, c.observed_generation) for c in status.conditions} == {
        "Ready": ("True", 1), "example.com/gate": ("True", 1)}


@pytest.mark.parametrize("status", [
    {"observedGeneration": -1},
    {"conditions": [{"type": "Ready", "status": "True", "observedGeneration": -3}]},
])
def test_a_negative_observed_generation_is_refused(k8s: client.ApiClient, namespace: str,
                                                    status: dict[str, Any]) -> None:
    core = client.CoreV1Api(k8s)
    _pod(core, namespace)
    with pytest.raises(client.ApiException) as exc:
        core.patch_namespaced_pod_status("p", namespace, {"status": status})
    assert exc.value.status == 422
    assert "must be greater than or equal to 0" in exc.value.body
    assert core.read_namespaced_pod("p", namespace).status.observed_generation is None
