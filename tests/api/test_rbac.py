"""RBAC as a user meets it: a ServiceAccount's token is refused until a Role is bound to it,
then allowed exactly what the Role says (its namespace, its verbs, its resourceNames);
the default ClusterRoles (``view`` grows by aggregation), ``kubectl auth can-i``,
impersonation, privilege escalation refused, and bad RBAC objects refused with
upstream's words.

Through the session's real server and the real kubectl; the ServiceAccount's token comes
from ``kubectl create token``, as a user gets one.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl, Result
from tests.conftest import wait_for
from tests.support import processes, rawapi

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses


# --- helpers -----------------------------------------------------------------------------


def _account(kubectl: Kubectl, namespace: str, name: str = "bot") -> str:
    """A new ServiceAccount's token, as ``kubectl create token`` issues it."""
    kubectl("create", "serviceaccount", name, "-n", namespace)
    return kubectl("create", "token", name, "-n", namespace).strip()


def _as(kubectl: Kubectl, token: str) -> Callable[..., Result]:
    """kubectl with ``token`` instead of the admin's (its exit status is the caller's to read)."""
    def run(*args: str, stdin: str | None = None) -> Result:
        return kubectl.run("--token", token, *args, stdin=stdin, check=False)
    return run


def _sa(namespace: str, name: str = "bot") -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def _eventually_allowed(run: Callable[..., Result], *args: str) -> Result:
    """The result of ``kubectl args`` once it succeeds: a binding takes effect once the
    server's watch cache has it (well under a second)."""
    def attempt() -> Result | None:
        result = run(*args)
        return result if result.returncode == 0 else None
    found = wait_for(attempt, 10, message=f"kubectl {' '.join(args)} allowed")
    assert found is not None
    return found


# --- refusal and the namespace a Role grants ----------------------------------------------------


def test_a_service_account_is_refused_until_a_role_is_bound_then_only_in_that_namespace(
        kubectl: Kubectl, namespace: str) -> None:
    run = _as(kubectl, _account(kubectl, namespace))
    refused = run("get", "pods", "-n", namespace)
    assert refused.returncode == 1
    assert (f'Error from server (Forbidden): pods is forbidden: User "{_sa(namespace)}" cannot list resource '
            f'"pods" in API group "" in the namespace "{namespace}"') in refused.stderr
    everywhere = run("get", "pods", "-A")
    assert (f'pods is forbidden: User "{_sa(namespace)}" cannot list resource "pods" in API group "" '
            f"at the cluster scope") in everywhere.stderr

    kubectl("create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods", "-n", namespace)
    kubectl("create", "rolebinding", "read-pods", "--role=pod-reader", f"--serviceaccount={namespace}:bot",
            "-n", namespace)
    assert "No resources found" in _eventually_allowed(run, "get", "pods", "-n", namespace).stderr
    assert run("get", "pods", "-n", "default").returncode == 1
    assert run("get", "pods", "-A").returncode == 1
    writing = run("delete", "pod", "web", "-n", namespace)
    assert f'pods "web" is forbidden: User "{_sa(namespace)}" cannot delete resource "pods"' in writing.stderr
    secrets = run("get", "secret", "x", "-n", namespace)
    assert (f'secrets "x" is forbidden: User "{_sa(namespace)}" cannot get resource "secrets" in API group "" '
            f'in the namespace "{namespace}"') in secrets.stderr


def test_resource_names_restrict_a_rule_to_the_objects_named(kubectl: Kubectl, namespace: str) -> None:
    run = _as(kubectl, _account(kubectl, namespace))
    for name in ("allowed", "other"):
        kubectl("create", "configmap", name, "-n", namespace, "--from-literal=k=v")
    kubectl("create", "role", "one-map", "--verb=get", "--resource=configmaps", "--resource-name=allowed",
            "-n", namespace)
    kubectl("create", "rolebinding", "one-map", "--role=one-map", f"--serviceaccount={namespace}:bot", "-n", namespace)
    got = _eventually_allowed(run, "get", "configmap", "allowed", "-n", namespace, "-o", "jsonpath={.data.k}")
    assert got.stdout == "v"
    other = run("get", "configmap", "other", "-n", namespace)
    assert f'configmaps "other" is forbidden: User "{_sa(namespace)}" cannot get resource "configmaps"' in other.stderr
    assert run("get", "configmaps", "-n", namespace).returncode == 1  # a list names no object


