"""A request's metric labels, as upstream's apiserver_request_total reports them: the path
and method decide verb, resource and scope; the query decides WATCH and dry_run."""

from __future__ import annotations

import pytest

from kubelite.apiserver.requestinfo import RequestLabels, classify, parse


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    # verb, dry_run, group, version, resource, subresource, scope
    ("GET", "/api/v1/namespaces/default/pods", "", ("LIST", "", "", "v1", "pods", "", "namespace")),
    ("GET", "/api/v1/pods", "limit=500", ("LIST", "", "", "v1", "pods", "", "cluster")),
    ("GET", "/api/v1/namespaces/default/pods/web-1", "", ("GET", "", "", "v1", "pods", "", "resource")),
    ("HEAD", "/api/v1/namespaces/default/pods/web-1", "", ("GET", "", "", "v1", "pods", "", "resource")),
    # a create is scoped to the one object it makes, as upstream's CleanScope
    ("POST", "/api/v1/namespaces/default/pods", "", ("POST", "", "", "v1", "pods", "", "resource")),
    ("POST", "/api/v1/namespaces", "", ("POST", "", "", "v1", "namespaces", "", "resource")),
    ("PUT", "/api/v1/namespaces/default/pods/web-1/status", "",
     ("PUT", "", "", "v1", "pods", "status", "resource")),
    ("POST", "/api/v1/namespaces/default/pods/web-1/binding", "",
     ("POST", "", "", "v1", "pods", "binding", "resource")),
    ("DELETE", "/apis/apps/v1/namespaces/prod/deployments", "",
     ("DELETE", "", "apps", "v1", "deployments", "", "namespace")),
    ("GET", "/apis/apps/v1/deployments", "", ("LIST", "", "apps", "v1", "deployments", "", "cluster")),
    ("GET", "/apis/storage.k8s.io/v1/storageclasses/standard", "",
     ("GET", "", "storage.k8s.io", "v1", "storageclasses", "", "resource")),
    # the namespace itself, and its own subresources
    ("GET", "/api/v1/namespaces/default", "", ("GET", "", "", "v1", "namespaces", "", "resource")),
    ("PUT", "/api/v1/namespaces/doomed/finalize", "",
     ("PUT", "", "", "v1", "namespaces", "finalize", "resource")),
    ("GET", "/api/v1/namespaces/default/status", "", ("GET", "", "", "v1", "namespaces", "status", "resource")),
    # a trailing slash changes nothing
    ("GET", "/api/v1/namespaces/default/pods/", "", ("LIST", "", "", "v1", "pods", "", "namespace")),
])
def test_verb_resource_and_scope_come_from_the_path(method: str, path: str, query: str,
                                                    expected: tuple[str, ...]) -> None:
    assert classify(method, path, query) == RequestLabels(*expected)


def test_watch_is_its_own_verb_only_when_the_server_watches() -> None:
    assert classify("GET", "/api/v1/pods", "watch=true&resourceVersion=10").verb == "WATCH"
    assert classify("GET", "/api/v1/namespaces/a/pods", "resourceVersion=1&watch=1").verb == "WATCH"
    assert classify("GET", "/api/v1/pods", "watch=false").verb == "LIST"
    # allowWatchBookmarks alone is a list's parameter, not a watch
    assert classify("GET", "/api/v1/pods", "allowWatchBookmarks=true").verb == "LIST"


def test_apply_patch_is_apply_and_other_patches_are_patch() -> None:
    path = "/apis/apps/v1/namespaces/a/deployments/web"
    assert classify("PATCH", path, "fieldManager=kubectl", "application/apply-patch+yaml").verb == "APPLY"
    assert classify("PATCH", path, "", "application/strategic-merge-patch+json").verb == "PATCH"
    assert classify("PATCH", path, "", "application/merge-patch+json").verb == "PATCH"


@pytest.mark.parametrize("sub", ["log", "exec", "attach", "portforward", "proxy"])
def test_streams_are_connect(sub: str) -> None:
    labels = classify("GET", f"/api/v1/namespaces/a/pods/web/{sub}", "")
    assert (labels.verb, labels.resource, labels.subresource, labels.scope) == ("CONNECT", "pods", sub, "resource")
    assert classify("POST", f"/api/v1/namespaces/a/pods/web/{sub}", "").verb == "CONNECT"


def test_dry_run_is_all_or_invalid() -> None:
    assert classify("POST", "/api/v1/namespaces/a/pods", "dryRun=All").dry_run == "All"
    assert classify("POST", "/api/v1/namespaces/a/pods", "dryRun=All&dryRun=All").dry_run == "All"
    assert classify("POST", "/api/v1/namespaces/a/pods", "dryRun=Everything").dry_run == "invalid"
    assert classify("POST", "/api/v1/namespaces/a/pods", "fieldManager=x").dry_run == ""


@pytest.mark.parametrize(("path", "subresource"), [
    ("/healthz", "/healthz"), ("/readyz/", "/readyz"), ("/livez/etcd", "/livez"), ("/version", "/version"),
    ("/metrics", "/metrics"), ("/openapi/v2", "/openapi/v2"), ("/openapi/v3/apis/apps/v1", "/openapi/v3"),
    ("/", "/"), ("/api", "/api"), ("/api/v1", "/api"), ("/apis", "/apis"), ("/apis/apps", "/apis"),
    ("/apis/apps/v1", "/apis"),
    # anything else is one series, whatever a client sends
    ("/favicon.ico", "other"), ("/some/made/up/path", "other"),
])
def test_non_resource_paths_are_a_bounded_set_of_subresources(path: str, subresource: str) -> None:
    assert classify("GET", path, "") == RequestLabels("GET", "", "", "", "", subresource, "")


def test_unknown_methods_are_other() -> None:
    assert classify("BREW", "/api/v1/pods", "").verb == "other"


# --- one RequestInfo for authorization and metrics -----------------------------------------------


def test_authorization_and_metrics_read_one_request_info() -> None:
    # the kubelet's watch of its own Node: a named watch to RBAC, scope "resource" to the
    # metrics (upstream's CleanScope reads the name the field selector gives)
    query = "fieldSelector=metadata.name%3Dnode-1&watch=true"
    info = parse("GET", "/api/v1/nodes", query)
    assert (info.verb, info.resource, info.name) == ("watch", "nodes", "node-1")
    assert classify("GET", "/api/v1/nodes", query) == RequestLabels("WATCH", "", "", "v1", "nodes", "", "resource")


def test_the_query_is_decoded_as_the_handlers_decode_it() -> None:
    # an escaped key is still the parameter the handler reads
    assert parse("GET", "/api/v1/pods", "w%61tch=true").verb == "watch"
    assert parse("GET", "/api/v1/pods", "fieldSelector=metadata.name%3D%3Dweb%2Cspec.nodeName%3Dn").name == "web"
    # a watch parameter on a named GET or a write does not make a watch
    assert classify("GET", "/api/v1/namespaces/a/pods/web", "watch=true").verb == "GET"
    assert classify("POST", "/api/v1/namespaces/a/pods", "watch=true").verb == "POST"


def test_empty_segments_are_skipped_as_the_router_skips_them() -> None:
    info = parse("DELETE", "/api/v1//namespaces/a//pods/web", "")
    assert (info.verb, info.namespace, info.resource, info.name) == ("delete", "a", "pods", "web")
