"""The pod strategy: initial status, QoS class, admission (LimitRange defaults before
anything else, then Priority, ServiceAccount: ``serviceaccounts``, DefaultTolerationSeconds:
``api.tolerations``, and LimitRange checks: ``limitranges``), graceful deletion, binding.

Graceful deletion as upstream: a pod bound to a node gets a deletionTimestamp and stays
until its node agent reports its containers gone (the agent then deletes it with grace
period 0); a pod that never reached a node, or has already finished, goes at once.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import errors, meta, tolerations
from kubelite.apiserver import podsecurity
from kubelite.apiserver.strategies import base, cluster, ephemeralcontainers, limitranges, serviceaccounts

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


def merge_label_keys(pod: Obj) -> None:
    """Upstream's pod PrepareForCreate (on by default since 1.31 for pod affinity and 1.34
    for topology spread): each ``matchLabelKeys`` key the pod has as a label joins the
    term's ``labelSelector`` as ``key In (value)``, each ``mismatchLabelKeys`` one as
    ``key NotIn (value)`` (the pods of one rollout revision then spread or gather among
    themselves). A term without a labelSelector matches nothing and is left alone."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    constraints, affinity = spec.get("topologySpreadConstraints"), spec.get("affinity")
    if not constraints and not affinity:
        return  # most pods
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if not isinstance(labels, dict):
        return
    terms: list[Any] = list(constraints) if isinstance(constraints, list) else []
    if isinstance(affinity, dict):
        for kind in ("podAffinity", "podAntiAffinity"):
            section = affinity.get(kind)
            if not isinstance(section, dict):
                continue
            required = section.get("requiredDuringSchedulingIgnoredDuringExecution")
            terms.extend(required if isinstance(required, list) else [])
            preferred = section.get("preferredDuringSchedulingIgnoredDuringExecution")
            for weighted in preferred if isinstance(preferred, list) else []:
                if isinstance(weighted, dict):
                    terms.append(weighted.get("podAffinityTerm"))
    for term in terms:
        if not isinstance(term, dict) or not isinstance(term.get("labelSelector"), dict):
            continue
        for field, operator in (("matchLabelKeys", "In"), ("mismatchLabelKeys", "NotIn")):
            keys = term.get(field)
            added = [{"key": k, "operator": operator, "values": [labels[k]]}
                     for k in (keys if isinstance(keys, list) else []) if isinstance(k, str) and k in labels]
            if added:
                selector = term["labelSelector"]
                existing = selector.get("matchExpressions")
                selector["matchExpressions"] = (existing if isinstance(existing, list) else []) + added