def test_a_cluster_role_binding_to_view_reads_every_namespace_but_writes_nothing(
        kubectl: Kubectl, namespace: str) -> None:
    run = _as(kubectl, _account(kubectl, namespace))
    binding = f"view-{uuid.uuid4().hex[:6]}"
    kubectl("create", "clusterrolebinding", binding, "--clusterrole=view", f"--serviceaccount={namespace}:bot")
    try:
        _eventually_allowed(run, "get", "pods", "-A")
        assert run("get", "deployments", "-n", "kube-system").returncode == 0
        assert run("get", "secrets", "-n", namespace).returncode == 1  # view does not read secrets
        created = run("create", "configmap", "x", "-n", namespace)
        assert f'User "{_sa(namespace)}" cannot create resource "configmaps"' in created.stderr
        nodes = run("get", "nodes")
        assert 'cannot list resource "nodes" in API group "" at the cluster scope' in nodes.stderr
    finally:
        kubectl("delete", "clusterrolebinding", binding)


def test_public_and_discovery_paths_answer_without_any_binding(kubectl: Kubectl, namespace: str) -> None:
    run = _as(kubectl, _account(kubectl, namespace))
    assert run("get", "--raw", "/healthz").stdout == "ok"
    assert run("get", "--raw", "/version").returncode == 0
    assert run("api-resources").returncode == 0  # discovery: system:discovery's binding
    assert 'forbidden: User "' + _sa(namespace) + '" cannot get path "/metrics"' in \
        run("get", "--raw", "/metrics").stderr


# --- kubectl auth can-i and impersonation --------------------------------------------------------


def test_kubectl_auth_can_i_answers_from_the_bindings(kubectl: Kubectl, namespace: str) -> None:
    run = _as(kubectl, _account(kubectl, namespace))
    no = run("auth", "can-i", "list", "pods", "-n", namespace)
    assert (no.returncode, no.stdout.strip()) == (1, "no")
    kubectl("create", "rolebinding", "edit", "--clusterrole=edit", f"--serviceaccount={namespace}:bot",
            "-n", namespace)
    yes = _eventually_allowed(run, "auth", "can-i", "create", "deployments", "-n", namespace)
    assert yes.stdout.strip() == "yes"
    assert run("auth", "can-i", "create", "deployments", "-n", "default").stdout.strip() == "no"
    assert run("auth", "can-i", "create", "roles", "-n", namespace).stdout.strip() == "no"  # admin's, not edit's
    listing = run("auth", "can-i", "--list", "-n", namespace).stdout
    assert "deployments.apps" in listing and "selfsubjectaccessreviews.authorization.k8s.io" in listing
    # the admin asks on the account's behalf through impersonation
    assert kubectl("auth", "can-i", "create", "pods", "-n", namespace, "--as", _sa(namespace)).strip() == "yes"
    assert kubectl.run("auth", "can-i", "create", "pods", "-n", "default", "--as", _sa(namespace),
                       check=False).stdout.strip() == "no"
    # and as admin, everything
    assert kubectl("auth", "can-i", "*", "*", "--all-namespaces").strip() == "yes"


def test_impersonation_needs_the_impersonate_verb(kubectl: Kubectl, namespace: str) -> None:
    run = _as(kubectl, _account(kubectl, namespace))
    refused = run("get", "pods", "-n", namespace, "--as", "alice")
    assert (f'users "alice" is forbidden: User "{_sa(namespace)}" cannot impersonate resource "users" in API group '
            f'"" at the cluster scope') in refused.stderr
    who = json.loads(kubectl("auth", "whoami", "--as", "alice", "--as-group", "devs", "-o", "json"))
    assert who["status"]["userInfo"] == {"username": "alice", "groups": ["devs", "system:authenticated"]}


