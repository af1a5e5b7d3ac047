"""The RBAC rule arithmetic: which request a rule allows, what a request's attributes are,
and whether held rules cover requested ones (the escalation check and its message)."""

from __future__ import annotations

import pytest

from kubelite.apiserver.authz import attributes, rules
from kubelite.apiserver.authz.attributes import Attributes


def _attrs(method: str, path: str, **query: str) -> Attributes:
    return attributes.from_request(method, path, query)


# --- request attributes ------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("GET", "/api/v1/namespaces/ns/pods", {}, ("list", "", "pods", "", "ns", "")),
    ("GET", "/api/v1/namespaces/ns/pods", {"watch": "true"}, ("watch", "", "pods", "", "ns", "")),
    ("GET", "/api/v1/namespaces/ns/pods", {"fieldSelector": "metadata.name=web"}, ("list", "", "pods", "", "ns",
                                                                                    "web")),
    ("GET", "/api/v1/namespaces/ns/pods/web/log", {}, ("get", "", "pods", "log", "ns", "web")),
    ("POST", "/api/v1/namespaces/ns/pods/web/exec", {}, ("create", "", "pods", "exec", "ns", "web")),
    ("DELETE", "/apis/apps/v1/namespaces/ns/deployments", {}, ("deletecollection", "apps", "deployments", "",
                                                               "ns", "")),
    ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d/scale", {}, ("patch", "apps", "deployments", "scale",
                                                                     "ns", "d")),
    ("GET", "/api/v1/nodes", {}, ("list", "", "nodes", "", "", "")),
    ("PUT", "/api/v1/namespaces/ns", {}, ("update", "", "namespaces", "", "ns", "ns")),
    ("PUT", "/api/v1/namespaces/ns/finalize", {}, ("update", "", "namespaces", "finalize", "ns", "ns")),
    ("GET", "/api/v1/watch/namespaces/ns/pods", {}, ("watch", "", "pods", "", "ns", "")),
])
def test_resource_requests_are_read_from_the_path(method: str, path: str, query: dict[str, str],
                                                  expected: tuple[str, ...]) -> None:
    got = _attrs(method, path, **query)
    assert got.resource_request
    assert (got.verb, got.api_group, got.resource, got.subresource, got.namespace, got.name) == expected


@pytest.mark.parametrize("path", ["/healthz", "/version", "/api", "/api/v1", "/apis", "/apis/apps",
                                  "/apis/apps/v1", "/openapi/v3/apis/apps/v1", "/metrics"])
def test_other_paths_are_non_resource_requests(path: str) -> None:
    got = _attrs("GET", path)
    assert not got.resource_request and got.verb == "get" and got.path == path


def test_forbidden_messages_are_upstreams() -> None:
    namespaced = attributes.forbidden("bob", _attrs("GET", "/api/v1/namespaces/ns/pods"))
    assert namespaced.message == ('pods is forbidden: User "bob" cannot list resource "pods" in API group "" '
                                  'in the namespace "ns"')
    named = attributes.forbidden("bob", _attrs("GET", "/apis/apps/v1/namespaces/ns/deployments/d/scale"))
    assert named.message == ('deployments.apps "d" is forbidden: User "bob" cannot get resource "deployments/scale" '
                             'in API group "apps" in the namespace "ns"')
    cluster = attributes.forbidden("bob", _attrs("GET", "/api/v1/nodes"), "RBAC: role.x not found")
    assert cluster.message == ('nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" '
                               "at the cluster scope: RBAC: role.x not found")
    path = attributes.forbidden("bob", _attrs("GET", "/metrics"))
    assert path.message == 'forbidden: User "bob" cannot get path "/metrics"' and path.code == 403


# --- one rule against one request -----------------------------------------------------------------


POD_READER = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}


@pytest.mark.parametrize(("rule", "path", "allowed"), [
    (POD_READER, "/api/v1/namespaces/ns/pods", True),
    (POD_READER, "/api/v1/namespaces/ns/pods/web/log", False),  # a subresource is named on its own
    (POD_READER, "/apis/apps/v1/namespaces/ns/pods", False),  # another group
    ({**POD_READER, "resources": ["pods/log"]}, "/api/v1/namespaces/ns/pods/web/log", True),
    ({**POD_READER, "resources": ["*/log"]}, "/api/v1/namespaces/ns/pods/web/log", True),
    ({**POD_READER, "resources": ["*/log"]}, "/api/v1/namespaces/ns/pods/web", False),
    ({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, "/apis/apps/v1/deployments", True),
    ({**POD_READER, "resourceNames": ["web"]}, "/api/v1/namespaces/ns/pods/web", True),
    ({**POD_READER, "resourceNames": ["web"]}, "/api/v1/namespaces/ns/pods/db", False),
    ({**POD_READER, "resourceNames": ["web"]}, "/api/v1/namespaces/ns/pods", False),  # a list names nothing
    ({"nonResourceURLs": ["/healthz"], "verbs": ["get"]}, "/healthz", True),
    ({"nonResourceURLs": ["/healthz"], "verbs": ["get"]}, "/healthz/etcd", False),
    ({"nonResourceURLs": ["/apis/*"], "verbs": ["get"]}, "/apis/apps/v1", True),
    ({"nonResourceURLs": ["*"], "verbs": ["*"]}, "/metrics", True),
    (POD_READER, "/metrics", False),
])
def test_a_rule_allows_what_it_names(rule: dict[str, list[str]], path: str, allowed: bool) -> None:
    assert rules.allows(_attrs("GET", path), rule) is allowed


# --- coverage -----------------------------------------------------------------------------------


def test_held_rules_cover_requested_ones_permission_by_permission() -> None:
    held = [{"apiGroups": [""], "resources": ["pods", "*/status"], "verbs": ["get", "list"]},
            {"nonResourceURLs": ["/logs/*"], "verbs": ["get"]}]
    assert rules.covers(held, [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]) == (True, [])
    assert rules.covers(held, [{"apiGroups": [""], "resources": ["services/status"], "verbs": ["list"]}])[0]
    assert rules.covers(held, [{"nonResourceURLs": ["/logs/kubelet"], "verbs": ["get"]}])[0]
    assert rules.covers(held, [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"],
                                "resourceNames": ["web"]}])[0]
    ok, missing = rules.covers(held, [{"apiGroups": ["", "apps"], "resources": ["pods"], "verbs": ["get", "delete"]}])
    assert not ok
    assert sorted(rules.compact_string(r) for r in rules.compact(missing)) == [
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}',
        '{APIGroups:["apps"], Resources:["pods"], Verbs:["get" "delete"]}',
    ]


def test_a_rule_restricted_to_names_does_not_cover_every_name() -> None:
    held = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["a"]}]
    assert not rules.covers(held, [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])[0]
    assert rules.covers(held, [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"],
                                "resourceNames": ["a"]}])[0]


def test_compact_string_prints_only_the_fields_set() -> None:
    shown = rules.compact_string({"nonResourceURLs": ["/x"], "verbs": ["get"]})
    assert shown == '{NonResourceURLs:["/x"], Verbs:["get"]}'
