"""Kubernetes Events from the node agent: what a user reads in ``kubectl describe pod``.

The pod workers call ``Recorder.pod_event`` (never blocking: events are queued and
posted by one background task). Events are core/v1 with ``source.component: kubelet``
and the node as ``source.host``; a repeat of the same reason and message for the same
object bumps ``count`` and ``lastTimestamp`` instead of creating another object, as
upstream's event correlator does.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from kubelite.agent import node as node_mod
from kubelite.client import errors, resources, rest

log = logging.getLogger("kubelite.agent.events")

Obj = dict[str, Any]


class Recorder:
    def __init__(self, client: rest.Client, *, node_name: str, max_queue: int = 10_000) -> None:
        self.client = client
        self.node_name = node_name
        self._queue: asyncio.Queue[Obj] = asyncio.Queue(maxsize=max_queue)
        self._seen: dict[tuple[str, str, str, str], tuple[str, str, int]] = {}  # key → (ns, name, count)

    def pod_event(self, pod: Obj, *, reason: str, message: str, type_: str = "Normal",
                  container: str | None = None, init: bool = False) -> None:
        meta = pod.get("metadata") or {}
        involved = {"kind": "Pod", "apiVersion": "v1", "namespace": meta.get("namespace"),
                    "name": meta.get("name"), "uid": meta.get("uid"),
                    "resourceVersion": meta.get("resourceVersion")}
        if container:
            involved["fieldPath"] = f"spec.{'initContainers' if init else 'containers'}{{{container}}}"
        event = {"involvedObject": involved, "reason": reason, "message": message, "type": type_}
        log.info("event pod=%s/%s reason=%s container=%s message=%s", meta.get("namespace"),
                 meta.get("name"), reason, container or "", message)
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("event queue full, dropping reason=%s", reason)

    def node_event(self, *, reason: str, message: str, type_: str = "Normal") -> None:
        """An event about this node, in ``default``; as kubelet's, its involvedObject's uid
        is the node's *name* (``kubectl describe node`` searches both that and the uid)."""
        event = {"involvedObject": {"kind": "Node", "apiVersion": "v1", "name": self.node_name,
                                    "uid": self.node_name},
                 "reason": reason, "message": message, "type": type_}
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("event queue full, dropping reason=%s", reason)

    async def run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._post(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - events are best effort
                log.warning("posting event failed reason=%s error=%s", event.get("reason"), exc)

    async def _post(self, event: Obj) -> None:
        inv = event["involvedObject"]
        key = (str(inv.get("uid")), str(inv.get("fieldPath", "")), event["reason"], event["message"])
        now = node_mod.now_iso()
        seen = self._seen.get(key)
        if seen is not None:
            namespace, name, count = seen
            try:
                await self.client.patch(resources.EVENTS, name, {"count": count + 1, "lastTimestamp": now},
                                        namespace=namespace)
                self._seen[key] = (namespace, name, count + 1)
                return
            except errors.NotFound:
                pass
        namespace = inv.get("namespace") or "default"
        name = f"{inv.get('name')}.{uuid.uuid4().hex[:16]}"
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            **event,
            "source": {"component": "kubelet", "host": self.node_name},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "reportingComponent": "kubelet", "reportingInstance": self.node_name,
        }
        await self.client.create(resources.EVENTS, body, namespace=namespace)
        if len(self._seen) > 20_000:
            self._seen.clear()
        self._seen[key] = (namespace, name, 1)
