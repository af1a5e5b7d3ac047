"""Built-in objects come back as kube-apiserver returns them: without the zero values Go's
``omitempty`` drops (``annotations: {}``, ``env: []``, ``readOnly: false``, zero status
counters), with those Go keeps (``replicas: 0``, ``emptyDir: {}``). A user notices the
difference as false drift in ``kubectl diff`` and as rollouts nothing asked for."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl
from tests.conftest import wait_for
from tests.support.rawapi import Api

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def api(kubeconfig: Path) -> Api:
    return Api(kubeconfig)


def ok(resp: Any) -> Obj:
    assert resp.status_code in (200, 201), resp.text
    body: Obj = resp.json()
    return body


def deployment(name: str, **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"schedulerName": "nobody",  # no pod of these is ever placed
                                           "containers": [{"name": "c", "image": "nginx"}]}},
                     **spec}}


def test_empty_annotations_and_labels_are_not_stored(api: Api, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    created = ok(api.send("POST", path, body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "cm", "annotations": {}, "labels": {}, "finalizers": []}, "data": {"k": "v"}}))
    fetched = ok(api.send("GET", f"{path}/cm"))
    for obj in (created, fetched):
        assert not {"annotations", "labels", "finalizers"} & set(obj["metadata"]), obj["metadata"]
        assert obj["data"] == {"k": "v"}


def test_replicas_zero_is_kept_and_an_empty_env_is_not(api: Api, namespace: str) -> None:
    body = deployment("zero", replicas=0, paused=False)
    container = body["spec"]["template"]["spec"]["containers"][0]
    container.update(env=[], volumeMounts=[{"name": "scratch", "mountPath": "/s", "readOnly": False}])
    body["spec"]["template"]["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    created = ok(api.send("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", body=body))
    spec = created["spec"]
    assert spec["replicas"] == 0 and "paused" not in spec
    pod_spec = spec["template"]["spec"]
    assert "env" not in pod_spec["containers"][0]
    assert pod_spec["containers"][0]["volumeMounts"] == [{"name": "scratch", "mountPath": "/s"}]
    assert pod_spec["volumes"] == [{"name": "scratch", "emptyDir": {}}]


def test_an_update_that_only_adds_an_empty_env_keeps_the_generation(api: Api, namespace: str) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    created = ok(api.send("POST", path, body=deployment("steady", replicas=0)))
    assert created["metadata"]["generation"] == 1
    # The deployment controller writes the object's status (and revision annotation) soon
    # after creation: a PUT of a copy it has outdated gets 409, so read, change, write again.
    for _ in range(10):
        current = ok(api.send("GET", f"{path}/steady"))
        same = copy.deepcopy(current)
        same["spec"]["template"]["spec"]["containers"][0]["env"] = []
        if not same["metadata"].get("annotations"):
            same["metadata"]["annotations"] = {}
        resp = api.send("PUT", f"{path}/steady", body=same)
        if resp.status_code != 409:
            break
    updated = ok(resp)
    assert updated["metadata"]["generation"] == 1
    assert updated["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]  # nothing written
    assert "env" not in updated["spec"]["template"]["spec"]["containers"][0]


def test_a_pod_keeps_no_false_read_only_and_no_template_null_timestamp(api: Api, namespace: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "creationTimestamp": None},
           "spec": {"schedulerName": "nobody", "volumes": [{"name": "v", "emptyDir": {}}],
                    "containers": [{"name": "c", "image": "busybox", "stdin": False, "args": [],
                                    "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": False}]}]}}
    created = ok(api.send("POST", f"/api/v1/namespaces/{namespace}/pods", body=pod))
    container = created["spec"]["containers"][0]
    # the pod's own mount without its false readOnly; then ServiceAccount admission's, as upstream's
    assert container["volumeMounts"][0] == {"name": "v", "mountPath": "/v"}
    assert [m["mountPath"] for m in container["volumeMounts"][1:]] == ["/var/run/secrets/kubernetes.io/serviceaccount"]
    assert "stdin" not in container and "args" not in container
    assert created["metadata"]["creationTimestamp"]  # the server's own, as always
    # upstream (1.34+) omits a zero creationTimestamp: kubectl's null in templates is not kept
    rs = deployment("tmpl", replicas=0)
    rs["kind"] = "ReplicaSet"
    rs["spec"]["template"]["metadata"]["creationTimestamp"] = None
    created = ok(api.send("POST", f"/apis/apps/v1/namespaces/{namespace}/replicasets", body=rs))
    assert created["spec"]["template"]["metadata"] == {"labels": {"app": "tmpl"}}


def test_a_merge_patch_that_removes_the_last_label_leaves_no_empty_map(api: Api, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    ok(api.send("POST", path, body={"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "labelled", "labels": {"a": "b"}}}))
    patched = ok(api.send("PATCH", f"{path}/labelled", body={"metadata": {"labels": {"a": None}}},
                          content_type="application/merge-patch+json"))
    assert "labels" not in patched["metadata"]


def test_replica_set_status_has_no_zero_counters(api: Api, namespace: str) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/replicasets"
    rs = deployment("idle", replicas=0)
    rs["kind"] = "ReplicaSet"
    ok(api.send("POST", path, body=rs))
    status = wait_for(lambda: ok(api.send("GET", f"{path}/idle"))["status"].get("observedGeneration") and
                      ok(api.send("GET", f"{path}/idle"))["status"], 30, 0.1, "the controller saw the ReplicaSet")
    # replicas has no omitempty upstream; the other counters do
    assert status == {"replicas": 0, "observedGeneration": 1}
    put = ok(api.send("PUT", f"{path}/idle/status", body={
        **ok(api.send("GET", f"{path}/idle")),
        "status": {"replicas": 0, "fullyLabeledReplicas": 0, "readyReplicas": 0, "availableReplicas": 0,
                   "observedGeneration": 1, "conditions": []}}))
    assert put["status"] == {"replicas": 0, "observedGeneration": 1}


def _manifest(name: str, *, empty_fields: bool) -> str:
    """A Deployment and a ConfigMap; with ``empty_fields``, the same objects spelled with
    the empty values manifests often carry (templates, generators, kubectl's own output)."""
    extra = "" if not empty_fields else "  annotations: {}\n  labels: {}\n"
    spec_extra = "" if not empty_fields else "  paused: false\n"
    template_meta = "" if not empty_fields else "      creationTimestamp: null\n"
    pod_extra = "" if not empty_fields else "      nodeSelector: {}\n"
    container_extra = "" if not empty_fields else "        args: []\n        env: []\n"
    mount_extra = "" if not empty_fields else ", readOnly: false"
    data = "" if not empty_fields else "data: {}\n"
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
{extra}spec:
  replicas: 0
{spec_extra}  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
{template_meta}      labels: {{app: {name}}}
    spec:
      schedulerName: nobody
{pod_extra}      containers:
      - name: c
        image: nginx
{container_extra}        resources: {{}}
        volumeMounts:
        - {{name: v, mountPath: /v{mount_extra}}}
      volumes:
      - {{name: v, emptyDir: {{}}}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
{extra}{data}"""


def test_empty_fields_in_a_manifest_are_no_drift_and_no_rollout(kubectl: Kubectl, namespace: str) -> None:
    name = f"drift-{uuid.uuid4().hex[:6]}"
    plain, spelled = _manifest(name, empty_fields=False), _manifest(name, empty_fields=True)
    kubectl.apply_text(plain, "-n", namespace)
    diff = kubectl.run("diff", "-n", namespace, "-f", "-", stdin=spelled, check=False)
    assert diff.returncode == 0, diff.stdout
    kubectl.apply_text(spelled, "-n", namespace)
    kubectl.apply_text(spelled, "-n", namespace)
    assert kubectl("get", "deployment", name, "-n", namespace, "-o", "jsonpath={.metadata.generation}") == "1"
    diff = kubectl.run("diff", "-n", namespace, "-f", "-", stdin=spelled, check=False)
    assert diff.returncode == 0, diff.stdout
