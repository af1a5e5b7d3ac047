"""The default RBAC policy every cluster starts with (upstream's bootstrappolicy, policy.go).

ClusterRoles: ``cluster-admin`` (everything), the user-facing ``admin``, ``edit`` and
``view`` (empty, filled by aggregation from the ``system:aggregate-to-*`` roles and any
ClusterRole labelled ``rbac.authorization.k8s.io/aggregate-to-<role>: "true"``; ``view``
aggregates into ``edit`` and ``edit`` into ``admin``), ``system:discovery``,
``system:basic-user``, ``system:public-info-viewer``, ``system:monitoring``,
``system:auth-delegator``, ``system:service-account-issuer-discovery`` and the roles of
upstream's components and add-ons (``system:node``, ``system:node-proxier``,
``system:kube-scheduler``, ``system:volume-scheduler``, ``system:kube-controller-manager``,
``system:kube-dns``, ...). ClusterRoleBindings as upstream's: ``cluster-admin`` to
``system:masters``; discovery and basic-user to every authenticated user;
public-info-viewer to everyone; the components' roles to the users those components
authenticate as. ``controller_policy`` adds one ``system:controller:<name>`` role and
binding per controller kubelite runs; ``namespace_roles`` are the Roles of ``kube-system``
(delegated-authentication reader, leader locks). Each is labelled ``kubernetes.io/bootstrapping:
rbac-defaults`` and annotated ``rbac.authorization.kubernetes.io/autoupdate: "true"``.

``bootstrap.reconcile_policy`` creates each missing object at every start and adds back the
rules and subjects a default lost (``reconcile``). kubelite's own control plane
authenticates as ``system:masters``, so these roles matter to components run against
kubelite from outside (a kube-scheduler, a kube-proxy, Prometheus) and to users who bind
them. Pure data: no I/O.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

API_VERSION = "rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"
BOOTSTRAP_LABEL = {"kubernetes.io/bootstrapping": "rbac-defaults"}
# "false" on a default keeps reconciliation off it (``reconcile.protected``)
AUTOUPDATE_ANNOTATION = "rbac.authorization.kubernetes.io/autoupdate"
AUTOUPDATE = {AUTOUPDATE_ANNOTATION: "true"}

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
READ_WRITE = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def new_rule(verbs: list[str], groups: list[str], resources: list[str], *, names: tuple[str, ...] = ()) -> Obj:
    """A PolicyRule of resources (upstream's NewRule(...).Groups(...).Resources(...).Names(...))."""
    rule: Obj = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names:
        rule["resourceNames"] = list(names)
    return rule


def new_url_rule(verbs: list[str], urls: list[str]) -> Obj:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


def events_rule() -> Obj:
    """Recording Events in both groups: what every component and controller needs."""
    return new_rule(["create", "update", "patch"], ["", "events.k8s.io"], ["events"])


def new_cluster_role(name: str, rules: list[Obj], *, labels: dict[str, str] | None = None,
                     aggregate: str = "") -> Obj:
    role: Obj = {"apiVersion": API_VERSION, "kind": "ClusterRole",
                 "metadata": {"name": name, "labels": {**BOOTSTRAP_LABEL, **(labels or {})},
                              "annotations": dict(AUTOUPDATE)}}
    if aggregate:
        role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {AGGREGATE_TO + aggregate: "true"}}]}
    role["rules"] = rules
    return role


def new_binding(name: str, *, groups: tuple[str, ...] = (), users: tuple[str, ...] = (),
                service_accounts: tuple[tuple[str, str], ...] = ()) -> Obj:
    """A ClusterRoleBinding of the ClusterRole ``name`` (of the same name) to its subjects;
    ``service_accounts`` are (namespace, name) pairs."""
    subjects: list[Obj] = [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": g} for g in groups]
    subjects += [{"apiGroup": RBAC_GROUP, "kind": "User", "name": u} for u in users]
    subjects += [{"kind": "ServiceAccount", "name": n, "namespace": ns} for ns, n in service_accounts]
    return {"apiVersion": API_VERSION, "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": dict(BOOTSTRAP_LABEL), "annotations": dict(AUTOUPDATE)},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
            "subjects": subjects}


def new_role(namespace: str, name: str, rules: list[Obj]) -> Obj:
    return {"apiVersion": API_VERSION, "kind": "Role",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(BOOTSTRAP_LABEL),
                         "annotations": dict(AUTOUPDATE)},
            "rules": rules}


