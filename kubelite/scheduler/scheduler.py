"""The scheduler proper: informers feed the cache and the queue; one loop pops a pod,
runs its profile's framework, assumes the chosen node in the cache and starts its
binding; failures are explained and queued for retry.

``runner.run`` builds a ``Scheduler`` for each term as leader and calls ``run``.
Binding is asynchronous and concurrent: the scheduling loop never waits on the API
server, and because a pod is *assumed* before its binding lands, the next pod already
sees that capacity taken. A failed binding forgets the assumption and requeues the pod
with backoff. The common binding cycle (Permit passes at once, no PreBind work, a
binder that batches) runs without a coroutine per pod: the binding joins the binder's
next bulk request and its answer finishes the cycle (``_finish_binding``). Pods with
PreBind work (volumes) or other binders go through ``bind_workers`` coroutines.

Besides nodes, pods and namespaces, it watches PersistentVolumeClaims, PersistentVolumes
and StorageClasses (for VolumeBinding; their changes retry pods that failed on volumes)
and PodDisruptionBudgets (for preemption), into ``cache.listers``. Pods nominated by
preemption (``status.nominatedNodeName``) are kept in ``cache.nominated`` until they are
placed or deleted, so that lower-priority pods do not take the space they wait for.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubelite.aio import tasks
from kubelite.api.meta import now_rfc3339
from kubelite.client import errors, informer, resources, rest
from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, listers, plugins, reporting
from kubelite.scheduler import metrics as metrics_mod
from kubelite.scheduler import queue as queue_mod

log = logging.getLogger("kubelite.scheduler")

Obj = dict[str, Any]
DEFAULT_SCHEDULER = "default-scheduler"
STORAGECLASSES = resources.Resource("storage.k8s.io", "v1", "storageclasses", False, "StorageClass")
PODDISRUPTIONBUDGETS = resources.Resource("policy", "v1", "poddisruptionbudgets", True, "PodDisruptionBudget")
# Volumes and PDBs refine decisions; a server that lacks them must not stop scheduling.
OPTIONAL_SYNC_TIMEOUT = 30.0
# The scheduling loop yields to the other tasks (informers, binders) at least this often
# while pods wait (seconds).
LOOP_SLICE = 0.002
LATENCIES_KEPT = 10_000


@dataclass
class Stats:
    scheduled: int = 0
    failed_attempts: int = 0
    bind_errors: int = 0
    preemptions: int = 0
    # queue entry → binding persisted, for the most recent pods only: a scheduler runs for
    # months, and a list of every pod's latency would grow without bound
    latencies: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=LATENCIES_KEPT))


def _finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _gated(pod: Obj) -> bool:
    """Held back by ``spec.schedulingGates`` (upstream's SchedulingGates PreEnqueue plugin):
    not queued until an update removes the last gate."""
    return bool((pod.get("spec") or {}).get("schedulingGates"))


def _nominated_node(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("nominatedNodeName") or "")


class Scheduler:
    def __init__(self, client: rest.Client, *, identity: str = "kubelite-scheduler",
                 profiles: dict[str, framework.Framework] | None = None, bind_workers: int = 256,
                 scheduled_events: bool = True, still_leader: Callable[[], bool] | None = None,
                 on_synced: Callable[[], None] | None = None,
                 queue: queue_mod.SchedulingQueue | None = None,
                 metrics: metrics_mod.SchedulerMetrics | None = None) -> None:
        self.client = client
        self.profiles = profiles or {DEFAULT_SCHEDULER: plugins.default_profile(client=client)}
        self.cache = cache_mod.NodeCache()
        self.queue = queue or queue_mod.SchedulingQueue()
        self.reporter = reporting.Reporter(client, identity=identity)
        self.bind_queue: asyncio.Queue[tuple[queue_mod.QueuedPod, framework.CycleState, str,
                                             framework.Framework]] = asyncio.Queue()
        self.bind_workers = bind_workers
        self.scheduled_events = scheduled_events
        self.still_leader = still_leader or (lambda: True)
        self.on_synced = on_synced  # called once the caches hold the cluster (runner: gc freeze)
        self.stats = Stats()
        # the process's metrics (runner), which outlive this term; else this scheduler's own
        self.metrics = metrics or metrics_mod.SchedulerMetrics()
        self._tg: tasks.TaskGroup | None = None
        self.nodes = informer.Informer(client, resources.NODES, page_size=1000, strip_managed_fields=True)
        self.pods = informer.Informer(client, resources.PODS, page_size=1000, strip_managed_fields=True)
        self.namespaces = informer.Informer(client, resources.NAMESPACES, strip_managed_fields=True)
        self.nodes.add_handler(on_add=self._node_added, on_update=self._node_updated, on_delete=self._node_deleted)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.namespaces.add_handler(on_add=self._ns_changed, on_update=lambda _o, n: self._ns_changed(n),
                                    on_delete=self._ns_deleted)
        self.extra: list[informer.Informer] = []
        for res, kind, event in ((resources.PERSISTENTVOLUMECLAIMS, listers.PVCS, "StorageChange"),
                                 (resources.PERSISTENTVOLUMES, listers.PVS, "StorageChange"),
                                 (STORAGECLASSES, listers.CLASSES, "StorageChange"),
                                 (PODDISRUPTIONBUDGETS, listers.PDBS, "")):
            inf = informer.Informer(client, res, page_size=1000, strip_managed_fields=True)
            inf.add_handler(on_add=self._lister_set(kind, event), on_update=self._lister_update(kind, event),
                            on_delete=self._lister_delete(kind, event))
            self.extra.append(inf)

    def responsible_for(self, pod: Obj) -> bool:
        return ((pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER) in self.profiles

    # --- informer handlers (quick, synchronous) -----------------------------------------

    def _node_added(self, node: Obj) -> None:
        self.cache.set_node(node)
        self.queue.move("NodeAdd")

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if self.cache.set_node(new):
            self.queue.move("NodeUpdate")

    def _node_deleted(self, node: Obj) -> None:
        self.cache.remove_node(node["metadata"]["name"])

    def _ns_changed(self, ns: Obj) -> None:
        self.cache.ns_labels[ns["metadata"]["name"]] = dict(ns["metadata"].get("labels") or {})
        self.queue.move("NamespaceUpdate")

    def _ns_deleted(self, ns: Obj) -> None:
        self.cache.ns_labels.pop(ns["metadata"]["name"], None)

    def _lister_set(self, kind: str, event: str) -> Callable[[Obj], None]:
        def handle(obj: Obj) -> None:
            self.cache.listers.set(kind, obj)
            if event:
                self.queue.move(event)
        return handle

    def _lister_update(self, kind: str, event: str) -> Callable[[Obj, Obj], None]:
        set_ = self._lister_set(kind, event)
        return lambda _old, new: set_(new)

    def _lister_delete(self, kind: str, event: str) -> Callable[[Obj], None]:
        def handle(obj: Obj) -> None:
            self.cache.listers.delete(kind, obj)
            if event:
                self.queue.move(event)
        return handle

    def _track_nomination(self, pod: Obj) -> None:
        """Keep ``cache.nominated`` in step with a pending pod's nominatedNodeName."""
        key = informer.key_of(pod)
        node = _nominated_node(pod)
        if node and not pod["metadata"].get("deletionTimestamp"):
            if not self.cache.assumed(key):
                self.cache.nominate(cache_mod.pod_info(pod, node=node))
        elif self.cache.unnominate(key) is not None:
            self.queue.move("AssignedPodDelete")  # the space it held is free again

    def _pod_added(self, pod: Obj) -> None:
        spec = pod.get("spec") or {}
        node = spec.get("nodeName")
        if node:
            if not _finished(pod):
                self.cache.add_pod(cache_mod.pod_info(pod, node=node))
                self.queue.move("AssignedPodAdd")
        elif (spec.get("schedulerName") or DEFAULT_SCHEDULER) in self.profiles \
                and not pod["metadata"].get("deletionTimestamp"):
            if _gated(pod):
                self.queue.gate(informer.key_of(pod))
                return
            if _nominated_node(pod):
                self._track_nomination(pod)
            self.queue.add(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = informer.key_of(new)
        node = (new.get("spec") or {}).get("nodeName")
        if node:
            self.queue.delete(key)
            held = self.cache.unnominate(key)
            if held is not None and held.node != node:
                self.queue.move("AssignedPodDelete")  # the space it held elsewhere is free again
            if _finished(new):
                if self.cache.remove_pod(key) is not None:
                    self.queue.move("AssignedPodDelete")
                return
            placed = self.cache.pods.get(key)
            if placed is not None and placed.assumed and placed.node == node and cache_mod.same_placement(placed, new):
                # Our own binding, confirmed: what the cache counts for it is unchanged.
                placed.obj, placed.assumed = new, False
            else:
                self.cache.add_pod(cache_mod.pod_info(new, node=node))
            if not (old.get("spec") or {}).get("nodeName"):
                self.queue.move("AssignedPodAdd")
            return
        if self.responsible_for(new) and (_nominated_node(new) or key in self.cache.nominated):
            self._track_nomination(new)
        if self.cache.assumed(key) or not self.responsible_for(new):
            return  # our binding is in flight; the update is our own status write
        if new["metadata"].get("deletionTimestamp"):
            self.queue.delete(key)
            return
        if _gated(new):
            self.queue.gate(key)
            return
        relevant = (old.get("spec") != new.get("spec")
                    or (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"))
        self.queue.update(new, relevant=relevant)

    def _pod_deleted(self, pod: Obj) -> None:
        key = informer.key_of(pod)
        self.queue.delete(key)
        if self.cache.remove_pod(key) is not None or self.cache.unnominate(key) is not None:
            self.queue.move("AssignedPodDelete")

    # --- the scheduling loop ------------------------------------------------------------

    async def run(self, lost: asyncio.Event | None = None) -> None:
        """Schedule until cancelled (or ``lost`` is set)."""
        tg = self._tg = tasks.TaskGroup("scheduler")
        try:
            for inf in (self.namespaces, self.nodes, *self.extra, self.pods):
                inf.start(tg)
            for inf in (self.namespaces, self.nodes, self.pods):
                await inf.wait_synced()
            for inf in self.extra:
                if not await inf.wait_synced(OPTIONAL_SYNC_TIMEOUT):
                    log.warning("scheduler continues without a synced cache resource=%s", inf.res)
            log.info("scheduler caches synced nodes=%d pods=%d pending=%d",
                     self.cache.node_count, len(self.cache.pods), len(self.queue))
            if self.on_synced is not None:
                self.on_synced()
            self.reporter.start(tg)
            for i in range(self.bind_workers):
                tg.spawn(self._bind_worker(), name=f"bind-{i}")
            tg.spawn(self._flush_loop(), name="queue-flush")
            loop = tg.spawn(self._loop(), name="loop")
            if lost is not None:
                waiter = tg.spawn(lost.wait(), name="lost")
                await asyncio.wait([loop, waiter], return_when=asyncio.FIRST_COMPLETED)
            else:
                await loop
        finally:
            for inf in (self.pods, *self.extra, self.nodes, self.namespaces):
                await inf.stop()
            await tg.close()
            # Bulk writers run their own senders: stop them with the term.
            for fw in self.profiles.values():
                for p in fw.plugins:
                    close = getattr(p, "close", None)
                    if close is not None:
                        await close()
            await self.reporter.close()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            self.queue.flush()

    async def _loop(self) -> None:
        clock = time.perf_counter
        slice_end = clock() + LOOP_SLICE
        while True:
            q = self.queue.pop()
            if q is None:
                await self.queue.wait(0.25)
                slice_end = clock() + LOOP_SLICE
                continue
            try:
                self.schedule_one(q)
            except Exception:  # one bad pod must not stop scheduling
                log.exception("scheduling attempt crashed pod=%s", q.key)
                self.queue.failed(q, plugins=frozenset(), error=True)
                self._attempt_failed(q, metrics_mod.ERROR)
            # Let informers and binders run: the loop is CPU-bound. Not after every pod:
            # each turn of the event loop is a poll of every socket, and the bindings
            # of the pods of one slice leave together, in one bulk request.
            if clock() >= slice_end:
                await asyncio.sleep(0)
                slice_end = clock() + LOOP_SLICE

    def schedule_one(self, q: queue_mod.QueuedPod) -> None:
        pod = q.pod
        spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
        if spec.get("nodeName") or meta.get("deletionTimestamp") or self.cache.assumed(q.key):
            self.queue.done(q.key)
            return
        fw = self.profiles.get(spec.get("schedulerName") or DEFAULT_SCHEDULER)
        if fw is None:
            self.queue.done(q.key)
            return
        q.attempt_started = time.monotonic()
        info = cache_mod.pod_info(pod, node="")
        state = framework.CycleState(pod, info)
        result = fw.schedule(state, self.cache)
        if result.node:
            self._assume_and_bind(q, state, result.node, fw)
            return
        diagnosis = result.diagnosis
        assert diagnosis is not None
        self.stats.failed_attempts += 1
        nominated = ""
        # no nodes at all: nothing to preempt, and a nomination is stale (upstream)
        clear_nominated = not diagnosis.num_nodes
        if diagnosis.num_nodes and fw.post_filters:
            self.metrics.preemptions.inc(())
        for p in fw.post_filters if diagnosis.num_nodes else ():
            post = p.post_filter(state, self.cache, diagnosis, fw)
            if post.nominated_node:
                nominated = post.nominated_node
                self._preempt(pod, post.nominated_node, post.victims, violations=post.violations)
                break
            diagnosis.post_filter_message = post.message
            clear_nominated = clear_nominated or post.clear_nominated
        message = diagnosis.summary()
        self.queue.failed(q, plugins=frozenset(diagnosis.plugins) | ({"DefaultPreemption"} if nominated else set()))
        self._attempt_failed(q, metrics_mod.UNSCHEDULABLE, profile=fw.name)
        now = time.monotonic()
        if message != q.last_message or nominated or now - q.last_reported > 60:
            q.last_message, q.last_reported = message, now
            log.info("pod unschedulable pod=%s reason=%r", q.key, message)
            self.reporter.failure(pod, message=message, diagnosis=diagnosis.to_json(), nominated=nominated,
                                  clear_nominated=clear_nominated and bool(_nominated_node(pod)))

    def _attempt_failed(self, q: queue_mod.QueuedPod, result: str, *, profile: str = "") -> None:
        """Count an attempt that did not place ``q`` (``scheduler_schedule_attempts_total``)."""
        if not profile:
            profile = (q.pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER
        started = q.attempt_started
        self.metrics.attempt(result=result, profile=profile, seconds=time.monotonic() - started if started else 0.0)

    def _assume_and_bind(self, q: queue_mod.QueuedPod, state: framework.CycleState, node: str,
                         fw: framework.Framework) -> None:
        info = state.info
        info.node, info.assumed = node, True
        # Placed now: it holds real space, no longer nominated space (upstream on assume).
        self.cache.unnominate(info.key)
        self.cache.add_pod(info)
        for i, p in enumerate(fw.reserve):
            status = p.reserve(state, node)
            if status is not None and not status.ok:
                for undo in reversed(fw.reserve[: i + 1]):
                    undo.unreserve(state, node)
                self.cache.remove_pod(info.key)
                self.queue.failed(q, plugins=frozenset({p.name}), error=True)
                self._attempt_failed(q, metrics_mod.ERROR, profile=fw.name)
                return
        self.queue.done(q.key)
        if not self._bind_now(q, state, node, fw):
            self.bind_queue.put_nowait((q, state, node, fw))

    def _bind_now(self, q: queue_mod.QueuedPod, state: framework.CycleState, node: str,
                  fw: framework.Framework) -> bool:
        """The binding cycle without a coroutine, when nothing in it has to wait: every
        PreBind plugin's pre-flight says SKIP and the binder batches (``bind_nowait``).
        False: the pod needs the full cycle (``_bind``)."""
        bind_nowait = getattr(fw.binders[0], "bind_nowait", None) if fw.binders else None
        if bind_nowait is None:
            return False
        for p in fw.pre_bind:
            flight = getattr(p, "pre_bind_pre_flight", None)
            verdict = flight(state, node) if flight is not None else None
            if verdict is None or verdict.code != framework.Code.SKIP:
                return False
        status = self._permit(fw, state, node)
        if not status.ok:
            self._finish_binding(q, state, node, fw, status)
            return True
        bind_nowait(state, node, lambda s: self._bound_now(q, state, node, fw, s))
        return True

    def _bound_now(self, q: queue_mod.QueuedPod, state: framework.CycleState, node: str,
                   fw: framework.Framework, status: framework.Status) -> None:
        stale = self._finish_binding(q, state, node, fw, status)
        if stale is not None and self._tg is not None:
            self._tg.spawn(self._clear_nomination(stale), name=f"nomination/{q.key}")

    def _preempt(self, pod: Obj, node: str, victims: list[cache_mod.PodInfo], *, violations: int = 0) -> None:
        self.stats.preemptions += 1
        key = informer.key_of(pod)
        log.info("preempting pod=%s node=%s victims=%s pdb_violations=%d", key, node, [v.key for v in victims],
                 violations)
        for v in victims:
            self.reporter.event(v.obj, type_="Normal", reason="Preempted", action="Preempting",
                                message=f"Preempted by pod {(pod.get('metadata') or {}).get('uid')} on node {node}",
                                profile=(pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER)
            v.terminating = True  # counted as leaving from now on; the informer confirms
        # The pod holds the node's freed space from now on, before any write lands, so
        # the very next (lower-priority) pod in this loop cannot take it.
        info = cache_mod.pod_info(pod, node=node)
        self.cache.nominate(info)
        # Lower-priority pods nominated to this node lose their claim (upstream
        # prepareCandidate): they may now fit elsewhere.
        demoted = [p for p in self.cache.nominated.values()
                   if p.node == node and p.priority < info.priority and p.key != key]
        for p in demoted:
            self.cache.unnominate(p.key)
        assert self._tg is not None
        self._tg.spawn(self._evict(pod, node, victims, demoted), name=f"preempt/{key}")

    async def _evict(self, pod: Obj, node: str, victims: list[cache_mod.PodInfo],
                     demoted: list[cache_mod.PodInfo]) -> None:
        """Nominate the node, then delete the victims gracefully (their own grace period),
        marking each with the DisruptionTarget condition first as upstream does."""
        scheduler = (pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER
        try:
            await self.reporter.nominate(pod, node)
            for v in victims:
                try:
                    await self.client.patch(resources.PODS, v.name, {"status": {"conditions": [{
                        "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                        "message": f"{scheduler}: preempting to accommodate a higher priority pod",
                        "observedGeneration": reporting.observed_generation(v.obj),
                        "lastTransitionTime": now_rfc3339()}]}},
                        namespace=v.namespace, subresource="status", patch_type="strategic")
                except errors.NotFound:
                    continue
                except errors.ApiError as exc:  # the condition is informative; deleting is what matters
                    log.info("could not mark preemption victim pod=%s error=%s", v.key, exc)
                try:
                    await self.client.delete(resources.PODS, v.name, namespace=v.namespace,
                                             preconditions={"uid": v.uid} if v.uid else None)
                except errors.NotFound:
                    pass
            for p in demoted:
                await self._clear_nomination(p.obj)
        except errors.ApiError as exc:
            log.warning("preemption failed pod=%s node=%s error=%s", informer.key_of(pod), node, exc)

    async def _clear_nomination(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        try:
            await self.client.patch(resources.PODS, meta.get("name") or "", {"status": {"nominatedNodeName": None}},
                                    namespace=meta.get("namespace"), subresource="status")
        except errors.NotFound:
            pass
        except errors.ApiError as exc:
            log.info("could not clear nominatedNodeName pod=%s error=%s", informer.key_of(pod), exc)

    # --- binding ------------------------------------------------------------------------

    async def _bind_worker(self) -> None:
        while True:
            q, state, node, fw = await self.bind_queue.get()
            try:
                await self._bind(q, state, node, fw)
            except Exception:  # a worker must survive any one binding
                log.exception("binding crashed pod=%s", q.key)

    def _permit(self, fw: framework.Framework, state: framework.CycleState, node: str) -> framework.Status:
        """Leadership, then every Permit plugin: the first refusal decides."""
        if not self.still_leader():
            return framework.Status(framework.Code.ERROR, "not leader")
        for p in fw.permit:
            verdict, timeout = p.permit(state, node)
            if verdict.code == framework.Code.WAIT:
                # Waiting pods (gang scheduling) are not supported yet: a WAIT rejects.
                verdict = framework.Status(framework.Code.UNSCHEDULABLE, f"permit wait ({timeout}s) unsupported",
                                           p.name)
            if not verdict.ok:
                return verdict
        return framework.SUCCESS

    async def _bind(self, q: queue_mod.QueuedPod, state: framework.CycleState, node: str,
                    fw: framework.Framework) -> None:
        status = self._permit(fw, state, node)
        for p in fw.pre_bind if status.ok else ():
            s = await p.pre_bind(state, node)
            if s is not None and not s.ok:
                status = s
                break
        if status.ok:
            for b in fw.binders:
                status = await b.bind(state, node)
                if status.code != framework.Code.SKIP:
                    break
        stale = self._finish_binding(q, state, node, fw, status)
        if stale is not None:
            await self._clear_nomination(stale)

    def _finish_binding(self, q: queue_mod.QueuedPod, state: framework.CycleState, node: str,
                        fw: framework.Framework, status: framework.Status) -> Obj | None:
        """The end of a binding cycle (synchronous). Success: stats and the Scheduled
        event; returns the pod if its nominatedNodeName must be cleared. Failure:
        unreserve, forget the assumption, requeue."""
        key = state.info.key
        if status.code == framework.Code.SUCCESS:
            now = time.monotonic()
            self.stats.scheduled += 1
            self.stats.latencies.append(now - q.added)
            self.metrics.scheduled(profile=fw.name, seconds=now - q.attempt_started, attempts=q.attempts,
                                   since_queued=now - q.added)
            if self.scheduled_events:
                self.reporter.event(state.pod, type_="Normal", reason="Scheduled", action="Binding",
                                    message=f"Successfully assigned {key} to {node}")
            latest = self.pods.get(key) or state.pod
            if _nominated_node(latest) and _nominated_node(latest) != node:
                return latest  # bound elsewhere than preemption planned: a stale nomination
            return None
        self.stats.bind_errors += 1
        self._attempt_failed(q, metrics_mod.ERROR, profile=fw.name)
        log.info("binding failed pod=%s node=%s error=%s", key, node, status.message)
        for p in reversed(fw.reserve):
            p.unreserve(state, node)
        if self.cache.assumed(key):
            self.cache.remove_pod(key)
            self.queue.move("AssignedPodDelete")
        current = self.pods.get(key)
        if current is not None and not (current.get("spec") or {}).get("nodeName") \
                and not current["metadata"].get("deletionTimestamp"):
            if _nominated_node(current):
                self._track_nomination(current)  # it still waits for its nominated node
            self.queue.requeue(current)
        return None
