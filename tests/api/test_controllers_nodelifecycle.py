"""Node failure: a node whose Lease stops being renewed goes Unknown and is tainted, its
pods are evicted and replaced on other nodes, and a StatefulSet identity never runs twice.

Runs its own server with short timings (grace 2 s, default toleration 1 s) and no
scheduler, so the test binds pods itself, as a scheduler would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from tests.api.test_controllers_support import (
    deployment,
    make_node,
    mark_ready,
    pods,
    stamp,
)
from tests.conftest import wait_for
from tests.support import processes


@pytest.fixture(scope="module")
def fast_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[client.ApiClient]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBELITE_NODE_GRACE_SECONDS", "2")
        mp.setenv("KUBELITE_DEFAULT_TOLERATION_SECONDS", "1")
        srv = processes.ServerProcess(data_dir=Path(tmp_path_factory.mktemp("kubelite-nodes")),
                                      extra_args=["--disable-scheduler"])
        srv.start()
    try:
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(srv.kubeconfig), client_configuration=cfg)
        with client.ApiClient(cfg) as api:
            yield api
    finally:
        srv.stop()


class Heartbeats:
    """Renews node Leases in kube-node-lease, like agents do, until told to stop."""

    def __init__(self, api: client.ApiClient, nodes: list[str]) -> None:
        self.coord = client.CoordinationV1Api(api)
        self.alive = set(nodes)
        self.stop = threading.Event()
        for n in nodes:
            self.coord.create_namespaced_lease("kube-node-lease", {"metadata": {"name": n}, "spec": {
                "holderIdentity": n, "leaseDurationSeconds": 2, "renewTime": self._now()}})
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _now() -> str:
        import datetime
        return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _run(self) -> None:
        while not self.stop.wait(0.3):
            for n in list(self.alive):
                self.coord.patch_namespaced_lease(n, "kube-node-lease", {"spec": {"renewTime": self._now()}})


def _bind(core: client.CoreV1Api, pod: client.V1Pod, node: str) -> None:
    core.create_namespaced_pod_binding(pod.metadata.name, pod.metadata.namespace, {
        "metadata": {"name": pod.metadata.name}, "target": {"kind": "Node", "name": node}}, _preload_content=False)


def test_unreachable_node_pods_are_evicted_and_replaced(fast_api):
    core, apps = client.CoreV1Api(fast_api), client.AppsV1Api(fast_api)
    ns = "failover"
    core.create_namespace({"metadata": {"name": ns}})
    make_node(core, "node-a")
    make_node(core, "node-b")
    beats = Heartbeats(fast_api, ["node-a", "node-b"])
    try:
        d = deployment("web", replicas=2)
        d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 1
        apps.create_namespaced_deployment(ns, d)
        sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
               "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {
                            "terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": "db"}]}}}}
        apps.create_namespaced_stateful_set(ns, sts, _preload_content=False)
        wait_for(lambda: len(pods(core, ns)) == 3, 10, message="3 pods")
        for p in pods(core, ns):
            _bind(core, p, "node-a")
            mark_ready(core, core.read_namespaced_pod(p.metadata.name, ns))
        db0 = core.read_namespaced_pod("db-0", ns)

        beats.alive.discard("node-a")  # the agent on node-a dies

        def node_a_unreachable() -> bool:
            node = core.read_node("node-a")
            ready = next(c for c in node.status.conditions if c.type == "Ready")
            taints = {(t.key, t.effect) for t in node.spec.taints or []}
            return ready.status == "Unknown" and ("node.kubernetes.io/unreachable", "NoExecute") in taints

        wait_for(node_a_unreachable, 10, message="node-a Unknown and tainted")
        assert next(c for c in core.read_node("node-b").status.conditions if c.type == "Ready").status == "True"

        # Deployment pods: evicted, force-deleted after their grace, replaced (we bind them to node-b).
        def replaced() -> bool:
            for p in pods(core, ns, "app=web"):
                if not p.spec.node_name and not p.metadata.deletion_timestamp:
                    _bind(core, p, "node-b")
                    mark_ready(core, core.read_namespaced_pod(p.metadata.name, ns))
            web = pods(core, ns, "app=web")
            return len(web) == 2 and all(p.spec.node_name == "node-b" for p in web)

        wait_for(replaced, 15, message="web pods running on node-b only")
        wait_for(lambda: apps.read_namespaced_deployment("web", ns).status.available_replicas == 2, 10,
                 message="Deployment available again")
        evicted = [e for e in core.list_namespaced_event(ns).items if e.reason == "TaintManagerEviction"]
        assert evicted

        # StatefulSet pod: evicted but never force-deleted: the old db-0 may still run.
        still = core.read_namespaced_pod("db-0", ns)
        assert still.metadata.uid == db0.metadata.uid and still.metadata.deletion_timestamp
        assert [p.metadata.name for p in pods(core, ns, "app=db")] == ["db-0"]

        # The operator declares node-a dead: then db-0 may move.
        core.patch_node("node-a", {"spec": {"taints": (core.read_node("node-a").spec.taints and [
            t.to_dict() for t in core.read_node("node-a").spec.taints]) + [
            {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute",
             "timeAdded": stamp()}]}})
        new = wait_for(lambda: [p for p in pods(core, ns, "app=db") if p.metadata.uid != db0.metadata.uid], 10,
                       message="db-0 recreated after out-of-service")
        assert new[0].metadata.name == "db-0" and not new[0].spec.node_name

        # The agent comes back: the node is Ready again and untainted.
        core.patch_node("node-a", {"spec": {"taints": None}})
        beats.alive.add("node-a")
        core.patch_node_status("node-a", {"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": stamp(),
             "lastTransitionTime": stamp()}]}})
        wait_for(lambda: not core.read_node("node-a").spec.taints, 10, message="taints removed")
    finally:
        beats.stop.set()


def test_a_cordoned_node_is_tainted_unschedulable_until_uncordoned(fast_api):
    core = client.CoreV1Api(fast_api)
    make_node(core, "node-cordon")
    beats = Heartbeats(fast_api, ["node-cordon"])
    try:
        def taints() -> list[tuple[str, str]]:
            spec = core.read_node("node-cordon").spec
            return sorted((t.key, t.effect) for t in spec.taints or [])

        wait_for(lambda: any(e.reason == "RegisteredNode" and e.involved_object.kind == "Node"
                             and e.message == "Node node-cordon event: Registered Node node-cordon in Controller"
                             for e in core.list_namespaced_event("default").items), 10,
                 message="the RegisteredNode event kubectl describe node shows")
        core.patch_node("node-cordon", {"spec": {"unschedulable": True}})  # kubectl cordon
        wait_for(lambda: ("node.kubernetes.io/unschedulable", "NoSchedule") in taints(), 10,
                 message="the unschedulable taint")
        taint = next(t for t in core.read_node("node-cordon").spec.taints
                     if t.key == "node.kubernetes.io/unschedulable")
        assert taint.time_added is not None
        core.patch_node("node-cordon", {"spec": {"unschedulable": False}})  # kubectl uncordon
        wait_for(lambda: ("node.kubernetes.io/unschedulable", "NoSchedule") not in taints(), 10,
                 message="the taint removed")
    finally:
        beats.stop.set()
        core.delete_node("node-cordon")


def test_pods_of_an_unreachable_node_become_not_ready_even_when_they_tolerate_it(fast_api):
    """Upstream's MarkPodsNotReady: a pod that stays on a silent node (it tolerates the
    unreachable taint, as DaemonSet pods do) must not go on claiming Ready, or Services
    keep sending it traffic."""
    core = client.CoreV1Api(fast_api)
    ns = "notready"
    core.create_namespace({"metadata": {"name": ns}})
    make_node(core, "node-silent")
    beats = Heartbeats(fast_api, ["node-silent"])
    try:
        core.create_namespaced_pod(ns, {"metadata": {"name": "agent"}, "spec": {
            "containers": [{"name": "c", "image": "busybox"}],
            "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                             "effect": "NoExecute"}]}})
        pod = core.read_namespaced_pod("agent", ns)
        _bind(core, pod, "node-silent")
        mark_ready(core, core.read_namespaced_pod("agent", ns))
        assert core.read_namespaced_pod("agent", ns).metadata.generation == 1

        beats.alive.discard("node-silent")

        def ready_condition() -> Any:
            return next(c for c in core.read_namespaced_pod("agent", ns).status.conditions if c.type == "Ready")

        wait_for(lambda: ready_condition().status == "False", 10, message="the pod marked not Ready")
        assert ready_condition().observed_generation == 1
        events = [e for e in core.list_namespaced_event(ns).items
                  if e.reason == "NodeNotReady" and e.involved_object.name == "agent"]
        assert events and events[0].type == "Warning" and events[0].message == "Node is not ready"
        # It tolerates the taint for ever: not deleted, only not Ready.
        assert core.read_namespaced_pod("agent", ns).metadata.deletion_timestamp is None

        # Its agent is back and says Ready again: the controller does not undo that.
        beats.alive.add("node-silent")
        core.patch_node_status("node-silent", {"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": stamp(),
             "lastTransitionTime": stamp()}]}})
        wait_for(lambda: not core.read_node("node-silent").spec.taints, 10, message="taints removed")
        mark_ready(core, core.read_namespaced_pod("agent", ns))
        wait_for(lambda: ready_condition().status == "True", 5, message="Ready again")
        with pytest.raises(AssertionError):
            wait_for(lambda: ready_condition().status == "False", 2, message="still Ready")
    finally:
        beats.stop.set()
        core.delete_node("node-silent")


def test_a_daemon_pod_stays_on_its_unreachable_node(fast_api):
    """Upstream never deletes a running daemon pod because its node went silent: the node
    gets ``unreachable`` NoExecute and NoSchedule taints, the pod tolerates the NoExecute one
    for ever, and a NoSchedule taint only stops new daemon pods. The DaemonSet counts it as
    misscheduled meanwhile (upstream's status). A Deployment's pod on the same node is
    evicted once its toleration runs out."""
    core, apps = client.CoreV1Api(fast_api), client.AppsV1Api(fast_api)
    ns = "daemon-stays"
    core.create_namespace({"metadata": {"name": ns}})
    make_node(core, "node-d", labels={"daemon-test": "yes"})
    beats = Heartbeats(fast_api, ["node-d"])
    try:
        apps.create_namespaced_daemon_set(ns, {
            "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "logs"},
            "spec": {"selector": {"matchLabels": {"app": "logs"}}, "template": {
                "metadata": {"labels": {"app": "logs"}},
                "spec": {"nodeSelector": {"daemon-test": "yes"}, "containers": [{"name": "c", "image": "busybox"}]}}}},
            _preload_content=False)
        apps.create_namespaced_deployment(ns, deployment("web", replicas=1), _preload_content=False)
        daemon = wait_for(lambda: pods(core, ns, "app=logs"), 10, message="the daemon pod")[0]
        assert daemon.spec.node_name == "node-d"
        web = wait_for(lambda: pods(core, ns, "app=web"), 10, message="the Deployment's pod")[0]
        # DefaultTolerationSeconds admission: the Deployment's pod tolerates the node's
        # failure for the server's default (1 s here), the daemon pod for ever.
        assert ("node.kubernetes.io/unreachable", "NoExecute", 1) in {
            (t.key, t.effect, t.toleration_seconds) for t in web.spec.tolerations}
        assert ("node.kubernetes.io/unreachable", "NoExecute", None) in {
            (t.key, t.effect, t.toleration_seconds) for t in daemon.spec.tolerations}
        _bind(core, web, "node-d")
        for p in (daemon, web):
            mark_ready(core, core.read_namespaced_pod(p.metadata.name, ns))
        wait_for(lambda: apps.read_namespaced_daemon_set("logs", ns).status.number_ready == 1, 10,
                 message="the DaemonSet ready")

        beats.alive.discard("node-d")  # the node's agent goes silent

        def misscheduled() -> bool:
            st = apps.read_namespaced_daemon_set("logs", ns).status
            return st.desired_number_scheduled == 0 and st.number_misscheduled == 1

        # The DaemonSet controller has seen the taints once it counts the pod misscheduled.
        wait_for(misscheduled, 15, message="the DaemonSet no longer wants a pod on node-d")
        taints = {(t.key, t.effect) for t in core.read_node("node-d").spec.taints or []}
        assert {("node.kubernetes.io/unreachable", "NoExecute"),
                ("node.kubernetes.io/unreachable", "NoSchedule")} <= taints
        # The Deployment's pod tolerated the taint for a second only: it goes.
        wait_for(lambda: all(p.metadata.uid != web.metadata.uid or p.metadata.deletion_timestamp
                             for p in pods(core, ns, "app=web")), 10, message="the Deployment's pod evicted")
        still = core.read_namespaced_pod(daemon.metadata.name, ns)
        assert still.metadata.uid == daemon.metadata.uid and still.metadata.deletion_timestamp is None
        assert not [e for e in core.list_namespaced_event(ns).items
                    if e.reason == "SuccessfulDelete" and e.involved_object.name == "logs"]
    finally:
        beats.stop.set()
        core.delete_node("node-d")
