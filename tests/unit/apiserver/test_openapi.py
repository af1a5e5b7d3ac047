"""OpenAPI v3 documents: what kubectl apply (--validate=strict) and kubectl explain need."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api import scheme as schememod
from kubelite.apiserver import discovery, openapi

CRONTAB = schememod.ResourceInfo(group="stable.example.com", version="v1", kind="CronTab", plural="crontabs",
                                 singular="crontab", namespaced=True, subresources=("status", "scale"))
CRONTAB_SCHEMA = {
    "type": "object",
    "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"},
                                                             "replicas": {"type": "integer"}}}},
}


@pytest.fixture(scope="module")
def core_v1() -> dict[str, Any]:
    doc = openapi.Documents().document(schememod.Scheme(), "", "v1")
    assert doc is not None
    return doc


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        # JSONSchemaProps has a *property* called "$ref": only string values are references
        own = [v for k, v in node.items() if k == "$ref" and isinstance(v, str)]
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _walk_schemas(node: Any) -> list[dict[str, Any]]:
    out = []
    if isinstance(node, dict):
        out.append(node)
        for v in node.values():
            out.extend(_walk_schemas(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_walk_schemas(v))
    return out


def _assert_refs_resolve(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def _patch_ops(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [item["patch"] for item in doc["paths"].values()
            if "patch" in item and item["patch"].get("x-kubernetes-group-version-kind", {}).get("kind") == kind]


def test_core_document_has_pod_schema_tagged_with_its_gvk(core_v1: dict[str, Any]) -> None:
    assert core_v1["openapi"].startswith("3.0")
    pod = core_v1["components"]["schemas"]["io.k8s.api.core.v1.Pod"]
    assert {"group": "", "version": "v1", "kind": "Pod"} in pod["x-kubernetes-group-version-kind"]
    assert pod["type"] == "object"
    assert set(pod["properties"]) >= {"apiVersion", "kind", "metadata", "spec", "status"}
    assert "enum" not in pod["properties"]["kind"]
    containers = core_v1["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}


def test_every_ref_resolves_inside_the_document(core_v1: dict[str, Any]) -> None:
    _assert_refs_resolve(core_v1)


def test_every_pod_patch_offers_field_validation_and_no_strategic_merge(core_v1: dict[str, Any]) -> None:
    ops = _patch_ops(core_v1, "Pod")
    assert len(ops) >= 2  # the pod itself, /status, /ephemeralcontainers
    for op in ops:
        assert "fieldValidation" in [p["name"] for p in op["parameters"]]
        assert op["x-kubernetes-action"] == "patch"
        content = op["requestBody"]["content"]
        assert set(content) == {"application/json-patch+json", "application/merge-patch+json",
                                "application/apply-patch+yaml"}
    item = core_v1["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]
    assert {p["name"] for p in item["patch"]["parameters"]} >= {"dryRun", "fieldManager", "force"}
    # kubectl substitutes Namespace's PATCH for kinds it cannot find
    assert _patch_ops(core_v1, "Namespace")


def test_resource_paths_carry_actions_and_kinds(core_v1: dict[str, Any]) -> None:
    paths = core_v1["paths"]
    collection = paths["/api/v1/namespaces/{namespace}/pods"]
    assert collection["get"]["x-kubernetes-action"] == "list"
    assert collection["get"]["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert {p["name"] for p in collection["get"]["parameters"]} >= {"labelSelector", "fieldSelector", "limit",
                                                                     "continue", "watch", "sendInitialEvents"}
    assert collection["post"]["x-kubernetes-action"] == "post"
    assert collection["delete"]["x-kubernetes-action"] == "deletecollection"
    assert paths["/api/v1/pods"]["get"]["x-kubernetes-action"] == "list"
    assert paths["/api/v1/watch/namespaces/{namespace}/pods"]["get"]["x-kubernetes-action"] == "watchlist"
    item = paths["/api/v1/namespaces/{namespace}/pods/{name}"]
    assert {m for m in item if m != "parameters"} == {"get", "put", "patch", "delete"}
    assert [p["name"] for p in item["parameters"] if p["in"] == "path"] == ["namespace", "name"]
    assert paths["/api/v1/nodes/{name}"]["get"]["x-kubernetes-action"] == "get"  # cluster scoped: no namespace
    eviction = paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]
    assert eviction["x-kubernetes-group-version-kind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}
    assert "io.k8s.api.policy.v1.Eviction" in core_v1["components"]["schemas"]
    assert paths["/api/v1/namespaces/{namespace}/pods/{name}/exec"]["get"]["x-kubernetes-action"] == "connect"
    log = paths["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]
    assert "text/plain" in log["responses"]["200"]["content"]
    assert "deletecollection" not in {op.get("x-kubernetes-action") for op in paths["/api/v1/namespaces"].values()
                                      if isinstance(op, dict)}


def test_schemas_are_openapi_3_0(core_v1: dict[str, Any]) -> None:
    for node in _walk_schemas(core_v1["components"]["schemas"]):
        if isinstance(node.get("type"), (str, list)):
            assert isinstance(node["type"], str), node  # explain prints .type as a string
        if isinstance(node.get("$ref"), str):
            assert set(node) == {"$ref"}, node  # OpenAPI 3.0 ignores siblings of $ref
    int_or_string = core_v1["components"]["schemas"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert "type" not in int_or_string  # so explain prints <IntOrString>, as upstream
    assert int_or_string["format"] == "int-or-string"


def test_apps_document_supports_explain_of_deployment_strategy() -> None:
    doc = openapi.Documents().document(schememod.Scheme(), "apps", "v1")
    assert doc is not None
    schemas = doc["components"]["schemas"]
    strategy = schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
    assert strategy["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}]
    assert strategy["description"]
    assert set(schemas["io.k8s.api.apps.v1.RollingUpdateDeployment"]["properties"]) == {"maxSurge", "maxUnavailable"}
    scale = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert scale["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert "io.k8s.api.autoscaling.v1.Scale" in schemas
    _assert_refs_resolve(doc)


def test_index_lists_every_group_version_with_a_content_hash() -> None:
    scheme = schememod.Scheme()
    docs = openapi.Documents()
    index = docs.index(scheme, extra=discovery.SERVER_RESOURCES)["paths"]
    assert {"api", "api/v1", "apis", "apis/apps/v1", "apis/batch/v1", "apis/coordination.k8s.io/v1",
            "apis/events.k8s.io/v1", "apis/authorization.k8s.io/v1", "apis/apiextensions.k8s.io/v1",
            "version"} <= set(index)
    url = index["api/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/api/v1?hash=")
    rendered = docs.rendered(scheme, "api/v1")
    assert rendered is not None and url.endswith(rendered.hash)
    # the same API gives the same hash on another server
    assert openapi.Documents().index(scheme, extra=discovery.SERVER_RESOURCES)["paths"] == index
    for key in index:
        doc = docs.rendered(scheme, key, extra=discovery.SERVER_RESOURCES)
        assert doc is not None
        _assert_refs_resolve(doc.document)
    assert docs.rendered(scheme, "apis/nope.example.com/v1") is None
    assert docs.rendered(scheme, "bogus") is None


def test_custom_resources_get_their_schema_and_fresh_hashes() -> None:
    scheme = schememod.Scheme()
    docs = openapi.Documents()
    apps_before = docs.index(scheme)["paths"]["apis/apps/v1"]
    scheme.add(CRONTAB)
    first = docs.index(scheme, extra_schemas={CRONTAB: CRONTAB_SCHEMA})["paths"]
    assert first["apis/apps/v1"] == apps_before  # other documents are untouched
    doc = docs.document(scheme, "stable.example.com", "v1", extra_schemas={CRONTAB: CRONTAB_SCHEMA})
    assert doc is not None
    crontab = doc["components"]["schemas"]["com.example.stable.v1.CronTab"]
    assert crontab["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "version": "v1", "kind": "CronTab"}]
    assert crontab["properties"]["spec"]["properties"]["cronSpec"] == {"type": "string"}
    assert "com.example.stable.v1.CronTabList" in doc["components"]["schemas"]
    assert [op["parameters"] for op in _patch_ops(doc, "CronTab")]
    for op in _patch_ops(doc, "CronTab"):
        assert "fieldValidation" in [p["name"] for p in op["parameters"]]
    _assert_refs_resolve(doc)

    changed = {"type": "object", "properties": {"spec": {"type": "object"}}}
    second = docs.index(scheme, extra_schemas={CRONTAB: changed})["paths"]
    assert second["apis/stable.example.com/v1"] != first["apis/stable.example.com/v1"]

    # a CRD without a schema still explains as an object with metadata
    bare = docs.document(scheme, "stable.example.com", "v1")
    assert bare is not None
    assert bare["components"]["schemas"]["com.example.stable.v1.CronTab"]["x-kubernetes-preserve-unknown-fields"]