def new_role_binding(namespace: str, name: str, *, role: str, users: tuple[str, ...] = (),
                     service_accounts: tuple[tuple[str, str], ...] = ()) -> Obj:
    """A RoleBinding in ``namespace`` of its Role ``role``."""
    binding = new_binding(name, users=users, service_accounts=service_accounts)
    binding["kind"] = "RoleBinding"
    binding["metadata"]["namespace"] = namespace
    binding["roleRef"] = {"apiGroup": RBAC_GROUP, "kind": "Role", "name": role}
    return binding


def _aggregate_to_view() -> list[Obj]:
    return [
        new_rule(READ, [""], ["pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                              "services", "services/status", "endpoints", "persistentvolumeclaims",
                              "persistentvolumeclaims/status", "configmaps"]),
        new_rule(READ, [""], ["limitranges", "resourcequotas", "bindings", "events", "pods/status",
                              "resourcequotas/status", "namespaces/status", "replicationcontrollers/status",
                              "pods/log"]),
        # reading namespaces at the namespace scope means reading *this* namespace
        new_rule(READ, [""], ["namespaces"]),
        new_rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
        new_rule(READ, ["apps"], ["controllerrevisions", "statefulsets", "statefulsets/status", "statefulsets/scale",
                                  "daemonsets", "daemonsets/status", "deployments", "deployments/status",
                                  "deployments/scale", "replicasets", "replicasets/status", "replicasets/scale"]),
        new_rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
        new_rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
        new_rule(READ, ["extensions"], ["daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                                        "deployments/status", "ingresses", "ingresses/status", "replicasets",
                                        "replicasets/scale", "replicasets/status", "replicationcontrollers/scale",
                                        "networkpolicies"]),
        new_rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        new_rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
    ]


