"""Strategies of the workload kinds (apps/v1 and batch/v1): generation follows the spec,
status is a subresource, and a Job's selector is generated from its uid unless
``manualSelector`` says otherwise (upstream's job strategy)."""

from __future__ import annotations

from typing import Any

from kubelite.apiserver.strategies import base

Obj = dict[str, Any]


class WorkloadStrategy(base.Strategy):
    pass


class JobStrategy(base.Strategy):
    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        spec = obj.setdefault("spec", {})
        if spec.get("manualSelector"):
            return
        uid = obj["metadata"]["uid"]
        # Upstream generates the selector and the template labels from the job's uid.
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
        labels["batch.kubernetes.io/controller-uid"] = uid
        labels["controller-uid"] = uid
        labels["batch.kubernetes.io/job-name"] = obj["metadata"]["name"]
        labels["job-name"] = obj["metadata"]["name"]
