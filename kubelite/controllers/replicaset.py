"""The ReplicaSet controller: keeps ``spec.replicas`` active pods per ReplicaSet and
reports ``status`` (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
observedGeneration, the ReplicaFailure condition).

Started by ``controllers.manager``. Pods are created with ``generateName: <rs>-``, the
template's labels and annotations and a controller ownerReference
(``blockOwnerDeletion: true``); surplus pods are deleted in upstream's rank order
(unscheduled, pending, not ready, newest first). Orphans matching the selector are
adopted, owned pods that stop matching are released.

Defaults beside Kubernetes':

    =========================  ===========  ==========
    setting                    kubelite     Kubernetes
    =========================  ===========  ==========
    pods created per sync      1000         500 (burstReplicas)
    expectations timeout       30 s         5 min
    status batching            0.2 s        none
    workers                    8            5
    =========================  ===========  ==========

Creation is slow-started (1, 2, 4, … concurrent creates) and stops at the first failing
batch, so a quota or admission error costs one request, not a thousand.

The class is parametrized by the resource it keeps (``resource``, ``kind``,
``api_version``, ``selector_of``): ``controllers.replication`` runs it for core/v1
ReplicationControllers, whose selector is a plain label map, as upstream's replication
manager is the ReplicaSet controller behind a conversion.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import selectors
from kubelite.client import errors, informer, resources
from kubelite.controllers import base, podcontrol

Obj = dict[str, Any]

BURST_REPLICAS = 1000
STATUS_BATCH = 0.2  # seconds pod status changes are gathered before the RS status is rewritten


class ReplicaSetController(base.Controller):
    name = "replicaset"
    workers = 8
    # what is kept, and how the pods' controller references name it
    resource = resources.REPLICASETS
    kind = "ReplicaSet"
    api_version = "apps/v1"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.rs = self.informers.get(self.resource)
        self.pods = self.informers.get(resources.PODS)
        self.expectations = base.Expectations()
        self.rs.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n),
                            on_delete=self._rs_deleted)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated,
                              on_delete=self._pod_deleted)

    def selector_of(self, rs: Obj) -> selectors.LabelSelector:
        """The pods ``rs`` wants (an empty selector wants none)."""
        return base.selector_of(rs)

    # --- event handlers ---------------------------------------------------------------

    def _rs_deleted(self, rs: Obj) -> None:
        self.expectations.forget(informer.key_of(rs))
        self.enqueue(rs)

    def _owner_key(self, pod: Obj) -> str | None:
        ref = base.controller_ref(pod)
        if not ref or ref.get("kind") != self.kind:
            return None
        key = f"{base.ns_of(pod)}/{ref.get('name')}"
        rs = self.rs.get(key)
        if rs is None or base.uid_of(rs) != ref.get("uid"):
            return None
        return key

    def _enqueue_matching(self, pod: Obj) -> None:
        """An orphan changed: every ReplicaSet that could adopt it looks."""
        labels = base.labels_of(pod)
        for rs in self.rs.by_index("namespace", base.ns_of(pod)):
            if self.selector_of(rs).matches(labels):
                self.enqueue(rs)

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.created(key)
            self.queue.add(key)
        elif base.controller_ref(pod) is None and not base.deleting(pod):
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if base.meta(old).get("resourceVersion") == base.meta(new).get("resourceVersion"):
            return
        new_key = self._owner_key(new)
        if base.deleting(new) and not base.deleting(old) and new_key is not None:
            self.expectations.deleted(new_key, informer.key_of(new))
        old_key = self._owner_key(old)
        if old_key is not None and old_key != new_key:
            self.queue.add(old_key)
        if new_key is not None:
            if base.deleting(new) or (new.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                self.queue.add(new_key)  # a replica is gone: replace it now
            else:
                # Status churn (scheduled, running, ready): batch it into one status write.
                self.queue.add_after(new_key, STATUS_BATCH)
            if not base.pod_ready(old) and base.pod_ready(new):
                rs = self.rs.get(new_key)
                mrs = int(((rs or {}).get("spec") or {}).get("minReadySeconds") or 0)
                if mrs > 0:
                    # Re-check when the pod turns available (the RS status counts it then).
                    self.queue.add_after(new_key, mrs + 0.05)
        elif base.controller_ref(new) is None:
            self._enqueue_matching(new)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is None:
            ref = base.controller_ref(pod)
            if ref and ref.get("kind") == self.kind:
                key = f"{base.ns_of(pod)}/{ref.get('name')}"
        if key is not None:
            self.expectations.deleted(key, informer.key_of(pod))
            self.queue.add(key)

    # --- reconcile --------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        rs = self.rs.get(key)
        if rs is None:
            self.expectations.forget(key)
            return None
        namespace = base.ns_of(rs)
        selector = self.selector_of(rs)
        uid = base.uid_of(rs)
        owned = self.pods.by_index("controller", uid)
        orphans = self.pods.by_index("orphan", namespace)
        pods = await podcontrol.claim(
            self.client, res=resources.PODS, owner=rs, kind=self.kind, api_version=self.api_version,
            selector=selector, owned=owned, orphans=orphans)
        active = [p for p in pods if base.pod_active(p)]

        failure: errors.ApiError | None = None
        if self.expectations.satisfied(key) and not base.deleting(rs):
            failure = await self._manage_replicas(rs, key, active)
        recheck = await self._update_status(rs, active, failure.message if failure is not None else None)
        if failure is not None:
            # retried with the work queue's growing back-off, as upstream's manageReplicas
            # error: a refusal that persists (exceeded quota) must not become a hot loop
            raise failure
        return recheck

    async def _manage_replicas(self, rs: Obj, key: str, active: list[Obj]) -> errors.ApiError | None:
        want = int((rs.get("spec") or {}).get("replicas", 1) or 0)
        diff = len(active) - want
        if diff < 0:
            return await self._create(rs, key, min(-diff, BURST_REPLICAS))
        if diff > 0:
            victims = podcontrol.rank_for_deletion(active)[:min(diff, BURST_REPLICAS)]
            await self._delete(rs, key, victims)
        return None

    async def _create(self, rs: Obj, key: str, count: int) -> errors.ApiError | None:
        template = (rs.get("spec") or {}).get("template") or {}
        ref = base.owner_reference(rs, kind=self.kind, api_version=self.api_version)
        body = podcontrol.pod_from_template(template, namespace=base.ns_of(rs), owner_ref=ref,
                                            generate_name=f"{base.name_of(rs)}-")
        self.expectations.expect(key, adds=count)
        done = await podcontrol.create_pods(self.client, bodies=[body] * count, namespace=base.ns_of(rs))
        for pod in done.pods:  # upstream's RealPodControl: one event per pod
            self.recorder.event(rs, type_="Normal", reason="SuccessfulCreate",
                                message=f"Created pod: {base.name_of(pod)}")
        if done.failures:
            # Pods that failed will never be observed: do not wait for them. Those never
            # attempted are not expected either.
            self.expectations.creation_failed(key, len(done.failures) + done.skipped)
        error = done.error()
        if error is None:
            return None
        if not isinstance(error, errors.ApiError):
            raise error
        self.recorder.event(rs, type_="Warning", reason="FailedCreate", message=f"Error creating: {error.message}")
        self.log.warning("pod creation failed %s=%s error=%s", self.name, key, error)
        return error

    async def _delete(self, rs: Obj, key: str, victims: list[Obj]) -> None:
        keys = [informer.key_of(p) for p in victims]
        self.expectations.expect(key, deletes=keys)
        results = await base.gather_limited(
            [self.client.delete(resources.PODS, base.name_of(p), namespace=base.ns_of(p)) for p in victims],
            limit=256)
        for pod, pod_key, result in zip(victims, keys, results, strict=True):
            if isinstance(result, BaseException):
                # Not found: already gone (an event will or did say so); anything else: do
                # not wait for a deletion that did not happen.
                self.expectations.deleted(key, pod_key)
                if not isinstance(result, errors.NotFound):
                    self.recorder.event(rs, type_="Warning", reason="FailedDelete", message=f"Error deleting: {result}")
            else:
                self.recorder.event(rs, type_="Normal", reason="SuccessfulDelete",
                                    message=f"Deleted pod: {base.name_of(pod)}")

    async def _update_status(self, rs: Obj, active: list[Obj], failure: str | None) -> float | None:
        spec = rs.get("spec") or {}
        mrs = int(spec.get("minReadySeconds") or 0)
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        ready = available = labeled = 0
        recheck: float | None = None
        stamp = base.now()
        for pod in active:
            labels = base.labels_of(pod)
            if all(labels.get(k) == v for k, v in template_labels.items()):
                labeled += 1
            if base.pod_ready(pod):
                ready += 1
                if base.pod_available(pod, min_ready_seconds=mrs, at=stamp):
                    available += 1
                else:
                    left = base.available_in(pod, min_ready_seconds=mrs)
                    if left is not None:
                        recheck = left if recheck is None else min(recheck, left)
        old = rs.get("status") or {}
        status: Obj = {
            "replicas": len(active), "fullyLabeledReplicas": labeled, "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": base.meta(rs).get("generation") or 1,
            "conditions": list(old.get("conditions") or []),
        }
        held = base.get_condition(status, "ReplicaFailure") or {}
        if failure is not None and (held.get("status"), held.get("reason")) != ("True", "FailedCreate"):
            # as upstream's SetCondition: a condition of the same status and reason is kept
            # as it is (a new message per refused pod would be a status write per retry)
            base.set_condition(status, {"type": "ReplicaFailure", "status": "True",
                                        "reason": "FailedCreate", "message": failure,
                                        "lastTransitionTime": base.fmt_time()})
        elif base.get_condition(status, "ReplicaFailure") and len(active) == int(spec.get("replicas", 1) or 0):
            base.remove_condition(status, "ReplicaFailure")
        if not status["conditions"]:
            status.pop("conditions")
        if _status_differs(old, status):
            # A merge patch of the whole status: fields absent from the new status are
            # nulled so that a zero count is not left behind as its old value.
            body = {k: status.get(k) for k in set(old) | set(status) if k != "terminatingReplicas"}
            await self.client.patch(self.resource, base.name_of(rs), {"status": body},
                                    namespace=base.ns_of(rs), subresource="status")
        if recheck is not None:
            return recheck + 0.05
        return None


def _status_differs(old: Obj, new: Obj) -> bool:
    for k, v in new.items():
        if k == "conditions":
            if (old.get(k) or []) != v:
                return True
        elif (old.get(k) or 0) != v:
            return True
    return bool(old.get("conditions")) and "conditions" not in new
