"""The scheduler's Prometheus metrics, with upstream's names (``pkg/scheduler/metrics``).

One ``SchedulerMetrics`` per scheduler process, made by ``runner.run`` and given to each
term's ``Scheduler``, so counters keep counting across leadership terms; ``runner`` serves
its registry at ``GET /metrics`` (``kubelite scheduler --metrics-bind-address``,
``telemetry.http``). Exposed:

- ``scheduler_schedule_attempts_total{result,profile}`` and
  ``scheduler_scheduling_attempt_duration_seconds{result,profile}``: result ``scheduled``
  (counted when the binding is written, the attempt timed from the start of the scheduling
  cycle), ``unschedulable`` (no node fits) or ``error`` (a Reserve, Permit or binding
  failure, or a crash);
- ``scheduler_pod_scheduling_sli_duration_seconds{attempts}``: from the pod's first entry
  into the queue to its binding, and ``scheduler_pod_scheduling_attempts``;
- ``scheduler_preemption_attempts_total``;
- ``scheduler_pending_pods{queue}``: ``active``, ``backoff``, ``unschedulable`` and
  ``gated`` (held by ``spec.schedulingGates``), read from the leading term's queue when
  scraped (nothing while not leading);
- ``process_*`` and ``python_*``.
"""

from __future__ import annotations

from kubelite.scheduler import queue as queue_mod
from kubelite.telemetry import instruments

SCHEDULED, UNSCHEDULABLE, ERROR = "scheduled", "unschedulable", "error"
# Upstream's buckets: attempts from 1 ms to ~16 s; the SLI from 10 ms to ~88 min.
ATTEMPT_BUCKETS = instruments.exponential_buckets(0.001, 2, 15)
SLI_BUCKETS = instruments.exponential_buckets(0.01, 2, 20)
ATTEMPTS_BUCKETS = instruments.exponential_buckets(1, 2, 5)
# The SLI's attempts label stops here ("15+"), as upstream's, to bound its series.
MAX_ATTEMPTS_LABEL = 15


class SchedulerMetrics:
    """The scheduler's instruments and registry. Recording happens on the scheduler's
    event loop only (no locks, see ``telemetry.instruments``)."""

    def __init__(self) -> None:
        self.registry = instruments.new_registry()
        self.attempts = instruments.CounterVec(
            "scheduler_schedule_attempts_total",
            "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be "
            "scheduled, while 'error' means an internal scheduler problem.", ("result", "profile"))
        self.attempt_duration = instruments.HistogramVec(
            "scheduler_scheduling_attempt_duration_seconds",
            "Scheduling attempt latency in seconds (scheduling algorithm + binding)", ("result", "profile"),
            buckets=ATTEMPT_BUCKETS)
        self.sli_duration = instruments.HistogramVec(
            "scheduler_pod_scheduling_sli_duration_seconds",
            "E2e latency for a pod being scheduled, from the time the pod enters the scheduling queue and might "
            "involve multiple scheduling attempts.", ("attempts",), buckets=SLI_BUCKETS)
        self.pod_attempts = instruments.HistogramVec(
            "scheduler_pod_scheduling_attempts", "Number of attempts to successfully schedule a pod.", (),
            buckets=ATTEMPTS_BUCKETS)
        self.preemptions = instruments.CounterVec(
            "scheduler_preemption_attempts_total", "Total preemption attempts in the cluster till now", ())
        self.pending = instruments.GaugeVec(
            "scheduler_pending_pods",
            "Number of pending pods, by the queue type. 'active' means number of pods in activeQ; 'backoff' "
            "means number of pods in backoffQ; 'unschedulable' means number of pods in unschedulablePods that "
            "the scheduler attempted to schedule and failed; 'gated' is the number of unschedulable pods that "
            "the scheduler never attempted to schedule because they are gated.", ("queue",), source=self._pending)
        # the queue of the term that leads now (runner sets and clears it)
        self.queue: queue_mod.SchedulingQueue | None = None
        for collector in (self.attempts, self.attempt_duration, self.sli_duration, self.pod_attempts,
                          self.preemptions, self.pending):
            self.registry.register(collector)  # type: ignore[arg-type]

    def attempt(self, *, result: str, profile: str, seconds: float) -> None:
        """An attempt ended with ``result`` after ``seconds``."""
        labels = (result, profile)
        self.attempts.inc(labels)
        self.attempt_duration.observe(labels, seconds)

    def scheduled(self, *, profile: str, seconds: float, attempts: int, since_queued: float) -> None:
        """A pod's binding was written: its last attempt took ``seconds``, ``attempts`` in all,
        ``since_queued`` seconds after it first entered the queue."""
        self.attempt(result=SCHEDULED, profile=profile, seconds=seconds)
        label = str(attempts) if attempts < MAX_ATTEMPTS_LABEL else f"{MAX_ATTEMPTS_LABEL}+"
        self.sli_duration.observe((label,), since_queued)
        self.pod_attempts.observe((), attempts)

    def _pending(self) -> dict[tuple[str, ...], float]:
        counts = self.queue.counts() if self.queue is not None else {}
        return {(name,): counts.get(name, 0) for name in ("active", "backoff", "unschedulable", "gated")}
