"""core/v1 ReplicationControllers and PodTemplates as kubectl users meet them.

A real ``kubelite server`` runs the controllers; the test plays the node side (see
``test_controllers_support``). An RC keeps its replicas as a ReplicaSet does (the same
controller code, upstream's way): pods with a ``v1``/``ReplicationController`` controller
reference, replaced when deleted, orphans adopted, ``kubectl scale rc`` through the scale
subresource, ``kubectl delete rc`` cascading through the garbage collector.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl, header, rows
from tests.api.test_controllers_support import fake_kubelet, pods
from tests.conftest import wait_for

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses

Obj = dict[str, Any]


def rc_manifest(name: str, namespace: str, replicas: int, *, image: str = "nginx:1") -> str:
    # no selector: defaulting copies the template's labels into it, as upstream
    return f"""
apiVersion: v1
kind: ReplicationController
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: {replicas}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: c, image: "{image}"}}]}}
"""


def live(core: client.CoreV1Api, namespace: str, selector: str) -> list[Any]:
    return [p for p in pods(core, namespace, selector) if not p.metadata.deletion_timestamp]


def test_an_rc_keeps_its_replicas_like_a_replicaset(k8s, kubectl: Kubectl,  # type: ignore[no-untyped-def]
                                                    namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    kubectl.apply_text(rc_manifest("web", namespace, 2))
    rc = core.read_namespaced_replication_controller("web", namespace)
    assert rc.spec.selector == {"app": "web"} and rc.metadata.labels == {"app": "web"}  # defaulted
    made = wait_for(lambda: len(live(core, namespace, "app=web")) == 2 and live(core, namespace, "app=web"), 20,
                    message="2 pods")
    for p in made:
        ref = p.metadata.owner_references[0]
        assert (ref.api_version, ref.kind, ref.name, ref.uid, ref.controller, ref.block_owner_deletion) == \
            ("v1", "ReplicationController", "web", rc.metadata.uid, True, True)
        assert p.metadata.generate_name == "web-"
    with fake_kubelet(core, namespace):
        wait_for(lambda: core.read_namespaced_replication_controller("web", namespace).status.ready_replicas == 2,
                 10, message="2 ready replicas")
        table = kubectl("get", "rc", "-n", namespace)
        assert header(table) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
        assert rows(table)[1][:4] == ["web", "2", "2", "2"]
        wide = rows(kubectl("get", "rc", "-n", namespace, "-o", "wide"))
        assert wide[0][5:] == ["CONTAINERS", "IMAGES", "SELECTOR"] and wide[1][5:] == ["c", "nginx:1", "app=web"]
        assert "replicationcontroller/web" in kubectl("get", "all", "-n", namespace)  # category "all"
        victim = made[0].metadata.name
        core.delete_namespaced_pod(victim, namespace, grace_period_seconds=0)
        wait_for(lambda: len(live(core, namespace, "app=web")) == 2
                 and victim not in {p.metadata.name for p in live(core, namespace, "app=web")}, 20,
                 message="a replacement pod")
    # the status follows the pods (CI once read it between the replacement and its count)
    wait_for(lambda: (st := core.read_namespaced_replication_controller("web", namespace).status)
             .observed_generation == 1 and st.replicas == 2, 20, message="the status counts 2 replicas")
    by_field = rows(kubectl("get", "rc", "-n", namespace, "--field-selector", "status.replicas=2"))
    assert [r[0] for r in by_field[1:]] == ["web"]


def test_orphans_are_adopted_and_pods_that_stop_matching_released(k8s, namespace: str) -> None:  # type: ignore[no-untyped-def]
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, {"metadata": {"name": "orphan", "labels": {"app": "db"}},
                                           "spec": {"containers": [{"name": "c", "image": "db:1"}]}})
    core.create_namespaced_replication_controller(namespace, {
        "metadata": {"name": "db"}, "spec": {"replicas": 1, "selector": {"app": "db"}, "template": {
            "metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "db:1"}]}}}})
    adopted = wait_for(lambda: (core.read_namespaced_pod("orphan", namespace).metadata.owner_references or [None])[0],
                       10, message="the orphan adopted")
    assert (adopted.kind, adopted.name, adopted.controller) == ("ReplicationController", "db", True)
    wait_for(lambda: core.read_namespaced_replication_controller("db", namespace).status.replicas == 1, 20,
             message="status counts the adopted pod")
    assert [p.metadata.name for p in live(core, namespace, "app=db")] == ["orphan"]  # nothing created
    core.patch_namespaced_pod("orphan", namespace, {"metadata": {"labels": {"app": "other"}}})
    wait_for(lambda: core.read_namespaced_pod("orphan", namespace).metadata.owner_references is None, 20,
             message="the relabelled pod released")
    wait_for(lambda: len(live(core, namespace, "app=db")) == 1, 20, message="a pod in its place")


def test_kubectl_scale_rc_through_the_scale_subresource(k8s, kubectl: Kubectl,  # type: ignore[no-untyped-def]
                                                        namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    kubectl.apply_text(rc_manifest("web", namespace, 1))
    wait_for(lambda: len(live(core, namespace, "app=web")) == 1, 20, message="1 pod")
    assert "replicationcontroller/web scaled" in kubectl("scale", "rc", "web", "-n", namespace, "--replicas=3")
    wait_for(lambda: len(live(core, namespace, "app=web")) == 3, 20, message="3 pods")
    scale = json.loads(kubectl("get", "rc", "web", "-n", namespace, "--subresource=scale", "-o", "json"))
    assert (scale["kind"], scale["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert scale["spec"] == {"replicas": 3}
    wait_for(lambda: json.loads(kubectl("get", "rc", "web", "-n", namespace, "--subresource=scale", "-o", "json"))
             ["status"] == {"replicas": 3, "selector": "app=web"}, 20, message="the Scale's status")
    kubectl("scale", "rc/web", "-n", namespace, "--replicas=1")
    wait_for(lambda: len(live(core, namespace, "app=web")) == 1, 20, message="scaled down to 1")


def test_kubectl_delete_rc_cascades_and_a_bare_v1_delete_orphans(k8s, kubectl: Kubectl,  # type: ignore[no-untyped-def]
                                                                 namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    for name in ("bg", "fg", "bare"):
        kubectl.apply_text(rc_manifest(name, namespace, 2))
    for name in ("bg", "fg", "bare"):
        wait_for(lambda n=name: len(live(core, namespace, f"app={n}")) == 2, 20, message=f"{name}'s pods")
    kubectl("delete", "rc", "bg", "-n", namespace)  # kubectl asks for Background
    wait_for(lambda: not pods(core, namespace, "app=bg"), 20, message="bg's pods collected")
    kubectl("delete", "rc", "fg", "-n", namespace, "--cascade=foreground", "--timeout=20s")
    assert not pods(core, namespace, "app=fg")  # foreground: the pods went before the RC
    # a v1 DELETE naming no policy orphans the pods, as upstream keeps for backwards compatibility
    core.delete_namespaced_replication_controller("bare", namespace)
    wait_for(lambda: not core.list_namespaced_replication_controller(namespace).items, 20, message="bare gone")
    left = pods(core, namespace, "app=bare")
    assert len(left) == 2 and all(p.metadata.owner_references is None for p in left)


def test_rc_validation(kubectl: Kubectl, namespace: str) -> None:
    bad = kubectl.run("apply", "-n", namespace, "-f", "-", check=False, stdin=f"""
