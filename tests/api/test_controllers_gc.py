"""Garbage collection, namespace deletion, default ServiceAccounts and Endpoints,
through the API of a real server running the controllers."""

from __future__ import annotations

from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.api.test_controllers_support import deployment, mark_ready, pods
from tests.conftest import wait_for


def _gone(fn, *args) -> bool:  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def _rs_names(apps: client.AppsV1Api, ns: str) -> list[str]:
    return [rs.metadata.name for rs in apps.list_namespaced_replica_set(ns).items]


def test_background_deletion_removes_replicasets_and_pods(k8s, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    wait_for(lambda: len(pods(core, namespace)) == 2, 10, message="pods")
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Background")
    wait_for(lambda: not _rs_names(apps, namespace) and not pods(core, namespace), 10,
             message="ReplicaSet and pods collected")


def test_foreground_deletion_deletes_dependents_before_owner(k8s, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    wait_for(lambda: len(pods(core, namespace)) == 2, 10, message="pods")
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Foreground")
    # While dependents exist the owner is still there, marked for deletion.
    dep = apps.read_namespaced_deployment("web", namespace)
    assert dep.metadata.deletion_timestamp and "foregroundDeletion" in dep.metadata.finalizers
    wait_for(lambda: _gone(apps.read_namespaced_deployment, "web", namespace), 10, message="owner deleted last")
    assert not _rs_names(apps, namespace) and not pods(core, namespace)


def test_orphan_deletion_keeps_dependents_without_owner_reference(k8s, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    wait_for(lambda: len(pods(core, namespace)) == 2 and _rs_names(apps, namespace), 10, message="pods")
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Orphan")
    wait_for(lambda: _gone(apps.read_namespaced_deployment, "web", namespace), 10, message="owner deleted")
    rs = apps.list_namespaced_replica_set(namespace).items
    assert len(rs) == 1 and not rs[0].metadata.owner_references
    assert len(pods(core, namespace)) == 2


def test_dependent_of_missing_owner_is_collected(k8s, namespace):
    core = client.CoreV1Api(k8s)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "dep", "ownerReferences": [ref]}})
    gone = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "00000000-0000-0000-0000-000000000001"}
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "two-owners", "ownerReferences": [ref, gone]}})
    # A dangling reference is dropped while a living owner remains.
    wait_for(lambda: len(core.read_namespaced_config_map("two-owners", namespace).metadata.owner_references) == 1,
             10, message="dangling ownerReference removed")
    core.delete_namespaced_config_map("owner", namespace)
    wait_for(lambda: _gone(core.read_namespaced_config_map, "dep", namespace)
             and _gone(core.read_namespaced_config_map, "two-owners", namespace), 10, message="dependents collected")


def test_namespace_deletion_empties_and_removes_namespace(k8s, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm"}})
    wait_for(lambda: len(pods(core, namespace)) == 2, 10, message="pods")
    core.delete_namespace(namespace)
    wait_for(lambda: _gone(core.read_namespace, namespace), 15, message="namespace gone")


def test_every_namespace_gets_a_default_service_account(k8s, namespace):
    core = client.CoreV1Api(k8s)
    wait_for(lambda: core.read_namespaced_service_account("default", namespace), 10,
             message="default ServiceAccount", ignore=(ApiException,))
    core.delete_namespaced_service_account("default", namespace)
    wait_for(lambda: core.read_namespaced_service_account("default", namespace), 10,
             message="default ServiceAccount recreated", ignore=(ApiException,))


def test_endpoints_follow_pod_readiness(k8s, namespace):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_service(namespace, {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
    for i in range(2):
        core.create_namespaced_pod(namespace, {"metadata": {"name": f"web-{i}", "labels": {"app": "web"}}, "spec": {
            "containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}]}})
    p0, p1 = (core.read_namespaced_pod(f"web-{i}", namespace) for i in range(2))
    mark_ready(core, p0, ip="10.9.0.1")
    core.patch_namespaced_pod_status("web-1", namespace, {"status": {"phase": "Running", "podIP": "10.9.0.2",
                                                                     "conditions": [{"type": "Ready", "status": "False"}]}})

    def subsets():  # type: ignore[no-untyped-def]
        ep = core.read_namespaced_endpoints("web", namespace)
        s = (ep.subsets or [None])[0]
        if s is None:
            return None
        return ([a.ip for a in s.addresses or []], [a.ip for a in s.not_ready_addresses or []],
                [(p.name, p.port) for p in s.ports])

    wait_for(lambda: subsets() == (["10.9.0.1"], ["10.9.0.2"], [("http", 8080)]), 10,
             message="ready and not-ready addresses", ignore=(ApiException,))
    mark_ready(core, p1, ip="10.9.0.2")
    wait_for(lambda: subsets() == (["10.9.0.1", "10.9.0.2"], [], [("http", 8080)]), 10, message="both ready")
    core.delete_namespaced_pod("web-0", namespace, grace_period_seconds=0)
    wait_for(lambda: subsets() == (["10.9.0.2"], [], [("http", 8080)]), 10, message="deleted pod removed")
    core.delete_namespaced_service("web", namespace)
    wait_for(lambda: _gone(core.read_namespaced_endpoints, "web", namespace), 10, message="Endpoints removed")
