"""The horizontal pod autoscaler's arithmetic, as upstream's replica_calculator_test and
horizontal_test check it: proposals from utilization and average values, the 10 %
tolerance, what missing and unready pods are assumed to use, stabilization windows and
scale policies; and the v1 ⇄ v2 conversion and TARGETS column that users see."""

from __future__ import annotations

import pytest

from kubelite.apiserver import printers
from kubelite.apiserver.strategies import autoscaling
from kubelite.controllers import hpa

NOW = 10_000.0
LONG_AGO = NOW - 3600  # started and ready well past the CPU initialization period


def _pod(name: str, usage: int | None, *, request: int | None = 1000, phase: str = "Running",
         ready: bool = True) -> hpa.PodSample:
    return hpa.PodSample(name=name, phase=phase, ready=ready, ready_since=LONG_AGO, started=LONG_AGO - 60,
                         request=request, usage=usage, sampled=NOW, window=10)


def _calc(pods: list[hpa.PodSample], current: int, **target: int) -> tuple[int, int, int]:
    return hpa.calc_replicas(pods, current=current, cpu=True, now=NOW, **target)


def test_utilization_above_target_scales_up_in_proportion() -> None:
    pods = [_pod(f"p{i}", 500) for i in range(3)]
    assert _calc(pods, 3, target_utilization=25) == (6, 50, 500)


def test_within_tolerance_keeps_the_current_count() -> None:
    pods = [_pod(f"p{i}", 270) for i in range(3)]  # 27 % of request against 25 %: ratio 1.08
    assert _calc(pods, 3, target_utilization=25)[0] == 3


def test_utilization_below_target_scales_down() -> None:
    pods = [_pod(f"p{i}", 100) for i in range(4)]
    assert _calc(pods, 4, target_utilization=50) == (1, 10, 100)


def test_missing_metrics_count_as_full_request_on_a_scale_down() -> None:
    pods = [_pod("a", 100), _pod("b", 100), _pod("c", 100), _pod("d", None)]
    # 10 % measured; d assumed at 100 %: (300 + 1000) / 4000 = 32 % → ratio 0.65 → 3
    assert _calc(pods, 4, target_utilization=50)[0] == 3


def test_missing_metrics_count_as_zero_on_a_scale_up() -> None:
    pods = [_pod("a", 1000), _pod("b", 1000), _pod("c", None)]
    # 100 % measured; c assumed at 0: 2000 / 3000 = 66 % → ratio 1.32 → ceil(3.96) = 4
    assert _calc(pods, 3, target_utilization=50)[0] == 4


def test_unready_pods_count_as_zero_on_a_scale_up() -> None:
    pods = [_pod("a", 1000), _pod("b", 1000), _pod("c", 900, phase="Pending")]
    assert _calc(pods, 3, target_utilization=50)[0] == 4


def test_assumptions_that_reverse_the_direction_keep_the_current_count() -> None:
    # 60 % against 50 % says up; three unready pods at 0 would say down: no change
    pods = [_pod("a", 600), *[_pod(f"u{i}", 0, phase="Pending") for i in range(3)]]
    assert _calc(pods, 4, target_utilization=50)[0] == 4


def test_deleted_and_failed_pods_are_ignored() -> None:
    pods = [_pod("a", 500), _pod("b", 0, phase="Failed"), hpa.PodSample(name="c", deleting=True, usage=0)]
    assert _calc(pods, 1, target_utilization=25)[0] == 2


def test_cpu_of_a_pod_that_just_became_ready_is_not_trusted() -> None:
    fresh = hpa.PodSample(name="new", ready=True, ready_since=NOW - 2, started=NOW - 5, request=1000, usage=900,
                          sampled=NOW, window=10)
    ready, unready, missing, ignored = hpa.group_pods([_pod("old", 500), fresh], cpu=True, now=NOW)
    assert (ready, unready, missing, ignored) == (1, {"new"}, set(), set())


def test_average_value_target() -> None:
    pods = [_pod("a", 300, request=None), _pod("b", 300, request=None)]
    assert hpa.calc_replicas(pods, current=2, cpu=False, now=NOW, target_average=100) == (6, 0, 300)


def test_errors_say_what_is_missing() -> None:
    with pytest.raises(hpa.MetricError, match="no pods returned by selector"):
        _calc([], 1, target_utilization=50)
    with pytest.raises(hpa.MetricError, match="did not receive metrics for targeted pods"):
        _calc([_pod("a", None, phase="Pending")], 1, target_utilization=50)
    with pytest.raises(hpa.MetricError, match="missing request for a"):
        _calc([_pod("a", 100, request=None)], 1, target_utilization=50)


# --- normalization: limits, stabilization, policies ----------------------------------------


