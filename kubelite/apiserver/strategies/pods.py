"""The pod strategy: initial status, QoS class, priority admission, graceful deletion, binding.

Graceful deletion as upstream: a pod bound to a node gets a deletionTimestamp and stays
until its node agent reports its containers gone (the agent then deletes it with grace
period 0); a pod that never reached a node, or has already finished, goes at once.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import errors, meta
from kubelite.apiserver.strategies import base, cluster

Obj = dict[str, Any]


def qos_class(spec: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            limit = limits.get(name)
            request = requests.get(name, limit)
            if limit is None or str(request) != str(limit):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class PodStrategy(base.Strategy):
    return_deleted_object = True

    def initial_status(self, obj: Obj) -> Obj | None:
        return {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}

    async def admit_create(self, obj: Obj) -> None:
        # Priority admission: spec.priorityClassName → spec.priority and preemptionPolicy
        await cluster.admit_pod_priority(self.store, obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        # As upstream's Priority admission on update: what it set at creation stays when an
        # update leaves it out (validation refuses any other change of the two).
        spec, old_spec = new.get("spec"), old.get("spec") or {}
        if isinstance(spec, dict):
            for key in ("priority", "preemptionPolicy"):
                if spec.get(key) is None and old_spec.get(key) is not None:
                    spec[key] = old_spec[key]

    def prepare_for_status_update(self, new: Obj, old: Obj) -> Obj:
        merged = super().prepare_for_status_update(new, old)
        # The QoS class is decided once, at creation.
        if "qosClass" in (old.get("status") or {}):
            merged.setdefault("status", {})["qosClass"] = old["status"]["qosClass"]
        return merged

    def grace_period(self, obj: Obj, requested: int | None) -> int:
        spec = obj.get("spec") or {}
        phase = (obj.get("status") or {}).get("phase")
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(requested, 0)
        return int(spec.get("terminationGracePeriodSeconds", 30))


def validate_binding(binding: Obj) -> list[errors.Cause]:
    """Upstream's ValidatePodBinding: a target of kind Node (or none) with a name."""
    target = binding.get("target") or {}
    causes = []
    if target.get("kind") not in (None, "", "Node"):
        causes.append(errors.not_supported("target.kind", target.get("kind"), ["Node", "<empty>"]))
    if not target.get("name"):
        causes.append(errors.required("target.name"))
    return causes


def copy_for_binding(pod: Obj) -> Obj:
    """The copy of a stored pod that ``bind`` and the store's update path may change: the
    object, its metadata, spec and status are new dicts; everything under them is shared
    with the stored object and only read (bind replaces the conditions list, the store
    sets metadata fields). A full copy of the pod was a sixth of a binding's cost."""
    new = dict(pod)
    new["metadata"] = dict(pod.get("metadata") or {})
    new["spec"] = dict(pod.get("spec") or {})
    if pod.get("status") is not None:
        new["status"] = dict(pod["status"])
    return new


def bind(pod: Obj, *, node_name: str, name: str, uid: str = "") -> Obj:
    """pods/binding: set spec.nodeName once and mark the pod scheduled. A Binding naming a
    UID binds only that incarnation of the pod (a pod deleted and re-created under the
    same name is not bound by a decision made for its predecessor)."""
    if uid and pod["metadata"].get("uid") != uid:
        raise errors.conflict(resource="pods", group="", name=name,
                              why=f"the pod's UID is {pod['metadata'].get('uid')}, not the Binding's {uid}")
    if pod["metadata"].get("deletionTimestamp"):
        raise errors.conflict(resource="pods", group="", name=name, why="pod is being deleted, cannot be assigned to a host")
    current = (pod.get("spec") or {}).get("nodeName")
    if current:
        raise errors.conflict(resource="pods", group="", name=name,
                              why=f"pod {name} is already assigned to node \"{current}\"")
    new = pod  # its own copy of what a binding changes (copy_for_binding)
    new["spec"]["nodeName"] = node_name
    status = new.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                       "lastTransitionTime": meta.now_rfc3339()})
    status["conditions"] = conditions
    return new


