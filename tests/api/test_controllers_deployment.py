"""Deployments and ReplicaSets through the API: what kubectl users see.

A real ``kubelite server`` runs the controllers; the test plays the node side (see
``test_controllers_support``).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.api import kubectl_runner
from tests.api.test_controllers_support import (
    deployment,
    fake_kubelet,
    kubelet_pass,
    pods,
)
from tests.conftest import wait_for


def kubectl(kubeconfig: Path, ns: str, *args: str, stdin: str | None = None, timeout: float = 30) -> str:
    out = subprocess.run([kubectl_runner.kubectl_binary(), "--kubeconfig", str(kubeconfig), "-n", ns, *args], input=stdin,
                         capture_output=True, text=True, timeout=timeout, check=False)
    assert out.returncode == 0, f"kubectl {' '.join(args)} failed: {out.stderr}"
    return out.stdout


def apply(kubeconfig: Path, ns: str, obj: dict[str, Any]) -> None:
    kubectl(kubeconfig, ns, "apply", "-f", "-", stdin=yaml.safe_dump(obj))


def test_apply_creates_replicaset_and_pods_with_upstream_names_and_refs(k8s, kubeconfig, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    d = deployment("web", replicas=3)
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "initial"}
    apply(kubeconfig, namespace, d)
    # (A ReplicaSet read before its first status write has no status.replicas, which the
    # python client refuses to decode: wait until the controller has written it.)
    rs = wait_for(lambda: apps.list_namespaced_replica_set(namespace).items, 10, message="a ReplicaSet",
                  ignore=(ValueError,))[0]
    dep = apps.read_namespaced_deployment("web", namespace)
    pth = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{pth}"
    assert rs.spec.selector.match_labels == {"app": "web", "pod-template-hash": pth}
    ref = rs.metadata.owner_references[0]
    assert (ref.kind, ref.name, ref.uid, ref.controller) == ("Deployment", "web", dep.metadata.uid, True)
    ann = rs.metadata.annotations
    assert ann["deployment.kubernetes.io/revision"] == "1"
    assert ann["deployment.kubernetes.io/desired-replicas"] == "3"
    assert ann["deployment.kubernetes.io/max-replicas"] == "4"
    assert ann["kubernetes.io/change-cause"] == "initial"
    ps = wait_for(lambda: len(pods(core, namespace)) == 3 and pods(core, namespace), 10, message="3 pods")
    for p in ps:
        assert p.metadata.generate_name == f"{rs.metadata.name}-"
        assert p.metadata.labels == {"app": "web", "pod-template-hash": pth}
        assert p.metadata.owner_references[0].uid == rs.metadata.uid
    with fake_kubelet(core, namespace):
        kubectl(kubeconfig, namespace, "rollout", "status", "deployment/web", "--timeout=20s")
    dep = apps.read_namespaced_deployment("web", namespace)
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    st = dep.status
    assert (st.replicas, st.ready_replicas, st.available_replicas, st.updated_replicas) == (3, 3, 3, 3)
    assert st.observed_generation == dep.metadata.generation
    conds = {c.type: c for c in st.conditions}
    assert conds["Available"].status == "True"
    assert conds["Progressing"].reason == "NewReplicaSetAvailable"


def test_scaling_follows_replicas_and_deleted_pods_are_replaced(k8s, kubeconfig, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    apply(kubeconfig, namespace, deployment("web", replicas=2))
    wait_for(lambda: len(pods(core, namespace)) == 2, 10, message="2 pods")
    kubectl(kubeconfig, namespace, "scale", "deployment/web", "--replicas=5")
    wait_for(lambda: len(pods(core, namespace)) == 5, 10, message="5 pods")
    victim = pods(core, namespace)[0].metadata.name
    core.delete_namespaced_pod(victim, namespace)
    wait_for(lambda: len(pods(core, namespace)) == 5 and victim not in {p.metadata.name for p in pods(core, namespace)},
             10, message="a replacement pod")
    kubectl(kubeconfig, namespace, "scale", "deployment/web", "--replicas=1")
    wait_for(lambda: len(pods(core, namespace)) == 1, 10, message="scaled down to 1")
    rs = apps.list_namespaced_replica_set(namespace).items[0]
    assert rs.metadata.annotations["deployment.kubernetes.io/desired-replicas"] == "1"


def test_rolling_update_respects_max_surge_and_max_unavailable(k8s, kubeconfig, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    d = deployment("web", replicas=4, strategy={"type": "RollingUpdate",
                                               "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}})
    apply(kubeconfig, namespace, d)
    with fake_kubelet(core, namespace):
        kubectl(kubeconfig, namespace, "rollout", "status", "deployment/web", "--timeout=20s")
    kubectl(kubeconfig, namespace, "set", "image", "deployment/web", "c=nginx:2")
    worst_total, worst_ready = 0, 99
    # Step the node side by hand and check the invariants after every step.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ps = [p for p in pods(core, namespace) if not p.metadata.deletion_timestamp]
        ready = [p for p in ps if p.status.phase == "Running"]
        worst_total, worst_ready = max(worst_total, len(ps)), min(worst_ready, len(ready))
        dep = apps.read_namespaced_deployment("web", namespace)
        if dep.status.updated_replicas == 4 and dep.status.available_replicas == 4 and dep.status.replicas == 4 \
                and (dep.status.observed_generation or 0) >= dep.metadata.generation:
            break
        kubelet_pass(core, namespace)
        time.sleep(0.05)  # polling interval of this hand-stepped loop, not a wait for state
    else:
        rss = [(rs.metadata.name, rs.spec.replicas, rs.status) for rs in apps.list_namespaced_replica_set(namespace).items]
        raise AssertionError(f"rolling update did not finish: {dep.status} {rss}")
    assert worst_total <= 4 + 1, f"maxSurge exceeded: {worst_total} pods"
    assert worst_ready >= 4 - 1, f"maxUnavailable exceeded: {worst_ready} ready"
    images = {p.spec.containers[0].image for p in pods(core, namespace) if not p.metadata.deletion_timestamp}
    assert images == {"nginx:2"}


def test_rollout_history_undo_restart_pause_resume(k8s, kubeconfig, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    d = deployment("web", replicas=2)
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "v1"}
    with fake_kubelet(core, namespace):
        apply(kubeconfig, namespace, d)
        kubectl(kubeconfig, namespace, "rollout", "status", "deployment/web", "--timeout=20s")
        kubectl(kubeconfig, namespace, "set", "image", "deployment/web", "c=nginx:2")
        kubectl(kubeconfig, namespace, "annotate", "deployment/web", "kubernetes.io/change-cause=v2", "--overwrite")
        kubectl(kubeconfig, namespace, "rollout", "status", "deployment/web", "--timeout=20s")
        history = kubectl(kubeconfig, namespace, "rollout", "history", "deployment/web")
        assert [line.split() for line in history.splitlines()[2:] if line.strip()] == [["1", "v1"], ["2", "v2"]]
        rss_before = {rs.metadata.name for rs in apps.list_namespaced_replica_set(namespace).items}

        kubectl(kubeconfig, namespace, "rollout", "undo", "deployment/web")
        kubectl(kubeconfig, namespace, "rollout", "status", "deployment/web", "--timeout=20s")
        # The old ReplicaSet came back as revision 3; no new one was made.
        rss = apps.list_namespaced_replica_set(namespace).items
        assert {rs.metadata.name for rs in rss} == rss_before
        history = kubectl(kubeconfig, namespace, "rollout", "history", "deployment/web")
        assert [line.split() for line in history.splitlines()[2:] if line.strip()] == [["2", "v2"], ["3", "v1"]]
        dep = apps.read_namespaced_deployment("web", namespace)
        assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
        assert dep.spec.template.spec.containers[0].image == "nginx:1"

        kubectl(kubeconfig, namespace, "rollout", "pause", "deployment/web")
        kubectl(kubeconfig, namespace, "set", "image", "deployment/web", "c=nginx:3")
        wait_for(lambda: (apps.read_namespaced_deployment("web", namespace).status.conditions or [])
                 and {c.type: c for c in apps.read_namespaced_deployment("web", namespace).status.conditions}
                 ["Progressing"].reason == "DeploymentPaused", 10, message="DeploymentPaused")
        assert len(apps.list_namespaced_replica_set(namespace).items) == 2, "a paused deployment rolled out"
        kubectl(kubeconfig, namespace, "rollout", "resume", "deployment/web")
        kubectl(kubeconfig, namespace, "rollout", "status", "deployment/web", "--timeout=20s")
        assert len(apps.list_namespaced_replica_set(namespace).items) == 3

        kubectl(kubeconfig, namespace, "rollout", "restart", "deployment/web")
        kubectl(kubeconfig, namespace, "rollout", "status", "deployment/web", "--timeout=20s")
    rss = apps.list_namespaced_replica_set(namespace).items
    assert len(rss) == 4
    live = [p for p in pods(core, namespace) if not p.metadata.deletion_timestamp]
    assert all("kubectl.kubernetes.io/restartedAt" in (p.metadata.annotations or {}) for p in live)


def test_recreate_and_revision_history_limit(k8s, kubeconfig, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    d = deployment("web", replicas=2, strategy={"type": "Recreate"}, revisionHistoryLimit=1)
    with fake_kubelet(core, namespace):
        apply(kubeconfig, namespace, d)
        kubectl(kubeconfig, namespace, "rollout", "status", "deployment/web", "--timeout=20s")
        for image in ("nginx:2", "nginx:3"):
            kubectl(kubeconfig, namespace, "set", "image", "deployment/web", f"c={image}")
            kubectl(kubeconfig, namespace, "rollout", "status", "deployment/web", "--timeout=20s")
    wait_for(lambda: len(apps.list_namespaced_replica_set(namespace).items) == 2, 10,
             message="old ReplicaSets beyond revisionHistoryLimit deleted")


def test_progress_deadline_exceeded_fails_rollout_status(k8s, kubeconfig, namespace):
    apps = client.AppsV1Api(k8s)
    apply(kubeconfig, namespace, deployment("slow", replicas=1, progressDeadlineSeconds=1))

    def timed_out() -> bool:
        st = apps.read_namespaced_deployment("slow", namespace).status
        return any(c.type == "Progressing" and c.reason == "ProgressDeadlineExceeded" for c in st.conditions or [])

    wait_for(timed_out, 15, message="ProgressDeadlineExceeded")
    out = subprocess.run([kubectl_runner.kubectl_binary(), "--kubeconfig", str(kubeconfig), "-n", namespace, "rollout", "status",
                          "deployment/slow", "--timeout=5s"], capture_output=True, text=True, check=False)
    assert out.returncode != 0 and "exceeded its progress deadline" in out.stderr
