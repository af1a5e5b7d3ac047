"""The node lifecycle controller: notices silent nodes and moves their work away.

1. **Health.** A node is heard from when its Lease in ``kube-node-lease`` is renewed or
   its Ready condition's heartbeat changes (times are taken on this controller's own
   monotonic clock, never compared with the agent's). Silent for ``GRACE`` (or the
   Lease's own ``leaseDurationSeconds`` if longer: the agent promised no more) → its
   conditions become ``Unknown`` (reason ``NodeStatusUnknown``) and it gets the taints
   ``node.kubernetes.io/unreachable`` NoExecute and NoSchedule. A node reporting
   Ready=False gets ``node.kubernetes.io/not-ready`` instead. The taints go when the
   node is Ready again. The pods of an ``Unknown`` node are marked ``Ready=False``.
2. **Taint-based eviction.** A pod on a node with a NoExecute taint it does not
   tolerate is deleted (``DisruptionTarget`` condition, ``TaintManagerEviction`` event);
   a toleration with ``tolerationSeconds`` delays that. The API server's
   DefaultTolerationSeconds admission (``api.tolerations``) writes a toleration of
   ``not-ready`` and ``unreachable`` for ``DEFAULT_TOLERATION`` seconds into every pod
   that has none; a pod admitted without it (the plugin disabled) is treated as if it
   had them. Their controllers create replacements as soon as they are deleting.
3. **Finishing deletions the agent cannot confirm.** The API server keeps a bound pod
   until its agent confirms it stopped. On an unreachable node that never happens, so
   once the pod's grace period has passed the controller force-deletes it
   (``gracePeriodSeconds=0``). **StatefulSet pods are the exception**: the old pod may
   still be running on the partitioned node, and a second pod with the same identity
   (name, volumes) must never run, so they stay Terminating until the node comes back,
   the Node object is deleted, or the node is tainted
   ``node.kubernetes.io/out-of-service`` — the operator's statement that the node is
   really down (the same rule as upstream). Pods bound to a Node that no longer exists
   are force-deleted whoever owns them (upstream's pod GC).

Defaults beside Kubernetes':

    ==========================  ========  ==========
    setting                     kubelite  Kubernetes
    ==========================  ========  ==========
    node grace period            8 s      40 s (50 s in 1.32+)
    startup grace period        30 s      60 s
    default toleration seconds  3 s       300 s
    orphaned-pod quarantine     40 s      40 s
    ==========================  ========  ==========

Started by ``controllers.manager``. After a leader change nodes are given a fresh grace
period (a new leader has not heard anything yet), so a failover never evicts by itself.
"""

from __future__ import annotations

import datetime
import os
import time
from typing import Any

from kubelite.api import tolerations
from kubelite.client import errors, resources
from kubelite.controllers import base

Obj = dict[str, Any]

GRACE = float(os.environ.get("KUBELITE_NODE_GRACE_SECONDS", "8"))
STARTUP_GRACE = float(os.environ.get("KUBELITE_NODE_STARTUP_GRACE_SECONDS", "30"))
ORPHAN_QUARANTINE = 40.0  # as upstream's pod GC
DEFAULT_TOLERATION = int(os.environ.get(tolerations.DEFAULT_SECONDS_ENV, tolerations.DEFAULT_SECONDS))

UNREACHABLE = tolerations.UNREACHABLE
NOT_READY = tolerations.NOT_READY
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
LEASE_NS = "kube-node-lease"
CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


def tolerates(tol: Obj, taint: Obj) -> bool:
    if tol.get("effect") and tol.get("effect") != taint.get("effect"):
        return False
    op = tol.get("operator") or "Equal"
    if not tol.get("key"):
        return op == "Exists"
    if tol.get("key") != taint.get("key"):
        return False
    return op == "Exists" or (tol.get("value") or "") == (taint.get("value") or "")


