"""The ``pods/ephemeralcontainers`` subresource, through the API: what ``kubectl debug``
writes is accepted and defaulted, and what upstream refuses is refused with its 422 and
field paths. (A debug container actually running in a pod: tests/node/test_debug.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses


def _pod(core: client.CoreV1Api, ns: str, name: str = "p") -> None:
    core.create_namespaced_pod(ns, {"metadata": {"name": name}, "spec": {
        "schedulerName": "nobody",  # never runs: only the API is under test
        "containers": [{"name": "app", "image": "busybox"}], "initContainers": [{"name": "init", "image": "busybox"}]}})


def _add(core: client.CoreV1Api, ns: str, *containers: dict[str, Any], name: str = "p") -> Any:
    return core.patch_namespaced_pod_ephemeralcontainers(
        name, ns, {"spec": {"ephemeralContainers": list(containers)}})


def _refusal(exc: client.ApiException) -> tuple[int, str, list[tuple[str, str, str]]]:
    body = json.loads(exc.body)
    causes = [(c.get("field", ""), c.get("reason", ""), c.get("message", "")) for c in body["details"]["causes"]]
    return exc.status, body["reason"], causes


def test_kubectl_debug_adds_a_defaulted_ephemeral_container(k8s: client.ApiClient, kubectl: Kubectl,
                                                             namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    _pod(core, namespace)
    out = kubectl("debug", "p", "-n", namespace, "--image=busybox:1.36", "--target=app", "-c", "dbg",
                  "--", "sh", "-c", "sleep 1")
    assert 'Targeting container "app"' in out
    pod = core.api_client.sanitize_for_serialization(core.read_namespaced_pod("p", namespace))
    (debugger,) = pod["spec"]["ephemeralContainers"]
    assert debugger["name"] == "dbg" and debugger["targetContainerName"] == "app"
    assert debugger["command"] == ["sh", "-c", "sleep 1"]
    # upstream's container defaults
    assert (debugger["imagePullPolicy"], debugger["terminationMessagePath"], debugger["terminationMessagePolicy"]) \
        == ("IfNotPresent", "/dev/termination-log", "File")
    assert pod["metadata"]["generation"] == 2
    # the subresource answers the pod, for GET too
    read = core.read_namespaced_pod_ephemeralcontainers("p", namespace)
    assert [c.name for c in read.spec.ephemeral_containers] == ["dbg"]
    # a second debugger joins the first one
    kubectl("debug", "p", "-n", namespace, "--image=busybox", "-c", "dbg2", "--", "true")
    names = [c.name for c in core.read_namespaced_pod("p", namespace).spec.ephemeral_containers]
    assert names == ["dbg", "dbg2"]


def test_put_and_json_patch_change_only_ephemeral_containers(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    _pod(core, namespace)
    pod = core.api_client.sanitize_for_serialization(core.read_namespaced_pod("p", namespace))
    pod["spec"]["ephemeralContainers"] = [{"name": "dbg", "image": "busybox", "stdin": True, "tty": True}]
    pod["metadata"]["labels"] = {"sneaked": "in"}
    pod["spec"]["containers"][0]["image"] = "nginx"
    core.replace_namespaced_pod_ephemeralcontainers("p", namespace, pod)
    stored = core.read_namespaced_pod("p", namespace)
    assert [(c.name, c.stdin, c.tty) for c in stored.spec.ephemeral_containers] == [("dbg", True, True)]
    assert stored.metadata.labels is None and stored.spec.containers[0].image == "busybox"
    # a stale resourceVersion is a conflict, as in any PUT
    with pytest.raises(client.ApiException) as exc:
        core.replace_namespaced_pod_ephemeralcontainers("p", namespace, pod)
    assert exc.value.status == 409
    # a list body goes as a JSON patch
    core.patch_namespaced_pod_ephemeralcontainers("p", namespace, [
        {"op": "add", "path": "/spec/ephemeralContainers/-", "value": {"name": "dbg2", "image": "busybox"}}])
    assert [c.name for c in core.read_namespaced_pod("p", namespace).spec.ephemeral_containers] == ["dbg", "dbg2"]


@pytest.mark.parametrize(("container", "field", "reason"), [
    ({"name": "app", "image": "busybox"}, "spec.ephemeralContainers[0].name", "FieldValueDuplicate"),
    ({"name": "init", "image": "busybox"}, "spec.ephemeralContainers[0].name", "FieldValueDuplicate"),
    ({"name": "dbg", "image": "busybox", "targetContainerName": "nope"},
     "spec.ephemeralContainers[0].targetContainerName", "FieldValueNotFound"),
    ({"name": "dbg", "image": "busybox", "ports": [{"containerPort": 80}]},
     "spec.ephemeralContainers[0].ports", "FieldValueForbidden"),
    ({"name": "dbg", "image": "busybox", "resources": {"limits": {"cpu": "1"}}},
     "spec.ephemeralContainers[0].resources", "FieldValueForbidden"),
    ({"name": "dbg", "image": "busybox", "readinessProbe": {"exec": {"command": ["true"]}}},
     "spec.ephemeralContainers[0].readinessProbe", "FieldValueForbidden"),
    ({"name": "dbg", "image": "busybox", "lifecycle": {"preStop": {"exec": {"command": ["true"]}}}},
     "spec.ephemeralContainers[0].lifecycle", "FieldValueForbidden"),
    ({"name": "dbg"}, "spec.ephemeralContainers[0].image", "FieldValueRequired"),
])
def test_invalid_ephemeral_containers_are_refused(k8s: client.ApiClient, namespace: str, container: dict[str, Any],
                                                  field: str, reason: str) -> None:
    core = client.CoreV1Api(k8s)
    _pod(core, namespace)
    with pytest.raises(client.ApiException) as exc:
        _add(core, namespace, container)
    status, why, causes = _refusal(exc.value)
    assert (status, why) == (422, "Invalid")
    assert (field, reason) in [(f, r) for f, r, _ in causes], causes
    if reason == "FieldValueForbidden":
        assert "cannot be set for an Ephemeral Container" in dict((f, m) for f, _, m in causes)[field]
    assert core.read_namespaced_pod("p", namespace).spec.ephemeral_containers is None


def test_existing_ephemeral_containers_can_be_neither_changed_nor_removed(k8s: client.ApiClient,
                                                                         namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    _pod(core, namespace)
    _add(core, namespace, {"name": "dbg", "image": "busybox"})
    pod = core.api_client.sanitize_for_serialization(core.read_namespaced_pod("p", namespace))
    for changed, words in (([{"name": "dbg", "image": "alpine"}], 'existing ephemeral containers "dbg" may not be '
                                                                   'changed'),
                           ([], 'existing ephemeral containers "dbg" may not be removed')):
        pod["spec"]["ephemeralContainers"] = changed
        with pytest.raises(client.ApiException) as exc:
            core.replace_namespaced_pod_ephemeralcontainers("p", namespace, pod)
        status, _, causes = _refusal(exc.value)
        assert status == 422
        assert [(f, r) for f, r, _ in causes] == [("spec.ephemeralContainers", "FieldValueForbidden")]
        assert words in causes[0][2]


def test_ordinary_pod_writes_cannot_set_ephemeral_containers(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    with pytest.raises(client.ApiException) as exc:
        core.create_namespaced_pod(namespace, {"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "app", "image": "busybox"}],
            "ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}})
    status, _, causes = _refusal(exc.value)
    assert status == 422
    assert ("spec.ephemeralContainers", "FieldValueForbidden", "Forbidden: cannot be set on create") in causes
    _pod(core, namespace)
    with pytest.raises(client.ApiException) as exc:
        core.patch_namespaced_pod("p", namespace, {"spec": {"ephemeralContainers": [{"name": "dbg",
                                                                                      "image": "busybox"}]}})
    status, _, causes = _refusal(exc.value)
    assert status == 422
    assert causes[0][0] == "spec" and "pod updates may not change fields" in causes[0][2]


def test_discovery_lists_the_subresource(k8s: client.ApiClient) -> None:
    resources = client.CoreV1Api(k8s).get_api_resources().resources
    (sub,) = [r for r in resources if r.name == "pods/ephemeralcontainers"]
    assert (sub.kind, sorted(sub.verbs)) == ("Pod", ["get", "patch", "update"])
