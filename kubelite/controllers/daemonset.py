"""The DaemonSet controller: one pod per eligible node — the node matches
``nodeSelector`` and required node affinity, and its NoSchedule/NoExecute taints are
tolerated — with RollingUpdate (``maxUnavailable``, default 1; ``maxSurge``, default 0)
or OnDelete, ControllerRevisions (``kubectl rollout history/undo ds``) and upstream's
status fields.

Pods get the tolerations upstream adds to every daemon pod (not-ready and unreachable
NoExecute, disk/memory/pid-pressure and unschedulable NoSchedule), the node affinity
``metadata.name In [node]`` upstream uses, **and** ``spec.nodeName`` set directly: a
daemon pod has exactly one possible node, so kubelite binds it without a trip through
the scheduler (Kubernetes did the same before 1.12). As upstream's
NodeShouldRunDaemonPod, eligibility has two levels: a new pod needs every NoSchedule and
NoExecute taint tolerated, a running pod only every NoExecute one. So a pod stays on a
node that went silent (tainted ``unreachable`` NoExecute, which daemon pods tolerate for
ever, and NoSchedule, which they do not) and counts as misscheduled meanwhile. Pods on
nodes where they may not continue, and extra pods on one node, are deleted; failed pods
are replaced where a new pod may go.

Started by ``controllers.manager``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from kubelite.client import errors, resources
from kubelite.controllers import base, nodelifecycle, podcontrol, revisions
from kubelite.controllers.deployment import util

Obj = dict[str, Any]

# The template generation the API server keeps on the DaemonSet, and the pods' label of it.
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
POD_TEMPLATE_GENERATION = "pod-template-generation"
DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]
# and for pods on the host's network, which need no pod network (upstream's
# AddOrUpdateDaemonPodTolerations)
HOST_NETWORK_TOLERATION = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists",
                           "effect": "NoSchedule"}


def daemon_tolerations(pod_spec: Obj) -> list[Obj]:
    """The tolerations every daemon pod gets, beyond its template's own."""
    return DAEMON_TOLERATIONS + [HOST_NETWORK_TOLERATION] if pod_spec.get("hostNetwork") else DAEMON_TOLERATIONS


def _expr_matches(expr: Obj, value: str | None) -> bool:
    op, values = expr.get("operator"), expr.get("values") or []
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and values:
        try:
            a, b = int(value), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


class Placement(NamedTuple):
    """Upstream's NodeShouldRunDaemonPod answer for one node."""

    should_run: bool  # a daemon pod belongs here: one is created if missing
    should_continue_running: bool  # a daemon pod already here may stay (at least as true as should_run)


NOWHERE = Placement(False, False)


