"""Strategies of the workload kinds (apps/v1 and batch/v1): generation follows the spec,
status is a subresource, and a Job's selector is generated from its uid unless
``manualSelector`` says otherwise (upstream's job strategy)."""

from __future__ import annotations

from typing import Any

from kubelite.api import defaults
from kubelite.apiserver.strategies import base

Obj = dict[str, Any]


class WorkloadStrategy(base.Strategy):
    pass


class JobStrategy(base.Strategy):
    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        defaults.generate_job_selector(obj)