class PodStrategy(base.Strategy):
    return_deleted_object = True
    # upstream's ServiceAccount admission plugin; off with the server's
    # --disable-admission-plugins=ServiceAccount (server.APIServer sets it)
    service_account_admission = True
    # upstream's DefaultTolerationSeconds admission plugin: the seconds of its not-ready and
    # unreachable tolerations; None with --disable-admission-plugins=DefaultTolerationSeconds
    default_toleration_seconds: tuple[int, int] | None = (tolerations.DEFAULT_SECONDS, tolerations.DEFAULT_SECONDS)

    def prepare_for_create(self, obj: Obj) -> None:
        # LimitRange defaults first: the QoS class (initial status) and validation see them
        limitranges.default_pod(self.store, obj)
        super().prepare_for_create(obj)
        merge_label_keys(obj)
        serviceaccounts.sync_alias(obj.get("spec"))

    def initial_status(self, obj: Obj) -> Obj | None:
        spec = obj.get("spec") or {}
        status: Obj = {"phase": "Pending", "qosClass": qos_class(spec)}
        if spec.get("schedulingGates"):
            # Upstream's applySchedulingGatedCondition: the scheduler leaves the pod alone
            # until the gates are gone, and kubectl shows it as SchedulingGated.
            status["conditions"] = [{
                "type": "PodScheduled", "status": "False", "lastProbeTime": None,
                "lastTransitionTime": meta.now_rfc3339(), "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates",
            }]
        return status

    async def admit_create(self, obj: Obj) -> None:
        # Priority admission: spec.priorityClassName → spec.priority and preemptionPolicy
        await cluster.admit_pod_priority(self.store, obj)
        if self.service_account_admission:
            await serviceaccounts.admit_pod(self.store, obj)
        if self.default_toleration_seconds is not None:
            not_ready, unreachable = self.default_toleration_seconds
            tolerations.add_default_tolerations(obj, not_ready_seconds=not_ready, unreachable_seconds=unreachable)
        limitranges.validate_pod(self.store, obj)
        podsecurity.admit_pod(self.store, obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        # As upstream's Priority admission on update: what it set at creation stays when an
        # update leaves it out (validation refuses any other change of the two).
        spec, old_spec = new.get("spec"), old.get("spec") or {}
        if isinstance(spec, dict):
            for key in ("priority", "preemptionPolicy"):
                if spec.get(key) is None and old_spec.get(key) is not None:
                    spec[key] = old_spec[key]
        serviceaccounts.sync_alias(spec)

    def validate_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        causes = super().validate_update(new, old)
        if not causes:  # validation before validating admission, as upstream
            podsecurity.admit_pod_update(self.store, new, old)
        return causes

    def prepare_for_status_update(self, new: Obj, old: Obj) -> Obj:
        merged = super().prepare_for_status_update(new, old)
        # The QoS class is decided once, at creation.
        if "qosClass" in (old.get("status") or {}):
            merged.setdefault("status", {})["qosClass"] = old["status"]["qosClass"]
        status = merged.get("status")
        if isinstance(status, dict):
            keep_observed_generations(status, old.get("status") or {})
        return merged

    def validate_status_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        return validate_observed_generations(new.get("status") or {})

    def validate_subresource_update(self, subresource: str, new: Obj, old: Obj) -> list[errors.Cause]:
        if subresource == ephemeralcontainers.SUBRESOURCE:
            causes = ephemeralcontainers.validate(new, old)
            if not causes:  # PodSecurity checks an added debugger as upstream does
                podsecurity.admit_pod_update(self.store, new, old)
            return causes
        return super().validate_subresource_update(subresource, new, old)

    def grace_period(self, obj: Obj, requested: int | None) -> int:
        spec = obj.get("spec") or {}
        phase = (obj.get("status") or {}).get("phase")
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(requested, 0)
        return int(spec.get("terminationGracePeriodSeconds", 30))


def keep_observed_generations(status: Obj, old_status: Obj) -> None:
    """Upstream's preserveOldObservedGeneration (pod generation tracking, GA in 1.35): a
    status write that leaves out ``observedGeneration``, of the status or of a condition,
    keeps the value it had, so a writer that does not know the field cannot clear it. Old
    conditions are matched by type, in order (validation allows repeated types)."""
    if not status.get("observedGeneration") and old_status.get("observedGeneration"):
        status["observedGeneration"] = old_status["observedGeneration"]
    conditions = status.get("conditions")
    old_conditions = old_status.get("conditions")
    if not isinstance(conditions, list) or not isinstance(old_conditions, list):
        return
    held: dict[Any, list[Any]] = {}
    for c in old_conditions:
        if isinstance(c, dict):
            held.setdefault(c.get("type"), []).append(c.get("observedGeneration"))
    for c in conditions:
        if not isinstance(c, dict):
            continue
        olds = held.get(c.get("type"))
        previous = olds.pop(0) if olds else None
        if not c.get("observedGeneration") and previous:
            c["observedGeneration"] = previous


def validate_observed_generations(status: Obj) -> list[errors.Cause]:
    """Generations are never negative (upstream's ValidatePodStatusUpdate)."""
    causes = []
    if isinstance(status.get("observedGeneration"), int) and status["observedGeneration"] < 0:
        causes.append(errors.invalid_value("status.observedGeneration", status["observedGeneration"],
                                           "must be greater than or equal to 0"))
    for i, c in enumerate(status.get("conditions") or []):
        value = c.get("observedGeneration") if isinstance(c, dict) else None
        if isinstance(value, int) and value < 0:
            causes.append(errors.invalid_value(f"status.conditions[{i}].observedGeneration", value,
                                               "must be greater than or equal to 0"))
    return causes


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
        raise errors.conflict(resource="pods/binding", group="", name=name,
                              why=f"the pod's UID is {pod['metadata'].get('uid')}, not the Binding's {uid}")
    if pod["metadata"].get("deletionTimestamp"):
        raise errors.conflict(resource="pods/binding", group="", name=name,
                              why=f"pod {name} is being deleted, cannot be assigned to a host")
    spec = pod.get("spec") or {}
    current = spec.get("nodeName")
    if current:
        raise errors.conflict(resource="pods/binding", group="", name=name,
                              why=f"pod {name} is already assigned to node \"{current}\"")
    if spec.get("schedulingGates"):
        raise errors.conflict(resource="pods/binding", group="", name=name,
                              why=f"pod {name} has non-empty .spec.schedulingGates")
    new = pod  # its own copy of what a binding changes (copy_for_binding)
    new["spec"]["nodeName"] = node_name
    status = new.setdefault("status", {})
    # The nomination is spent once the pod is bound (upstream's
    # ClearingNominatedNodeNameAfterBinding, on by default since 1.35).
    status.pop("nominatedNodeName", None)
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                       "lastTransitionTime": meta.now_rfc3339()})
    status["conditions"] = conditions
    return new