def node_should_run(template_spec: Obj, node: Obj) -> Placement:
    """Would a daemon pod with this spec belong on this node, and may one already there
    stay? A NoSchedule taint the pod does not tolerate only keeps new pods away; only an
    untolerated NoExecute taint stops a running one. This is what keeps a daemon pod on a
    node that went silent: the node lifecycle controller taints it ``unreachable``
    NoSchedule as well as NoExecute, and daemon pods tolerate only the NoExecute one."""
    if base.deleting(node):
        return NOWHERE
    wanted_node = template_spec.get("nodeName")
    if wanted_node and wanted_node != base.name_of(node):
        return NOWHERE
    labels = base.labels_of(node)
    for k, v in (template_spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return NOWHERE
    required = ((((template_spec.get("affinity") or {}).get("nodeAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution")) or {})
    terms = required.get("nodeSelectorTerms") or []
    if terms and not any(
            all(_expr_matches(e, labels.get(e.get("key"))) for e in t.get("matchExpressions") or [])
            and all(_expr_matches(e, base.name_of(node) if e.get("key") == "metadata.name" else None)
                    for e in t.get("matchFields") or [])
            for t in terms):
        return NOWHERE
    tols = list(template_spec.get("tolerations") or []) + daemon_tolerations(template_spec)
    fits = True
    for taint in (node.get("spec") or {}).get("taints") or []:
        effect = taint.get("effect")
        if effect not in ("NoSchedule", "NoExecute") or any(nodelifecycle.tolerates(t, taint) for t in tols):
            continue
        if effect == "NoExecute":
            return NOWHERE
        fits = False
    return Placement(fits, True)


class DaemonSetController(base.Controller):
    name = "daemonset"
    workers = 4

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.sets = self.informers.get(resources.DAEMONSETS)
        self.pods = self.informers.get(resources.PODS)
        self.nodes = self.informers.get(resources.NODES)
        self.revs = self.informers.get(resources.CONTROLLERREVISIONS)
        self.sets.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self.pods.add_handler(on_add=self._pod_event, on_update=lambda o, n: self._pod_event(n),
                              on_delete=self._pod_event)
        self.nodes.add_handler(on_add=self._all, on_update=self._node_updated, on_delete=self._all)

    def _pod_event(self, pod: Obj) -> None:
        ref = base.controller_ref(pod)
        if ref and ref.get("kind") == "DaemonSet":
            self.queue.add(f"{base.ns_of(pod)}/{ref.get('name')}")

    def _all(self, _node: Obj) -> None:
        for ds in self.sets.list():
            self.enqueue(ds)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if base.labels_of(old) != base.labels_of(new) or \
                (old.get("spec") or {}).get("taints") != (new.get("spec") or {}).get("taints"):
            self._all(new)

    async def reconcile(self, key: str) -> float | None:
        cached = self.sets.get(key)
        if cached is None or base.deleting(cached):
            return None
        ds = base.copy(cached)
        spec = ds.get("spec") or {}
        tspec = (spec.get("template") or {}).get("spec") or {}
        pods = await podcontrol.claim(self.client, res=resources.PODS, owner=ds, kind="DaemonSet",
                                      api_version="apps/v1", selector=base.selector_of(ds),
                                      owned=self.pods.by_index("controller", base.uid_of(ds)),
                                      orphans=self.pods.by_index("orphan", base.ns_of(ds)))
        revs = self.revs.by_index("controller", base.uid_of(ds))
        rev, revs = await revisions.ensure(self.client, owner=ds, kind="DaemonSet", owned=revs)
        update = base.name_of(rev)
        update_hash = update.rsplit("-", 1)[-1]
        mrs = int(spec.get("minReadySeconds") or 0)
        placements = {base.name_of(n): node_should_run(tspec, n) for n in self.nodes.list()}
        eligible = {name for name, p in placements.items() if p.should_run}
        # Where daemon pods may stay: the eligible nodes, and those whose new taints only
        # keep new pods away (a node gone silent is tainted unreachable:NoSchedule).
        staying = {name for name, p in placements.items() if p.should_continue_running}
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName") or ""
            by_node.setdefault(node, []).append(pod)

        to_delete: list[Obj] = []
        to_create: list[str] = []
        for node in staying:
            running = [p for p in by_node.get(node, []) if not base.deleting(p)]
            failed = [p for p in running if (p.get("status") or {}).get("phase") == "Failed"]
            to_delete += failed
            running = [p for p in running if p not in failed]
            if not running and node in eligible and not any(base.deleting(p) for p in by_node.get(node, [])):
                to_create.append(node)
            elif len(running) > 1:
                keep = [p for p in running if self._is_updated(p, update_hash)][:1] or running[:1]
                to_delete += [p for p in running if p is not keep[0]]
        for node, node_pods in by_node.items():
            if node not in staying:
                to_delete += [p for p in node_pods if not base.deleting(p)]

        strategy = spec.get("updateStrategy") or {}
        if (strategy.get("type") or "RollingUpdate") == "RollingUpdate":
            # as upstream's rollingUpdate: the nodes it should run on, and the others with pods
            rolling_nodes = eligible | {n for n in staying if by_node.get(n)}
            to_delete += self._rolling(ds, eligible=eligible, nodes=rolling_nodes, by_node=by_node,
                                       update_hash=update_hash, mrs=mrs, already=to_delete)
        await base.gather_limited([self._delete(ds, p) for p in to_delete])
        create_error = await self._create(ds, rev, to_create)
        await self._write_status(ds, eligible=eligible, by_node=by_node, update_hash=update_hash, mrs=mrs)
        in_use = {update} | {f"{base.name_of(ds)}-{base.labels_of(p).get(revisions.HASH_LABEL)}" for p in pods}
        await revisions.prune(self.client, owner=ds, owned=revs, in_use=in_use)
        if create_error is not None:
            # retried on the work queue's growing back-off, as upstream's syncNodes error
            raise create_error
        return None

    @staticmethod
    def _is_updated(pod: Obj, update_hash: str) -> bool:
        return base.labels_of(pod).get(revisions.HASH_LABEL) == update_hash

    def _rolling(self, ds: Obj, *, eligible: set[str], nodes: set[str], by_node: dict[str, list[Obj]],
                 update_hash: str, mrs: int, already: list[Obj]) -> list[Obj]:
        ru = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
        desired = len(eligible)
        max_unavailable = util.resolve(ru.get("maxUnavailable", 1), desired, round_up=True)
        max_surge = util.resolve(ru.get("maxSurge", 0), desired, round_up=True)
        if max_unavailable == 0 and max_surge == 0:
            max_unavailable = 1
        unavailable = 0
        old_pods: list[tuple[bool, Obj]] = []
        for node in sorted(nodes):
            running = [p for p in by_node.get(node, []) if not base.deleting(p) and p not in already]
            new = [p for p in running if self._is_updated(p, update_hash)]
            old = [p for p in running if not self._is_updated(p, update_hash)]
            ok = any(base.pod_available(p, min_ready_seconds=mrs) for p in running)
            if not ok:
                unavailable += 1
            for p in old:
                if new and any(base.pod_available(n, min_ready_seconds=mrs) for n in new):
                    old_pods.append((True, p))  # surged replacement is up: old one goes
                elif not new:
                    old_pods.append((base.pod_available(p, min_ready_seconds=mrs), p))
        out: list[Obj] = []
        budget = max_unavailable - unavailable
        # Unavailable old pods first: deleting them costs no availability.
        for available, pod in sorted(old_pods, key=lambda t: t[0]):
            if not available:
                out.append(pod)
            elif max_surge == 0 and budget > 0:
                out.append(pod)
                budget -= 1
            elif max_surge > 0 and any(self._is_updated(p, update_hash)
                                       for p in by_node.get((pod.get("spec") or {}).get("nodeName") or "", [])):
                out.append(pod)
        return out

    async def _delete(self, ds: Obj, pod: Obj) -> None:
        try:
            await self.client.delete(resources.PODS, base.name_of(pod), namespace=base.ns_of(pod),
                                     preconditions={"uid": base.uid_of(pod)})
        except (errors.NotFound, errors.Conflict):
            return
        self.recorder.event(ds, type_="Normal", reason="SuccessfulDelete", message=f"Deleted pod: {base.name_of(pod)}")

    async def _create(self, ds: Obj, rev: Obj, nodes: list[str]) -> BaseException | None:
        """Create the pods of ``nodes`` (slow start); the first failure is returned."""
        if not nodes:
            return None
        template = revisions.template_of(rev)
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels[revisions.HASH_LABEL] = base.name_of(rev).rsplit("-", 1)[-1]
        generation = (base.meta(ds).get("annotations") or {}).get(TEMPLATE_GENERATION)
        if generation:
            labels[POD_TEMPLATE_GENERATION] = generation
        ref = base.owner_reference(ds, kind="DaemonSet", api_version="apps/v1")
        bodies = []
        for node in nodes:
            body = podcontrol.pod_from_template(template, namespace=base.ns_of(ds), owner_ref=ref,
                                                generate_name=f"{base.name_of(ds)}-")
            pspec = body["spec"]
            pspec["nodeName"] = node
            tols = list(pspec.get("tolerations") or [])
            pspec["tolerations"] = tols + [t for t in daemon_tolerations(pspec) if t not in tols]
            affinity = pspec.setdefault("affinity", {})
            affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}
            bodies.append(body)
        done = await podcontrol.create_pods(self.client, bodies=bodies, namespace=base.ns_of(ds))
        for pod in done.pods:  # one event per pod, as upstream's RealPodControl
            self.recorder.event(ds, type_="Normal", reason="SuccessfulCreate",
                                message=f"Created pod: {base.name_of(pod)}")
        for failure in done.reported():
            self.recorder.event(ds, type_="Warning", reason="FailedCreate",
                                message=f"Error creating: {base.error_message(failure)}")
        return done.error()

    async def _write_status(self, ds: Obj, *, eligible: set[str], by_node: dict[str, list[Obj]],
                            update_hash: str, mrs: int) -> None:
        scheduled = ready = available = updated = 0
        for node in eligible:
            live = [p for p in by_node.get(node, []) if not base.deleting(p)]
            if not live:
                continue
            scheduled += 1
            if any(base.pod_ready(p) for p in live):
                ready += 1
            if any(base.pod_available(p, min_ready_seconds=mrs) for p in live):
                available += 1
            if any(self._is_updated(p, update_hash) for p in live):
                updated += 1
        mis = len([n for n, ps in by_node.items() if n not in eligible and any(not base.deleting(p) for p in ps)])
        status = {"desiredNumberScheduled": len(eligible), "currentNumberScheduled": scheduled,
                  "numberMisscheduled": mis, "numberReady": ready, "numberAvailable": available,
                  "numberUnavailable": max(0, len(eligible) - available), "updatedNumberScheduled": updated,
                  "observedGeneration": base.meta(ds).get("generation") or 1}
        old = ds.get("status") or {}
        if all((old.get(k) or 0) == v for k, v in status.items()):
            return
        await self.client.patch(resources.DAEMONSETS, base.name_of(ds), {"status": status},
                                namespace=base.ns_of(ds), subresource="status")
