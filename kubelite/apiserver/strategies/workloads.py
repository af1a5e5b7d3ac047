"""Strategies of the workload kinds (apps/v1 and batch/v1): generation follows the spec,
status is a subresource, and a Job's selector is generated from its uid unless
``manualSelector`` says otherwise (upstream's job strategy).

Some status counters have no ``omitempty`` upstream (``ReplicaSetStatus.replicas``,
``StatefulSetStatus.replicas``, four DaemonSet counters), so Go always serializes them as 0
and typed clients (the Python client's models) treat them as required. The server fills
them with 0 whenever a status is written without them.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import defaults
from kubelite.apiserver.strategies import base

Obj = dict[str, Any]

_ALWAYS_SERIALIZED: dict[str, tuple[str, ...]] = {
    "ReplicaSet": ("replicas",),
    "StatefulSet": ("replicas",),
    "DaemonSet": ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"),
}


def _fill_zeroes(kind: str, status: Obj) -> Obj:
    for key in _ALWAYS_SERIALIZED.get(kind, ()):
        status.setdefault(key, 0)
    return status


class WorkloadStrategy(base.Strategy):
    def initial_status(self, obj: Obj) -> Obj | None:
        return _fill_zeroes(self.info.kind, {})

    def prepare_for_status_update(self, new: Obj, old: Obj) -> Obj:
        merged = super().prepare_for_status_update(new, old)
        if isinstance(merged.get("status"), dict):
            _fill_zeroes(self.info.kind, merged["status"])
        return merged


class JobStrategy(base.Strategy):
    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        defaults.generate_job_selector(obj)
