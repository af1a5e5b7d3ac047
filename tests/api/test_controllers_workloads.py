"""StatefulSets and DaemonSets through the API of a real server running the controllers."""

from __future__ import annotations

import uuid

from kubernetes import client

from tests.api.test_controllers_support import fake_kubelet, make_node, pods
from tests.conftest import wait_for

# Objects are created with _preload_content=False: the server does not yet fill in
# required zero-valued status fields (status.replicas) on create, which the python
# client refuses to decode; reads after the controller's first status write are fine.

FAKE_TAINT = {"key": "kubelite.test/fake-node", "value": "true", "effect": "NoSchedule"}


def _sts(name: str, *, replicas: int, **spec: object) -> dict:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  # mounts its claim, with no volume of that name: the controller adds it
                                  "spec": {"containers": [{"name": "c", "image": "db:1", "volumeMounts": [
                                      {"name": "data", "mountPath": "/data"}]}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"tier": "storage"},
                                                            "annotations": {"note": "keep"}}, "spec": {
                         "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
                     **spec}}


def test_statefulset_creates_ordered_identities_with_claims(k8s, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    apps.create_namespaced_stateful_set(namespace, _sts("db", replicas=3), _preload_content=False)
    # OrderedReady: db-1 waits until db-0 is Running and Ready.
    wait_for(lambda: [p.metadata.name for p in pods(core, namespace)] == ["db-0"], 10, message="db-0 only")
    with fake_kubelet(core, namespace):
        wait_for(lambda: sorted(p.metadata.name for p in pods(core, namespace)) == ["db-0", "db-1", "db-2"], 15,
                 message="db-0..2")
        wait_for(lambda: apps.read_namespaced_stateful_set("db", namespace).status.ready_replicas == 3, 10,
                 message="3 ready")
        p1 = core.read_namespaced_pod("db-1", namespace)
        assert p1.spec.hostname == "db-1" and p1.spec.subdomain == "db"
        assert p1.metadata.labels["statefulset.kubernetes.io/pod-name"] == "db-1"
        assert p1.metadata.labels["apps.kubernetes.io/pod-index"] == "1"
        claim = next(v for v in p1.spec.volumes if v.name == "data").persistent_volume_claim.claim_name
        assert claim == "data-db-1"
        claims = core.list_namespaced_persistent_volume_claim(namespace).items
        assert sorted(c.metadata.name for c in claims) == ["data-db-0", "data-db-1", "data-db-2"]
        # the template's labels and annotations, and the selector's labels
        assert claims[0].metadata.labels == {"tier": "storage", "app": "db"}
        assert claims[0].metadata.annotations["note"] == "keep"
        revs = client.AppsV1Api(k8s).list_namespaced_controller_revision(namespace).items
        assert len(revs) == 1 and revs[0].revision == 1

        # Rolling update with a partition: only ordinals >= 1 move, highest first.
        apps.patch_namespaced_stateful_set("db", namespace, {"spec": {
            "template": {"spec": {"containers": [{"name": "c", "image": "db:2"}]}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}}},
            _preload_content=False)

        def images() -> dict[str, str]:
            return {p.metadata.name: p.spec.containers[0].image for p in pods(core, namespace)
                    if not p.metadata.deletion_timestamp}

        wait_for(lambda: images() == {"db-0": "db:1", "db-1": "db:2", "db-2": "db:2"}, 15,
                 message="partitioned rolling update")
        st = apps.read_namespaced_stateful_set("db", namespace).status
        wait_for(lambda: apps.read_namespaced_stateful_set("db", namespace).status.updated_replicas == 2, 10,
                 message="updatedReplicas 2")
        assert st.update_revision != st.current_revision

        # Scale down removes the highest ordinal first; claims are retained by default.
        apps.patch_namespaced_stateful_set("db", namespace, {"spec": {"replicas": 1}}, _preload_content=False)
        wait_for(lambda: list(images()) == ["db-0"], 15, message="scaled down to db-0")
    assert len(core.list_namespaced_persistent_volume_claim(namespace).items) == 3
    messages = {(e.reason, e.message) for e in core.list_namespaced_event(namespace).items
                if e.involved_object.name == "db"}
    assert ("SuccessfulCreate", "create Claim data-db-1 Pod db-1 in StatefulSet db success") in messages
    assert ("SuccessfulDelete", "delete Pod db-2 in StatefulSet db successful") in messages


def test_statefulset_never_runs_two_pods_of_one_identity(k8s, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    apps.create_namespaced_stateful_set(namespace, _sts("one", replicas=1, podManagementPolicy="Parallel"),
                                        _preload_content=False)
    first = wait_for(lambda: pods(core, namespace), 10, message="one-0")[0]
    # Bound pods wait for their agent after a delete: while one-0 is terminating, no second one-0.
    node = f"n-{uuid.uuid4().hex[:6]}"
    make_node(core, node, taints=[FAKE_TAINT])
    try:
        core.create_namespaced_pod_binding(first.metadata.name, namespace, {
            "metadata": {"name": first.metadata.name}, "target": {"kind": "Node", "name": node}},
            _preload_content=False)
        core.delete_namespaced_pod("one-0", namespace)
        wait_for(lambda: core.read_namespaced_pod("one-0", namespace).metadata.deletion_timestamp, 5,
                 message="terminating")
        same = core.read_namespaced_pod("one-0", namespace)
        assert same.metadata.uid == first.metadata.uid
        core.delete_namespaced_pod("one-0", namespace, grace_period_seconds=0)
        wait_for(lambda: [p for p in pods(core, namespace) if p.metadata.uid != first.metadata.uid], 10,
                 message="replacement after the old pod is gone")
    finally:
        core.delete_node(node)


def test_daemonset_runs_one_pod_per_eligible_node_and_rolls(k8s, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    tag = uuid.uuid4().hex[:6]
    names = [f"ds-{tag}-{i}" for i in range(3)]
    make_node(core, names[0], labels={"pool": tag}, taints=[FAKE_TAINT])
    make_node(core, names[1], labels={"pool": tag}, taints=[FAKE_TAINT])
    make_node(core, names[2], labels={"pool": "other"}, taints=[FAKE_TAINT])
    try:
        ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
              "spec": {"selector": {"matchLabels": {"app": "agent"}},
                       "template": {"metadata": {"labels": {"app": "agent"}},
                                    "spec": {"nodeSelector": {"pool": tag},
                                             "tolerations": [{"key": FAKE_TAINT["key"], "operator": "Exists"}],
                                             "containers": [{"name": "c", "image": "agent:1"}]}}}}
        apps.create_namespaced_daemon_set(namespace, ds, _preload_content=False)
        with fake_kubelet(core, namespace):
            wait_for(lambda: sorted(p.spec.node_name for p in pods(core, namespace)) == names[:2], 10,
                     message="one pod on each labelled node")
            wait_for(lambda: apps.read_namespaced_daemon_set("agent", namespace).status.number_available == 2, 10,
                     message="2 available")
            apps.patch_namespaced_daemon_set("agent", namespace, {"spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "agent:2"}]}}}}, _preload_content=False)

            def rolled() -> bool:
                live = [p for p in pods(core, namespace) if not p.metadata.deletion_timestamp]
                st = apps.read_namespaced_daemon_set("agent", namespace).status
                return len(live) == 2 and {p.spec.containers[0].image for p in live} == {"agent:2"} \
                    and st.updated_number_scheduled == 2 and st.number_available == 2

            wait_for(rolled, 15, message="rolling update of the DaemonSet")
            core.patch_node(names[2], {"metadata": {"labels": {"pool": tag}}})
            wait_for(lambda: len([p for p in pods(core, namespace) if not p.metadata.deletion_timestamp]) == 3, 10,
                     message="a pod on the newly eligible node")
    finally:
        for n in names:
            core.delete_node(n)


def test_a_host_network_daemonset_runs_where_the_pod_network_is_unavailable(k8s, namespace):
    """Upstream's daemon pods on the host's network tolerate
    ``node.kubernetes.io/network-unavailable``: their node needs no pod network."""
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    tag = uuid.uuid4().hex[:6]
    node = f"ds-net-{tag}"
    make_node(core, node, labels={"pool": tag},
              taints=[{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}])
    try:
        ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "cni"},
              "spec": {"selector": {"matchLabels": {"app": "cni"}},
                       "template": {"metadata": {"labels": {"app": "cni"}},
                                    "spec": {"nodeSelector": {"pool": tag}, "hostNetwork": True,
                                             "containers": [{"name": "c", "image": "cni:1"}]}}}}
        apps.create_namespaced_daemon_set(namespace, ds, _preload_content=False)
        placed = wait_for(lambda: pods(core, namespace), 10, message="the daemon pod on the tainted node")
        assert [p.spec.node_name for p in placed] == [node]
        assert any(t.key == "node.kubernetes.io/network-unavailable" and t.effect == "NoSchedule"
                   and t.operator == "Exists" for t in placed[0].spec.tolerations)
    finally:
        core.delete_node(node)
