"""kubectl delete (waiting until gone, cascade policies), wait, describe, events, and the
node commands cordon/uncordon/drain.

The garbage collector and eviction live outside the API server; tests that need a piece
not built yet are marked with the piece they wait for.
"""

from __future__ import annotations

import json
import uuid

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses


CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  color: blue\n"


def owned_replicaset(kubectl: Kubectl, ns: str) -> None:
    """A Deployment and a ReplicaSet whose controller owner is that Deployment."""
    kubectl.apply_text("""apiVersion: apps/v1
kind: Deployment
metadata: {name: owner}
spec:
  replicas: 0
  selector: {matchLabels: {app: owner}}
  template:
    metadata: {labels: {app: owner}}
    spec: {containers: [{name: c, image: "nginx:1.25"}]}
""", "-n", ns)
    uid = kubectl("get", "deploy", "owner", "-n", ns, "-o", "jsonpath={.metadata.uid}")
    kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "owned", "labels": {"app": "owner"}, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "owner", "uid": uid,
             "controller": True, "blockOwnerDeletion": True}]},
        # The ReplicaSet's labels match its Deployment's selector: a Deployment releases
        # (un-owns) ReplicaSets whose labels do not, as upstream's controller does.
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "owner"}},
                 "template": {"metadata": {"labels": {"app": "owner"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}}))


def exists(kubectl: Kubectl, *args: str) -> bool:
    return kubectl.run("get", *args, check=False).returncode == 0


