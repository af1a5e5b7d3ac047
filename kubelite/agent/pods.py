"""The pod manager: which pods this node runs, one worker each, and runtime housekeeping.

Started by ``kubelite.agent.runner``. It watches pods with ``spec.nodeName=<node>``
through an informer, keeps one ``workers.PodWorker`` per pod uid, wakes the worker on
every pod change and on every runtime event for its containers (Docker's event stream:
a dying container is handled within a second, no polling), and removes whatever the
runtime holds for pods that no longer exist (at start, after a restart, and every 30 s).
The agent server (``kubelite.agent.server``) asks it which container serves a
``namespace/pod/container`` for logs and exec.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubelite.agent import clusternet, volumes, workers
from kubelite.agent import events as events_mod
from kubelite.agent import metrics as metrics_mod
from kubelite.agent.runtime import interface as rt
from kubelite.aio import tasks
from kubelite.client import informer, resources, rest

log = logging.getLogger("kubelite.agent.pods")

Obj = dict[str, Any]
HOUSEKEEPING_INTERVAL = 30.0


class PodManager:
    def __init__(self, client: rest.Client, runtime: rt.RuntimeDriver, *, node_name: str, host_ip: str,
                 volumes_root: Any, recorder: events_mod.Recorder, allocatable: dict[str, str] | None = None,
                 pods_view: Any = None) -> None:
        self.client = client
        self.runtime = runtime
        self.node_name = node_name
        self.host_ip = host_ip
        self.recorder = recorder
        self.allocatable = allocatable or {}
        self.metrics = metrics_mod.AgentMetrics()  # served by the agent server's /metrics
        # Set by the runner when the node has a Service network (cluster DNS, service links).
        self.cluster_net: clusternet.ClusterNetwork | None = None
        self.volumes = volumes.VolumeManager(client, root=volumes_root)
        self.workers: dict[str, workers.PodWorker] = {}
        self.finished: set[str] = set()  # uids whose worker completed: never start them again
        self.tg = tasks.TaskGroup(f"pods/{node_name}")
        # ``pods_view``: an informer-like view shared between many nodes (``simulate``);
        # a real agent watches only the pods bound to its node.
        self.pods = pods_view or informer.Informer(client, resources.PODS, field_selector=f"spec.nodeName={node_name}",
                                                   watch_timeout=300.0)

    # --- informer handlers -------------------------------------------------------------

    def _on_add(self, pod: Obj) -> None:
        uid = pod["metadata"].get("uid", "")
        if uid in self.finished:
            return
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(pod)
            return
        worker = workers.PodWorker(self, pod)
        self.workers[uid] = worker
        task = self.tg.spawn(worker.run(), name=f"worker/{worker.key}")
        task.add_done_callback(lambda _t, uid=uid: self._done(uid))

    def _done(self, uid: str) -> None:
        self.workers.pop(uid, None)
        self.finished.add(uid)
        if len(self.finished) > 100_000:
            self.finished.clear()

    def _on_update(self, old: Obj, new: Obj) -> None:
        self._on_add(new)

    def _on_delete(self, pod: Obj) -> None:
        worker = self.workers.get(pod["metadata"].get("uid", ""))
        if worker is not None:
            worker.mark_gone()

    # --- lookups for the agent server ---------------------------------------------------

    def pod(self, namespace: str, name: str) -> Obj | None:
        return self.pods.get(f"{namespace}/{name}")

    async def container(self, namespace: str, name: str, container: str | None, *,
                        previous: bool = False) -> tuple[Obj, rt.ContainerInfo]:
        """The runtime container behind ``namespace/pod/container`` (the one before the
        current, for ``previous``). Raises LookupError with a user-facing message."""
        pod = self.pod(namespace, name)
        if pod is None:
            raise LookupError(f'pods "{name}" not found')
        specs = (pod.get("spec") or {}).get("containers") or []
        inits = (pod.get("spec") or {}).get("initContainers") or []
        inits = inits + ((pod.get("spec") or {}).get("ephemeralContainers") or [])  # logs, attach of a debugger
        if not container:
            if len(specs) != 1:
                raise LookupError(f"a container name must be specified for pod {name}, choose one of: "
                                  f"[{' '.join(c['name'] for c in specs)}]")
            container = specs[0]["name"]
        if container not in {c["name"] for c in specs + inits}:
            raise LookupError(f"container {container} is not valid for pod {name}")
        found = [c for c in await self.runtime.list_containers(node_name=self.node_name,
                                                                pod_uid=pod["metadata"]["uid"])
                 if c.name == container]
        found.sort(key=lambda c: (c.attempt, c.created_at), reverse=True)
        index = 1 if previous else 0
        if len(found) <= index:
            if previous:
                raise LookupError(f'previous terminated container "{container}" in pod "{name}" not found')
            raise LookupError(f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
        return pod, found[index]

    # --- lifecycle --------------------------------------------------------------------

    async def run(self) -> None:
        self.pods.add_handler(on_add=self._on_add, on_update=self._on_update, on_delete=self._on_delete)
        self.pods.start(self.tg)
        self.tg.spawn(self._runtime_events(), name="runtime-events")
        try:
            await self.pods.wait_synced()
            await self.housekeeping()
            while True:
                await asyncio.sleep(HOUSEKEEPING_INTERVAL)
                try:
                    await self.housekeeping()
                except rt.DriverError as exc:
                    log.warning("housekeeping failed node=%s error=%s", self.node_name, exc)
        finally:
            await self.pods.stop()
            await self.tg.close()

    async def housekeeping(self) -> None:
        """Remove containers and sandboxes of pods that no longer exist (deleted while the
        agent was down): nothing keeps running for a pod the cluster forgot."""
        known = {(p.get("metadata") or {}).get("uid") for p in self.pods.list()} | set(self.workers)
        containers = await self.runtime.list_containers(node_name=self.node_name)
        sandboxes = await self.runtime.list_sandboxes(node_name=self.node_name)
        orphans = {c.pod_uid for c in containers if c.pod_uid not in known}
        orphans |= {s.pod_uid for s in sandboxes if s.pod_uid not in known}
        for c in containers:
            if c.pod_uid in orphans:
                log.info("removing orphaned container pod=%s/%s uid=%s container=%s",
                         c.namespace, c.pod_name, c.pod_uid, c.name)
                await self.runtime.stop_container(c.id, timeout=2)
                await self.runtime.remove_container(c.id)
        for s in sandboxes:
            if s.pod_uid in orphans:
                await self.runtime.remove_sandbox(s.id)
        for uid in orphans:
            self.volumes.cleanup(uid)

    async def _runtime_events(self) -> None:
        delay = 0.2
        while True:
            try:
                async for event in self.runtime.events():
                    delay = 0.2
                    worker = self.workers.get(event.pod_uid)
                    log.debug("runtime event kind=%s pod_uid=%s container=%s worker=%s", event.kind,
                              event.pod_uid, event.container, worker is not None)
                    if worker is not None:
                        worker.wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the engine restarted: subscribe again
                log.warning("runtime event stream broken node=%s error=%s", self.node_name, exc)
            # After a gap we may have missed events: wake everyone to re-read the runtime.
            for worker in list(self.workers.values()):
                worker.wake.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
