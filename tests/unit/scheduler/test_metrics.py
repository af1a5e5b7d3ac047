"""scheduler_pending_pods tells each pending pod's sub-queue, as upstream's; attempts are
counted by result and profile, and the SLI by attempts (bounded at 15+)."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from kubelite.scheduler import metrics as metrics_mod
from kubelite.scheduler import queue as queue_mod
from kubelite.telemetry import instruments


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "a"}, "spec": {}}


def scrape(metrics: metrics_mod.SchedulerMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = instruments.render(metrics.registry).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_pending_pods_by_sub_queue() -> None:
    q = queue_mod.SchedulingQueue()
    for name in ("being-scheduled", "fits-nowhere", "errs", "next"):
        q.add(pod(name))
    q.gate("a/gated")
    popped = {p.key: p for p in (q.pop(), q.pop(), q.pop()) if p is not None}
    assert set(popped) == {"a/being-scheduled", "a/fits-nowhere", "a/errs"}
    q.failed(popped["a/fits-nowhere"], plugins=frozenset({"NodeResourcesFit"}))
    q.failed(popped["a/errs"], plugins=frozenset(), error=True)
    # "being-scheduled" is in none of them (upstream: in flight); "next" waits in active
    assert q.counts() == {"active": 1, "backoff": 1, "unschedulable": 1, "gated": 1}

    metrics = metrics_mod.SchedulerMetrics()
    assert all(v == 0 for (n, _), v in scrape(metrics).items() if n == "scheduler_pending_pods")  # not leading
    metrics.queue = q
    found = scrape(metrics)
    assert {dict(ls)["queue"]: v for (n, ls), v in found.items() if n == "scheduler_pending_pods"} == \
        {"active": 1, "backoff": 1, "unschedulable": 1, "gated": 1}


def test_an_ungated_pod_leaves_gated_for_active() -> None:
    q = queue_mod.SchedulingQueue()
    q.gate("a/p")
    q.add(pod("p"))
    assert q.counts() == {"active": 1, "backoff": 0, "unschedulable": 0, "gated": 0}
    q.delete("a/p")
    assert q.counts() == {"active": 0, "backoff": 0, "unschedulable": 0, "gated": 0}


def test_attempts_by_result_and_profile_and_sli_by_attempts() -> None:
    metrics = metrics_mod.SchedulerMetrics()
    metrics.attempt(result=metrics_mod.UNSCHEDULABLE, profile="default-scheduler", seconds=0.002)
    metrics.scheduled(profile="default-scheduler", seconds=0.003, attempts=2, since_queued=1.5)
    metrics.scheduled(profile="batch", seconds=0.003, attempts=40, since_queued=300.0)
    found = scrape(metrics)

    def value(name: str, **labels: str) -> float:
        return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= ls)

    assert value("scheduler_schedule_attempts_total", result="scheduled", profile="default-scheduler") == 1
    assert value("scheduler_schedule_attempts_total", result="unschedulable", profile="default-scheduler") == 1
    assert value("scheduler_schedule_attempts_total", result="scheduled", profile="batch") == 1
    assert value("scheduler_scheduling_attempt_duration_seconds_bucket", result="scheduled", le="0.004") == 2
    assert value("scheduler_pod_scheduling_sli_duration_seconds_count", attempts="2") == 1
    assert value("scheduler_pod_scheduling_sli_duration_seconds_count", attempts="15+") == 1
    assert value("scheduler_pod_scheduling_attempts_count") == 2
