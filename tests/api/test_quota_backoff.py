"""Workload controllers under a quota that refuses their creates, through the real server:
every controller that makes pods (ReplicaSet, ReplicationController, a Deployment's
ReplicaSet, Job, StatefulSet, DaemonSet) says ``FailedCreate`` with the API's message,
retries on its work queue's back-off rather than in a hot loop, and makes the missing
pods by itself once the quota is raised. A Deployment whose ReplicaSet is refused says
``ReplicaSetCreateError``; the ephemeral-volume controller says ``FailedBinding`` on the
pod whose claim is refused, as upstream."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.api.test_controllers_support import deployment, make_node, stamp
from tests.conftest import wait_for

Obj = dict[str, Any]

WINDOW = 10.0  # seconds a refused workload is watched
MAX_ATTEMPTS = 30  # refused creates allowed in the window: back-off makes ~12, a hot loop hundreds
RECOVERY = 45.0  # the back-off has grown to a few seconds by the time the quota is raised

SPEC = {"containers": [{"name": "c", "image": "busybox"}], "schedulerName": "nobody"}


# The generated clients' stubs want model objects; these tests send plain manifests.
def core_api(k8s: Any) -> Any:
    return client.CoreV1Api(k8s)


def apps_api(k8s: Any) -> Any:
    return client.AppsV1Api(k8s)


def batch_api(k8s: Any) -> Any:
    return client.BatchV1Api(k8s)


def labeled(name: str, spec: Obj | None = None) -> Obj:
    return {"metadata": {"labels": {"app": name}}, "spec": dict(spec or SPEC)}


def make_replicaset(k8s: Any, ns: str) -> str:
    apps_api(k8s).create_namespaced_replica_set(ns, {"metadata": {"name": "web"}, "spec": {
        "replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": labeled("web")}})
    return "ReplicaSet"


def make_replication_controller(k8s: Any, ns: str) -> str:
    core_api(k8s).create_namespaced_replication_controller(ns, {"metadata": {"name": "web"}, "spec": {
        "replicas": 3, "selector": {"app": "web"}, "template": labeled("web")}})
    return "ReplicationController"


def make_deployment(k8s: Any, ns: str) -> str:
    apps_api(k8s).create_namespaced_deployment(ns, deployment("web", replicas=3))
    return "ReplicaSet"  # the Deployment's ReplicaSet is what creates (and is refused) pods


def make_job(k8s: Any, ns: str) -> str:
    batch_api(k8s).create_namespaced_job(ns, {"metadata": {"name": "work"}, "spec": {
        "parallelism": 3, "completions": 3,
        "template": {"spec": {**SPEC, "restartPolicy": "Never"}}}})
    return "Job"


def make_statefulset(k8s: Any, ns: str) -> str:
    apps_api(k8s).create_namespaced_stateful_set(ns, {"metadata": {"name": "db"}, "spec": {
        "replicas": 3, "serviceName": "db", "podManagementPolicy": "Parallel",
        "selector": {"matchLabels": {"app": "db"}}, "template": labeled("db")}})
    return "StatefulSet"


@pytest.fixture
def three_nodes(k8s: Any, namespace: str) -> Iterator[str]:
    """Three Ready nodes labelled for this test only (a DaemonSet wants a pod on each),
    kept Ready by a heartbeat as an agent would (a silent node loses its pods)."""
    core = core_api(k8s)
    names = [f"q-{namespace}-{i}" for i in range(3)]
    for name in names:
        make_node(core, name, labels={"quota-backoff": namespace})
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(1.0):
            for name in names:
                core.patch_node_status(name, {"status": {"conditions": [
                    {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": stamp()}]}})

    heart = threading.Thread(target=beat, daemon=True)
    heart.start()
    yield namespace
    stop.set()
    heart.join(5)
    for name in names:
        core.delete_node(name)


def make_daemonset(k8s: Any, ns: str) -> str:
    apps_api(k8s).create_namespaced_daemon_set(ns, {"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": labeled("agent", {**SPEC, "nodeSelector": {"quota-backoff": ns}})}})
    return "DaemonSet"


def live_pods(core: Any, ns: str) -> list[Any]:
    return [p for p in core.list_namespaced_pod(ns).items if p.metadata.deletion_timestamp is None]


def warnings(core: Any, ns: str, *, kind: str, reason: str) -> list[Any]:
    return [e for e in core.list_namespaced_event(ns).items
            if e.reason == reason and e.involved_object.kind == kind and e.type == "Warning"]


def attempts(core: Any, ns: str, *, kind: str, reason: str = "FailedCreate") -> int:
    """Refused creates so far: the recorder counts repeats on one event (``count``)."""
    return sum(e.count or 1 for e in warnings(core, ns, kind=kind, reason=reason))


def stays_below(measure: Callable[[], int], *, limit: int, seconds: float) -> int:
    """Watch ``measure`` for ``seconds`` and fail as soon as it reaches ``limit``."""
    deadline = time.monotonic() + seconds
    value = measure()
    while time.monotonic() < deadline:
        value = measure()
        assert value < limit, f"{value} refused creates within {seconds}s: a hot loop"
        time.sleep(0.5)
    return value


def set_quota(k8s: Any, ns: str, hard: dict[str, str], *, create: bool = False) -> None:
    core = core_api(k8s)
    if create:
        core.create_namespaced_resource_quota(ns, {"metadata": {"name": "q"}, "spec": {"hard": hard}})
    else:
        core.patch_namespaced_resource_quota("q", ns, {"spec": {"hard": hard}})
    wait_for(lambda: (core.read_namespaced_resource_quota("q", ns).status.hard or {}) == hard, timeout=10,
             message=f"quota {ns}/q enforced at {hard}")


@pytest.mark.parametrize("make", [make_replicaset, make_replication_controller, make_deployment, make_job,
                                  make_statefulset, make_daemonset])
def test_a_workload_refused_by_a_quota_backs_off_and_recovers_when_the_quota_is_raised(
        make: Callable[[Any, str], str], k8s: Any, namespace: str, request: pytest.FixtureRequest) -> None:
    if make is make_daemonset:
        request.getfixturevalue("three_nodes")
    core = core_api(k8s)
    set_quota(k8s, namespace, {"pods": "1"}, create=True)
    kind = make(k8s, namespace)

    (event, *_) = wait_for(lambda: warnings(core, namespace, kind=kind, reason="FailedCreate"), timeout=15,
                           message=f"a FailedCreate event on the {kind}")
    assert "is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1" in event.message
    if kind == "StatefulSet":
        assert event.message.startswith("create Pod db-")
        assert " in StatefulSet db failed error: pods \"db-" in event.message
    else:
        assert event.message.startswith('Error creating: pods "')
    seen = stays_below(lambda: attempts(core, namespace, kind=kind), limit=MAX_ATTEMPTS, seconds=WINDOW)
    assert seen >= 2, "the refused create was retried"
    assert len(live_pods(core, namespace)) == 1
    if kind in ("ReplicaSet", "ReplicationController"):
        read = (apps_api(k8s).list_namespaced_replica_set if kind == "ReplicaSet"
                else core.list_namespaced_replication_controller)
        (owner,) = read(namespace).items
        conditions = {c.type: c for c in owner.status.conditions or []}
        assert conditions["ReplicaFailure"].reason == "FailedCreate"

    set_quota(k8s, namespace, {"pods": "3"})
    wait_for(lambda: len(live_pods(core, namespace)) == 3, timeout=RECOVERY,
             message=f"the {kind}'s three pods once the quota allows them")
    if kind in ("ReplicaSet", "ReplicationController"):
        def failure_cleared() -> bool:
            owners = (apps_api(k8s).list_namespaced_replica_set(namespace).items if kind == "ReplicaSet"
                      else core.list_namespaced_replication_controller(namespace).items)
            return not any(c.type == "ReplicaFailure" for o in owners for c in o.status.conditions or [])
        wait_for(failure_cleared, timeout=10, message="ReplicaFailure removed once every replica exists")


def test_a_deployment_whose_replicaset_is_refused_says_why_and_creates_it_later(k8s: Any, namespace: str) -> None:
    core, apps = core_api(k8s), apps_api(k8s)
    set_quota(k8s, namespace, {"count/replicasets.apps": "0"}, create=True)
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=1))

    (event, *_) = wait_for(lambda: warnings(core, namespace, kind="Deployment", reason="ReplicaSetCreateError"),
                           timeout=15, message="a ReplicaSetCreateError event")
    assert event.message.startswith('Failed to create new replica set "web-')
    assert "is forbidden: exceeded quota: q, requested: count/replicasets.apps=1" in event.message
    progressing = {c.type: c for c in apps.read_namespaced_deployment("web", namespace).status.conditions or []}
    assert (progressing["Progressing"].status, progressing["Progressing"].reason) == ("False", "ReplicaSetCreateError")
    stays_below(lambda: attempts(core, namespace, kind="Deployment", reason="ReplicaSetCreateError"),
                limit=MAX_ATTEMPTS, seconds=WINDOW)

    set_quota(k8s, namespace, {"count/replicasets.apps": "1"})
    wait_for(lambda: apps.list_namespaced_replica_set(namespace).items, timeout=RECOVERY,
             message="the Deployment's ReplicaSet once the quota allows it")
    wait_for(lambda: len(live_pods(core, namespace)) == 1, timeout=15, message="its pod")


def test_a_pod_whose_ephemeral_claim_is_refused_gets_it_once_the_quota_allows(k8s: Any, namespace: str) -> None:
    core = core_api(k8s)
    set_quota(k8s, namespace, {"persistentvolumeclaims": "0"}, create=True)
    core.create_namespaced_pod(namespace, {"metadata": {"name": "app"}, "spec": {**SPEC, "volumes": [
        {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}}}]}})

    (event, *_) = wait_for(lambda: warnings(core, namespace, kind="Pod", reason="FailedBinding"), timeout=15,
                           message="a FailedBinding event on the pod")
    assert event.message.startswith('ephemeral volume scratch: create PVC app-scratch: persistentvolumeclaims '
                                    '"app-scratch" is forbidden: exceeded quota: q')
    stays_below(lambda: attempts(core, namespace, kind="Pod", reason="FailedBinding"),
                limit=MAX_ATTEMPTS, seconds=WINDOW)

    set_quota(k8s, namespace, {"persistentvolumeclaims": "1"})
    wait_for(lambda: core.list_namespaced_persistent_volume_claim(namespace).items, timeout=RECOVERY,
             message="the pod's claim once the quota allows it")


def test_a_cronjob_whose_job_is_refused_retries_the_same_run_once_the_quota_allows(k8s: Any,
                                                                                   namespace: str) -> None:
    core, batch = core_api(k8s), batch_api(k8s)
    set_quota(k8s, namespace, {"count/jobs.batch": "0"}, create=True)
    batch.create_namespaced_cron_job(namespace, {"metadata": {"name": "tick"}, "spec": {
        "schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {**SPEC, "restartPolicy": "Never"}}}}}})

    # the first run is due at the next minute
    (event, *_) = wait_for(lambda: warnings(core, namespace, kind="CronJob", reason="FailedCreate"), timeout=75,
                           message="a FailedCreate event on the CronJob")
    assert event.message.startswith('Error creating job: jobs.batch "tick-')
    assert "is forbidden: exceeded quota: q, requested: count/jobs.batch=1" in event.message
    stays_below(lambda: attempts(core, namespace, kind="CronJob"), limit=MAX_ATTEMPTS, seconds=WINDOW)

    set_quota(k8s, namespace, {"count/jobs.batch": "1"})
    (job,) = wait_for(lambda: batch.list_namespaced_job(namespace).items, timeout=RECOVERY,
                      message="the refused run's Job once the quota allows it")
    assert event.message.startswith(f'Error creating job: jobs.batch "{job.metadata.name}" is forbidden')