@pytest.mark.parametrize("headers, described", [
    ({"Impersonate-Group": "devs"}, "[{Group  devs    }]"),
    ({"Impersonate-Uid": "1234"}, "[{UID  1234  authentication.k8s.io/v1  }]"),
    ({"Impersonate-Extra-Scopes": "view"}, "[{UserExtra  view  authentication.k8s.io/v1  scopes}]"),
])
def test_impersonating_groups_a_uid_or_extras_without_a_user_is_a_bad_request(
        kubeconfig: Path, kubectl: Kubectl, namespace: str, headers: dict[str, str], described: str) -> None:
    # kubectl refuses --as-group without --as itself, so the request is made by hand
    api = rawapi.Api(kubeconfig)
    token = _account(kubectl, namespace)
    senders = {"a ServiceAccount": token}
    if "Impersonate-Group" in headers:
        # system:masters skip authorization, but not this check (a lone UID or extra from a
        # master is ignored: its fast path looks for the user and group headers only)
        senders["the admin"] = ""
    for sender, sender_token in senders.items():
        auth = {"Authorization": f"Bearer {sender_token}"} if sender_token else {}
        response = api.send("GET", "/api/v1/namespaces/default/pods", headers={**auth, **headers})
        status = response.json()
        assert (response.status_code, status["reason"]) == (400, "BadRequest"), sender
        assert status["message"] == f"requested {described} without impersonating a user", sender
    # with a user as well, the admin's request is served as that user
    as_alice = api.send("GET", "/api/v1/namespaces/default/pods", headers={"Impersonate-User": "alice", **headers})
    assert as_alice.status_code == 403 and 'User "alice" cannot list resource "pods"' in as_alice.json()["message"]


def test_subject_access_reviews_say_why(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "role", "pod-reader", "--verb=list", "--resource=pods", "-n", namespace)
    kubectl("create", "rolebinding", "readers", "--role=pod-reader", "--user=carol", "-n", namespace)
    review: dict[str, Any] = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": "carol", "resourceAttributes": {"namespace": namespace, "verb": "list",
                                                                "resource": "pods"}}}
    answer = wait_for(lambda: (a := json.loads(kubectl("create", "-f", "-", "-o", "json", stdin=json.dumps(review))))
                      ["status"]["allowed"] and a, 10, message="allowed")
    assert answer["status"]["reason"] == (f'RBAC: allowed by RoleBinding "readers/{namespace}" of Role "pod-reader" '
                                          f'to User "carol"')
    local = {**review, "kind": "LocalSubjectAccessReview", "metadata": {"namespace": namespace}}
    local["spec"] = {**review["spec"], "resourceAttributes": {"namespace": namespace, "verb": "delete",
                                                               "resource": "pods"}}
    assert json.loads(kubectl("create", "-f", "-", "-o", "json", stdin=json.dumps(local)))["status"] == \
        {"allowed": False}


# --- writing policy: escalation and aggregation ------------------------------------------------


def test_a_role_or_binding_may_grant_only_what_its_writer_holds(kubectl: Kubectl, namespace: str) -> None:
    run = _as(kubectl, _account(kubectl, namespace))
    kubectl("create", "role", "role-writer", "--verb=create,get,list", "--resource=roles,rolebindings",
            "-n", namespace)
    kubectl("create", "rolebinding", "role-writer", "--role=role-writer", f"--serviceaccount={namespace}:bot",
            "-n", namespace)
    _eventually_allowed(run, "get", "roles", "-n", namespace)
    refused = run("create", "role", "secret-reader", "--verb=get,list", "--resource=secrets", "-n", namespace)
    assert refused.returncode == 1
    assert (f'roles.rbac.authorization.k8s.io "secret-reader" is forbidden: user "{_sa(namespace)}" '
            f'(groups=["system:serviceaccounts" "system:serviceaccounts:{namespace}" "system:authenticated"]) '
            f"is attempting to grant RBAC permissions not currently held:\n"
            f'{{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}}') in refused.stderr
    # what it holds it may grant
    assert run("create", "role", "role-reader", "--verb=get,list", "--resource=roles", "-n", namespace).returncode == 0
    bound = run("create", "rolebinding", "to-edit", "--clusterrole=edit", "--user=dave", "-n", namespace)
    assert "is attempting to grant RBAC permissions not currently held" in bound.stderr
    assert run("create", "rolebinding", "to-reader", "--role=role-reader", "--user=dave",
               "-n", namespace).returncode == 0
    # the escalate and bind verbs lift the checks
    kubectl("create", "role", "escalator", "--verb=escalate,bind", "--resource=roles,clusterroles", "-n", namespace)
    kubectl("create", "rolebinding", "escalator", "--role=escalator", f"--serviceaccount={namespace}:bot",
            "-n", namespace)
    wait_for(lambda: run("create", "role", "secret-reader", "--verb=get", "--resource=secrets",
                         "-n", namespace).returncode == 0, 10, message="escalate allowed")
    assert run("create", "rolebinding", "to-edit", "--clusterrole=edit", "--user=dave",
               "-n", namespace).returncode == 0


