"""The controller manager's Prometheus metrics, with upstream's names.

One ``ControllerManagerMetrics`` per ``kubelite controller-manager`` process, made by
``manager.run`` and served at ``GET /metrics`` (``--metrics-bind-address``, default
``127.0.0.1:10257``, kube-controller-manager's port; plain HTTP on loopback as the
scheduler's, ``telemetry.http``). Counters keep counting across leadership terms: each
term's controllers get the same per-queue series. Exposed:

- client-go's work queue series, one per controller (``name`` = the queue's name, as
  upstream's ``deployment``, ``replicaset``, …): ``workqueue_adds_total``,
  ``workqueue_depth``, ``workqueue_queue_duration_seconds`` (added → taken by a worker),
  ``workqueue_work_duration_seconds`` (taken → done), ``workqueue_retries_total``,
  ``workqueue_unfinished_work_seconds`` and ``workqueue_longest_running_processor_seconds``
  (both worked out when scraped, from the keys being processed then);
- ``leader_election_master_status{name="kube-controller-manager"}`` (the Lease's name): 1
  while this process leads;
- ``process_*`` and ``python_*``.

Recording happens on the manager's event loop only (``telemetry.instruments``: no locks).
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from kubelite.telemetry import instruments

# client-go's buckets for both durations: 10 ns to 10 s, ten of them.
DURATION_BUCKETS = instruments.exponential_buckets(1e-8, 10, 10)


class QueueSeries:
    """One work queue's series (``workqueue.QueueMetrics``), as client-go's
    ``defaultQueueMetrics``: the depth counts keys added and not yet taken, and the times
    of keys waiting or in work are kept to observe their durations."""

    def __init__(self, owner: ControllerManagerMetrics, name: str) -> None:
        self.labels = (name,)
        self._adds = owner.adds
        self._retries = owner.retries
        self.depth = 0
        self.queue_duration = owner.queue_duration.child(self.labels)
        self.work_duration = owner.work_duration.child(self.labels)
        self.added_at: dict[Hashable, float] = {}
        self.started_at: dict[Hashable, float] = {}

    def added(self, key: Hashable) -> None:
        self._adds.inc(self.labels)
        self.depth += 1
        self.added_at.setdefault(key, time.monotonic())

    def started(self, key: Hashable) -> None:
        now = time.monotonic()
        self.depth -= 1
        self.started_at[key] = now
        since = self.added_at.pop(key, None)
        if since is not None:
            self.queue_duration.observe(now - since)

    def finished(self, key: Hashable) -> None:
        since = self.started_at.pop(key, None)
        if since is not None:
            self.work_duration.observe(time.monotonic() - since)

    def retried(self) -> None:
        self._retries.inc(self.labels)


class ControllerManagerMetrics:
    """The controller manager's instruments and registry."""

    def __init__(self, *, lease: str) -> None:
        self.lease = lease
        self.registry = instruments.new_registry()
        self.adds = instruments.CounterVec(
            "workqueue_adds_total", "Total number of adds handled by workqueue", ("name",))
        self.retries = instruments.CounterVec(
            "workqueue_retries_total", "Total number of retries handled by workqueue", ("name",))
        self.queue_duration = instruments.HistogramVec(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested.", ("name",),
            buckets=DURATION_BUCKETS)
        self.work_duration = instruments.HistogramVec(
            "workqueue_work_duration_seconds", "How long in seconds processing an item from workqueue takes.",
            ("name",), buckets=DURATION_BUCKETS)
        self.queues: dict[str, QueueSeries] = {}
        self.leading = False
        for collector in (self.adds, self.retries, self.queue_duration, self.work_duration, self):
            self.registry.register(collector)  # type: ignore[arg-type]

    def queue(self, name: str) -> QueueSeries:
        """The series of the queue called ``name`` (the same object in every term)."""
        found = self.queues.get(name)
        if found is None:
            found = self.queues[name] = QueueSeries(self, name)
        else:
            # a new term's queue starts empty: what the last one held was dropped with it
            found.depth = 0
            found.added_at.clear()
            found.started_at.clear()
        return found

    def collect(self) -> Iterable[Metric]:
        """The series read when scraped: depths, work in progress, leadership."""
        now = time.monotonic()
        depth = GaugeMetricFamily("workqueue_depth", "Current depth of workqueue", labels=("name",))
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads "
            "by observing the rate at which this increases.", labels=("name",))
        longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.", labels=("name",))
        for name, series in list(self.queues.items()):
            depth.add_metric((name,), series.depth)
            running = [now - t for t in list(series.started_at.values())]
            unfinished.add_metric((name,), sum(running))
            longest.add_metric((name,), max(running, default=0.0))
        master = GaugeMetricFamily(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates "
            "master. 'name' is the string used to identify the lease. Please make sure to group by name.",
            labels=("name",))
        master.add_metric((self.lease,), 1 if self.leading else 0)
        return [depth, unfinished, longest, master]
