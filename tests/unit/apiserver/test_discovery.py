"""Discovery documents: what kubectl, kopf and the python clients read to find resources."""

from __future__ import annotations

from typing import Any

from kubelite.api import scheme as schememod
from kubelite.apiserver import discovery

KUBECTL_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")

CRONTAB_V1 = schememod.ResourceInfo(group="stable.example.com", version="v1", kind="CronTab", plural="crontabs",
                                    singular="crontab", namespaced=True, short_names=("ct",),
                                    subresources=("status",))
CRONTAB_V1BETA1 = schememod.ResourceInfo(group="stable.example.com", version="v1beta1", kind="CronTab",
                                         plural="crontabs", singular="crontab", namespaced=True)


def _by_name(resource_list: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in resource_list["resources"]}


def test_version_reports_kubernetes_1_37() -> None:
    info = discovery.version_info()
    assert (info["major"], info["minor"]) == ("1", "37")
    assert info["gitVersion"].startswith("v1.37.0")
    for key in ("gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform"):
        assert isinstance(info[key], str) and info[key]


def test_negotiation_follows_the_accept_header() -> None:
    assert discovery.negotiate(KUBECTL_ACCEPT) == "aggregated"
    assert discovery.aggregated_version(KUBECTL_ACCEPT) == "v2"
    assert discovery.negotiate("application/json") == "legacy"
    assert discovery.negotiate("") == "legacy"
    assert discovery.negotiate("application/json, */*") == "legacy"
    # an older client that only knows v2beta1
    beta = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
    assert discovery.aggregated_version(beta) == "v2beta1"
    # plain JSON listed first wins
    assert discovery.negotiate("application/json," + KUBECTL_ACCEPT) == "legacy"
    assert discovery.AGGREGATED_CONTENT_TYPE == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def test_legacy_api_and_group_list() -> None:
    scheme = schememod.Scheme()
    api = discovery.legacy_api_versions(server_address="10.0.0.1:6443")
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    assert api["serverAddressByClientCIDRs"][0]["serverAddress"] == "10.0.0.1:6443"

    scheme.add(CRONTAB_V1BETA1)
    scheme.add(CRONTAB_V1)
    groups = discovery.legacy_api_group_list(scheme, extra=discovery.SERVER_RESOURCES)
    assert groups["kind"] == "APIGroupList"
    by_name = {g["name"]: g for g in groups["groups"]}
    assert "" not in by_name
    assert {"apps", "batch", "coordination.k8s.io", "events.k8s.io", "authorization.k8s.io",
            "apiextensions.k8s.io", "stable.example.com"} <= set(by_name)
    for group in groups["groups"]:
        # the python client compares these two with ==
        assert group["preferredVersion"] == group["versions"][0]
    assert [v["version"] for v in by_name["stable.example.com"]["versions"]] == ["v1", "v1beta1"]
    apps = discovery.legacy_api_group(scheme, "apps")
    assert apps is not None and apps["preferredVersion"]["groupVersion"] == "apps/v1"
    assert discovery.legacy_api_group(scheme, "nope.example.com") is None


