"""Strategies of the workload kinds (apps/v1, batch/v1 and core/v1 ReplicationController):
generation follows the spec, status is a subresource, and a Job's selector is generated
from its uid unless ``manualSelector`` says otherwise (upstream's job strategy).

Some status counters have no ``omitempty`` upstream (``ReplicaSetStatus.replicas``,
``StatefulSetStatus.replicas``, four DaemonSet counters), so Go always serializes them as 0
and typed clients (the Python client's models) treat them as required. The server fills
them with 0 whenever a status is written without them.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import defaults, errors, selectors
from kubelite.api.validation import workloads as workload_validation
from kubelite.apiserver import podsecurity
from kubelite.apiserver.strategies import base

Obj = dict[str, Any]

_ALWAYS_SERIALIZED: dict[str, tuple[str, ...]] = {
    "ReplicaSet": ("replicas",),
    "ReplicationController": ("replicas",),
    "StatefulSet": ("replicas",),
    "DaemonSet": ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"),
}


class WorkloadStrategy(base.Strategy):
    async def admit_create(self, obj: Obj) -> None:
        podsecurity.warn_template(self.store, obj)

    def validate_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        podsecurity.warn_template(self.store, new, old)
        return super().validate_update(new, old)

    def complete_status(self, status: Obj) -> Obj:
        for key in _ALWAYS_SERIALIZED.get(self.info.kind, ()):
            status.setdefault(key, 0)
        return status


TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


class DaemonSetStrategy(WorkloadStrategy):
    """Upstream's daemonSetStrategy keeps ``spec.templateGeneration`` (1 on create, one
    more at each change of the template), which apps/v1 shows as the annotation
    ``deprecated.daemonset.template.generation``; the controller labels the pods with it
    (``pod-template-generation``)."""

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        annotations = obj.setdefault("metadata", {}).setdefault("annotations", {})
        if not _positive(annotations.get(TEMPLATE_GENERATION)):
            annotations[TEMPLATE_GENERATION] = "1"

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        held = ((old.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION)
        held_value = int(held) if isinstance(held, str) and _positive(held) else 1
        changed = (new.get("spec") or {}).get("template") != (old.get("spec") or {}).get("template")
        annotations = new.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[TEMPLATE_GENERATION] = str(held_value + 1 if changed else held_value)


def _positive(value: Any) -> bool:
    return isinstance(value, str) and value.isdigit() and int(value) >= 1


class ReplicationControllerStrategy(WorkloadStrategy):
    """A ReplicaSet whose selector is a plain label map (upstream's rcStrategy)."""

    # a v1 DELETE that names no policy orphans the pods, for backwards compatibility, as
    # upstream (kubectl always names one: Background unless --cascade says otherwise)
    default_propagation_policy = "Orphan"

    def scale_selector(self, obj: Obj) -> str:
        selector = (obj.get("spec") or {}).get("selector")
        return selectors.selector_to_string({"matchLabels": selector if isinstance(selector, dict) else {}})

    def validate_status_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        return workload_validation.validate_replication_controller_status(new)


class JobStrategy(base.Strategy):
    async def admit_create(self, obj: Obj) -> None:
        podsecurity.warn_template(self.store, obj)

    def validate_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        podsecurity.warn_template(self.store, new, old)
        return super().validate_update(new, old)

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        defaults.generate_job_selector(obj)
        defaults.job_labels_from_template(obj)
