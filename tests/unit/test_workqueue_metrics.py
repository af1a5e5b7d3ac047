"""client-go's work queue metrics, as a queue reports them to the controller manager's
registry (``kubelite/controllers/metrics.py``)."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from kubelite.client import workqueue
from kubelite.controllers import metrics
from kubelite.telemetry import instruments


def samples(m: metrics.ControllerManagerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = instruments.render(m.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


async def test_adds_depth_durations_and_retries() -> None:
    m = metrics.ControllerManagerMetrics(lease="kube-controller-manager")
    q: workqueue.WorkQueue[str] = workqueue.WorkQueue(name="deployment", metrics=m.queue("deployment"))
    q.add("ns/a")
    q.add("ns/a")  # already waiting: not another add
    q.add("ns/b")
    got = samples(m)
    assert got[("workqueue_adds_total", (("name", "deployment"),))] == 2
    assert got[("workqueue_depth", (("name", "deployment"),))] == 2
    key = await q.get()
    assert key == "ns/a"
    await asyncio.sleep(0.01)
    got = samples(m)
    assert got[("workqueue_depth", (("name", "deployment"),))] == 1
    assert got[("workqueue_queue_duration_seconds_count", (("name", "deployment"),))] == 1
    assert got[("workqueue_longest_running_processor_seconds", (("name", "deployment"),))] >= 0.01
    assert got[("workqueue_unfinished_work_seconds", (("name", "deployment"),))] >= 0.01
    q.add_rate_limited(key)  # a failed reconcile: retried, and due again once done
    q.done(key)
    got = samples(m)
    assert got[("workqueue_retries_total", (("name", "deployment"),))] == 1
    assert got[("workqueue_work_duration_seconds_count", (("name", "deployment"),))] == 1
    assert got[("workqueue_work_duration_seconds_sum", (("name", "deployment"),))] >= 0.01
    assert got[("workqueue_longest_running_processor_seconds", (("name", "deployment"),))] == 0
    assert got[("leader_election_master_status", (("name", "kube-controller-manager"),))] == 0
    m.leading = True
    assert samples(m)[("leader_election_master_status", (("name", "kube-controller-manager"),))] == 1
    q.shutdown()


def test_a_new_terms_queue_keeps_the_counters_and_starts_empty() -> None:
    m = metrics.ControllerManagerMetrics(lease="kube-controller-manager")
    first = m.queue("job")
    first.added("ns/x")
    second = m.queue("job")
    assert second is first
    got = samples(m)
    assert got[("workqueue_adds_total", (("name", "job"),))] == 1
    assert got[("workqueue_depth", (("name", "job"),))] == 0