def test_delete_waits_until_gone(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply_text(CONFIGMAP.format(name="bye"), "-n", namespace)
    out = kubectl("delete", "cm", "bye", "-n", namespace, "--timeout=10s")
    assert out.strip() == f'configmap "bye" deleted from {namespace} namespace'
    missing = kubectl.run("get", "cm", "bye", "-n", namespace, check=False)
    assert missing.returncode != 0 and 'configmaps "bye" not found' in missing.stderr


def test_delete_missing_object_is_not_found(kubectl: Kubectl, namespace: str) -> None:
    result = kubectl.run("delete", "cm", "never", "-n", namespace, check=False)
    assert result.returncode != 0 and 'configmaps "never" not found' in result.stderr
    assert kubectl.run("delete", "cm", "never", "-n", namespace, "--ignore-not-found").returncode == 0


def test_delete_by_label_selector(kubectl: Kubectl, namespace: str) -> None:
    for name in ("sel-1", "sel-2", "keep"):
        kubectl.apply_text(CONFIGMAP.format(name=name).replace("metadata:\n",
                           f"metadata:\n  labels: {{group: '{'x' if name != 'keep' else 'z'}'}}\n"), "-n", namespace)
    out = kubectl("delete", "cm", "-l", "group=x", "-n", namespace)
    assert sorted(out.splitlines()) == [f'configmap "sel-1" deleted from {namespace} namespace',
                                        f'configmap "sel-2" deleted from {namespace} namespace']
    assert kubectl("get", "cm", "-l", "group", "-n", namespace, "-o", "name").split() == ["configmap/keep"]


def test_delete_pod_is_not_left_terminating(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
                       "  containers: [{name: c, image: busybox:1.36}]\n", "-n", namespace)
    out = kubectl("delete", "pod", "p", "-n", namespace, "--timeout=20s", timeout=40)
    assert f'pod "p" deleted from {namespace} namespace' in out
    assert not exists(kubectl, "pod", "p", "-n", namespace)


def test_delete_cascade_orphan_keeps_dependents(kubectl: Kubectl, namespace: str) -> None:
    owned_replicaset(kubectl, namespace)
    kubectl("delete", "deploy", "owner", "-n", namespace, "--cascade=orphan", "--timeout=8s", timeout=20)
    assert not exists(kubectl, "deploy", "owner", "-n", namespace)
    rs = json.loads(kubectl("get", "rs", "owned", "-n", namespace, "-o", "json"))
    assert not rs["metadata"].get("ownerReferences")


def test_delete_cascade_foreground_deletes_dependents_first(kubectl: Kubectl, namespace: str) -> None:
    owned_replicaset(kubectl, namespace)
    kubectl("delete", "deploy", "owner", "-n", namespace, "--cascade=foreground", "--timeout=8s", timeout=20)
    assert not exists(kubectl, "deploy", "owner", "-n", namespace)
    # foreground: the blocking dependent went first, so it is gone by the time the owner is
    rs = kubectl.run("get", "rs", "owned", "-n", namespace, "-o", "json", check=False)
    assert rs.returncode != 0, f"dependent still present after its owner: {json.loads(rs.stdout)['metadata']}"


def test_delete_cascade_foreground_marks_the_owner(kubectl: Kubectl, namespace: str) -> None:
    owned_replicaset(kubectl, namespace)
    kubectl("delete", "deploy", "owner", "-n", namespace, "--cascade=foreground", "--wait=false")
    dep = kubectl.run("get", "deploy", "owner", "-n", namespace, "-o", "json", check=False)
    if dep.returncode == 0:  # the garbage collector may already have finished
        md = json.loads(dep.stdout)["metadata"]
        assert md.get("deletionTimestamp") and "foregroundDeletion" in md.get("finalizers", [])


def test_wait_for_delete(kubectl: Kubectl, namespace: str) -> None:
    # a finalizer holds the object in Terminating until the test lets it go, so the
    # waiter surely sees it before it disappears
    kubectl.apply_text(CONFIGMAP.format(name="doomed").replace(
        "metadata:\n", "metadata:\n  finalizers: [example.com/hold]\n"), "-n", namespace)
    kubectl("delete", "cm", "doomed", "-n", namespace, "--wait=false")
    waiter = kubectl.popen("wait", "--for=delete", "cm/doomed", "-n", namespace, "--timeout=20s")
    try:
        # one round trip of another kubectl: the waiter, started first, has listed by then
        assert "deletionTimestamp" in kubectl("get", "cm", "doomed", "-n", namespace, "-o", "yaml")
        assert waiter.poll() is None, "kubectl wait returned while the object still exists"
        kubectl("patch", "cm", "doomed", "-n", namespace, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
        out, err = waiter.communicate(timeout=25)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert waiter.returncode == 0, err
    assert out.strip() == "configmap/doomed condition met"
    assert not exists(kubectl, "cm", "doomed", "-n", namespace)


def test_wait_for_jsonpath(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply_text(CONFIGMAP.format(name="jp"), "-n", namespace)
    waiter = kubectl.popen("wait", "--for=jsonpath={.data.color}=red", "cm/jp", "-n", namespace, "--timeout=20s")
    try:
        kubectl("patch", "cm", "jp", "-n", namespace, "--type=merge", "-p", '{"data":{"color":"red"}}')
        out, err = waiter.communicate(timeout=25)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert waiter.returncode == 0, err
    assert out.strip() == "configmap/jp condition met"


def test_wait_for_condition(kubectl: Kubectl) -> None:
    node = f"wait-node-{uuid.uuid4().hex[:6]}"
    kubectl.apply_text(f"apiVersion: v1\nkind: Node\nmetadata:\n  name: {node}\n")
    try:
        waiter = kubectl.popen("wait", "--for=condition=Ready", f"node/{node}", "--timeout=20s")
        try:
            kubectl("patch", "node", node, "--subresource=status", "--type=merge", "-p", json.dumps(
                {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                            "message": "ready", "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                                            "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}))
            out, err = waiter.communicate(timeout=25)
        finally:
            if waiter.poll() is None:
                waiter.kill()
        assert waiter.returncode == 0, err
        assert out.strip() == f"node/{node} condition met"
        timed_out = kubectl.run("wait", "--for=condition=MemoryPressure", f"node/{node}", "--timeout=1s",
                                check=False)
        assert timed_out.returncode != 0 and "timed out waiting for the condition" in timed_out.stderr
    finally:
        kubectl.run("delete", "node", node, "--wait=false", check=False)


def test_describe_shows_events(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply_text(CONFIGMAP.format(name="described"), "-n", namespace)
    uid = kubectl("get", "cm", "described", "-n", namespace, "-o", "jsonpath={.metadata.uid}")
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "described.1"},
        "involvedObject": {"apiVersion": "v1", "kind": "ConfigMap", "name": "described", "namespace": namespace,
                           "uid": uid},
        "reason": "Inspected", "message": "someone looked at it", "type": "Warning",
        "source": {"component": "compat-test"}, "count": 2,
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z"}))
    out = kubectl("describe", "cm", "described", "-n", namespace)
    assert "Name:         described" in out and "color:" in out
    events = out[out.index("Events:"):]
    assert "Warning" in events and "Inspected" in events and "compat-test" in events
    assert "someone looked at it" in events

    table = kubectl("get", "events", "-n", namespace)
    assert "Inspected" in table and "configmap/described" in table
    selected = kubectl("get", "events", "-n", namespace, "--field-selector", "reason=Inspected,type=Warning",
                       "-o", "name")
    assert selected.split() == ["event/described.1"]


def test_describe_deployment(kubectl: Kubectl, namespace: str) -> None:
    owned_replicaset(kubectl, namespace)
    out = kubectl("describe", "deploy", "owner", "-n", namespace)
    assert "Name:                   owner" in out and "Selector:               app=owner" in out
    assert "Replicas:" in out and "Image:" in out and "nginx:1.25" in out


def test_cordon_uncordon(kubectl: Kubectl) -> None:
    node = f"cordon-node-{uuid.uuid4().hex[:6]}"
    kubectl.apply_text(f"apiVersion: v1\nkind: Node\nmetadata:\n  name: {node}\n")
    try:
        assert kubectl("cordon", node).strip() == f"node/{node} cordoned"
        assert "SchedulingDisabled" in kubectl("get", "node", node)
        assert json.loads(kubectl("get", "node", node, "-o", "json"))["spec"]["unschedulable"] is True
        assert kubectl("cordon", node).strip() == f"node/{node} already cordoned"
        assert kubectl("uncordon", node).strip() == f"node/{node} uncordoned"
        assert "SchedulingDisabled" not in kubectl("get", "node", node)
    finally:
        kubectl.run("delete", "node", node, "--wait=false", check=False)


def test_drain_evicts_pods(kubectl: Kubectl, namespace: str) -> None:
    node = f"drain-node-{uuid.uuid4().hex[:6]}"
    kubectl.apply_text(f"apiVersion: v1\nkind: Node\nmetadata:\n  name: {node}\n")
    try:
        kubectl.apply_text(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: bound}}\nspec:\n  nodeName: {node}\n"
                           "  containers: [{name: c, image: busybox:1.36}]\n", "-n", namespace)
        # no kubelet runs on this node, so nothing would confirm a graceful exit: 0 seconds
        result = kubectl.run("drain", node, "--force", "--grace-period=0", "--timeout=20s", timeout=40)
        assert f"node/{node} cordoned" in result.output
        assert f"evicting pod {namespace}/bound" in result.output
        assert f"node/{node} drained" in result.output
        assert not exists(kubectl, "pod", "bound", "-n", namespace)
    finally:
        kubectl.run("delete", "node", node, "--wait=false", check=False)
