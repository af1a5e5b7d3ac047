"""How the scheduler tells users what it decided: Events, the PodScheduled condition,
``status.nominatedNodeName`` and the per-node diagnosis annotation.

All writes go through small bounded worker pools fed by ``Reporter.submit_*`` (called
from the synchronous scheduling loop), so a slow API server delays explanations but
never the scheduling itself. Events are best effort, as upstream's broadcaster: when the
backlog is full they are dropped. Failure reports are coalesced per pod: only the newest
one is written.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from collections import OrderedDict
from typing import Any

import orjson

from kubelite.aio import tasks
from kubelite.client import errors, resources, rest
from kubelite.scheduler import batching

log = logging.getLogger("kubelite.scheduler")

Obj = dict[str, Any]
COMPONENT = "default-scheduler"
DIAGNOSIS_ANNOTATION = "scheduler.kubelite.io/diagnosis"


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_condition(pod: Obj, *, message: str) -> list[Obj]:
    """The pod's conditions with PodScheduled=False/Unschedulable set (transition time
    kept when it was already False)."""
    conditions = [dict(c) for c in (pod.get("status") or {}).get("conditions") or []]
    old = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
    cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": old.get("lastTransitionTime") if old and old.get("status") == "False"
            else now_rfc3339()}
    return [c for c in conditions if c.get("type") != "PodScheduled"] + [cond]


class Reporter:
    def __init__(self, client: rest.Client, *, identity: str, event_backlog: int = 2000,
                 workers: int = 8) -> None:
        self.client = client
        self.identity = identity
        self.events: asyncio.Queue[Obj] = asyncio.Queue(maxsize=event_backlog)
        self.failures: OrderedDict[str, tuple[Obj, str, Obj, str]] = OrderedDict()
        self._failure_ready = asyncio.Event()
        self.workers = workers
        self.dropped_events = 0
        self.bulk = batching.BulkWriter(client, kind="events", single=self._create_event)

    def start(self, tg: tasks.TaskGroup) -> None:
        for i in range(self.workers):
            tg.spawn(self._event_worker(), name=f"events-{i}")
            tg.spawn(self._failure_worker(), name=f"failures-{i}")

    # --- producers (synchronous, from the scheduling loop) ------------------------------

    def event(self, pod: Obj, *, type_: str, reason: str, message: str, action: str = "Scheduling") -> None:
        meta = pod.get("metadata") or {}
        ts = now_rfc3339()
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta.get('name')}.{uuid.uuid4().hex[:16]}", "namespace": meta.get("namespace")},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": meta.get("namespace"),
                               "name": meta.get("name"), "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message, "type": type_, "action": action,
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
            "reportingInstance": self.identity, "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
        }
        try:
            self.events.put_nowait(body)
        except asyncio.QueueFull:
            self.dropped_events += 1

    def failure(self, pod: Obj, *, message: str, diagnosis: Obj, nominated: str = "") -> None:
        """Record that the pod fits nowhere: condition, annotation, event (coalesced)."""
        meta = pod.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        self.failures[key] = (pod, message, diagnosis, nominated)
        self.failures.move_to_end(key)
        self._failure_ready.set()

    # --- workers ------------------------------------------------------------------------

    async def _event_worker(self) -> None:
        # Every event queued by now leaves together: one bulk request for a burst of
        # Scheduled events (``batching``), not one request each.
        while True:
            bodies = [await self.events.get()]
            while len(bodies) < self.bulk.max_batch and not self.events.empty():
                bodies.append(self.events.get_nowait())
            await asyncio.gather(*(self._record(body) for body in bodies))

    async def _record(self, body: Obj) -> None:
        try:
            await self.bulk.submit(body)
        except errors.ApiError as exc:
            log.debug("event not recorded reason=%s error=%s", body.get("reason"), exc)

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
            if nominated:
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
            self.event(pod, type_="Warning", reason="FailedScheduling", message=message)

    async def nominate(self, pod: Obj, node: str) -> None:
        meta = pod.get("metadata") or {}
        await self.client.patch(resources.PODS, meta.get("name") or "", {"status": {"nominatedNodeName": node}},
                                namespace=meta.get("namespace"), subresource="status")
