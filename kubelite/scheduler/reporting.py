"""How the scheduler tells users what it decided: Events, the PodScheduled condition,
``status.nominatedNodeName`` and the per-node diagnosis annotation.

Called from the synchronous scheduling loop (``Reporter.event``/``failure``), so a slow
API server delays explanations but never the scheduling itself. Events go straight to
a ``batching.BulkWriter`` (one bulk request for a burst of Scheduled events, no task or
future per event); they are best effort, as upstream's broadcaster: when
``event_backlog`` of them wait unanswered, more are dropped. Failure reports go through
a small worker pool and are coalesced per pod: only the newest one is written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

import orjson

from kubelite.aio import tasks
from kubelite.api.meta import now_rfc3339
from kubelite.client import errors, resources, rest
from kubelite.scheduler import batching

log = logging.getLogger("kubelite.scheduler")

Obj = dict[str, Any]
COMPONENT = "default-scheduler"
DIAGNOSIS_ANNOTATION = "scheduler.kubelite.io/diagnosis"
SERIES_WINDOW = 360.0  # upstream's broadcaster: an isomorphic event within 6 min joins the series
SERIES_KEPT = 4096


def observed_generation(pod: Obj) -> int:
    """The generation a condition written now was decided on (upstream's
    CalculatePodConditionObservedGeneration, pod generation tracking being GA since 1.35)."""
    return int((pod.get("metadata") or {}).get("generation") or 0)


def scheduled_condition(pod: Obj, *, message: str) -> list[Obj]:
    """The pod's conditions with PodScheduled=False/Unschedulable set (transition time
    kept when it was already False)."""
    conditions = [dict(c) for c in (pod.get("status") or {}).get("conditions") or []]
    old = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
    cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
            "lastProbeTime": None, "observedGeneration": observed_generation(pod),
            "lastTransitionTime": old.get("lastTransitionTime") if old and old.get("status") == "False"
            else now_rfc3339()}
    return [c for c in conditions if c.get("type") != "PodScheduled"] + [cond]


class Reporter:
    def __init__(self, client: rest.Client, *, identity: str, event_backlog: int = 2000,
                 workers: int = 8) -> None:
        self.client = client
        self.identity = identity
        self.event_backlog = event_backlog
        self.failures: OrderedDict[str, tuple[Obj, str, Obj, str | None]] = OrderedDict()
        self._failure_ready = asyncio.Event()
        self.workers = workers
        self.dropped_events = 0
        # One request in flight, not the binder's two: events are best effort and nobody
        # waits on them, so they leave in fewer, larger batches (less CPU on both sides).
        self.bulk = batching.BulkWriter(client, kind="events", single=self._create_event, in_flight=1)
        self._started = False
        self._unsent: list[Obj] = []  # events made before start (no loop to send them yet)
        # FailedScheduling events by (namespace, pod, uid, message): [name, count, last seen]
        self._series: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()
        self._last_ns = 0

    def start(self, tg: tasks.TaskGroup) -> None:
        for i in range(self.workers):
            tg.spawn(self._failure_worker(), name=f"failures-{i}")
        self._started = True
        unsent, self._unsent = self._unsent, []
        for body in unsent:
            self._send_event(body)

    async def close(self) -> None:
        self._started = False
        await self.bulk.close()

    # --- producers (synchronous, from the scheduling loop) ------------------------------

    def _event_name(self, pod_name: str) -> str:
        # Upstream's recorder names an event <object>.<hex of the time in ns>; the
        # nanoseconds are kept strictly increasing so two events never share a name.
        ns = time.time_ns()
        if ns <= self._last_ns:
            ns = self._last_ns + 1
        self._last_ns = ns
        return f"{pod_name}.{ns:x}"

    def event(self, pod: Obj, *, type_: str, reason: str, message: str, action: str = "Scheduling",
              profile: str = "", name: str = "") -> str:
        """``profile``: the scheduler name the event is from (default: the pod's own
        ``spec.schedulerName``), as upstream records with each profile's recorder.
        Returns the Event's name ("" when dropped)."""
        # The backlog is what waits for a request slot, as the broadcaster's queue.
        if len(self.bulk) + len(self._unsent) >= self.event_backlog:
            self.dropped_events += 1
            return ""
        meta = pod.get("metadata") or {}
        ts = now_rfc3339()
        component = profile or (pod.get("spec") or {}).get("schedulerName") or COMPONENT
        pod_name, namespace = meta.get("name"), meta.get("namespace")
        name = name or self._event_name(str(pod_name))
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace,
                               "name": pod_name, "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message, "type": type_, "action": action,
            "source": {"component": component}, "reportingComponent": component,
            "reportingInstance": self.identity, "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
        }
        if self._started:
            self._send_event(body)
        else:
            self._unsent.append(body)
        return name

    async def _failed_scheduling(self, pod: Obj, message: str) -> None:
        """A FailedScheduling Event; one that repeats the pod's last one within
        ``SERIES_WINDOW`` counts on it instead (``kubectl describe``: "x3 over 2m"), as
        upstream's event broadcaster turns isomorphic events into a series."""
        meta = pod.get("metadata") or {}
        key = (meta.get("namespace"), meta.get("name"), meta.get("uid"), message)
        now = time.monotonic()
        seen = self._series.get(key)
        if seen is not None and now - seen[2] < SERIES_WINDOW:
            seen[1] += 1
            seen[2] = now
            try:
                await self.client.patch(resources.EVENTS, seen[0], {"count": seen[1], "lastTimestamp": now_rfc3339()},
                                        namespace=meta.get("namespace"))
                return
            except errors.NotFound:
                pass  # expired (event TTL) or never written: a new one
            except errors.ApiError as exc:
                log.debug("event series not updated error=%s", exc)
                return
        name = self.event(pod, type_="Warning", reason="FailedScheduling", message=message)
        if name:
            self._series[key] = [name, 1, now]
            self._series.move_to_end(key)
            while len(self._series) > SERIES_KEPT:
                self._series.popitem(last=False)

    def _send_event(self, body: Obj) -> None:
        self.bulk.put(body, self._event_answered)  # one bound method, not a closure per event

    @staticmethod
    def _event_answered(outcome: errors.ApiError | None) -> None:
        if outcome is not None:
            log.debug("event not recorded error=%s", outcome)

    def failure(self, pod: Obj, *, message: str, diagnosis: Obj, nominated: str = "",
                clear_nominated: bool = False) -> None:
        """Record that the pod fits nowhere: condition, annotation, event (coalesced).
        ``nominated`` sets status.nominatedNodeName; ``clear_nominated`` removes it."""
        meta = pod.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        self.failures[key] = (pod, message, diagnosis, nominated if nominated or not clear_nominated else None)
        self.failures.move_to_end(key)
        self._failure_ready.set()

    # --- workers ------------------------------------------------------------------------

    async def _create_event(self, body: Obj) -> None:
        await self.client.create(resources.EVENTS, body, namespace=body["metadata"]["namespace"])

    async def _failure_worker(self) -> None:
        while True:
            while not self.failures:
                self._failure_ready.clear()
                await self._failure_ready.wait()
            key, (pod, message, diagnosis, nominated) = self.failures.popitem(last=False)
            meta = pod.get("metadata") or {}
            ns, name = meta.get("namespace"), meta.get("name") or ""
            # Only the PodScheduled condition, merged by type (strategic merge, as upstream's
            # scheduler): a merge patch of the whole list from our cache could drop a
            # condition someone else wrote since (the agent's Ready).
            conditions = [c for c in scheduled_condition(pod, message=message) if c.get("type") == "PodScheduled"]
            status: Obj = {"conditions": conditions}
            if nominated or nominated is None:  # None: clear it (a strategic-merge null)
                status["nominatedNodeName"] = nominated
            try:
                await self.client.patch(resources.PODS, name, {"status": status}, namespace=ns,
                                        subresource="status", patch_type="strategic")
                await self.client.patch(
                    resources.PODS, name,
                    {"metadata": {"annotations": {DIAGNOSIS_ANNOTATION: orjson.dumps(diagnosis).decode()}}},
                    namespace=ns)
            except errors.NotFound:
                continue
            except errors.ApiError as exc:
                log.info("could not record scheduling failure pod=%s error=%s", key, exc)
            await self._failed_scheduling(pod, message)

    async def nominate(self, pod: Obj, node: str) -> None:
        meta = pod.get("metadata") or {}
        await self.client.patch(resources.PODS, meta.get("name") or "", {"status": {"nominatedNodeName": node}},
                                namespace=meta.get("namespace"), subresource="status")
