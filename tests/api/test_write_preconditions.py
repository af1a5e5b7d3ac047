"""What a write must name to land, as upstream's kube-apiserver decides it: a PUT of a
CustomResourceDefinition or a custom resource names the version it replaces; a write never
changes an object's uid; an apply naming a uid or a resourceVersion is held to them; a CRD
keeps every version objects may still be stored in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.support.rawapi import Api

APPLY = "application/apply-patch+yaml"


@pytest.fixture(scope="module")
def api(kubeconfig: Path) -> Api:
    return Api(kubeconfig)


def crd_body(group: str, versions: list[str], storage: str) -> dict[str, Any]:
    schema = {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"things.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "things", "singular": "thing", "kind": "Thing", "listKind": "ThingList"},
                     "versions": [{"name": v, "served": True, "storage": v == storage, "schema": schema}
                                  for v in versions]}}


@pytest.fixture
def crd(api: Api) -> Iterator[str]:
    group = f"p{uuid.uuid4().hex[:6]}.example.com"
    made = api.send("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                    body=crd_body(group, ["v1"], "v1"))
    assert made.status_code == 201, made.text
    wait_for(lambda: api.send("GET", f"/apis/{group}/v1").status_code == 200, 15, message="the CRD served")
    yield group
    api.send("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.{group}")


def test_custom_resources_and_crds_need_a_resource_version_to_be_replaced(api: Api, crd: str, namespace: str) -> None:
    base = f"/apis/{crd}/v1/namespaces/{namespace}/things"
    made = api.send("POST", base, body={"apiVersion": f"{crd}/v1", "kind": "Thing", "metadata": {"name": "a"},
                                        "spec": {"x": 1}})
    assert made.status_code == 201, made.text
    blind = api.send("PUT", f"{base}/a", body={"apiVersion": f"{crd}/v1", "kind": "Thing",
                                               "metadata": {"name": "a"}, "spec": {"x": 2}})
    assert blind.status_code == 422, blind.text
    assert blind.json()["message"] == (f'Thing.{crd} "a" is invalid: metadata.resourceVersion: Invalid value: "": '
                                       "must be specified for an update")
    named = api.send("PUT", f"{base}/a", body={**made.json(), "spec": {"x": 2}})
    assert named.status_code == 200, named.text
    path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.{crd}"
    definition = api.send("GET", path).json()
    del definition["metadata"]["resourceVersion"]
    assert api.send("PUT", path, body=definition).status_code == 422
    # a built-in kind may be replaced blindly, as upstream's
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    assert api.send("POST", cms, body={"metadata": {"name": "c"}}).status_code == 201
    assert api.send("PUT", f"{cms}/c", body={"metadata": {"name": "c"}, "data": {"k": "v"}}).status_code == 200


def test_a_crd_keeps_the_versions_objects_may_be_stored_in(api: Api, crd: str) -> None:
    path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.{crd}"
    two = crd_body(crd, ["v1", "v2"], "v2")
    two["metadata"]["resourceVersion"] = api.send("GET", path).json()["metadata"]["resourceVersion"]
    moved = api.send("PUT", path, body=two)
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"]["storedVersions"] == ["v1", "v2"]
    only_v2 = crd_body(crd, ["v2"], "v2")
    only_v2["metadata"]["resourceVersion"] = moved.json()["metadata"]["resourceVersion"]
    dropped = api.send("PUT", path, body=only_v2)
    assert dropped.status_code == 422, dropped.text
    assert 'status.storedVersions[0]: Invalid value: "v1": must appear in spec.versions' in dropped.json()["message"]
    # the documented migration: drop v1 from status.storedVersions first
    assert api.send("PATCH", path + "/status", body={"status": {"storedVersions": ["v2"]}},
                    content_type="application/merge-patch+json").status_code == 200
    emptied = api.send("PATCH", path + "/status", body={"status": {"storedVersions": []}},
                       content_type="application/merge-patch+json")
    assert emptied.status_code == 422 and "must have at least one stored version" in emptied.json()["message"]
    only_v2["metadata"]["resourceVersion"] = api.send("GET", path).json()["metadata"]["resourceVersion"]
    assert api.send("PUT", path, body=only_v2).status_code == 200


def test_no_write_changes_an_objects_uid(api: Api, namespace: str) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    made = api.send("POST", cms, body={"metadata": {"name": "u"}}).json()
    other = {**made, "metadata": {**made["metadata"], "uid": str(uuid.uuid4())}}
    for method, body, kind in (("PUT", other, "application/json"),
                               ("PATCH", {"metadata": {"uid": other["metadata"]["uid"]}},
                                "application/merge-patch+json")):
        refused = api.send(method, f"{cms}/u", body=body, content_type=kind)
        assert refused.status_code == 422, refused.text
        assert "metadata.uid: Invalid value" in refused.json()["message"] and "field is immutable" in refused.text
    assert api.send("GET", f"{cms}/u").json()["metadata"]["uid"] == made["metadata"]["uid"]


def test_an_apply_is_held_to_the_uid_and_version_it_names(api: Api, namespace: str) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    params = {"fieldManager": "tester"}
    ghost = str(uuid.uuid4())
    gone = api.send("PATCH", f"{cms}/g", params=params, content_type=APPLY,
                    body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "g", "uid": ghost}})
    assert gone.status_code == 409, gone.text
    assert gone.json()["message"] == (f'Operation cannot be fulfilled on configmaps "g": uid mismatch: the provided '
                                      f"object specified uid {ghost}, and no existing object was found")
    made = api.send("PATCH", f"{cms}/g", params=params, content_type=APPLY,
                    body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "g"}, "data": {"a": "1"}})
    assert made.status_code == 201, made.text
    md = made.json()["metadata"]
    stale = api.send("PATCH", f"{cms}/g", params=params, content_type=APPLY, body={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "g", "resourceVersion": "1"}, "data": {"a": "2"}})
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict", stale.text
    wrong = api.send("PATCH", f"{cms}/g", params=params, content_type=APPLY, body={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "g", "uid": ghost}, "data": {"a": "2"}})
    assert wrong.status_code == 422, wrong.text
    right = api.send("PATCH", f"{cms}/g", params=params, content_type=APPLY, body={
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "g", "uid": md["uid"], "resourceVersion": md["resourceVersion"]}, "data": {"a": "3"}})
    assert right.status_code == 200 and right.json()["data"] == {"a": "3"}, right.text


def test_a_built_in_kinds_unknown_fields_are_dropped_unless_strict_refuses_them(api: Api, namespace: str) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    for mode in ("Ignore", "Warn"):
        made = api.send("POST", cms, params={"fieldValidation": mode},
                        body={"metadata": {"name": f"x-{mode.lower()}", "bogus": 1}, "data": {"a": "1"}, "extra": 2})
        assert made.status_code == 201, made.text
        assert ("Warning" in made.headers) == (mode == "Warn")
        stored = api.send("GET", f"{cms}/x-{mode.lower()}").json()
        assert "extra" not in stored and "bogus" not in stored["metadata"] and stored["data"] == {"a": "1"}
    strict = api.send("POST", cms, params={"fieldValidation": "Strict"}, body={"metadata": {"name": "s"}, "extra": 2})
    assert strict.status_code == 400 and 'unknown field "extra"' in strict.json()["message"]
    for kind, body in (("application/merge-patch+json", {"extra": 3, "data": {"b": "2"}}),
                       ("application/strategic-merge-patch+json", {"extra": 3, "data": {"b": "2"}}),
                       ("application/json-patch+json", [{"op": "add", "path": "/extra", "value": 3}])):
        patched = api.send("PATCH", f"{cms}/x-warn", body=body, content_type=kind)
        assert patched.status_code == 200 and "extra" not in patched.json(), (kind, patched.text)
    assert "extra" not in api.send("GET", f"{cms}/x-warn").json()