apiVersion: v1
kind: ReplicationController
metadata: {{name: bad, namespace: {namespace}}}
spec:
  replicas: 1
  selector: {{app: other}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{restartPolicy: Never, containers: [{{name: c, image: nginx}}]}}
""")
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [
        'The ReplicationController "bad" is invalid: ',
        '* spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`',
        '* spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']


def test_rc_status_subresource_is_validated(k8s, namespace: str) -> None:  # type: ignore[no-untyped-def]
    core = client.CoreV1Api(k8s)
    core.create_namespaced_replication_controller(namespace, {
        "metadata": {"name": "web"}, "spec": {"replicas": 0, "template": {
            "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_replication_controller_status("web", namespace, {"status": {
            "replicas": 1, "readyReplicas": 2}})
    assert err.value.status == 422
    causes = json.loads(err.value.body)["details"]["causes"]
    assert causes[0] == {"reason": "FieldValueInvalid", "field": "status.readyReplicas",
                         "message": "Invalid value: 2: cannot be greater than status.replicas"}


def test_pod_templates_are_stored_and_listed(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply_text(f"""
apiVersion: v1
kind: PodTemplate
metadata: {{name: tpl, namespace: {namespace}}}
template:
  metadata: {{labels: {{app: t, tier: x}}}}
  spec: {{containers: [{{name: a, image: busybox}}, {{name: b, image: nginx}}]}}
""")
    table = kubectl("get", "podtemplates", "-n", namespace)
    assert header(table) == ["NAME", "CONTAINERS", "IMAGES", "POD LABELS"]
    assert rows(table)[1] == ["tpl", "a,b", "busybox,nginx", "app=t,tier=x"]
    stored = json.loads(kubectl("get", "podtemplate", "tpl", "-n", namespace, "-o", "json"))
    assert stored["template"]["spec"]["restartPolicy"] == "Always"  # PodSpec defaults, as upstream
