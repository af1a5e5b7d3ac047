"""Built-in objects lose what Go's ``omitempty`` drops, and keep what Go keeps
(``kubelite.api.omitempty``): what a user sees in ``kubectl get -o yaml`` and ``kubectl
diff`` is what kube-apiserver would have stored."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from bench.scheduler import pod_body
from kubelite.api import fieldvalidation, omitempty, schema

Obj = dict[str, Any]


def normalized(group: str, kind: str, obj: Obj) -> Obj:
    plan = omitempty.plan_for(group, "v1", kind)
    assert plan is not None
    out = copy.deepcopy(obj)
    omitempty.normalize(out, plan)
    return out


def deployment(**spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}, **spec}}


def test_empty_metadata_maps_and_lists_are_dropped() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "cm", "annotations": {}, "labels": {}, "finalizers": [], "ownerReferences": [],
                       "generateName": "", "generation": 0},
          "data": {}}
    assert normalized("", "ConfigMap", cm) == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}


def test_pointers_keep_their_zero_values_omitempty_fields_lose_them() -> None:
    out = normalized("apps", "Deployment", deployment(replicas=0, paused=False, minReadySeconds=0,
                                                       progressDeadlineSeconds=0, revisionHistoryLimit=0))
    spec = out["spec"]
    assert spec["replicas"] == 0 and spec["progressDeadlineSeconds"] == 0 and spec["revisionHistoryLimit"] == 0
    assert "paused" not in spec and "minReadySeconds" not in spec


def test_container_fields_inside_lists_of_templates() -> None:
    d = deployment()
    d["spec"]["template"]["spec"]["containers"][0].update(
        env=[{"name": "A", "value": ""}], args=[], command=[], ports=[{"containerPort": 80, "hostPort": 0}],
        volumeMounts=[{"name": "v", "mountPath": "/v", "readOnly": False, "subPath": ""}],
        resources={"limits": {}, "requests": {"cpu": "0"}}, stdin=False, tty=False, workingDir="")
    c = normalized("apps", "Deployment", d)["spec"]["template"]["spec"]["containers"][0]
    assert c == {"name": "c", "image": "nginx", "env": [{"name": "A"}], "ports": [{"containerPort": 80}],
                 "volumeMounts": [{"name": "v", "mountPath": "/v"}],
                 # a non-pointer struct stays, even empty; a map's values are never dropped
                 "resources": {"requests": {"cpu": "0"}}}


def test_fields_without_omitempty_keep_zero_values() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": []},
           "status": {"containerStatuses": [{"name": "c", "ready": False, "restartCount": 0, "image": "",
                                             "imageID": "", "started": False, "containerID": ""}]}}
    out = normalized("", "Pod", pod)
    assert out["spec"] == {"containers": []}
    assert out["status"]["containerStatuses"] == [
        {"name": "c", "ready": False, "restartCount": 0, "image": "", "imageID": "", "started": False}]


def test_embedded_structs_are_fields_of_their_parent() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "i",
                        "livenessProbe": {"httpGet": {"path": "", "port": 80}, "initialDelaySeconds": 0,
                                          "exec": None}}],
        "volumes": [{"name": "scratch", "emptyDir": {}, "configMap": None},
                    {"name": "cm", "configMap": {"name": "x", "optional": False, "items": []}}]}}
    spec = normalized("", "Pod", pod)["spec"]
    assert spec["containers"][0]["livenessProbe"] == {"httpGet": {"port": 80}}
    # Volume embeds VolumeSource: emptyDir (a pointer) stays empty, a null source goes;
    # ConfigMapVolumeSource embeds LocalObjectReference (name) and optional is a pointer
    assert spec["volumes"] == [{"name": "scratch", "emptyDir": {}},
                               {"name": "cm", "configMap": {"name": "x", "optional": False}}]


def test_non_pointer_times_stay_null_but_creation_timestamp_goes() -> None:
    d = deployment()
    d["metadata"]["deletionTimestamp"] = None
    d["spec"]["template"]["metadata"]["creationTimestamp"] = None
    d["status"] = {"conditions": [{"type": "Available", "status": "True", "lastUpdateTime": None, "reason": ""}]}
    out = normalized("apps", "Deployment", d)
    # upstream's only omitzero field: kubectl's null in pod templates is not stored (1.34+)
    assert out["spec"]["template"]["metadata"] == {"labels": {"app": "web"}}
    assert "deletionTimestamp" not in out["metadata"]  # a pointer: null is nil
    # a metav1.Time is a struct: encoding/json writes its zero value as null
    assert out["status"]["conditions"] == [{"type": "Available", "status": "True", "lastUpdateTime": None}]


def test_a_null_struct_is_its_zero_value() -> None:
    d = deployment()
    d["spec"]["template"]["spec"]["containers"][0]["resources"] = None
    d["spec"]["strategy"] = None
    out = normalized("apps", "Deployment", d)
    assert out["spec"]["template"]["spec"]["containers"][0]["resources"] == {}
    assert out["spec"]["strategy"] == {}


def test_int_or_string_and_quantities_are_kept_as_they_are() -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"ports": [{"port": 80, "targetPort": 0, "nodePort": 0, "name": ""}], "selector": {},
                    "clusterIPs": []}}
    assert normalized("", "Service", svc)["spec"] == {"ports": [{"port": 80, "targetPort": 0}]}


def test_maps_of_lists_and_unknown_fields_are_left_alone() -> None:
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": "u", "extra": {"scopes": []}, "groups": []}, "bogus": {}}
    plan = omitempty.plan_for("authorization.k8s.io", "v1", "SubjectAccessReview")
    assert plan is not None
    omitempty.normalize(review, plan)
    assert review == {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                      "spec": {"user": "u", "extra": {"scopes": []}}, "bogus": {}}


def test_replication_controllers_and_pod_templates_have_plans_too() -> None:
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
          "spec": {"replicas": 0, "minReadySeconds": 0, "selector": {},
                   "template": {"metadata": {"creationTimestamp": None},
                                "spec": {"containers": [{"name": "c", "image": "i", "env": []}]}}},
          "status": {"replicas": 0, "readyReplicas": 0}}
    assert normalized("", "ReplicationController", rc)["spec"] == {
        "replicas": 0, "template": {"metadata": {}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    assert normalized("", "ReplicationController", rc)["status"] == {"replicas": 0}
    template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "pt", "labels": {}},
                "template": {"spec": {"containers": [{"name": "c", "image": "i", "tty": False}]}}}
    assert normalized("", "PodTemplate", template) == {
        "apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "pt"},
        "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}


@pytest.mark.parametrize(("group", "kind"), [("stable.example.com", "CronTab"), ("", "ComponentStatus"),
                                             ("apps", "Nope")])
def test_custom_resources_and_kinds_without_a_table_have_no_plan(group: str, kind: str) -> None:
    assert omitempty.plan_for(group, "v1", kind) is None


def test_normalize_says_whether_it_changed_anything_and_is_idempotent() -> None:
    d = deployment(paused=False)
    plan = omitempty.plan_for("apps", "v1", "Deployment")
    assert plan is not None
    assert omitempty.normalize(d, plan) is True
    assert omitempty.normalize(d, plan) is False


def test_only_the_named_top_level_fields_are_walked() -> None:
    d = deployment(paused=False)
    d["metadata"]["labels"] = {}
    plan = omitempty.plan_for("apps", "v1", "Deployment")
    assert plan is not None
    omitempty.normalize(d, plan, keys=["metadata"])
    assert "labels" not in d["metadata"] and d["spec"]["paused"] is False


@pytest.mark.parametrize("body", [
    {"a": ""}, {"a": {}}, {"a": []}, {"a": False}, {"a": None}, {"a": 0}, {"a": -0.0}, {"a": [{"b": 0}]},
])
def test_zero_values_in_compact_json_are_never_missed(body: Obj) -> None:
    assert omitempty.zero_free(orjson.dumps(body)) is False


def test_a_template_pod_is_proven_free_of_zero_values() -> None:
    for shape in ("basic", "anti-affinity", "spread"):
        assert omitempty.zero_free(orjson.dumps(pod_body("", shape)["spec"]))


def test_inspection_names_the_top_level_fields_that_may_hold_zero_values() -> None:
    node = schema.root("", "v1", "Pod")
    assert node is not None
    pod = pod_body("pod-1", "basic")
    assert fieldvalidation.inspect(pod, node)[2] == []
    assert fieldvalidation.inspect(pod, node)[2] == []  # the spec's verdict from the memo
    pod["metadata"]["annotations"] = {}
    pod["spec"]["containers"][0]["env"] = []
    assert fieldvalidation.inspect(pod, node)[2] == ["metadata", "spec"]