def _aggregate_to_edit() -> list[Obj]:
    return [
        # reading the resources that can escalate (secrets, exec into pods) is editing power
        new_rule(READ, [""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
                              "services/proxy"]),
        new_rule(["impersonate"], [""], ["serviceaccounts"]),
        new_rule(WRITE, [""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
        new_rule(["create"], [""], ["pods/eviction"]),
        new_rule(WRITE, [""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
                               "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
                               "services/proxy"]),
        new_rule(["create"], [""], ["serviceaccounts/token"]),
        new_rule(WRITE, ["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale",
                                   "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"]),
        new_rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
        new_rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
        new_rule(WRITE, ["extensions"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale",
                                         "ingresses", "networkpolicies", "replicasets", "replicasets/scale",
                                         "replicationcontrollers/scale"]),
        new_rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
        new_rule(WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
    ]


def _aggregate_to_admin() -> list[Obj]:
    return [
        new_rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
        new_rule(READ_WRITE, ["rbac.authorization.k8s.io"], ["rolebindings", "roles"]),
    ]



def _system_roles() -> list[Obj]:
    """The roles of the control plane's components and of common add-ons, as upstream
    defines them (kubelite's own components are in ``system:masters``; these serve a
    kube-scheduler, kube-proxy or monitoring agent run against kubelite, and users who bind
    them)."""
    return [
        new_cluster_role("system:monitoring", [new_url_rule(["get"], [
            "/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz", "/readyz/*"])]),
        new_cluster_role("system:auth-delegator", [
            new_rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
            new_rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"])]),
        new_cluster_role("system:service-account-issuer-discovery", [new_url_rule(["get"], [
            "/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks",
            "/openid/v1/jwks/"])]),
        new_cluster_role("system:kube-aggregator", [new_rule(READ, [""], ["endpoints", "services"])]),
        new_cluster_role("system:kube-dns", [new_rule(["list", "watch"], [""], ["endpoints", "services"])]),
        new_cluster_role("system:node-bootstrapper", [
            new_rule(["create", "get", "list", "watch"], ["certificates.k8s.io"], ["certificatesigningrequests"])]),
        new_cluster_role("system:node-problem-detector", [
            new_rule(["get"], [""], ["nodes"]), new_rule(["patch"], [""], ["nodes/status"]), events_rule()]),
        new_cluster_role("system:node", _node_rules()),
        new_cluster_role("system:node-proxier", [
            new_rule(["list", "watch"], [""], ["services", "endpoints"]),
            new_rule(READ, [""], ["nodes"]),
            events_rule(),
            new_rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"])]),
        new_cluster_role("system:kube-scheduler", _scheduler_rules()),
        new_cluster_role("system:volume-scheduler", [
            new_rule(["get", "list", "patch", "update", "watch"], [""], ["persistentvolumes"]),
            new_rule(READ, ["storage.k8s.io"], ["storageclasses"]),
            new_rule(["get", "list", "patch", "update", "watch"], [""], ["persistentvolumeclaims"])]),
        new_cluster_role("system:kube-controller-manager", _controller_manager_rules()),
        new_cluster_role("system:persistent-volume-provisioner", [
            new_rule(["get", "list", "watch", "create", "delete"], [""], ["persistentvolumes"]),
            # update: the provisioner annotates the claim it provisions for
            new_rule(["get", "list", "watch", "update"], [""], ["persistentvolumeclaims"]),
            new_rule(READ, ["storage.k8s.io"], ["storageclasses"]),
            new_rule(["watch"], [""], ["events"]),
            events_rule()]),
    ]


def _node_rules() -> list[Obj]:
    """``system:node``: what a kubelet needs. Upstream binds it to nobody (its Node authorizer
    grants each kubelet this, narrowed to its own node); the role exists for users who bind it."""
    return [
        # asking the API about access: these creates change nothing
        new_rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        new_rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews", "subjectaccessreviews"]),
        new_rule(READ, [""], ["services"]),  # the Service environment variables of pods
        new_rule(["create", "get", "list", "watch"], [""], ["nodes"]),  # registering itself
        new_rule(["patch", "update"], [""], ["nodes/status"]),
        new_rule(["patch", "update"], [""], ["nodes"]),
        events_rule(),
        new_rule(READ, [""], ["pods"]),
        new_rule(["create", "delete"], [""], ["pods"]),  # mirror pods
        new_rule(["patch", "update"], [""], ["pods/status"]),
        new_rule(["create"], [""], ["pods/eviction"]),
        new_rule(READ, [""], ["configmaps", "secrets"]),
        new_rule(["get"], [""], ["persistentvolumeclaims", "persistentvolumes"]),
        new_rule(["get"], [""], ["endpoints"]),
        new_rule(["create", "get", "list", "watch"], ["certificates.k8s.io"], ["certificatesigningrequests"]),
        new_rule(["delete", "create", "get", "update", "patch"], ["coordination.k8s.io"], ["leases"]),
        new_rule(["get"], ["storage.k8s.io"], ["volumeattachments"]),
        new_rule(["create"], [""], ["serviceaccounts/token"]),
        new_rule(["get", "update", "patch"], [""], ["persistentvolumeclaims/status"]),
        new_rule(READ, ["storage.k8s.io"], ["csidrivers"]),
        new_rule(["create", "delete", "get", "patch", "update"], ["storage.k8s.io"], ["csinodes"]),
        new_rule(READ, ["node.k8s.io"], ["runtimeclasses"]),
    ]


def _scheduler_rules() -> list[Obj]:
    """``system:kube-scheduler``: reading what it places pods by, binding pods and its
    leader-election Lease."""
    return [
        events_rule(),
        new_rule(["create"], ["coordination.k8s.io"], ["leases"]),
        new_rule(["get", "update"], ["coordination.k8s.io"], ["leases"], names=("kube-scheduler",)),
        new_rule(READ, [""], ["nodes"]),
        new_rule(["delete", "get", "list", "watch"], [""], ["pods"]),  # delete: preemption
        new_rule(["create"], [""], ["bindings", "pods/binding"]),
        new_rule(["patch", "update"], [""], ["pods/status"]),
        new_rule(READ, [""], ["replicationcontrollers", "services"]),
        new_rule(READ, ["apps", "extensions"], ["replicasets"]),
        new_rule(READ, ["apps"], ["statefulsets"]),
        new_rule(READ, ["policy"], ["poddisruptionbudgets"]),
        new_rule(READ, [""], ["persistentvolumeclaims", "persistentvolumes"]),
        new_rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        new_rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
        new_rule(READ, ["storage.k8s.io"], ["csinodes"]),
        new_rule(READ, [""], ["namespaces"]),
        new_rule(READ, ["storage.k8s.io"], ["csidrivers"]),
        new_rule(READ, ["storage.k8s.io"], ["csistoragecapacities"]),
    ]


def _controller_manager_rules() -> list[Obj]:
    """``system:kube-controller-manager``: the manager itself (its Lease, the informers that
    list and watch everything, the ServiceAccount tokens it issues to each controller)."""
    return [
        events_rule(),
        new_rule(["create"], ["coordination.k8s.io"], ["leases"]),
        new_rule(["get", "update"], ["coordination.k8s.io"], ["leases"], names=("kube-controller-manager",)),
        new_rule(["create"], [""], ["secrets", "serviceaccounts"]),
        new_rule(["delete"], [""], ["secrets"]),
        new_rule(["get"], [""], ["configmaps", "namespaces", "secrets", "serviceaccounts"]),
        new_rule(["update"], [""], ["secrets", "serviceaccounts"]),
        new_rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        new_rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
        new_rule(["list", "watch"], ["*"], ["*"]),
        new_rule(["create"], [""], ["serviceaccounts/token"]),
    ]


def cluster_roles() -> list[Obj]:
    """Every default ClusterRole but the controllers' (``controller_policy``)."""
    return [
        new_cluster_role("cluster-admin", [new_rule(["*"], ["*"], ["*"]), new_url_rule(["*"], ["*"])]),
        new_cluster_role("system:discovery", [new_url_rule(["get"], [
            "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
            "/version", "/version/"])]),
        new_cluster_role("system:public-info-viewer", [new_url_rule(["get"], [
            "/healthz", "/livez", "/readyz", "/version", "/version/"])]),
        new_cluster_role("system:basic-user", [
            new_rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            new_rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"])]),
        new_cluster_role("admin", [], aggregate="admin"),
        new_cluster_role("edit", [], labels={AGGREGATE_TO + "admin": "true"}, aggregate="edit"),
        new_cluster_role("view", [], labels={AGGREGATE_TO + "edit": "true"}, aggregate="view"),
        new_cluster_role("system:aggregate-to-admin", _aggregate_to_admin(), labels={AGGREGATE_TO + "admin": "true"}),
        new_cluster_role("system:aggregate-to-edit", _aggregate_to_edit(), labels={AGGREGATE_TO + "edit": "true"}),
        new_cluster_role("system:aggregate-to-view", _aggregate_to_view(), labels={AGGREGATE_TO + "view": "true"}),
        *_system_roles(),
    ]


def cluster_role_bindings() -> list[Obj]:
    """Every default ClusterRoleBinding but the controllers' (``controller_policy``)."""
    return [
        new_binding("cluster-admin", groups=("system:masters",)),
        new_binding("system:monitoring", groups=("system:monitoring",)),
        new_binding("system:discovery", groups=("system:authenticated",)),
        new_binding("system:basic-user", groups=("system:authenticated",)),
        new_binding("system:public-info-viewer", groups=("system:authenticated", "system:unauthenticated")),
        new_binding("system:service-account-issuer-discovery", groups=("system:serviceaccounts",)),
        # no subjects: upstream's Node authorizer gives each kubelet its node's share
        new_binding("system:node"),
        new_binding("system:node-proxier", users=("system:kube-proxy",)),
        new_binding("system:kube-controller-manager", users=("system:kube-controller-manager",)),
        new_binding("system:kube-dns", service_accounts=(("kube-system", "kube-dns"),)),
        new_binding("system:kube-scheduler", users=("system:kube-scheduler",)),
        new_binding("system:volume-scheduler", users=("system:kube-scheduler",)),
    ]


def namespace_roles() -> list[Obj]:
    """The default Roles of ``kube-system`` that components run against kubelite use:
    reading the delegated-authentication ConfigMap (aggregated API servers such as
    metrics-server bind it) and the controller manager's and scheduler's leader locks.
    Upstream's bootstrap-signer, cloud-provider and token-cleaner Roles are left out with
    their controllers."""
    return [
        new_role("kube-system", "extension-apiserver-authentication-reader", [
            new_rule(READ, [""], ["configmaps"], names=("extension-apiserver-authentication",))]),
        new_role("kube-system", "system::leader-locking-kube-controller-manager", [
            new_rule(["watch"], [""], ["configmaps"]),
            new_rule(["get", "update"], [""], ["configmaps"], names=("kube-controller-manager",)),
            new_rule(["get", "watch", "list", "create", "update"], ["coordination.k8s.io"], ["leases"])]),
        new_role("kube-system", "system::leader-locking-kube-scheduler", [
            new_rule(["watch"], [""], ["configmaps"]),
            new_rule(["get", "update"], [""], ["configmaps"], names=("kube-scheduler",))]),
    ]


def namespace_role_bindings() -> list[Obj]:
    return [
        new_role_binding("kube-system", "system::extension-apiserver-authentication-reader",
                         role="extension-apiserver-authentication-reader",
                         users=("system:kube-controller-manager", "system:kube-scheduler")),
        new_role_binding("kube-system", "system::leader-locking-kube-controller-manager",
                         role="system::leader-locking-kube-controller-manager",
                         users=("system:kube-controller-manager",),
                         service_accounts=(("kube-system", "kube-controller-manager"),
                                           ("kube-system", "leader-election-controller"))),
        new_role_binding("kube-system", "system::leader-locking-kube-scheduler",
                         role="system::leader-locking-kube-scheduler", users=("system:kube-scheduler",),
                         service_accounts=(("kube-system", "kube-scheduler"),)),
    ]