def test_legacy_resource_lists_name_subresources_with_their_kinds() -> None:
    scheme = schememod.Scheme()
    core = discovery.legacy_resource_list(scheme, "", "v1")
    assert core is not None and core["groupVersion"] == "v1"
    res = _by_name(core)
    pods = res["pods"]
    assert pods == {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
                    "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                    "shortNames": ["po"], "categories": ["all"]}
    assert res["pods/status"]["kind"] == "Pod" and res["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert res["pods/log"]["kind"] == "Pod" and res["pods/log"]["verbs"] == ["get"]
    assert res["pods/exec"]["kind"] == "PodExecOptions" and res["pods/exec"]["verbs"] == ["create", "get"]
    assert res["pods/binding"]["kind"] == "Binding" and res["pods/binding"]["verbs"] == ["create"]
    assert (res["pods/eviction"]["group"], res["pods/eviction"]["version"], res["pods/eviction"]["kind"]) == (
        "policy", "v1", "Eviction")
    assert res["serviceaccounts/token"]["group"] == "authentication.k8s.io"
    assert res["serviceaccounts/token"]["kind"] == "TokenRequest"
    assert res["namespaces/finalize"]["verbs"] == ["update"]
    assert "deletecollection" not in res["namespaces"]["verbs"]
    assert "group" not in res["pods/status"]  # same GV as the list: left out, as upstream
    for entry in core["resources"]:
        assert "singularName" in entry  # kopf and kr8s index it

    apps = _by_name(discovery.legacy_resource_list(scheme, "apps", "v1") or {"resources": []})
    scale = apps["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert apps["deployments"]["shortNames"] == ["deploy"]

    assert discovery.legacy_resource_list(scheme, "nope.example.com", "v1") is None


def test_server_resources_are_advertised_with_accurate_verbs() -> None:
    scheme = schememod.Scheme()
    authz = _by_name(discovery.legacy_resource_list(scheme, "authorization.k8s.io", "v1",
                                                    extra=discovery.SERVER_RESOURCES) or {"resources": []})
    assert authz["selfsubjectaccessreviews"]["verbs"] == ["create"]
    assert authz["selfsubjectaccessreviews"]["namespaced"] is False
    crds = _by_name(discovery.legacy_resource_list(scheme, "apiextensions.k8s.io", "v1",
                                                   extra=discovery.SERVER_RESOURCES) or {"resources": []})
    assert crds["customresourcedefinitions"]["shortNames"] == ["crd", "crds"]
    assert "customresourcedefinitions/status" in crds


def _split_like_client_go(doc: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """What client-go's SplitGroupsAndResources makes of an aggregated document."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for group in doc["items"]:
        for version in group["versions"]:
            gv = f"{group['metadata']['name']}/{version['version']}".lstrip("/")
            resources = out.setdefault(gv, {})
            for r in version["resources"]:
                assert r.get("responseKind", {}).get("kind"), "resources without responseKind are dropped"
                resources[r["resource"]] = {"kind": r["responseKind"]["kind"], "verbs": r["verbs"],
                                            "namespaced": r["scope"] == "Namespaced"}
                for sub in r.get("subresources", []):
                    assert sub["responseKind"]["kind"]
                    resources[f"{r['resource']}/{sub['subresource']}"] = {
                        "kind": sub["responseKind"]["kind"], "verbs": sub["verbs"],
                        "namespaced": r["scope"] == "Namespaced"}
    return out


def test_aggregated_and_legacy_forms_describe_the_same_resources() -> None:
    scheme = schememod.Scheme()
    scheme.add(CRONTAB_V1)
    extra = discovery.SERVER_RESOURCES
    core = discovery.aggregated(scheme, legacy=True, extra=extra)
    named = discovery.aggregated(scheme, legacy=False, extra=extra)
    assert core["kind"] == "APIGroupDiscoveryList" and core["apiVersion"] == "apidiscovery.k8s.io/v2"
    assert [item["metadata"]["name"] for item in core["items"]] == [""]
    assert "" not in [item["metadata"]["name"] for item in named["items"]]
    assert named["items"][0]["metadata"]["name"] == "apps"  # upstream's priority order
    assert all(v["freshness"] == "Current" for item in named["items"] for v in item["versions"])

    split = _split_like_client_go(core) | _split_like_client_go(named)
    for gv, resources in split.items():
        group, _, version = gv.rpartition("/")
        legacy = _by_name(discovery.legacy_resource_list(scheme, group, version, extra=extra) or {"resources": []})
        assert set(resources) == set(legacy), gv
        for name, facts in resources.items():
            assert facts["kind"] == legacy[name]["kind"] and facts["verbs"] == legacy[name]["verbs"], name
            assert facts["namespaced"] == legacy[name]["namespaced"]

    deployments = next(r for item in named["items"] if item["metadata"]["name"] == "apps"
                       for r in item["versions"][0]["resources"] if r["resource"] == "deployments")
    assert deployments["scope"] == "Namespaced" and deployments["singularResource"] == "deployment"
    assert deployments["shortNames"] == ["deploy"] and deployments["categories"] == ["all"]
    scale = next(s for s in deployments["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}


def test_a_new_custom_resource_appears_at_once() -> None:
    scheme = schememod.Scheme()
    before = discovery.aggregated(scheme, legacy=False)
    assert "stable.example.com" not in [i["metadata"]["name"] for i in before["items"]]
    scheme.add(CRONTAB_V1)
    after = discovery.aggregated(scheme, legacy=False)
    item = next(i for i in after["items"] if i["metadata"]["name"] == "stable.example.com")
    crontabs = item["versions"][0]["resources"][0]
    assert crontabs["resource"] == "crontabs" and crontabs["shortNames"] == ["ct"]


def test_version_priority_prefers_ga_then_beta_then_alpha() -> None:
    versions = ["v1alpha1", "v2beta1", "foo", "v1", "v1beta2", "v2", "v1beta1"]
    assert sorted(versions, key=discovery.version_priority) == [
        "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
