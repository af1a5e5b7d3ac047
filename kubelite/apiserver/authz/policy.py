"""The default RBAC policy every cluster starts with (upstream's bootstrappolicy).

ClusterRoles: ``cluster-admin`` (everything), the user-facing ``admin``, ``edit`` and
``view`` (empty, filled by aggregation from the ``system:aggregate-to-*`` roles and any
ClusterRole labelled ``rbac.authorization.k8s.io/aggregate-to-<role>: "true"``; ``view``
aggregates into ``edit`` and ``edit`` into ``admin``), ``system:discovery``,
``system:basic-user`` and ``system:public-info-viewer``. ClusterRoleBindings:
``cluster-admin`` to ``system:masters``; discovery and basic-user to every authenticated
user; public-info-viewer to everyone. Each is labelled ``kubernetes.io/bootstrapping:
rbac-defaults`` and annotated ``rbac.authorization.kubernetes.io/autoupdate: "true"``.

``bootstrap.ensure_cluster_objects`` creates each object that is missing at start and
leaves existing ones as they are, so a user's edits are kept. The control plane's own
components authenticate as ``system:masters``, so no ``system:controller:*`` roles are
needed.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

API_VERSION = "rbac.authorization.k8s.io/v1"
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"
BOOTSTRAP_LABEL = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
READ_WRITE = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _rule(verbs: list[str], groups: list[str], resources: list[str]) -> Obj:
    return {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}


def _urls(verbs: list[str], urls: list[str]) -> Obj:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


def _cluster_role(name: str, rules: list[Obj], *, labels: dict[str, str] | None = None,
                  aggregate: str = "") -> Obj:
    role: Obj = {"apiVersion": API_VERSION, "kind": "ClusterRole",
                 "metadata": {"name": name, "labels": {**BOOTSTRAP_LABEL, **(labels or {})},
                              "annotations": dict(AUTOUPDATE)}}
    if aggregate:
        role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {AGGREGATE_TO + aggregate: "true"}}]}
    role["rules"] = rules
    return role


def _binding(name: str, groups: list[str]) -> Obj:
    return {"apiVersion": API_VERSION, "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": dict(BOOTSTRAP_LABEL), "annotations": dict(AUTOUPDATE)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g} for g in groups]}


def _aggregate_to_view() -> list[Obj]:
    return [
        _rule(READ, [""], ["pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                           "services", "services/status", "endpoints", "persistentvolumeclaims",
                           "persistentvolumeclaims/status", "configmaps"]),
        _rule(READ, [""], ["limitranges", "resourcequotas", "bindings", "events", "pods/status",
                           "resourcequotas/status", "namespaces/status", "replicationcontrollers/status",
                           "pods/log"]),
        # reading namespaces at the namespace scope means reading *this* namespace
        _rule(READ, [""], ["namespaces"]),
        _rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
        _rule(READ, ["apps"], ["controllerrevisions", "statefulsets", "statefulsets/status", "statefulsets/scale",
                               "daemonsets", "daemonsets/status", "deployments", "deployments/status",
                               "deployments/scale", "replicasets", "replicasets/status", "replicasets/scale"]),
        _rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
        _rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
        _rule(READ, ["extensions"], ["daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                                     "deployments/status", "ingresses", "ingresses/status", "replicasets",
                                     "replicasets/scale", "replicasets/status", "replicationcontrollers/scale",
                                     "networkpolicies"]),
        _rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        _rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
    ]


def _aggregate_to_edit() -> list[Obj]:
    return [
        # reading the resources that can escalate (secrets, exec into pods) is editing power
        _rule(READ, [""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
                           "services/proxy"]),
        _rule(["impersonate"], [""], ["serviceaccounts"]),
        _rule(WRITE, [""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
        _rule(["create"], [""], ["pods/eviction"]),
        _rule(WRITE, [""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
                            "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
                            "services/proxy"]),
        _rule(["create"], [""], ["serviceaccounts/token"]),
        _rule(WRITE, ["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale",
                                "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"]),
        _rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
        _rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
        _rule(WRITE, ["extensions"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale",
                                      "ingresses", "networkpolicies", "replicasets", "replicasets/scale",
                                      "replicationcontrollers/scale"]),
        _rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
        _rule(WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
    ]


def _aggregate_to_admin() -> list[Obj]:
    return [
        _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
        _rule(READ_WRITE, ["rbac.authorization.k8s.io"], ["rolebindings", "roles"]),
    ]


def cluster_roles() -> list[Obj]:
    return [
        _cluster_role("cluster-admin", [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])]),
        _cluster_role("system:discovery", [_urls(["get"], [
            "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
            "/version", "/version/"])]),
        _cluster_role("system:public-info-viewer", [_urls(["get"], [
            "/healthz", "/livez", "/readyz", "/version", "/version/"])]),
        _cluster_role("system:basic-user", [
            _rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"])]),
        _cluster_role("admin", [], aggregate="admin"),
        _cluster_role("edit", [], labels={AGGREGATE_TO + "admin": "true"}, aggregate="edit"),
        _cluster_role("view", [], labels={AGGREGATE_TO + "edit": "true"}, aggregate="view"),
        _cluster_role("system:aggregate-to-admin", _aggregate_to_admin(), labels={AGGREGATE_TO + "admin": "true"}),
        _cluster_role("system:aggregate-to-edit", _aggregate_to_edit(), labels={AGGREGATE_TO + "edit": "true"}),
        _cluster_role("system:aggregate-to-view", _aggregate_to_view(), labels={AGGREGATE_TO + "view": "true"}),
    ]


def cluster_role_bindings() -> list[Obj]:
    return [
        _binding("cluster-admin", ["system:masters"]),
        _binding("system:discovery", ["system:authenticated"]),
        _binding("system:basic-user", ["system:authenticated"]),
        _binding("system:public-info-viewer", ["system:authenticated", "system:unauthenticated"]),
    ]
