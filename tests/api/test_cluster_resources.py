"""EndpointSlice, StorageClass, PriorityClass and PodDisruptionBudget as users meet them.

Through the official Python client and kubectl against the session's server: CRUD and
watch of each kind, their validation, the objects every cluster starts with, the
``kubectl get`` columns, priority admission on pods, the default StorageClass on claims,
and evictions that PodDisruptionBudgets allow or refuse.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl, header, rows
from tests.conftest import wait_for

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses

Obj = dict[str, Any]


def _uid() -> str:
    return uuid.uuid4().hex[:6]


def _body(exc: ApiException) -> Obj:
    return json.loads(exc.body)


# --- bootstrap -------------------------------------------------------------------------


def test_every_cluster_starts_with_system_priority_classes_and_a_default_storage_class(k8s) -> None:  # type: ignore[no-untyped-def]
    sched = client.SchedulingV1Api(k8s)
    assert sched.read_priority_class("system-node-critical").value == 2000001000
    assert sched.read_priority_class("system-cluster-critical").value == 2000000000
    sc = client.StorageV1Api(k8s).read_storage_class("local-path")
    assert sc.provisioner == "kubelite.io/local-path"
    assert sc.volume_binding_mode == "WaitForFirstConsumer"
    assert sc.reclaim_policy == "Delete"
    assert sc.metadata.annotations["storageclass.kubernetes.io/is-default-class"] == "true"


# --- CRUD and watch ----------------------------------------------------------------------


def _watch_events(list_fn: Callable[..., Any], *, since: str, name: str, **kwargs: Any) -> list[str]:
    """Event types about ``name`` from ``since`` until it is DELETED (or 5 s pass)."""
    seen: list[str] = []
    w = watch.Watch()
    for event in w.stream(list_fn, resource_version=since, timeout_seconds=5, **kwargs):
        if event["object"].metadata.name == name:
            seen.append(event["type"])
            if event["type"] == "DELETED":
                w.stop()
    return seen


def test_endpoint_slice_crud_and_watch(k8s, namespace: str) -> None:  # type: ignore[no-untyped-def]
    api = client.DiscoveryV1Api(k8s)
    since = api.list_namespaced_endpoint_slice(namespace).metadata.resource_version
    name = f"web-{_uid()}"
    created = api.create_namespaced_endpoint_slice(namespace, {
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 80}]})
    assert created.ports[0].protocol == "TCP"  # defaulted
    assert created.metadata.generation == 1
    created.endpoints.append(client.V1Endpoint(addresses=["10.0.0.2"]))
    updated = api.replace_namespaced_endpoint_slice(name, namespace, created)
    assert [e.addresses for e in updated.endpoints] == [["10.0.0.1"], ["10.0.0.2"]]
    assert updated.metadata.generation == 2
    listed = api.list_namespaced_endpoint_slice(namespace, label_selector="kubernetes.io/service-name=web")
    assert [s.metadata.name for s in listed.items] == [name]
    api.delete_namespaced_endpoint_slice(name, namespace)
    assert _watch_events(api.list_namespaced_endpoint_slice, since=since, name=name,
                         namespace=namespace) == ["ADDED", "MODIFIED", "DELETED"]


def test_endpoint_slice_validation(k8s, namespace: str) -> None:  # type: ignore[no-untyped-def]
    api = client.DiscoveryV1Api(k8s)
    with pytest.raises(ApiException) as bad_type:
        api.create_namespaced_endpoint_slice(namespace, {"metadata": {"name": "bad"}, "addressType": "IPv5"})
    assert bad_type.value.status == 422
    assert _body(bad_type.value)["details"]["causes"][0]["field"] == "addressType"
    with pytest.raises(ApiException) as no_address:
        api.create_namespaced_endpoint_slice(namespace, {"metadata": {"name": "bad"}, "addressType": "IPv4",
                                                         "endpoints": [{"addresses": []}]})
    assert no_address.value.status == 422
    assert "endpoints[0].addresses" in _body(no_address.value)["message"]
    name = f"es-{_uid()}"
    api.create_namespaced_endpoint_slice(namespace, {"metadata": {"name": name}, "addressType": "IPv4"})
    with pytest.raises(ApiException) as immutable:
        api.patch_namespaced_endpoint_slice(name, namespace, {"addressType": "IPv6"})
    assert immutable.value.status == 422
    assert "field is immutable" in _body(immutable.value)["message"]


def test_storage_class_crud_watch_and_immutable_provisioner(k8s, kubectl: Kubectl) -> None:  # type: ignore[no-untyped-def]
    api = client.StorageV1Api(k8s)
    since = api.list_storage_class().metadata.resource_version
    name = f"fast-{_uid()}"
    created = api.create_storage_class({"metadata": {"name": name}, "provisioner": "example.com/fast",
                                        "parameters": {"type": "ssd"}})
    assert (created.reclaim_policy, created.volume_binding_mode) == ("Delete", "Immediate")
    patched = api.patch_storage_class(name, {"allowVolumeExpansion": True})
    assert patched.allow_volume_expansion is True
    for change in ({"provisioner": "example.com/slow"}, {"parameters": {"type": "hdd"}}):
        with pytest.raises(ApiException) as refused:
            api.patch_storage_class(name, change)
        assert refused.value.status == 422
        assert "forbidden" in _body(refused.value)["message"]
    # the typed client refuses a class without provisioner itself; kubectl lets the server say
    missing = kubectl.run("create", "--validate=false", "-f", "-", check=False,
                          stdin=f"apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {{name: x-{_uid()}}}\n")
    assert missing.returncode != 0 and "provisioner: Required value" in missing.output
    api.delete_storage_class(name)
    assert _watch_events(api.list_storage_class, since=since, name=name) == ["ADDED", "MODIFIED", "DELETED"]


def test_priority_class_crud_watch_and_rules(k8s) -> None:  # type: ignore[no-untyped-def]
    api = client.SchedulingV1Api(k8s)
    since = api.list_priority_class().metadata.resource_version
    name = f"high-{_uid()}"
    created = api.create_priority_class({"metadata": {"name": name}, "value": 1000, "description": "x"})
    assert created.preemption_policy == "PreemptLowerPriority"
    assert api.patch_priority_class(name, {"description": "y"}).description == "y"
    with pytest.raises(ApiException) as value_change:
        api.patch_priority_class(name, {"value": 2000})
    assert value_change.value.status == 422
    assert "may not be changed in an update" in _body(value_change.value)["message"]
    with pytest.raises(ApiException) as too_high:
        api.create_priority_class({"metadata": {"name": f"huge-{_uid()}"}, "value": 1_000_000_001})
    assert too_high.value.status == 422
    assert "maximum allowed value of a user defined priority is 1000000000" in _body(too_high.value)["message"]
    with pytest.raises(ApiException) as reserved:
        api.create_priority_class({"metadata": {"name": "system-mine"}, "value": 10})
    assert reserved.value.status == 422
    api.delete_priority_class(name)
    assert _watch_events(api.list_priority_class, since=since, name=name) == ["ADDED", "MODIFIED", "DELETED"]


def test_pdb_crud_watch_status_and_validation(k8s, namespace: str) -> None:  # type: ignore[no-untyped-def]
    api = client.PolicyV1Api(k8s)
    since = api.list_namespaced_pod_disruption_budget(namespace).metadata.resource_version
    name = f"pdb-{_uid()}"
    created = api.create_namespaced_pod_disruption_budget(namespace, {
        "metadata": {"name": name}, "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "a"}}}})
    assert created.status.disruptions_allowed == 0 and created.metadata.generation == 1
    spec_changed = api.patch_namespaced_pod_disruption_budget(name, namespace, {"spec": {"minAvailable": 2}})
    assert spec_changed.metadata.generation == 2
    status = api.patch_namespaced_pod_disruption_budget_status(name, namespace, {"status": {
        "observedGeneration": 2, "disruptionsAllowed": 3, "currentHealthy": 5, "desiredHealthy": 2,
        "expectedPods": 5}})
    assert status.status.disruptions_allowed == 3
    # the main endpoint does not write status (the disruption controller may rewrite it meanwhile)
    api.patch_namespaced_pod_disruption_budget(name, namespace, {"status": {"disruptionsAllowed": 9}})
    assert api.read_namespaced_pod_disruption_budget(name, namespace).status.disruptions_allowed != 9
    with pytest.raises(ApiException) as both:
        api.create_namespaced_pod_disruption_budget(namespace, {"metadata": {"name": "both"}, "spec": {
            "minAvailable": 1, "maxUnavailable": 1, "selector": {}}})
    assert both.value.status == 422
    assert "minAvailable and maxUnavailable cannot be both set" in _body(both.value)["message"]
    with pytest.raises(ApiException) as percent:
        api.create_namespaced_pod_disruption_budget(namespace, {"metadata": {"name": "pct"}, "spec": {
            "maxUnavailable": "150%"}})
    assert percent.value.status == 422
    api.delete_namespaced_pod_disruption_budget(name, namespace)
    events = _watch_events(api.list_namespaced_pod_disruption_budget, since=since, name=name, namespace=namespace)
    assert events[0] == "ADDED" and events[-1] == "DELETED" and "MODIFIED" in events


# --- kubectl -----------------------------------------------------------------------------


def test_kubectl_get_columns_of_the_new_kinds(kubectl: Kubectl, namespace: str) -> None:
    suffix = _uid()
    kubectl.apply_text(f"""
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {{name: pc-{suffix}}}
value: 42
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: pdb-{suffix}, namespace: {namespace}}}
spec: {{maxUnavailable: 1, selector: {{matchLabels: {{app: web}}}}}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: es-{suffix}, namespace: {namespace}}}
addressType: IPv4
endpoints: [{{addresses: [10.1.0.1]}}, {{addresses: [10.1.0.2]}}]
ports: [{{name: http, port: 8080}}]
""")
    sc = kubectl("get", "sc")
    assert header(sc) == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"]
    assert ["local-path (default)", "kubelite.io/local-path", "Delete", "WaitForFirstConsumer", "false"] \
        == rows(sc)[[r[0] for r in rows(sc)].index("local-path (default)")][:5]
    pc = kubectl("get", "pc", f"pc-{suffix}")
    assert header(pc)[:3] == ["NAME", "VALUE", "GLOBAL-DEFAULT"] and "AGE" in header(pc)
    assert rows(pc)[1][:3] == [f"pc-{suffix}", "42", "false"]
    pdb = kubectl("get", "pdb", "-n", namespace)
    assert header(pdb) == ["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"]
    assert rows(pdb)[1][:4] == [f"pdb-{suffix}", "N/A", "1", "0"]
    es = kubectl("get", "endpointslices", "-n", namespace)
    assert header(es) == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert rows(es)[1][:4] == [f"es-{suffix}", "IPv4", "8080", "10.1.0.1,10.1.0.2"]
    # several kinds at once, by short name, as users type it
    combined = kubectl("get", "sc,pc,pdb,endpointslices", "-n", namespace)
    for expected in ("storageclass.storage.k8s.io/local-path", f"priorityclass.scheduling.k8s.io/pc-{suffix}",
                     f"poddisruptionbudget.policy/pdb-{suffix}", f"endpointslice.discovery.k8s.io/es-{suffix}"):
        assert expected in combined
    resources = kubectl("api-resources")
    for kind in ("EndpointSlice", "StorageClass", "PriorityClass", "PodDisruptionBudget"):
        assert kind in resources
    kubectl("delete", "pc", f"pc-{suffix}")


# --- admission -----------------------------------------------------------------------------


def _pod(name: str, **spec: Any) -> Obj:
    return {"metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1"}], **spec}}


@pytest.fixture
def priority_class(k8s) -> Iterator[Callable[..., str]]:  # type: ignore[no-untyped-def]
    api = client.SchedulingV1Api(k8s)
    made: list[str] = []

    def make(value: int, **extra: Any) -> str:
        name = f"pc-{_uid()}"
        api.create_priority_class({"metadata": {"name": name}, "value": value, **extra})
        made.append(name)
        return name

    yield make
    for name in made:  # a stray globalDefault would change every later pod
        api.delete_priority_class(name)


def test_priority_admission_resolves_the_class(k8s, namespace: str, priority_class) -> None:  # type: ignore[no-untyped-def]
    core = client.CoreV1Api(k8s)
    plain = core.create_namespaced_pod(namespace, _pod("plain"))
    assert (plain.spec.priority, plain.spec.preemption_policy) == (0, "PreemptLowerPriority")
    critical = core.create_namespaced_pod(namespace, _pod("critical", priorityClassName="system-node-critical"))
    assert critical.spec.priority == 2000001000
    gentle = priority_class(500, preemptionPolicy="Never")
    pod = core.create_namespaced_pod(namespace, _pod("gentle", priorityClassName=gentle))
    assert (pod.spec.priority, pod.spec.preemption_policy) == (500, "Never")
    with pytest.raises(ApiException) as unknown:
        core.create_namespaced_pod(namespace, _pod("lost", priorityClassName="no-such-class"))
    assert unknown.value.status == 403
    assert _body(unknown.value)["message"] == \
        'pods "lost" is forbidden: no PriorityClass with name no-such-class was found'
    with pytest.raises(ApiException) as disagree:
        core.create_namespaced_pod(namespace, _pod("liar", priorityClassName=gentle, priority=7))
    assert disagree.value.status == 403
    assert "the integer value of priority (7) must not be provided in pod spec" in _body(disagree.value)["message"]


def test_global_default_priority_class(k8s, namespace: str, priority_class) -> None:  # type: ignore[no-untyped-def]
    core = client.CoreV1Api(k8s)
    default = priority_class(300, globalDefault=True)
    with pytest.raises(ApiException) as second:
        priority_class(400, globalDefault=True)
    assert second.value.status == 403
    assert f"PriorityClass {default} is already marked as default. Only one default can exist" \
        in _body(second.value)["message"]
    other = priority_class(10)
    with pytest.raises(ApiException) as promoted:
        client.SchedulingV1Api(k8s).patch_priority_class(other, {"globalDefault": True})
    assert promoted.value.status == 403
    pod = core.create_namespaced_pod(namespace, _pod("defaulted"))
    assert (pod.spec.priority, pod.spec.priority_class_name) == (300, default)
    # an explicit value other than the default class's is refused, 0 included, as upstream
    with pytest.raises(ApiException) as explicit:
        core.create_namespaced_pod(namespace, _pod("explicit", priority=0))
    assert explicit.value.status == 403
    assert "the integer value of priority (0) must not be provided in pod spec; priority admission " \
        "controller computed 300" in _body(explicit.value)["message"]


def test_pod_update_without_priority_keeps_it(k8s, namespace: str, priority_class) -> None:  # type: ignore[no-untyped-def]
    """Priority admission set them at creation; a PUT that leaves them out keeps them."""
    core = client.CoreV1Api(k8s)
    gentle = priority_class(500, preemptionPolicy="Never")
    core.create_namespaced_pod(namespace, _pod("kept", priorityClassName=gentle))

    def replaced() -> Any:
        pod = core.read_namespaced_pod("kept", namespace)  # the scheduler may have written since
        pod.spec.priority = None
        pod.spec.preemption_policy = None
        pod.metadata.labels = {"touched": "yes"}
        try:
            return core.replace_namespaced_pod("kept", namespace, pod)
        except ApiException as exc:
            if exc.status != 409:
                raise
            return None

    updated = wait_for(replaced, 10, 0.1, "a replace without a conflict")
    assert (updated.spec.priority, updated.spec.preemption_policy) == (500, "Never")
    assert updated.metadata.labels == {"touched": "yes"}


def test_claims_without_a_class_get_the_default_storage_class(k8s, namespace: str) -> None:  # type: ignore[no-untyped-def]
    core = client.CoreV1Api(k8s)

    def claim(name: str, **spec: Any) -> Obj:
        return {"metadata": {"name": name}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, **spec}}

    assert core.create_namespaced_persistent_volume_claim(namespace, claim("auto")).spec.storage_class_name \
        == "local-path"
    # an explicit "" asks for no class at all, and a named class is kept
    assert core.create_namespaced_persistent_volume_claim(
        namespace, claim("none", storageClassName="")).spec.storage_class_name in ("", None)
    assert core.create_namespaced_persistent_volume_claim(
        namespace, claim("named", storageClassName="fast")).spec.storage_class_name == "fast"


# --- eviction ------------------------------------------------------------------------------


def _running_pod(core: client.CoreV1Api, namespace: str, name: str) -> None:
    core.create_namespaced_pod(namespace, _pod(name))
    core.patch_namespaced_pod_status(name, namespace, {"status": {
        "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})


def _pdb(policy: client.PolicyV1Api, namespace: str, name: str, *, allowed: int, healthy: int) -> None:
    policy.create_namespaced_pod_disruption_budget(namespace, {
        "metadata": {"name": name}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
    # what the disruption controller writes for `healthy` ready pods and minAvailable 1 (it
    # runs in the server too; writing it here keeps the test independent of its timing)
    policy.patch_namespaced_pod_disruption_budget_status(name, namespace, {"status": {
        "observedGeneration": 1, "disruptionsAllowed": allowed, "currentHealthy": healthy, "desiredHealthy": 1,
        "expectedPods": healthy}})


def _evict(core: client.CoreV1Api, namespace: str, name: str) -> None:
    core.create_namespaced_pod_eviction(name, namespace, {"metadata": {"name": name, "namespace": namespace}})


def test_eviction_refused_while_the_budget_is_spent(k8s, namespace: str) -> None:  # type: ignore[no-untyped-def]
    core, policy = client.CoreV1Api(k8s), client.PolicyV1Api(k8s)
    _running_pod(core, namespace, "only")
    policy.create_namespaced_pod_disruption_budget(namespace, {
        "metadata": {"name": "fresh"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
    with pytest.raises(ApiException) as unobserved:  # the controller has not looked at it yet
        _evict(core, namespace, "only")
    assert unobserved.value.status == 429
    policy.delete_namespaced_pod_disruption_budget("fresh", namespace)
    _pdb(policy, namespace, "keep-one", allowed=0, healthy=1)
    with pytest.raises(ApiException) as refused:
        _evict(core, namespace, "only")
    assert refused.value.status == 429
    status = _body(refused.value)
    assert status["reason"] == "TooManyRequests"
    assert status["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert status["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert core.read_namespaced_pod("only", namespace).metadata.deletion_timestamp is None


def test_eviction_spends_the_budget_then_deletes(k8s, kubectl: Kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    core, policy = client.CoreV1Api(k8s), client.PolicyV1Api(k8s)
    _running_pod(core, namespace, "a")
    _running_pod(core, namespace, "b")
    _pdb(policy, namespace, "keep-one", allowed=1, healthy=2)
    before = policy.read_namespaced_pod_disruption_budget("keep-one", namespace).metadata.resource_version
    _evict(core, namespace, "a")
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod("a", namespace)
    assert gone.value.status == 404
    # the eviction spent the budget and recorded the pod before deleting it (the disruption
    # controller may since have dropped the record: the pod is gone)
    spent = None
    for event in watch.Watch().stream(policy.list_namespaced_pod_disruption_budget, namespace,
                                      resource_version=before, timeout_seconds=2):
        status = event["object"].status
        if status.disrupted_pods and "a" in status.disrupted_pods:
            spent = status
            break
    assert spent is not None and spent.disruptions_allowed == 0
    assert policy.read_namespaced_pod_disruption_budget("keep-one", namespace).status.disruptions_allowed == 0
    # the next one would break the budget
    with pytest.raises(ApiException) as refused:
        _evict(core, namespace, "b")
    assert refused.value.status == 429
    # a pod that never started disrupts nobody: it goes whatever the budget says
    core.create_namespaced_pod(namespace, _pod("pending"))
    _evict(core, namespace, "pending")
    result = kubectl.run("get", "pod", "pending", "-n", namespace, check=False)
    assert "NotFound" in result.output


def test_eviction_with_two_budgets_is_refused_as_upstream(k8s, namespace: str) -> None:  # type: ignore[no-untyped-def]
    core, policy = client.CoreV1Api(k8s), client.PolicyV1Api(k8s)
    _running_pod(core, namespace, "twice")
    _pdb(policy, namespace, "first", allowed=1, healthy=1)
    _pdb(policy, namespace, "second", allowed=1, healthy=1)
    with pytest.raises(ApiException) as refused:
        _evict(core, namespace, "twice")
    assert refused.value.status == 500
    assert "more than one PodDisruptionBudget" in _body(refused.value)["message"]
    assert core.read_namespaced_pod("twice", namespace).metadata.name == "twice"


def test_system_priority_classes_cannot_be_deleted(k8s) -> None:  # type: ignore[no-untyped-def]
    sched = client.SchedulingV1Api(k8s)
    for name in ("system-node-critical", "system-cluster-critical"):
        with pytest.raises(ApiException) as refused:
            sched.delete_priority_class(name)
        assert refused.value.status == 403
        assert json.loads(refused.value.body)["message"] == (
            f'priorityclasses.scheduling.k8s.io "{name}" is forbidden: this is a system priority class '
            "and cannot be deleted")
        assert sched.read_priority_class(name).value >= 2000000000


def test_eviction_dry_run_checks_the_budget_and_deletes_nothing(k8s, namespace: str) -> None:  # type: ignore[no-untyped-def]
    core, policy = client.CoreV1Api(k8s), client.PolicyV1Api(k8s)
    _running_pod(core, namespace, "a")
    _running_pod(core, namespace, "b")
    _pdb(policy, namespace, "keep-one", allowed=1, healthy=2)
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "a", "namespace": namespace}}
    core.create_namespaced_pod_eviction("a", namespace, body, dry_run="All")
    assert core.read_namespaced_pod("a", namespace).metadata.deletion_timestamp is None
    assert policy.read_namespaced_pod_disruption_budget("keep-one", namespace).status.disruptions_allowed == 1


def test_an_evicted_pod_is_marked_as_a_disruption_target_first(k8s, namespace: str) -> None:  # type: ignore[no-untyped-def]
    core = client.CoreV1Api(k8s)
    body = _pod("kept")
    body["metadata"]["finalizers"] = ["example.com/hold"]  # so the deleted pod stays to be read
    core.create_namespaced_pod(namespace, body)
    core.patch_namespaced_pod_status("kept", namespace, {"status": {
        "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    _evict(core, namespace, "kept")
    pod = core.read_namespaced_pod("kept", namespace)
    assert pod.metadata.deletion_timestamp is not None
    target = [c for c in pod.status.conditions if c.type == "DisruptionTarget"]
    assert [(c.status, c.reason, c.message) for c in target] == [
        ("True", "EvictionByEvictionAPI", "Eviction API: evicting")]
    core.patch_namespaced_pod("kept", namespace, [{"op": "remove", "path": "/metadata/finalizers"}])
