"""What ``kubectl describe`` shows of the controllers' work, worded as upstream's:
one event per pod created or deleted, Job suspension and resumption, and a DaemonSet's
template generation on it and on its pods."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.api.test_controllers_support import make_node, pods
from tests.conftest import wait_for


def _events(core: client.CoreV1Api, ns: str, name: str) -> set[tuple[str, str]]:
    return {(e.reason, e.message) for e in core.list_namespaced_event(ns).items if e.involved_object.name == name}


def _rs(name: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {
            "schedulerName": "nobody", "containers": [{"name": "c", "image": "x"}]}}}}


def test_a_replicaset_reports_each_pod_it_creates_and_deletes(k8s: client.ApiClient, namespace: str) -> None:
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    apps.create_namespaced_replica_set(namespace, _rs("web", 3), _preload_content=False)
    names = wait_for(lambda: len(p := pods(core, namespace)) == 3 and [x.metadata.name for x in p], 10,
                     message="3 pods")
    wait_for(lambda: {("SuccessfulCreate", f"Created pod: {n}") for n in names} <= _events(core, namespace, "web"),
             10, message="a Created pod event per pod")
    apps.patch_namespaced_replica_set("web", namespace, {"spec": {"replicas": 2}}, _preload_content=False)
    wait_for(lambda: len([p for p in pods(core, namespace) if not p.metadata.deletion_timestamp]) == 2, 10,
             message="scaled to 2")
    wait_for(lambda: any(r == "SuccessfulDelete" and m.startswith("Deleted pod: web-")
                         for r, m in _events(core, namespace, "web")), 10, message="a Deleted pod event")


def test_a_suspended_job_says_so_and_so_does_a_resumed_one(k8s: client.ApiClient, namespace: str) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job(namespace, {"metadata": {"name": "later"}, "spec": {"suspend": True, "template": {
        "spec": {"restartPolicy": "Never", "schedulerName": "nobody", "containers": [{"name": "c", "image": "x"}]}}}})
    wait_for(lambda: ("Suspended", "Job suspended") in _events(core, namespace, "later"), 10, message="Suspended")
    batch.patch_namespaced_job("later", namespace, {"spec": {"suspend": False}})
    wait_for(lambda: ("Resumed", "Job resumed") in _events(core, namespace, "later"), 10, message="Resumed")


def test_a_daemonset_counts_template_generations_on_itself_and_its_pods(k8s: client.ApiClient,
                                                                         namespace: str) -> None:
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    node = f"ds-{namespace}"
    make_node(core, node, labels={"ds-test": namespace})
    try:
        ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"}, "spec": {
            "selector": {"matchLabels": {"app": "agent"}}, "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"nodeSelector": {"ds-test": namespace}, "containers": [{"name": "c", "image": "a:1"}]}}}}
        apps.create_namespaced_daemon_set(namespace, ds, _preload_content=False)

        def generation() -> str:
            annotations = apps.read_namespaced_daemon_set("agent", namespace).metadata.annotations or {}
            return annotations.get("deprecated.daemonset.template.generation", "")

        assert generation() == "1"
        pod = wait_for(lambda: pods(core, namespace), 10, message="the DaemonSet's pod")[0]
        assert pod.metadata.labels["pod-template-generation"] == "1"
        assert ("SuccessfulCreate", f"Created pod: {pod.metadata.name}") in wait_for(
            lambda: _events(core, namespace, "agent"), 10, message="events")
        apps.patch_namespaced_daemon_set("agent", namespace, {"metadata": {"labels": {"x": "y"}}},
                                         _preload_content=False)
        assert generation() == "1"  # metadata only: the template did not change
        apps.patch_namespaced_daemon_set("agent", namespace, {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "a:2"}]}}}}, _preload_content=False)
        assert generation() == "2"
    finally:
        core.delete_node(node)
