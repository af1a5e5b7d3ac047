"""The RBAC authorizer over a watch cache's objects: which bindings reach a user, that an
edited binding or role takes effect at once, and the escalation check of a Role write."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from kubelite.api import errors, scheme
from kubelite.apiserver.authz import UserInfo, attributes, escalation, rbac

GROUP = "rbac.authorization.k8s.io"


class FakeRegistry:
    """The four RBAC resources' caches, as ``registry.Registry.by_plural`` hands them out."""

    def __init__(self) -> None:
        self.stores: dict[str, Any] = {}
        for info in scheme.BUILTIN:
            if info.group == GROUP:
                self.stores[info.plural] = SimpleNamespace(info=info, cache=SimpleNamespace(objects={}, generation=0))

    def by_plural(self, group: str, plural: str) -> Any:
        return self.stores.get(plural) if group == GROUP else None

    def put(self, plural: str, obj: dict[str, Any]) -> None:
        store = self.stores[plural]
        md = obj["metadata"]
        store.cache.objects[store.info.key(md.get("namespace"), md["name"])] = obj
        store.cache.generation += 1


def _role(kind: str, name: str, rules: list[dict[str, Any]], namespace: str | None = None) -> dict[str, Any]:
    md = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"kind": kind, "metadata": md, "rules": rules}


def _binding(kind: str, name: str, role_kind: str, role: str, subjects: list[dict[str, str]],
             namespace: str | None = None) -> dict[str, Any]:
    md = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"kind": kind, "metadata": md, "roleRef": {"apiGroup": GROUP, "kind": role_kind, "name": role},
            "subjects": subjects}


BOB = UserInfo("system:serviceaccount:ns:bob", ("system:serviceaccounts", "system:serviceaccounts:ns",
                                                "system:authenticated"))
LIST_PODS = attributes.from_request("GET", "/api/v1/namespaces/ns/pods", {})
LIST_PODS_ELSEWHERE = attributes.from_request("GET", "/api/v1/namespaces/other/pods", {})


@pytest.fixture
def reg() -> FakeRegistry:
    r = FakeRegistry()
    r.put("roles", _role("Role", "reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}], "ns"))
    return r


def test_a_role_binding_grants_in_its_namespace_only(reg: FakeRegistry) -> None:
    authz = rbac.RBAC(reg)  # type: ignore[arg-type]
    assert not authz.authorize(BOB, LIST_PODS).allowed
    # a ServiceAccount subject without a namespace is one of the binding's namespace
    reg.put("rolebindings", _binding("RoleBinding", "rb", "Role", "reader",
                                     [{"kind": "ServiceAccount", "name": "bob"}], "ns"))
    decision = authz.authorize(BOB, LIST_PODS)
    assert decision.allowed
    assert decision.reason == 'RBAC: allowed by RoleBinding "rb/ns" of Role "reader" to ServiceAccount "bob/ns"'
    assert not authz.authorize(BOB, LIST_PODS_ELSEWHERE).allowed


def test_a_cluster_role_binding_to_a_group_grants_everywhere_and_a_missing_role_is_the_reason(
        reg: FakeRegistry) -> None:
    authz = rbac.RBAC(reg)  # type: ignore[arg-type]
    reg.put("clusterrolebindings", _binding("ClusterRoleBinding", "all-accounts", "ClusterRole", "pod-lister",
                                            [{"kind": "Group", "name": "system:serviceaccounts"}]))
    refused = authz.authorize(BOB, LIST_PODS_ELSEWHERE)
    assert not refused.allowed
    assert refused.reason == f'RBAC: clusterrole.{GROUP} "pod-lister" not found'
    reg.put("clusterroles", _role("ClusterRole", "pod-lister",
                                  [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]))
    assert authz.authorize(BOB, LIST_PODS_ELSEWHERE).allowed  # the role is read at decision time


def test_rules_for_lists_what_a_user_holds_in_a_namespace(reg: FakeRegistry) -> None:
    reg.put("rolebindings", _binding("RoleBinding", "rb", "Role", "reader",
                                     [{"kind": "User", "name": BOB.name}], "ns"))
    authz = rbac.RBAC(reg)  # type: ignore[arg-type]
    assert authz.rules_for(BOB, "ns")[0] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    assert authz.rules_for(BOB, "other") == ([], [], [])


def test_a_role_with_rules_its_writer_lacks_is_refused(reg: FakeRegistry) -> None:
    reg.put("rolebindings", _binding("RoleBinding", "rb", "Role", "reader",
                                     [{"kind": "ServiceAccount", "name": "bob"}], "ns"))
    authz = rbac.RBAC(reg)  # type: ignore[arg-type]
    token = escalation.REQUESTER.set(escalation.Requester(BOB, authz, master=False))
    try:
        escalation.check_role(plural="roles", obj=_role("Role", "copy", [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}], "ns"))
        with pytest.raises(errors.Forbidden) as refused:
            escalation.check_role(plural="roles", obj=_role("Role", "more", [
                {"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["list"]}], "ns"))
        assert refused.value.message.endswith(
            'is attempting to grant RBAC permissions not currently held:\n'
            '{APIGroups:[""], Resources:["secrets"], Verbs:["list"]}')
    finally:
        escalation.REQUESTER.reset(token)
    # the server's own writes (no requester) are never checked
    escalation.check_role(plural="roles", obj=_role("Role", "more", [{"apiGroups": ["*"], "resources": ["*"],
                                                                       "verbs": ["*"]}], "ns"))