def _rules_of(kubectl: Kubectl, cluster_role: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = json.loads(kubectl("get", "clusterrole", cluster_role, "-o", "json"))["rules"]
    return rules


def test_a_cluster_role_labelled_aggregate_to_view_adds_its_rules_to_view_edit_and_admin(kubectl: Kubectl) -> None:
    name = f"widgets-{uuid.uuid4().hex[:6]}"
    rule = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list", "watch"]}
    kubectl.apply_text(json.dumps({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [rule]}))
    try:
        for aggregate in ("view", "edit", "admin"):
            wait_for(functools.partial(lambda a: rule in _rules_of(kubectl, a), aggregate), 15,
                     message=f"{aggregate} aggregated the widgets rule")
    finally:
        kubectl("delete", "clusterrole", name)
    wait_for(lambda: rule not in _rules_of(kubectl, "view"), 15, message="the rule left view with its role")


def test_the_default_policy_is_there_and_labelled_as_upstream(kubectl: Kubectl) -> None:
    roles = json.loads(kubectl("get", "clusterroles", "-l", "kubernetes.io/bootstrapping=rbac-defaults",
                               "-o", "json"))["items"]
    names = {r["metadata"]["name"] for r in roles}
    assert {"cluster-admin", "admin", "edit", "view", "system:discovery", "system:basic-user",
            "system:public-info-viewer"} <= names
    admin = next(r for r in roles if r["metadata"]["name"] == "cluster-admin")
    assert admin["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] == "true"
    table = kubectl("get", "clusterrolebinding", "cluster-admin", "-o", "wide")
    assert kubectl_runner.rows(table)[0] == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert kubectl_runner.rows(table)[1][1] == "ClusterRole/cluster-admin"
    assert "system:masters" in kubectl_runner.rows(table)[1]
    assert kubectl_runner.rows(kubectl("get", "clusterrole", "view"))[0] == ["NAME", "CREATED AT"]


# --- kubectl create/reconcile and bad input ------------------------------------------------------


def test_kubectl_create_commands_and_their_tables(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "clusterrole", f"{namespace}-reader", "--verb=get", "--resource=nodes",
            "--non-resource-url=/logs/*")
    try:
        kubectl("create", "clusterrolebinding", f"{namespace}-reader", f"--clusterrole={namespace}-reader",
                "--user=erin", "--group=ops", f"--serviceaccount={namespace}:bot")
        row = kubectl_runner.rows(kubectl("get", "clusterrolebinding", f"{namespace}-reader", "-o", "wide"))[1]
        assert row[1:2] == [f"ClusterRole/{namespace}-reader"] and row[3:] == ["erin", "ops", f"{namespace}/bot"]
        kubectl("create", "role", "r", "--verb=get", "--resource=pods", "-n", namespace)
        kubectl("create", "rolebinding", "rb", "--role=r", "--user=erin", "-n", namespace)
        table = kubectl_runner.rows(kubectl("get", "rolebinding", "-n", namespace))
        assert table[0] == ["NAME", "ROLE", "AGE"] and table[1][:2] == ["rb", "Role/r"]
        described = kubectl("describe", "clusterrole", f"{namespace}-reader")
        assert "/logs/*" in described and "nodes" in described
    finally:
        kubectl("delete", "clusterrolebinding", f"{namespace}-reader", check=False)
        kubectl("delete", "clusterrole", f"{namespace}-reader", check=False)


def test_kubectl_auth_reconcile_creates_and_extends_roles(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    manifest = tmp_path / "rbac.yaml"
    role: dict[str, Any] = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                            "metadata": {"name": "reconciled", "namespace": namespace},
                            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    manifest.write_text(json.dumps(role))
    reconciled = kubectl("auth", "reconcile", "-f", str(manifest)).strip()
    assert reconciled == "role.rbac.authorization.k8s.io/reconciled reconciled"
    role["rules"].append({"apiGroups": [""], "resources": ["services"], "verbs": ["list"]})
    manifest.write_text(json.dumps(role))
    kubectl("auth", "reconcile", "-f", str(manifest))
    rules = json.loads(kubectl("get", "role", "reconciled", "-n", namespace, "-o", "json"))["rules"]
    assert {"apiGroups": [""], "resources": ["services"], "verbs": ["list"]} in rules


@pytest.mark.parametrize(("body", "message"), [
    ({"kind": "RoleBinding", "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
      "subjects": [{"kind": "Robot", "name": "r2d2"}]},
     'subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"'),
    ({"kind": "RoleBinding", "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Pod", "name": "r"}},
     'roleRef.kind: Unsupported value: "Pod": supported values: "Role", "ClusterRole"'),
    ({"kind": "ClusterRoleBinding", "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                "name": "view"},
      "subjects": [{"kind": "ServiceAccount", "name": "default"}]},
     "subjects[0].namespace: Required value"),
    ({"kind": "Role", "rules": [{"apiGroups": [""], "resources": ["pods"]}]},
     "rules[0].verbs: Required value: verbs must contain at least one value"),
    ({"kind": "Role", "rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]},
     'rules[0].nonResourceURLs: Invalid value: ["/healthz"]: namespaced rules cannot apply to non-resource URLs'),
    ({"kind": "ClusterRole", "aggregationRule": {"clusterRoleSelectors": []}},
     "aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if "
     "aggregationRule is non-nil"),
])
def test_invalid_rbac_objects_are_refused_with_upstreams_words(kubectl: Kubectl, namespace: str,
                                                               body: dict[str, object], message: str) -> None:
    obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "bad"}, **body}
    refused = kubectl.run("create", "-n", namespace, "-f", "-", stdin=json.dumps(obj), check=False)
    assert refused.returncode == 1 and message in refused.stderr, refused


def test_a_bindings_role_ref_cannot_change(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "rolebinding", "fixed", "--clusterrole=view", "--user=frank", "-n", namespace)
    refused = kubectl.run("patch", "rolebinding", "fixed", "-n", namespace, "--type=merge",
                          "-p", '{"roleRef":{"name":"edit"}}', check=False)
    assert ('The RoleBinding "fixed" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:'
            '"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef') in refused.stderr
    # subjects may change
    kubectl("patch", "rolebinding", "fixed", "-n", namespace, "--type=merge",
            "-p", '{"subjects":[{"kind":"User","name":"grace","apiGroup":"rbac.authorization.k8s.io"}]}')


# --- --authorization-mode=AlwaysAllow --------------------------------------------------------------


def test_always_allow_mode_lets_every_authenticated_user_do_everything(tmp_path: Path) -> None:
    srv = processes.ServerProcess(data_dir=tmp_path / "data", extra_args=[
        "--disable-controllers", "--disable-scheduler", "--authorization-mode=AlwaysAllow"]).start()
    try:
        admin = Kubectl(binary=kubectl_runner.kubectl_binary(), kubeconfig=srv.kubeconfig, cache_dir=tmp_path)
        admin("create", "serviceaccount", "anyone", "-n", "default")
        run = _as(admin, admin("create", "token", "anyone", "-n", "default").strip())
        assert run("get", "nodes").returncode == 0
        assert run("auth", "can-i", "delete", "secrets", "-A").stdout.strip() == "yes"
        # the RBAC objects are still served (and the default policy still created)
        assert "cluster-admin" in admin("get", "clusterroles")
    finally:
        srv.stop()


def test_exec_over_websocket_needs_create_as_well_as_get(kubectl: Kubectl, namespace: str) -> None:
    run = _as(kubectl, _account(kubectl, namespace))
    kubectl("run", "web", "--image=busybox", "-n", namespace, "--overrides",
            '{"spec": {"schedulerName": "nobody"}}')  # never runs: only the authorization is at stake
    kubectl("create", "role", "peek", "--verb=get", "--resource=pods,pods/exec", "-n", namespace)
    kubectl("create", "rolebinding", "peek", "--role=peek", f"--serviceaccount={namespace}:bot", "-n", namespace)
    _eventually_allowed(run, "get", "pod", "web", "-n", namespace)
    refused = run("exec", "web", "-n", namespace, "--", "true")
    assert (f'pods "web" is forbidden: User "{_sa(namespace)}" cannot create resource "pods/exec" in API group "" '
            f'in the namespace "{namespace}"') in refused.stderr
    kubectl("create", "role", "exec", "--verb=create", "--resource=pods/exec", "-n", namespace)
    kubectl("create", "rolebinding", "exec", "--role=exec", f"--serviceaccount={namespace}:bot", "-n", namespace)
    wait_for(lambda: "forbidden" not in run("exec", "web", "-n", namespace, "--", "true").stderr, 10,
             message="exec authorized (the pod, never scheduled, still cannot run it)")
