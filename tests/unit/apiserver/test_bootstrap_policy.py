"""The default RBAC policy at start (``bootstrap.reconcile_policy``): every default role and
binding (cluster-wide, and those of ``kube-system``) is created, a default that lost rules
or subjects gets them back while what a user added stays, one annotated
``autoupdate: "false"`` is left alone, and servers starting at once converge on one copy
of each rule."""

from __future__ import annotations

import asyncio
from typing import Any

from kubelite.apiserver import bootstrap, registry, requests
from kubelite.apiserver.authz import controller_policy, policy
from kubelite.controllers import manager

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"


def _store(reg: registry.Registry, plural: str) -> registry.Store:
    store = reg.by_plural(RBAC, plural)
    assert store is not None
    return store


async def _read(reg: registry.Registry, plural: str, name: str, namespace: str | None = None) -> Obj:
    return await _store(reg, plural).get(namespace, name)


async def _edit(reg: registry.Registry, plural: str, name: str, change: Any, namespace: str | None = None) -> None:
    def mutate(obj: Obj) -> Obj:
        change(obj)
        return obj
    await _store(reg, plural).patch(namespace, name, mutate, requests.WriteOptions())


async def test_every_default_is_created_labelled_and_bound_as_upstream(reg: registry.Registry) -> None:
    await bootstrap.reconcile_policy(reg)
    roles = policy.cluster_roles() + controller_policy.cluster_roles()
    names = {r["metadata"]["name"] for r in roles}
    assert len(names) == len(roles)  # no default twice
    assert {"cluster-admin", "admin", "edit", "view", "system:basic-user", "system:discovery",
            "system:public-info-viewer", "system:node", "system:node-proxier", "system:kube-scheduler",
            "system:kube-controller-manager", "system:volume-scheduler", "system:monitoring",
            "system:auth-delegator"} <= names
    for role in roles:
        stored = await _read(reg, "clusterroles", role["metadata"]["name"])
        assert stored["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
        assert stored["metadata"]["annotations"][AUTOUPDATE] == "true"
    for binding in policy.cluster_role_bindings() + controller_policy.cluster_role_bindings():
        stored = await _read(reg, "clusterrolebindings", binding["metadata"]["name"])
        assert stored["roleRef"]["name"] in names
        assert stored["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
    subjects = {b["metadata"]["name"]: b["subjects"] for b in policy.cluster_role_bindings()}
    assert subjects["system:kube-scheduler"] == [{"apiGroup": RBAC, "kind": "User", "name": "system:kube-scheduler"}]
    assert subjects["system:node-proxier"] == [{"apiGroup": RBAC, "kind": "User", "name": "system:kube-proxy"}]
    assert subjects["system:monitoring"] == [{"apiGroup": RBAC, "kind": "Group", "name": "system:monitoring"}]
    job = await _read(reg, "clusterrolebindings", "system:controller:job-controller")
    assert job["subjects"] == [{"kind": "ServiceAccount", "name": "job-controller", "namespace": "kube-system"}]


def test_every_controller_kubelite_runs_has_its_upstream_role() -> None:
    upstream_names = {
        "replicaset": "replicaset-controller", "replicationcontroller": "replication-controller",
        "deployment": "deployment-controller", "garbagecollector": "generic-garbage-collector",
        "namespace": "namespace-controller", "serviceaccount": "service-account-controller",
        "root-ca-cert-publisher": "root-ca-cert-publisher", "endpoints": "endpoint-controller",
        "nodelifecycle": "node-controller", "statefulset": "statefulset-controller",
        "daemonset": "daemon-set-controller", "job": "job-controller", "cronjob": "cronjob-controller",
        "endpointslice": "endpointslice-controller", "persistentvolume-binder": "persistent-volume-binder",
        "volume-protection": "pvc-protection-controller", "ephemeral-volume": "ephemeral-volume-controller",
        "disruption": "disruption-controller", "horizontalpodautoscaling": "horizontal-pod-autoscaler",
        "resourcequota": "resourcequota-controller",
        "clusterrole-aggregation": "clusterrole-aggregation-controller",
        "local-path-provisioner": None,  # kubelite's own; upstream has no such controller
    }
    roles = {r["metadata"]["name"] for r in controller_policy.cluster_roles()}
    for controller in manager.CONTROLLERS:
        assert controller.name in upstream_names, f"{controller.name}: which upstream role is it?"
        role = upstream_names[controller.name]
        assert role is None or controller_policy.PREFIX + role in roles


async def test_a_default_gets_back_what_it_lost_and_keeps_what_a_user_added(reg: registry.Registry) -> None:
    await bootstrap.reconcile_policy(reg)
    added_rule = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}
    original = await _read(reg, "clusterroles", "system:aggregate-to-view")
    lost_rule = original["rules"][0]

    def strip(role: Obj) -> None:
        role["rules"] = role["rules"][1:] + [added_rule]
        role["metadata"]["labels"]["team"] = "blue"
    await _edit(reg, "clusterroles", "system:aggregate-to-view", strip)
    await _edit(reg, "clusterrolebindings", "system:discovery",
                lambda b: b.__setitem__("subjects", [{"apiGroup": RBAC, "kind": "Group", "name": "devs"}]))
    await _store(reg, "clusterroles").delete(None, "system:monitoring", requests.DeleteOptions())

    await bootstrap.reconcile_policy(reg)  # the next start

    role = await _read(reg, "clusterroles", "system:aggregate-to-view")
    assert lost_rule in role["rules"] and added_rule in role["rules"]
    assert role["metadata"]["labels"]["team"] == "blue"
    binding = await _read(reg, "clusterrolebindings", "system:discovery")
    assert [s["name"] for s in binding["subjects"]] == ["devs", "system:authenticated"]
    assert (await _read(reg, "clusterroles", "system:monitoring"))["rules"]


async def test_the_roles_of_kube_system_are_kept_as_well(reg: registry.Registry) -> None:
    await bootstrap.ensure_namespaces(reg)
    await bootstrap.reconcile_policy(reg)
    name = "system::leader-locking-kube-controller-manager"
    role = await _read(reg, "roles", name, "kube-system")
    default_rules = role["rules"]
    await _edit(reg, "roles", name, lambda r: r.__setitem__("rules", r["rules"][:1]), "kube-system")
    await _store(reg, "rolebindings").delete("kube-system", "system::extension-apiserver-authentication-reader",
                                             requests.DeleteOptions())

    await bootstrap.reconcile_policy(reg)

    assert (await _read(reg, "roles", name, "kube-system"))["rules"] == default_rules
    binding = await _read(reg, "rolebindings", "system::extension-apiserver-authentication-reader", "kube-system")
    assert binding["roleRef"] == {"apiGroup": RBAC, "kind": "Role", "name": "extension-apiserver-authentication-reader"}
    assert [s["name"] for s in binding["subjects"]] == ["system:kube-controller-manager", "system:kube-scheduler"]


async def test_autoupdate_false_keeps_a_users_edit(reg: registry.Registry) -> None:
    await bootstrap.reconcile_policy(reg)

    def own(role: Obj) -> None:
        role["rules"] = []
        role["metadata"]["annotations"][AUTOUPDATE] = "false"
    await _edit(reg, "clusterroles", "system:basic-user", own)
    await bootstrap.reconcile_policy(reg)
    assert (await _read(reg, "clusterroles", "system:basic-user"))["rules"] == []


async def test_a_binding_to_another_role_is_replaced_by_the_default(reg: registry.Registry) -> None:
    await bootstrap.reconcile_policy(reg)
    bindings = _store(reg, "clusterrolebindings")
    await bindings.delete(None, "system:kube-dns", requests.DeleteOptions())
    await bindings.create(None, {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding",
                                 "metadata": {"name": "system:kube-dns"},
                                 "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
                                 "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": "devs"}]},
                          requests.WriteOptions())
    await bootstrap.reconcile_policy(reg)
    binding = await _read(reg, "clusterrolebindings", "system:kube-dns")
    assert binding["roleRef"]["name"] == "system:kube-dns"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kube-dns", "namespace": "kube-system"}]


async def test_servers_starting_at_once_converge_on_one_copy_of_each_rule(reg: registry.Registry) -> None:
    await bootstrap.reconcile_policy(reg)
    original = await _read(reg, "clusterroles", "system:kube-scheduler")
    await _edit(reg, "clusterroles", "system:kube-scheduler", lambda r: r.__setitem__("rules", r["rules"][2:]))
    await _store(reg, "clusterroles").delete(None, "system:node", requests.DeleteOptions())
    # three servers' start-up hooks racing on one store: creates meet AlreadyExists,
    # updates meet conflicts, and none may add a rule twice
    await asyncio.gather(*(bootstrap.reconcile_policy(reg) for _ in range(3)))
    role = await _read(reg, "clusterroles", "system:kube-scheduler")
    assert sorted(map(str, role["rules"])) == sorted(map(str, original["rules"]))
    assert (await _read(reg, "clusterroles", "system:node"))["rules"]