def eviction_time(pod: Obj, taints: list[Obj]) -> datetime.datetime | None:
    """When the pod must go because of the node's NoExecute taints (None: never), as
    upstream's taint manager decides: each taint is answered by the first of the pod's
    tolerations that matches it; the pod goes when the shortest ``tolerationSeconds`` of
    those has passed since its taint was added, never if none of them has any, and at
    once for a taint none tolerates (``not-ready``/``unreachable``: ``DEFAULT_TOLERATION``
    seconds, for pods admitted without DefaultTolerationSeconds)."""
    tols = (pod.get("spec") or {}).get("tolerations") or []
    when: datetime.datetime | None = None
    for taint in taints:
        if taint.get("effect") != "NoExecute":
            continue
        added = base.parse_time(taint.get("timeAdded")) or base.now()
        tol = next((t for t in tols if tolerates(t, taint)), None)
        if tol is None:
            if taint.get("key") not in (UNREACHABLE, NOT_READY):
                return added  # not tolerated at all: now
            seconds = DEFAULT_TOLERATION
        elif tol.get("tolerationSeconds") is None:
            continue  # tolerated for ever
        else:
            seconds = max(0, int(tol["tolerationSeconds"]))
        t = added + datetime.timedelta(seconds=seconds)
        when = t if when is None else min(when, t)
    return when


def _statefulset_pod(pod: Obj) -> bool:
    ref = base.controller_ref(pod)
    return bool(ref and ref.get("kind") == "StatefulSet")


