"""Quota and LimitRange arithmetic (``kubelite.api.quantity``, ``quota``, ``limitranges``):
what a pod, Service or claim costs, whether a request fits, and the words of each
refusal, as upstream's evaluators, quota admission and LimitRanger compute them. A user
sees these numbers in ``kubectl get quota`` and these messages in every 403."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api import limitranges, quantity, quota
from kubelite.api.validation import quota as quota_validation

Obj = dict[str, Any]


def q(text: str) -> quantity.Quantity:
    parsed = quantity.parse(text)
    assert parsed is not None
    return parsed


def pod(*containers: Obj, init: list[Obj] | None = None, phase: str = "Pending", **spec: Any) -> Obj:
    body: Obj = {"containers": list(containers), **spec}
    if init:
        body["initContainers"] = init
    return {"metadata": {"name": "p", "namespace": "ns"}, "spec": body, "status": {"phase": phase}}


def container(name: str = "main", requests: Obj | None = None, limits: Obj | None = None, **extra: Any) -> Obj:
    resources: Obj = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return {"name": name, "image": "busybox", "resources": resources, **extra}


def a_quota(name: str = "q", hard: Obj | None = None, used: Obj | None = None, **spec: Any) -> Obj:
    hard = hard or {}
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": {"hard": hard, **spec},
            "status": {"hard": hard, "used": used if used is not None else {k: "0" for k in hard}}}


# --- quantities ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "shown"), [
    ("500m", "500m"), ("2000m", "2"), ("1000", "1k"), ("1500", "1500"), ("0.5", "500m"), ("1536Mi", "1536Mi"),
    ("1.5Gi", "1536Mi"), ("2048Ki", "2Mi"), ("1e3", "1e3"), ("0", "0"), ("1M", "1M"),
])
def test_quantities_print_as_go_canonicalizes_them(text: str, shown: str) -> None:
    assert str(q(text)) == shown


def test_a_sum_keeps_the_format_of_its_first_non_zero_operand() -> None:
    assert str(q("0") + q("512Mi")) == "512Mi"
    assert str(q("512Mi") + q("512Mi")) == "1Gi"
    assert str(q("500m") + q("500m")) == "1"
    assert str(q("1Gi") - q("512Mi")) == "512Mi"


# --- what a pod costs ---------------------------------------------------------------


def test_a_pod_costs_its_containers_requests_and_limits() -> None:
    p = pod(container("a", {"cpu": "250m", "memory": "64Mi"}, {"cpu": "500m"}),
            container("b", {"cpu": "250m", "memory": "64Mi"}, {"cpu": "1"}))
    usage = quota.PodEvaluator("", "pods", frozenset()).usage(p)
    shown = {k: str(v) for k, v in usage.items()}
    assert shown == {"count/pods": "1", "pods": "1", "cpu": "500m", "requests.cpu": "500m", "memory": "128Mi",
                     "requests.memory": "128Mi", "limits.cpu": "1500m"}


def test_init_containers_count_only_when_they_need_more_than_the_app_containers() -> None:
    app = container("app", {"cpu": "100m"})
    sidecar = container("proxy", {"cpu": "50m"}, restartPolicy="Always")
    setup = container("setup", {"cpu": "1"})
    # the sidecar runs beside the app; the setup container ran alone with the sidecar before it
    p = pod(app, init=[sidecar, setup])
    assert str(quota.pod_aggregate(p["spec"], "requests")["cpu"]) == "1050m"
    small = pod(app, init=[sidecar, container("setup", {"cpu": "10m"})])
    assert str(quota.pod_aggregate(small["spec"], "requests")["cpu"]) == "150m"


def test_a_finished_pod_is_charged_only_its_object_count() -> None:
    evaluator = quota.evaluator_for("", "pods")
    assert evaluator is not None
    done = pod(container("a", {"cpu": "1"}), phase="Succeeded")
    assert {k: str(v) for k, v in evaluator.usage(done).items()} == {"count/pods": "1"}


def test_services_count_node_ports_and_load_balancers() -> None:
    evaluator = quota.evaluator_for("", "services")
    assert evaluator is not None
    ports = [{"port": 80}, {"port": 443}]
    node_port = evaluator.usage({"spec": {"type": "NodePort", "ports": ports}})
    assert str(node_port["services.nodeports"]) == "2" and str(node_port["services.loadbalancers"]) == "0"
    lb = evaluator.usage({"spec": {"type": "LoadBalancer", "ports": ports, "allocateLoadBalancerNodePorts": False}})
    assert str(lb["services.nodeports"]) == "0" and str(lb["services.loadbalancers"]) == "1"


def test_claims_are_charged_to_their_storage_class_too() -> None:
    evaluator = quota.evaluator_for("", "persistentvolumeclaims")
    assert evaluator is not None
    claim = {"spec": {"storageClassName": "gold", "resources": {"requests": {"storage": "5Gi"}}}}
    usage = {k: str(v) for k, v in evaluator.usage(claim).items()}
    assert usage["requests.storage"] == "5Gi"
    assert usage["gold.storageclass.storage.k8s.io/requests.storage"] == "5Gi"
    assert usage["gold.storageclass.storage.k8s.io/persistentvolumeclaims"] == "1"
    assert evaluator.matching_resources(["gold.storageclass.storage.k8s.io/requests.storage", "pods"]) == [
        "gold.storageclass.storage.k8s.io/requests.storage"]


def test_any_other_resource_is_counted_as_count_resource_group() -> None:
    evaluator = quota.evaluator_for("apps", "deployments")
    assert evaluator is not None
    assert evaluator.matching_resources(["count/deployments.apps", "pods"]) == ["count/deployments.apps"]
    configmaps = quota.evaluator_for("", "configmaps")
    assert configmaps is not None and configmaps.matching_resources(["configmaps"]) == ["configmaps"]
    assert quota.evaluator_for("", "events") is None


# --- scopes -------------------------------------------------------------------------


def test_scopes_select_pods_by_qos_deadline_and_priority_class() -> None:
    best_effort = pod(container())
    burstable = pod(container("a", {"cpu": "100m"}), activeDeadlineSeconds=30, priorityClassName="high")
    evaluator = quota.evaluator_for("", "pods")
    assert evaluator is not None
    scoped = a_quota(hard={"pods": "5"}, scopes=["BestEffort"])
    assert evaluator.matches(scoped, best_effort) and not evaluator.matches(scoped, burstable)
    terminating = a_quota(hard={"pods": "5"}, scopes=["Terminating"])
    assert evaluator.matches(terminating, burstable) and not evaluator.matches(terminating, best_effort)
    high = a_quota(hard={"pods": "5"}, scopeSelector={"matchExpressions": [
        {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]})
    assert evaluator.matches(high, burstable) and not evaluator.matches(high, best_effort)


# --- admission ----------------------------------------------------------------------


def test_a_pod_that_fits_adds_its_usage() -> None:
    evaluator = quota.evaluator_for("", "pods")
    assert evaluator is not None
    quotas = [a_quota(hard={"pods": "2", "requests.cpu": "1"}, used={"pods": "1", "requests.cpu": "500m"})]
    (used,) = quota.check_request(quotas, evaluator, pod(container("a", {"cpu": "500m"})))
    assert quantity.to_json(used) == {"pods": "2", "requests.cpu": "1"}


def test_exceeding_a_quota_names_what_was_requested_used_and_limited() -> None:
    evaluator = quota.evaluator_for("", "pods")
    assert evaluator is not None
    quotas = [a_quota("compute", hard={"pods": "10", "requests.cpu": "1"}, used={"pods": "1", "requests.cpu": "500m"})]
    with pytest.raises(quota.Refused) as refused:
        quota.check_request(quotas, evaluator, pod(container("a", {"cpu": "1"})))
    assert str(refused.value) == ("exceeded quota: compute, requested: requests.cpu=1, used: requests.cpu=500m, "
                                  "limited: requests.cpu=1")


def test_a_quota_on_cpu_requires_every_container_to_state_it() -> None:
    evaluator = quota.evaluator_for("", "pods")
    assert evaluator is not None
    quotas = [a_quota("compute", hard={"limits.cpu": "2", "requests.cpu": "1"})]
    p = pod(container("main"), container("side", {"cpu": "100m"}))
    with pytest.raises(quota.Refused) as refused:
        quota.check_request(quotas, evaluator, p)
    assert str(refused.value) == "failed quota: compute: must specify limits.cpu for: main,side; requests.cpu for: main"


def test_a_quota_not_yet_counted_refuses_what_it_tracks() -> None:
    evaluator = quota.evaluator_for("", "pods")
    assert evaluator is not None
    fresh = {"metadata": {"name": "new"}, "spec": {"hard": {"pods": "1"}}, "status": {"hard": {"pods": "1"}}}
    with pytest.raises(quota.Refused, match="status unknown for quota: new, resources: pods"):
        quota.check_request([fresh], evaluator, pod(container()))


def test_an_update_is_charged_only_what_it_adds() -> None:
    evaluator = quota.evaluator_for("", "services")
    assert evaluator is not None
    quotas = [a_quota(hard={"services.nodeports": "2", "services": "5"}, used={"services.nodeports": "0",
                                                                               "services": "1"})]
    old = {"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}
    new = {"spec": {"type": "NodePort", "ports": [{"port": 80}]}}
    (used,) = quota.check_request(quotas, evaluator, new, old)
    assert quantity.to_json(used) == {"services": "1", "services.nodeports": "1"}


def test_recount_sums_only_objects_in_scope() -> None:
    evaluator = quota.evaluator_for("", "pods")
    assert evaluator is not None
    scoped = a_quota(hard={"pods": "5"}, scopes=["NotBestEffort"])
    pods = [pod(container()), pod(container("a", {"cpu": "1"})), pod(container("b", {"cpu": "1"}), phase="Failed")]
    assert quantity.to_json(quota.usage_of(scoped, evaluator, ["pods"], pods)) == {"pods": "1"}


# --- LimitRanges --------------------------------------------------------------------


RANGE = {"spec": {"limits": [{"type": "Container", "default": {"cpu": "300m"}, "defaultRequest": {"cpu": "100m"},
                              "min": {"cpu": "50m"}, "max": {"cpu": "1"}, "maxLimitRequestRatio": {"cpu": "4"}},
                             {"type": "Pod", "max": {"memory": "1Gi"}},
                             {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}}]}}


def test_defaults_fill_what_containers_leave_out_and_say_so() -> None:
    p = pod(container("main"), container("fixed", {"cpu": "200m"}, {"cpu": "400m"}))
    limitranges.apply_defaults(p, RANGE)
    assert p["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "100m"}, "limits": {"cpu": "300m"}}
    assert p["spec"]["containers"][1]["resources"] == {"requests": {"cpu": "200m"}, "limits": {"cpu": "400m"}}
    assert p["metadata"]["annotations"][limitranges.ANNOTATION] == (
        "LimitRanger plugin set: cpu request for container main; cpu limit for container main")


def test_minimum_maximum_and_ratio_refusals_are_upstreams_words() -> None:
    low = pod(container("a", {"cpu": "10m"}, {"cpu": "20m"}))
    assert limitranges.validate_pod(low, RANGE)[0] == "minimum cpu usage per Container is 50m, but request is 10m"
    high = pod(container("a", {"cpu": "500m"}, {"cpu": "2"}))
    assert "maximum cpu usage per Container is 1, but limit is 2" in limitranges.validate_pod(high, RANGE)
    spread = pod(container("a", {"cpu": "100m"}, {"cpu": "1"}))
    assert limitranges.validate_pod(spread, RANGE) == [
        "cpu max limit to request ratio per Container is 4, but provided ratio is 10.000000",
        # the Pod item's max wants a memory limit the pod does not give
        "maximum memory usage per Pod is 1Gi.  No limit is specified"]
    claim = {"spec": {"resources": {"requests": {"storage": "20Gi"}}}}
    assert limitranges.validate_claim(claim, RANGE) == [
        "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"]
    assert limitranges.aggregate(["a", "b", "a"]) == "[a, b]"


# --- validation ---------------------------------------------------------------------


def _messages(causes: list[Any]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in causes]


def test_quota_validation_refuses_negative_fractional_and_unknown_resources() -> None:
    causes = quota_validation.validate_resource_quota_spec({"hard": {"pods": "1500m", "cpu": "-1", "bogus": "1"}})
    assert _messages(causes) == [
        'spec.hard[bogus]: Invalid value: "bogus": must be a standard resource type or fully qualified',
        'spec.hard[bogus]: Invalid value: "bogus": must be a standard resource for quota',
        'spec.hard[cpu]: Invalid value: "-1": must be greater than or equal to 0',
        'spec.hard[pods]: Invalid value: "1500m": must be an integer']


def test_limit_range_validation_wants_min_below_default_below_max() -> None:
    causes = quota_validation.validate_limit_range({"spec": {"limits": [
        {"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}, "default": {"cpu": "3"}}]}})
    assert _messages(causes) == [
        'spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1',
        'spec.limits[0].default[cpu]: Invalid value: "1": default value 3 is greater than max value 1']