BEHAVIOR = {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
    {"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]},
    "scaleDown": {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}


def test_without_behavior_scale_up_is_capped_at_twice_or_four() -> None:
    out = hpa.History().normalize(current=1, desired=10, min_replicas=1, max_replicas=10, behavior=None, now=NOW)
    assert (out.replicas, out.limited, out.limited_reason) == (4, True, "ScaleUpLimit")


def test_max_replicas_limits_with_too_many_replicas() -> None:
    out = hpa.History().normalize(current=2, desired=9, min_replicas=1, max_replicas=3, behavior=BEHAVIOR, now=NOW)
    assert (out.replicas, out.limited_reason) == (3, "TooManyReplicas")


def test_default_scale_up_policies_allow_four_pods_or_double() -> None:
    out = hpa.History().normalize(current=1, desired=10, min_replicas=1, max_replicas=10, behavior=BEHAVIOR, now=NOW)
    assert (out.replicas, out.limited_reason) == (5, "ScaleUpLimit")
    out = hpa.History().normalize(current=6, desired=20, min_replicas=1, max_replicas=20, behavior=BEHAVIOR, now=NOW)
    assert out.replicas == 12


def test_scale_down_is_stabilized_over_the_window() -> None:
    history = hpa.History()
    history.normalize(current=5, desired=5, min_replicas=1, max_replicas=10, behavior=BEHAVIOR, now=NOW - 100)
    out = history.normalize(current=5, desired=2, min_replicas=1, max_replicas=10, behavior=BEHAVIOR, now=NOW)
    assert (out.replicas, out.able_reason) == (5, "ScaleDownStabilized")  # the 300 s default window
    zero = {**BEHAVIOR, "scaleDown": {**BEHAVIOR["scaleDown"], "stabilizationWindowSeconds": 0}}
    out = history.normalize(current=5, desired=2, min_replicas=1, max_replicas=10, behavior=zero, now=NOW + 1)
    assert (out.replicas, out.able_reason, out.limited) == (2, "ReadyForNewScale", False)


def test_scale_down_policy_counts_recent_scale_events() -> None:
    slow = {**BEHAVIOR, "scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                                      "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}
    history = hpa.History()
    out = history.normalize(current=5, desired=1, min_replicas=1, max_replicas=10, behavior=slow, now=NOW)
    assert (out.replicas, out.limited_reason) == (4, "ScaleDownLimit")
    history.record_scale(-1, behavior=slow, now=NOW)
    out = history.normalize(current=4, desired=1, min_replicas=1, max_replicas=10, behavior=slow, now=NOW + 10)
    assert out.replicas == 4  # one pod a minute, and one went 10 s ago
    out = history.normalize(current=4, desired=1, min_replicas=1, max_replicas=10, behavior=slow, now=NOW + 61)
    assert out.replicas == 3


def test_disabled_select_policy_never_scales_that_way() -> None:
    off = {**BEHAVIOR, "scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Disabled",
                                     "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}
    out = hpa.History().normalize(current=5, desired=1, min_replicas=1, max_replicas=10, behavior=off, now=NOW)
    assert out.replicas == 5


# --- what users see -----------------------------------------------------------------------


def test_targets_column() -> None:
    cpu = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                       "averageUtilization": 50}}}
    mem = {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue",
                                                                          "averageValue": "100Mi"}}}
    assert printers._hpa_metrics([cpu], []) == "cpu: <unknown>/50%"
    current = [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 250}}}]
    assert printers._hpa_metrics([cpu], current) == "cpu: 250%/50%"
    assert printers._hpa_metrics([cpu, mem, cpu], []) == \
        "cpu: <unknown>/50%, memory: <unknown>/100Mi + 1 more..."
    assert printers._hpa_metrics([], []) == "<none>"


def test_v1_conversion_round_trips_through_v2() -> None:
    v2 = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
          "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 4,
                   "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                       "type": "Utilization", "averageUtilization": 50}}}]},
          "status": {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": [{"type": "Resource", "resource": {
              "name": "cpu", "current": {"averageUtilization": 90, "averageValue": "45m"}}}]}}
    v1 = autoscaling.to_v1(v2)
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50
    assert v1["status"]["currentCPUUtilizationPercentage"] == 90
    back = autoscaling.from_v1(v1)
    assert back["spec"] == v2["spec"]
    assert back["status"]["desiredReplicas"] == 3


def test_pod_samples_sum_containers_or_pick_one() -> None:
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Running", "startTime": "2026-01-01T00:00:00Z",
                                                 "conditions": [{"type": "Ready", "status": "True",
                                                                 "lastTransitionTime": "2026-01-01T00:00:05Z"}]},
           "spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}},
                                   {"name": "b", "resources": {"requests": {"cpu": "0.2"}}}]}}
    metric = {"metadata": {"name": "p"}, "timestamp": "2026-01-01T00:01:00Z", "window": "10.5s",
              "containers": [{"name": "a", "usage": {"cpu": "50000000n"}}, {"name": "b", "usage": {"cpu": "1"}}]}
    (both,) = hpa.pod_samples([pod], [metric], resource="cpu", container=None)
    assert (both.request, both.usage, both.window, both.ready) == (300, 1050, 10.5, True)
    (one,) = hpa.pod_samples([pod], [metric], resource="cpu", container="a")
    assert (one.request, one.usage) == (100, 50)
    (none,) = hpa.pod_samples([pod], [], resource="cpu", container=None)
    assert none.usage is None