class NodeLifecycleController(base.Controller):
    name = "nodelifecycle"
    event_source = "node-controller"
    workers = 4

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.nodes = self.informers.get(resources.NODES)
        self.leases = self.informers.get(resources.LEASES)
        self.pods = self.informers.get(resources.PODS)
        self.heard: dict[str, float] = {}  # node → monotonic time last heard from
        self.lease_seconds: dict[str, float] = {}  # node → its Lease's leaseDurationSeconds
        self.ever_heard: set[str] = set()
        self.missing_since: dict[str, float] = {}  # node → when pods were seen bound to it, absent
        self.nodes.add_handler(on_add=self._node_added, on_update=self._node_updated,
                               on_delete=self._node_deleted)
        self.leases.add_handler(on_add=self._lease_changed, on_update=lambda o, n: self._lease_changed(n, o))
        self.pods.add_handler(on_add=self._pod_changed, on_update=lambda o, n: self._pod_changed(n))

    # --- heartbeats -------------------------------------------------------------------

    def _node_added(self, node: Obj) -> None:
        name = base.name_of(node)
        self.heard.setdefault(name, time.monotonic())
        self.enqueue(node)
        # As upstream's controller does for each node it starts watching over.
        self.recorder.event({**node, "apiVersion": "v1", "kind": "Node"}, type_="Normal", reason="RegisteredNode",
                            message=f"Node {name} event: Registered Node {name} in Controller")

    def _node_updated(self, old: Obj, new: Obj) -> None:
        def beat(n: Obj) -> Any:
            return (base.get_condition(n.get("status"), "Ready") or {}).get("lastHeartbeatTime")
        if beat(new) and beat(new) != beat(old):
            self._heard(base.name_of(new))
        self.enqueue(new)

    def _node_deleted(self, node: Obj) -> None:
        self.heard.pop(base.name_of(node), None)
        self.ever_heard.discard(base.name_of(node))
        self.enqueue(node)

    def _lease_changed(self, lease: Obj, old: Obj | None = None) -> None:
        if base.ns_of(lease) != LEASE_NS:
            return
        renew = (lease.get("spec") or {}).get("renewTime")
        if old is not None and renew == (old.get("spec") or {}).get("renewTime"):
            return
        duration = (lease.get("spec") or {}).get("leaseDurationSeconds")
        if duration:
            self.lease_seconds[base.name_of(lease)] = float(duration)
        self._heard(base.name_of(lease))
        self.queue.add(base.name_of(lease))

    def _heard(self, node: str) -> None:
        self.heard[node] = time.monotonic()
        self.ever_heard.add(node)

    def _pod_changed(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            self.queue.add(node)

    # --- reconcile --------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        node = self.nodes.get(key)
        if node is None:
            return await self._orphaned_pods(key)
        name = base.name_of(node)
        # Until a first Lease renewal or heartbeat has been seen, a node (or a controller
        # that just took over) gets the startup grace period.
        grace = GRACE if name in self.ever_heard else STARTUP_GRACE
        # A node that announced a longer Lease promised to renew within it, not sooner.
        grace = max(grace, self.lease_seconds.get(name, 0.0))
        silent_for = time.monotonic() - self.heard.setdefault(name, time.monotonic())
        unreachable = silent_for > grace
        node = await self._update_health(node, unreachable=unreachable)
        if (base.get_condition(node.get("status"), "Ready") or {}).get("status") == "Unknown":
            await self._mark_pods_not_ready(name)
        next_checks = [] if unreachable else [grace - silent_for + 0.05]
        taints = (node.get("spec") or {}).get("taints") or []
        next_evict = await self._evict(node, taints)
        if next_evict is not None:
            next_checks.append(next_evict)
        return min(next_checks) if next_checks else None

    async def _update_health(self, node: Obj, *, unreachable: bool) -> Obj:
        name = base.name_of(node)
        status = node.get("status") or {}
        ready = base.get_condition(status, "Ready")
        if unreachable and (ready is None or ready.get("status") != "Unknown"):
            stamp = base.fmt_time()
            conds = [dict(c) for c in status.get("conditions") or []]
            present = {c.get("type") for c in conds}
            for ctype in CONDITIONS:
                if ctype not in present:
                    conds.append({"type": ctype, "lastHeartbeatTime": stamp})
            for c in conds:
                if c.get("type") in CONDITIONS:
                    c.update({"status": "Unknown", "reason": "NodeStatusUnknown",
                              "message": "Kubelet stopped posting node status.",
                              "lastTransitionTime": stamp})
            node = await self.client.patch(resources.NODES, name, {"status": {"conditions": conds}},
                                           subresource="status")
            self.log.warning("node unreachable node=%s", name)
            self.recorder.event(node, type_="Normal", reason="NodeNotReady",
                                message=f"Node {name} status is now: NodeNotReady")
            ready = base.get_condition(node.get("status"), "Ready")
        state = (ready or {}).get("status")
        want: set[str] = set()
        if unreachable or state == "Unknown":
            want = {UNREACHABLE}
        elif state == "False":
            want = {NOT_READY}
        if (node.get("spec") or {}).get("unschedulable"):
            want.add(UNSCHEDULABLE)  # upstream's TaintNodesByCondition: a cordoned node says so
        return await self._set_taints(node, want)

    async def _set_taints(self, node: Obj, want: set[str]) -> Obj:
        taints = [dict(t) for t in (node.get("spec") or {}).get("taints") or []]
        ours = {UNREACHABLE, NOT_READY, UNSCHEDULABLE}
        keep = [t for t in taints if t.get("key") not in ours or t.get("key") in want]
        have = {(t.get("key"), t.get("effect")) for t in keep}
        stamp = base.fmt_time()
        for key in want:
            if key != UNSCHEDULABLE and (key, "NoExecute") not in have:
                keep.append({"key": key, "effect": "NoExecute", "timeAdded": stamp})
            if (key, "NoSchedule") not in have:  # upstream's SwapNodeControllerTaint stamps every taint
                keep.append({"key": key, "effect": "NoSchedule", "timeAdded": stamp})
        if keep == taints:
            return node
        patch = {"metadata": {"resourceVersion": base.meta(node).get("resourceVersion")},
                 "spec": {"taints": keep or None}}
        self.log.info("node taints node=%s taints=%s", base.name_of(node),
                      ",".join(f"{t['key']}:{t['effect']}" for t in keep) or "-")
        updated: Obj = await self.client.patch(resources.NODES, base.name_of(node), patch)
        return updated

    async def _evict(self, node: Obj, taints: list[Obj]) -> float | None:
        """Delete pods whose tolerations ran out; force-delete what cannot finish;
        returns seconds until the next deadline."""
        name = base.name_of(node)
        out_of_service = any(t.get("key") == OUT_OF_SERVICE and t.get("effect") == "NoExecute" for t in taints)
        unreachable = any(t.get("key") == UNREACHABLE for t in taints)
        now = base.now()
        nxt: float | None = None
        for pod in self.pods.by_index("node", name):
            if base.deleting(pod):
                if not (unreachable or out_of_service):
                    continue
                if _statefulset_pod(pod) and not out_of_service:
                    continue  # never risk two pods of one StatefulSet identity
                due = base.parse_time(base.meta(pod).get("deletionTimestamp")) or now
                left = (due - now).total_seconds()
                if left > 0:
                    nxt = left if nxt is None else min(nxt, left)
                    continue
                await self._force_delete(pod, reason="node unreachable")
                continue
            if not any(t.get("effect") == "NoExecute" for t in taints):
                continue
            when = eviction_time(pod, taints)
            if when is None:
                continue
            left = (when - now).total_seconds()
            if left > 0:
                nxt = left if nxt is None else min(nxt, left)
                continue
            await self._evict_pod(pod, node=name)
            if unreachable or out_of_service:
                grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
                g = 30.0 if grace is None else float(grace)
                nxt = g if nxt is None else min(nxt, g)
        return None if nxt is None else nxt + 0.05

    async def _mark_pods_not_ready(self, node: str) -> None:
        """Upstream's MarkPodsNotReady: the pods of a node nobody hears from any more are
        not Ready, whatever their agent last said, so Services stop sending them traffic
        before (or without) their eviction: a pod that tolerates ``unreachable`` for long,
        a DaemonSet's, a StatefulSet's waiting for its node. Upstream also does it for a
        node that reports Ready=False; kubelite leaves that to the agent, which is alive
        then and owns the condition (two writers would undo each other's work). The agent
        writes Ready again when its node is heard from."""
        for pod in self.pods.by_index("node", node):
            ready = base.get_condition(pod.get("status"), "Ready")
            if ready is None or ready.get("status") == "False":
                continue
            ns, name = base.ns_of(pod), base.name_of(pod)
            status = base.copy(pod.get("status") or {})
            base.set_condition(status, {**ready, "status": "False", "lastTransitionTime": base.fmt_time(),
                                        "observedGeneration": base.generation_of(pod)})
            # The whole list goes (a merge patch), guarded by the version it was read at.
            patch = {"metadata": {"resourceVersion": base.meta(pod).get("resourceVersion")},
                     "status": {"conditions": status["conditions"]}}
            try:
                await self.client.patch(resources.PODS, name, patch, namespace=ns, subresource="status")
            except (errors.NotFound, errors.Conflict):
                continue
            self.log.info("pod not ready: its node is unreachable pod=%s/%s node=%s", ns, name, node)
            self.recorder.event(pod, type_="Warning", reason="NodeNotReady", message="Node is not ready")

    async def _evict_pod(self, pod: Obj, *, node: str) -> None:
        ns, name = base.ns_of(pod), base.name_of(pod)
        cond = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint", "lastTransitionTime": base.fmt_time(),
                "observedGeneration": base.generation_of(pod)}
        status = base.copy(pod.get("status") or {})
        base.set_condition(status, cond)
        try:
            await self.client.patch(resources.PODS, name, {"status": {"conditions": status["conditions"]}},
                                    namespace=ns, subresource="status")
            await self.client.delete(resources.PODS, name, namespace=ns,
                                     preconditions={"uid": base.uid_of(pod)})
        except (errors.NotFound, errors.Conflict):
            return
        self.log.info("evicted pod pod=%s/%s node=%s", ns, name, node)
        self.recorder.event(pod, type_="Normal", reason="TaintManagerEviction",
                            message=f"Marking for deletion Pod {ns}/{name}")

    async def _force_delete(self, pod: Obj, *, reason: str) -> None:
        ns, name = base.ns_of(pod), base.name_of(pod)
        try:
            await self.client.delete(resources.PODS, name, namespace=ns, grace_period_seconds=0,
                                     preconditions={"uid": base.uid_of(pod)})
            self.log.info("force-deleted pod pod=%s/%s reason=%r", ns, name, reason)
        except (errors.NotFound, errors.Conflict):
            pass

    async def _orphaned_pods(self, node_name: str) -> float | None:
        pods = self.pods.by_index("node", node_name)
        if not pods:
            self.missing_since.pop(node_name, None)
            return None
        # A quarantine, as upstream's pod GC: a Node may be registered just after its pods.
        since = self.missing_since.setdefault(node_name, time.monotonic())
        left = ORPHAN_QUARANTINE - (time.monotonic() - since)
        if left > 0:
            return left + 0.05
        try:
            await self.client.get(resources.NODES, node_name)
            self.missing_since.pop(node_name, None)
            return None  # our cache is behind: the node exists
        except errors.NotFound:
            pass
        self.missing_since.pop(node_name, None)
        for pod in pods:
            await self._force_delete(pod, reason="node deleted")
        return None
