"""The disruption controller: fills ``status`` of every policy/v1 PodDisruptionBudget so
that the eviction subresource (``kubelite.apiserver.handlers``) and the scheduler's
preemption can tell whether one more pod may go.

Started by ``controllers.manager``. Upstream semantics (pkg/controller/disruption):

- ``expectedPods``: the number of pods selected with ``minAvailable: <int>``; otherwise
  (``maxUnavailable``, or a percentage ``minAvailable``) the sum of the scales of the
  selected pods' controllers — a ReplicaSet counts as its Deployment, each controller once.
  Pods no controller manages are ignored there, with an ``UnmanagedPods`` warning;
- ``desiredHealthy``: ``minAvailable``, or ``expectedPods - maxUnavailable``; percentages
  are scaled against ``expectedPods`` rounding up (so ``maxUnavailable: 50%`` of 3 allows
  2 down and wants 1, ``minAvailable: 50%`` of 3 wants 2);
- ``currentHealthy``: selected pods that are Ready, not being deleted and not listed in
  ``disruptedPods``;
- ``disruptionsAllowed``: ``currentHealthy - desiredHealthy``, never below zero, and zero
  when no pods are expected;
- ``disruptedPods`` (written by eviction) forget a pod once it is deleted, gone, or
  2 minutes after its eviction was granted (the deletion evidently did not happen: event
  ``NotDeleted`` on the pod);
- the condition ``DisruptionAllowed`` (``SufficientPods`` / ``InsufficientPods``, or
  ``SyncFailed`` when the expected count cannot be computed, which also forces
  ``disruptionsAllowed: 0``), and ``observedGeneration``;
- a pod marked ``DisruptionTarget`` (by eviction, preemption or a taint) that is still not
  being deleted 2 minutes after the mark gets the condition back to ``False``: the
  disruption did not happen (upstream's stale pod disruption queue, a queue of pods here too).
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from kubelite.api import selectors
from kubelite.client import errors, informer, resources, workqueue
from kubelite.controllers import base

Obj = dict[str, Any]

PDBS = resources.Resource("policy", "v1", "poddisruptionbudgets", True, "PodDisruptionBudget")
DELETION_TIMEOUT = datetime.timedelta(minutes=2)  # how long an eviction may take to become a deletion
STALE_DISRUPTION = datetime.timedelta(minutes=2)  # upstream stalePodDisruptionTimeout


class SyncError(Exception):
    """The expected pod count cannot be computed; the budget fails safe (no disruptions)."""


def scaled(value: Any, total: int) -> int:
    """An IntOrString against ``total``: ints as they are, ``"n%"`` rounded up (upstream's
    GetScaledValueFromIntOrPercent with roundUp=true)."""
    if isinstance(value, bool):
        raise SyncError(f"invalid value {value!r}")
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        try:
            pct = int(text[:-1])
        except ValueError:
            raise SyncError(f"invalid value for IntOrString: invalid value {text!r}") from None
        return math.ceil(pct * total / 100)
    if text.isdigit():
        return int(text)
    raise SyncError(f"invalid value for IntOrString: invalid type: string is not a percentage: {text!r}")


def stale_disruption_wait(pod: Obj, now: datetime.datetime) -> float | None:
    """Seconds until the pod's ``DisruptionTarget=True`` condition is stale (0: it is),
    or None when there is nothing to clean: no such condition, or the pod is going."""
    if base.deleting(pod):
        return None
    cond = base.get_condition(pod.get("status"), "DisruptionTarget")
    if cond is None or cond.get("status") != "True":
        return None
    since = base.parse_time(cond.get("lastTransitionTime"))
    if since is None:
        return 0.0
    return max(0.0, (since + STALE_DISRUPTION - now).total_seconds())


def _is_percent(value: Any) -> bool:
    return isinstance(value, str) and value.endswith("%")


class DisruptionController(base.Controller):
    name = "disruption"
    event_source = "controllermanager"
    workers = 4

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.pdbs = self.informers.get(PDBS)
        self.pods = self.informers.get(resources.PODS)
        self.replicasets = self.informers.get(resources.REPLICASETS)
        self.deployments = self.informers.get(resources.DEPLOYMENTS)
        self.statefulsets = self.informers.get(resources.STATEFULSETS)
        self._warned: set[tuple[str, int]] = set()  # (pdb uid, generation) told about unmanaged pods
        self.stale: workqueue.WorkQueue[str] = workqueue.WorkQueue(name="disruption-stale-pods")
        self.pdbs.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self.pods.add_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                              on_delete=self._pod_changed)
        for inf in (self.replicasets, self.deployments, self.statefulsets):
            inf.add_handler(on_update=self._scale_changed)

    def start(self) -> None:
        super().start()
        workqueue.run_workers(self.stale, self._clean_stale, workers=1, tg=self.tg, name="disruption-stale")

    def stop(self) -> None:
        super().stop()
        self.stale.shutdown()

    # --- event handlers ---------------------------------------------------------------

    def _pod_changed(self, pod: Obj) -> None:
        if stale_disruption_wait(pod, base.now()) is not None:
            self.stale.add(informer.key_of(pod))
        labels = base.labels_of(pod)
        for pdb in self.pdbs.by_index("namespace", base.ns_of(pod)):
            if _selector(pdb).matches(labels):
                self.enqueue(pdb)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if base.meta(old).get("resourceVersion") == base.meta(new).get("resourceVersion"):
            return
        if base.labels_of(old) != base.labels_of(new):
            self._pod_changed(old)
        self._pod_changed(new)

    def _scale_changed(self, old: Obj, new: Obj) -> None:
        if (old.get("spec") or {}).get("replicas") == (new.get("spec") or {}).get("replicas"):
            return
        # Few budgets per namespace: let each of them recount.
        for pdb in self.pdbs.by_index("namespace", base.ns_of(new)):
            self.enqueue(pdb)

    # --- reconcile --------------------------------------------------------------------

    async def _clean_stale(self, key: str) -> float | None:
        pod = self.pods.get(key)
        wait = None if pod is None else stale_disruption_wait(pod, base.now())
        if pod is None or wait is None:
            return None
        if wait > 0:
            return wait
        patch = {"status": {"conditions": [{"type": "DisruptionTarget", "status": "False", "reason": None,
                                            "message": None, "lastTransitionTime": base.fmt_time(),
                                            "observedGeneration": base.generation_of(pod)}]}}
        try:
            await self.client.patch(resources.PODS, base.name_of(pod), patch, namespace=base.ns_of(pod),
                                    patch_type="strategic", subresource="status")
        except errors.NotFound:
            return None
        self.log.info("stale DisruptionTarget reset pod=%s", key)
        return None

    async def reconcile(self, key: str) -> float | None:
        pdb = self.pdbs.get(key)
        if pdb is None or base.deleting(pdb):
            return None
        pods = [p for p in self.pods.by_index("namespace", base.ns_of(pdb))
                if _selector(pdb).matches(base.labels_of(p))]
        stamp = base.now()
        disrupted, recheck = self._disrupted(pdb, pods, stamp)
        try:
            expected, desired = await self._expected_and_desired(pdb, pods)
        except SyncError as exc:
            self.recorder.event(pdb, type_="Warning", reason="CalculateExpectedPodCountFailed",
                                message=f"Failed to calculate the number of expected pods: {exc}")
            await self._fail_safe(pdb, str(exc))
            return 5.0
        healthy = sum(1 for p in pods if not base.deleting(p) and base.name_of(p) not in disrupted
                      and base.pod_ready(p))
        allowed = healthy - desired
        if expected <= 0 or allowed <= 0:
            allowed = 0
        old = pdb.get("status") or {}
        status: Obj = {
            "observedGeneration": base.meta(pdb).get("generation") or 1,
            "disruptionsAllowed": allowed, "currentHealthy": healthy,
            "desiredHealthy": desired, "expectedPods": expected,
            "conditions": list(old.get("conditions") or []),
        }
        if disrupted:
            status["disruptedPods"] = disrupted
        base.set_condition(status, {
            "type": "DisruptionAllowed", "status": "True" if allowed > 0 else "False",
            "reason": "SufficientPods" if allowed > 0 else "InsufficientPods", "message": "",
            "observedGeneration": status["observedGeneration"],
            "lastTransitionTime": base.fmt_time(stamp)})
        await self._write(pdb, status)
        return recheck

    def _disrupted(self, pdb: Obj, pods: list[Obj], stamp: datetime.datetime
                   ) -> tuple[dict[str, str], float | None]:
        """``status.disruptedPods`` still worth keeping, and when the first one expires."""
        listed: dict[str, str] = dict((pdb.get("status") or {}).get("disruptedPods") or {})
        if not listed:
            return {}, None
        keep: dict[str, str] = {}
        recheck: float | None = None
        for pod in pods:
            pod_name = base.name_of(pod)
            if pod_name not in listed or base.deleting(pod):
                continue
            since = base.parse_time(listed[pod_name])
            if since is None:
                continue
            deadline = since + DELETION_TIMEOUT
            if deadline < stamp:
                self.recorder.event(pod, type_="Warning", reason="NotDeleted",
                                    message=f"Pod was expected by PDB {informer.key_of(pdb)} to be deleted "
                                            f"but it wasn't")
                continue
            keep[pod_name] = listed[pod_name]
            left = (deadline - stamp).total_seconds() + 0.1
            recheck = left if recheck is None else min(recheck, left)
        return keep, recheck

    async def _expected_and_desired(self, pdb: Obj, pods: list[Obj]) -> tuple[int, int]:
        spec = pdb.get("spec") or {}
        max_unavailable = spec.get("maxUnavailable")
        min_available = spec.get("minAvailable")
        if max_unavailable is not None:
            expected = await self._expected_scale(pdb, pods)
            desired = max(expected - scaled(max_unavailable, expected), 0)
        elif min_available is not None and not _is_percent(min_available):
            expected = len(pods)
            desired = scaled(min_available, expected)
        elif min_available is not None:
            expected = await self._expected_scale(pdb, pods)
            desired = scaled(min_available, expected)
        else:
            # Validation requires one of the two; an empty budget allows nothing.
            expected, desired = len(pods), len(pods)
        return expected, desired

    async def _expected_scale(self, pdb: Obj, pods: list[Obj]) -> int:
        """Sum of the scales of the controllers of ``pods``, each controller once."""
        scales: dict[str, int] = {}  # uid of the scaled controller → replicas
        seen: set[str] = set()  # controllerRef uids already looked up
        unmanaged: list[str] = []
        for pod in pods:
            ref = base.controller_ref(pod)
            if ref is None:
                unmanaged.append(base.name_of(pod))
                continue
            if ref.get("uid") in seen:
                continue
            seen.add(str(ref.get("uid")))
            # Two ReplicaSets of one Deployment (mid-rollout) resolve to the same uid here.
            uid, replicas = await self._scale_of(base.ns_of(pod), ref)
            scales[uid] = replicas
        if unmanaged:
            mark = (base.uid_of(pdb), int(base.meta(pdb).get("generation") or 0))
            if mark not in self._warned:
                self._warned.add(mark)
                self.recorder.event(pdb, type_="Warning", reason="UnmanagedPods", message=(
                    f"Pods selected by this PodDisruptionBudget (selector: {(pdb.get('spec') or {}).get('selector')}) "
                    "were found to be unmanaged. As a result, the status of the PDB cannot be calculated "
                    "correctly, which may result in undefined behavior. To account for these pods please set "
                    "\".spec.minAvailable\" field of the PDB to an integer value."))
        return sum(scales.values())

    async def _scale_of(self, namespace: str, ref: Obj) -> tuple[str, int]:
        """(uid of the controller that owns the scale, its replicas) for one controllerRef."""
        kind, name, uid = ref.get("kind"), str(ref.get("name") or ""), str(ref.get("uid") or "")
        group = str(ref.get("apiVersion") or "").rpartition("/")[0]
        if group == "apps" and kind in ("ReplicaSet", "StatefulSet", "Deployment"):
            cache = {"ReplicaSet": self.replicasets, "StatefulSet": self.statefulsets,
                     "Deployment": self.deployments}[kind]
            obj = cache.get(f"{namespace}/{name}")
            if obj is None or base.uid_of(obj) != uid:
                raise SyncError(f'found no controllers for pod: {kind} "{name}" not found')
            if kind == "ReplicaSet":
                dref = base.controller_ref(obj)
                if dref and dref.get("kind") == "Deployment":
                    dep = self.deployments.get(f"{namespace}/{dref.get('name')}")
                    if dep is not None and base.uid_of(dep) == dref.get("uid"):
                        return base.uid_of(dep), _replicas(dep)
            return uid, _replicas(obj)
        # Anything else with a scale subresource (custom resources, ReplicationControllers).
        res = resources.by_kind(str(ref.get("apiVersion") or ""), str(kind or ""))
        if res is None:
            raise SyncError(f"found no controllers for pod: unknown kind {ref.get('apiVersion')}/{kind}")
        try:
            scale = await self.client.get(res, name, namespace=namespace, subresource="scale")
        except errors.ApiError as exc:
            raise SyncError(f"found no controllers for pod: {exc}") from None
        return uid, int((scale.get("spec") or {}).get("replicas") or 0)

    async def _fail_safe(self, pdb: Obj, message: str) -> None:
        old = pdb.get("status") or {}
        status = base.copy(old)
        status["disruptionsAllowed"] = 0
        status["observedGeneration"] = base.meta(pdb).get("generation") or 1
        base.set_condition(status, {"type": "DisruptionAllowed", "status": "False", "reason": "SyncFailed",
                                    "message": message, "observedGeneration": status["observedGeneration"],
                                    "lastTransitionTime": base.fmt_time()})
        await self._write(pdb, status)

    async def _write(self, pdb: Obj, status: Obj) -> None:
        old = pdb.get("status") or {}
        if _same(old, status):
            return
        body = base.copy(pdb)
        body["status"] = status
        # A whole-status PUT guarded by resourceVersion: eviction decrements
        # disruptionsAllowed concurrently, and a stale write must lose (Conflict → retry).
        await self.client.update(PDBS, body, namespace=base.ns_of(pdb), subresource="status")


def _selector(pdb: Obj) -> selectors.LabelSelector:
    """policy/v1: an empty selector selects every pod of the namespace, a missing one none."""
    try:
        return selectors.from_selector_dict((pdb.get("spec") or {}).get("selector"))
    except Exception:  # noqa: BLE001 - a selector validation let through must not stop the controller
        return selectors.LabelSelector.match_nothing()


def _replicas(obj: Obj) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _same(old: Obj, new: Obj) -> bool:
    def strip(status: Obj) -> Obj:
        out = {k: v for k, v in status.items() if k != "conditions"}
        out["disruptedPods"] = out.get("disruptedPods") or {}
        out["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                             for c in status.get("conditions") or []]
        return out

    return strip(old) == strip(new)
