"""The scheduling queue: which pending pod to try next, and when to try a failed one again.

Three parts, as upstream's PriorityQueue:

- **active**: a heap by priority (higher first), then arrival (FIFO);
- **backoff**: pods that failed recently, each waiting 1 s, 2 s, 4 s … (max 10 s) per
  attempt before returning to active;
- **unschedulable**: pods no node fits. They stay until a cluster event that could make
  them fit arrives (``move``: a node added or changed, a placed pod deleted, …) — only
  events relevant to the plugins that rejected the pod move it (a queueing hint) — or
  until they have waited ``max_unschedulable`` (5 min), as a safety net.

Pods held back by ``spec.schedulingGates`` are not queued at all, only counted in
``gated`` (for ``scheduler_pending_pods``) until an update removes their last gate.

If an event arrives while a pod is being scheduled, a failure sends it to backoff rather
than unschedulable, so the event is not lost (upstream's moveRequestCycle).

The scheduler (``scheduler.py``) is the only caller; everything runs on one event loop,
so there are no locks.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from kubelite.client import informer
from kubelite.scheduler import objects

Obj = dict[str, Any]

# Cluster events, and the plugins whose verdicts each one may change.
ALL = frozenset({"*"})
EVENT_PLUGINS: dict[str, frozenset[str]] = {
    "NodeAdd": ALL,
    "NodeUpdate": ALL,
    "AssignedPodDelete": frozenset({"NodeResourcesFit", "NodePorts", "InterPodAffinity", "PodTopologySpread",
                                    "DefaultPreemption", "VolumeBinding"}),
    "AssignedPodAdd": frozenset({"InterPodAffinity", "PodTopologySpread"}),
    "NamespaceUpdate": frozenset({"InterPodAffinity"}),
    "StorageChange": frozenset({"VolumeBinding"}),
}


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass(slots=True)
class QueuedPod:
    pod: Obj
    key: str
    priority: int
    added: float  # first time it entered the queue (for latency)
    attempts: int = 0
    attempt_started: float = 0.0  # when its latest scheduling cycle began (for metrics)
    backoff_until: float = 0.0
    since: float = 0.0  # when it entered its current sub-queue
    plugins: frozenset[str] = frozenset()  # plugins that rejected it last time
    seq: int = 0
    last_message: str = ""
    last_reported: float = 0.0


@dataclass
class SchedulingQueue:
    initial_backoff: float = 1.0
    max_backoff: float = 10.0
    max_unschedulable: float = 300.0
    entries: dict[str, QueuedPod] = field(default_factory=dict)
    active: list[tuple[int, int, str]] = field(default_factory=list)
    backoff: list[tuple[float, int, str]] = field(default_factory=list)
    unschedulable: dict[str, QueuedPod] = field(default_factory=dict)
    in_active: set[str] = field(default_factory=set)
    in_flight: dict[str, int] = field(default_factory=dict)  # key → move cycle when popped
    move_cycle: int = 0
    gated: set[str] = field(default_factory=set)  # keys of pods held by scheduling gates

    def __post_init__(self) -> None:
        self._seq = itertools.count()
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def _push_active(self, q: QueuedPod) -> None:
        q.seq = next(self._seq)
        q.since = time.monotonic()
        self.unschedulable.pop(q.key, None)
        self.in_active.add(q.key)
        heapq.heappush(self.active, (-q.priority, q.seq, q.key))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _push_backoff(self, q: QueuedPod) -> None:
        q.seq = next(self._seq)
        q.since = time.monotonic()
        self.unschedulable.pop(q.key, None)
        self.in_active.discard(q.key)
        heapq.heappush(self.backoff, (q.backoff_until, q.seq, q.key))

    # --- informer-driven changes --------------------------------------------------------

    def add(self, pod: Obj) -> None:
        """A new pending pod (or one we had lost track of): straight to active."""
        key = informer.key_of(pod)
        self.gated.discard(key)
        q = self.entries.get(key)
        if q is not None:
            q.pod = pod
            return
        q = QueuedPod(pod=pod, key=key, priority=objects.priority_of(pod), added=time.monotonic())
        self.entries[key] = q
        if key not in self.in_flight:
            self._push_active(q)

    def update(self, pod: Obj, *, relevant: bool) -> None:
        """A pending pod changed; a relevant change (spec, labels) retries it now."""
        key = informer.key_of(pod)
        q = self.entries.get(key)
        if q is None:
            self.add(pod)
            return
        q.pod = pod
        q.priority = objects.priority_of(pod)
        if relevant and key in self.unschedulable:
            self._to_active_or_backoff(q)

    def gate(self, key: str) -> None:
        """A pending pod held by scheduling gates: out of the queue, counted as gated."""
        self.delete(key)
        self.gated.add(key)

    def delete(self, key: str) -> None:
        self.gated.discard(key)
        self.entries.pop(key, None)
        self.unschedulable.pop(key, None)
        self.in_active.discard(key)

    def move(self, event: str) -> None:
        """A cluster event: retry unschedulable pods whose rejecting plugins care about it."""
        self.move_cycle += 1
        if not self.unschedulable:
            return  # the usual case while pods keep fitting: nothing waits for an event
        interested = EVENT_PLUGINS.get(event, ALL)
        for key, q in list(self.unschedulable.items()):
            if interested is ALL or not q.plugins or q.plugins & interested:
                self._to_active_or_backoff(q)

    def _to_active_or_backoff(self, q: QueuedPod) -> None:
        if q.backoff_until > time.monotonic():
            self._push_backoff(q)
        else:
            self._push_active(q)

    def counts(self) -> dict[str, int]:
        """Pending pods by sub-queue (``scheduler_pending_pods``); pods being scheduled
        right now are in none of them."""
        waiting = len(self.unschedulable) + len(self.in_active)
        in_flight = sum(1 for key in self.in_flight if key in self.entries)
        return {"active": len(self.in_active), "backoff": max(0, len(self.entries) - waiting - in_flight),
                "unschedulable": len(self.unschedulable), "gated": len(self.gated)}

    # --- the scheduling loop's side ----------------------------------------------------

    def pop(self) -> QueuedPod | None:
        """The next pod to schedule, or None if active is empty (never waits)."""
        while self.active:
            _, seq, key = heapq.heappop(self.active)
            q = self.entries.get(key)
            if q is None or q.seq != seq or key not in self.in_active:
                continue  # stale heap entry: deleted or re-queued since
            self.in_active.discard(key)
            self.in_flight[key] = self.move_cycle
            q.attempts += 1
            return q
        return None

    async def wait(self, timeout: float) -> None:
        """Until something may be in active (or the timeout, for flushing)."""
        if self.active:
            return
        # A bare future and a timer, not wait_for: the loop waits here between most pods
        # when they arrive one by one, and wait_for costs a task each time.
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _wake, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def done(self, key: str) -> None:
        """The pod was scheduled (assumed): it leaves the queue."""
        self.in_flight.pop(key, None)
        self.entries.pop(key, None)

    def failed(self, q: QueuedPod, *, plugins: frozenset[str], error: bool = False) -> None:
        """The attempt failed: to backoff (an error, or an event came meanwhile), else to
        unschedulable until an event that matters to ``plugins``."""
        popped_cycle = self.in_flight.pop(q.key, self.move_cycle)
        if q.key not in self.entries:
            return  # deleted while being scheduled
        q.plugins = plugins
        q.backoff_until = time.monotonic() + min(self.max_backoff,
                                                 self.initial_backoff * 2 ** max(q.attempts - 1, 0))
        if error or popped_cycle != self.move_cycle:
            self._push_backoff(q)
        else:
            q.since = time.monotonic()
            self.unschedulable[q.key] = q

    def requeue(self, pod: Obj) -> None:
        """A pod whose binding failed comes back, after backoff."""
        key = informer.key_of(pod)
        q = self.entries.get(key)
        if q is None:
            q = QueuedPod(pod=pod, key=key, priority=objects.priority_of(pod), added=time.monotonic(), attempts=1)
            self.entries[key] = q
        q.backoff_until = time.monotonic() + min(self.max_backoff, self.initial_backoff * 2 ** max(q.attempts - 1, 0))
        self._push_backoff(q)

    def flush(self) -> None:
        """Backoff pods whose time came go to active; long-unschedulable ones too."""
        now = time.monotonic()
        while self.backoff and self.backoff[0][0] <= now:
            _, seq, key = heapq.heappop(self.backoff)
            q = self.entries.get(key)
            if q is not None and q.seq == seq and key not in self.in_active and key not in self.unschedulable:
                self._push_active(q)
        for key, q in list(self.unschedulable.items()):
            if now - q.since > self.max_unschedulable:
                self._to_active_or_backoff(q)
