"""Creating pods from a template, and claiming them: the ControllerRefManager of
client-go, shared by the ReplicaSet, Job, StatefulSet and DaemonSet controllers (and,
for ReplicaSets, by the Deployment controller).

Claiming follows upstream: an owner *adopts* orphans whose labels match its selector
(unless it is being deleted), and *releases* pods it controls whose labels no longer
match. Both are patches guarded by the pod's resourceVersion and uid, so a concurrent
change makes the patch fail and the controller look again.

``create_pods`` is upstream's slow start (``slowStartBatch``): pods are created in
batches of 1, 2, 4, … and creation stops at the first failing batch, so a refusal that
will repeat (exceeded quota, a LimitRange's 422) costs one request per sync, not one
per missing replica. Its callers record ``FailedCreate`` and raise the error to the
work queue, whose per-key back-off paces the retries; a refusal because the namespace is
being deleted is neither recorded nor raised (upstream's RealPodControl and its
callers): every create there fails alike, and the namespace controller is removing the
owner anyway.
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.api import selectors
from kubelite.client import errors, resources, rest
from kubelite.controllers import base

log = logging.getLogger("kubelite.controllers.podcontrol")

Obj = dict[str, Any]


class Created:
    """What ``create_pods`` did: the pods it made, the failures, and how many bodies it
    never sent (after a failing batch)."""

    __slots__ = ("pods", "failures", "skipped")

    def __init__(self) -> None:
        self.pods: list[Obj] = []
        self.failures: list[BaseException] = []
        self.skipped = 0

    def reported(self) -> list[BaseException]:
        """The failures a controller records as ``FailedCreate`` Events: all but those
        refused because the namespace is being deleted."""
        return [f for f in self.failures if not errors.namespace_terminating(f)]

    def error(self) -> BaseException | None:
        """The first reported failure (what a controller raises), or None."""
        reported = self.reported()
        return reported[0] if reported else None


async def create_pods(client: rest.Client, *, bodies: list[Obj], namespace: str,
                      first_batch: int = 1) -> Created:
    """Create ``bodies`` with slow start (batches 1, 2, 4, …, stopping after the first
    batch with a failure); never raises: failures are in the result."""
    done = Created()
    start, batch = 0, max(1, first_batch)
    while start < len(bodies):
        chunk = bodies[start:start + batch]
        results = await base.gather_limited([client.create(resources.PODS, b, namespace=namespace) for b in chunk],
                                            limit=256)
        for r in results:
            if isinstance(r, BaseException):
                done.failures.append(r)
            else:
                done.pods.append(r)
        start += len(chunk)
        if done.failures:
            done.skipped = len(bodies) - start
            break
        batch *= 2
    return done


def pod_from_template(template: Obj, *, namespace: str, owner_ref: Obj,
                      generate_name: str | None = None, name: str | None = None) -> Obj:
    """A Pod with the template's labels, annotations, finalizers and spec."""
    tmeta = template.get("metadata") or {}
    md: Obj = {"namespace": namespace, "labels": dict(tmeta.get("labels") or {}),
               "ownerReferences": [owner_ref]}
    if tmeta.get("annotations"):
        md["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        md["finalizers"] = list(tmeta["finalizers"])
    if name:
        md["name"] = name
    else:
        md["generateName"] = generate_name or ""
    spec = base.copy(template.get("spec") or {})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}


async def claim(
    client: rest.Client, *, res: resources.Resource, owner: Obj, kind: str, api_version: str,
    selector: selectors.LabelSelector, owned: list[Obj], orphans: list[Obj],
) -> list[Obj]:
    """The objects ``owner`` controls after adopting matching orphans and releasing
    owned objects that no longer match. ``owned`` are those whose controller ref points
    at ``owner``'s uid; ``orphans`` those with no controller ref."""
    uid = base.uid_of(owner)
    result: list[Obj] = []
    for obj in owned:
        if selector.matches(base.labels_of(obj)):
            result.append(obj)
            continue
        if base.deleting(obj):
            continue
        await _release(client, res=res, obj=obj, uid=uid)
    if base.deleting(owner):
        return result  # a dying owner adopts nothing (upstream checks the same)
    for obj in orphans:
        if base.deleting(obj) or not selector.matches(base.labels_of(obj)):
            continue
        adopted = await _adopt(client, res=res, obj=obj, ref=base.owner_reference(
            owner, kind=kind, api_version=api_version))
        if adopted is not None:
            result.append(adopted)
    return result


async def _adopt(client: rest.Client, *, res: resources.Resource, obj: Obj, ref: Obj) -> Obj | None:
    refs = list(base.meta(obj).get("ownerReferences") or []) + [ref]
    patch = {"metadata": {"ownerReferences": refs, "uid": base.uid_of(obj),
                          "resourceVersion": base.meta(obj).get("resourceVersion")}}
    try:
        adopted = await client.patch(res, base.name_of(obj), patch, namespace=base.ns_of(obj))
    except (errors.Conflict, errors.NotFound, errors.Invalid) as exc:
        log.info("adoption skipped object=%s/%s error=%s", base.ns_of(obj), base.name_of(obj), exc)
        return None
    log.info("adopted object=%s/%s owner=%s/%s", base.ns_of(obj), base.name_of(obj), ref["kind"], ref["name"])
    return adopted


async def _release(client: rest.Client, *, res: resources.Resource, obj: Obj, uid: str) -> None:
    refs = [r for r in base.meta(obj).get("ownerReferences") or [] if r.get("uid") != uid]
    patch = {"metadata": {"ownerReferences": refs or None, "uid": base.uid_of(obj),
                          "resourceVersion": base.meta(obj).get("resourceVersion")}}
    try:
        await client.patch(res, base.name_of(obj), patch, namespace=base.ns_of(obj))
        log.info("released object=%s/%s", base.ns_of(obj), base.name_of(obj))
    except (errors.Conflict, errors.NotFound) as exc:
        log.info("release skipped object=%s/%s error=%s", base.ns_of(obj), base.name_of(obj), exc)


def rank_for_deletion(pods: list[Obj]) -> list[Obj]:
    """Pods in the order a controller scaling down deletes them (upstream's
    ActivePods ranking): unscheduled first, then Pending, Unknown, Running; not ready
    before ready; ready for less time first; more restarts first; newest first."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}

    def key(pod: Obj) -> tuple[Any, ...]:
        status = pod.get("status") or {}
        ready = base.pod_ready(pod)
        cond = base.get_condition(status, "Ready") or {}
        ready_since = cond.get("lastTransitionTime") or "" if ready else ""
        restarts = sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or [])
        created = base.meta(pod).get("creationTimestamp") or ""
        return (
            1 if (pod.get("spec") or {}).get("nodeName") else 0,
            phase_rank.get(status.get("phase") or "Pending", 0),
            1 if ready else 0,
            _neg(ready_since),  # later ready transition = ready for less time = first
            -restarts,
            _neg(created),
        )

    return sorted(pods, key=key)


def _neg(stamp: str) -> tuple[int, ...]:
    # Sort timestamps descending inside an ascending sort.
    return tuple(-ord(c) for c in stamp)
