"""HorizontalPodAutoscalers: autoscaling/v2 is stored, autoscaling/v1 is the same objects
in the older shape (one store in two shapes, as ``events``).

- v2 (``HPAStrategy``): upstream's defaults (``validation.autoscaling.default_hpa``; the
  generic ``api.defaults`` has no autoscaling entry, so the strategy applies them before
  validation), validation with upstream's messages, status as a subresource,
  ``desiredReplicas`` always serialized (no ``omitempty`` upstream).
- v1 (``HPAV1Strategy``): converted on the way in and out as upstream's
  ``pkg/apis/autoscaling/v1/conversion.go``: ``targetCPUUtilizationPercentage`` ⇄ a
  Resource ``cpu`` metric with an ``Utilization`` target, ``currentCPUUtilizationPercentage``
  ⇄ that metric's current utilization. What v1 cannot say (other metrics, behavior,
  conditions, other current metrics) travels in the ``autoscaling.alpha.kubernetes.io/*``
  annotations upstream uses, so a v1 read-modify-write keeps it. Departure: upstream writes
  those annotations in the old v2beta1-like ``MetricSpec`` shape; kubelite writes the v2 shape.
"""

from __future__ import annotations

import json
from typing import Any

from kubelite.api import errors
from kubelite.api.validation import autoscaling as hpa_validation
from kubelite.apiserver.strategies import base

Obj = dict[str, Any]

V1, V2 = "autoscaling/v1", "autoscaling/v2"
METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
_CONVERSION_ANNOTATIONS = (METRICS_ANNOTATION, BEHAVIOR_ANNOTATION, CONDITIONS_ANNOTATION,
                           CURRENT_METRICS_ANNOTATION)


class HPAStrategy(base.Strategy):
    def prepare_for_create(self, obj: Obj) -> None:
        hpa_validation.default_hpa(obj)
        super().prepare_for_create(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        hpa_validation.default_hpa(new)
        super().prepare_for_update(new, old)

    def complete_status(self, status: Obj) -> Obj:
        status.setdefault("desiredReplicas", 0)
        return status

    def validate(self, obj: Obj) -> list[errors.Cause]:
        return super().validate(obj) + hpa_validation.validate_hpa(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        return super().validate_update(new, old) + hpa_validation.validate_hpa(new)


def _is_cpu_utilization(metric: Any) -> bool:
    if not isinstance(metric, dict) or metric.get("type") != "Resource":
        return False
    resource = metric.get("resource") or {}
    target = resource.get("target") or {}
    return resource.get("name") == "cpu" and target.get("type") == "Utilization" \
        and target.get("averageUtilization") is not None


def _is_cpu_current(metric: Any) -> bool:
    if not isinstance(metric, dict) or metric.get("type") != "Resource":
        return False
    resource = metric.get("resource") or {}
    return resource.get("name") == "cpu" and (resource.get("current") or {}).get("averageUtilization") is not None


def to_v1(obj: Obj) -> Obj:
    """A stored autoscaling/v2 HPA in the autoscaling/v1 shape."""
    md = dict(obj.get("metadata") or {})
    annotations = dict(md.get("annotations") or {})
    spec = obj.get("spec") or {}
    out_spec: Obj = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec}
    others = []
    for metric in spec.get("metrics") or []:
        if "targetCPUUtilizationPercentage" not in out_spec and _is_cpu_utilization(metric):
            out_spec["targetCPUUtilizationPercentage"] = metric["resource"]["target"]["averageUtilization"]
        else:
            others.append(metric)
    if others:
        annotations[METRICS_ANNOTATION] = json.dumps(others, separators=(",", ":"))
    if spec.get("behavior"):
        annotations[BEHAVIOR_ANNOTATION] = json.dumps(spec["behavior"], separators=(",", ":"))
    out: Obj = {"apiVersion": V1, "kind": "HorizontalPodAutoscaler", "metadata": md, "spec": out_spec}
    if "status" in obj:
        status = obj.get("status") or {}
        out_status: Obj = {k: status[k] for k in ("observedGeneration", "lastScaleTime") if k in status}
        out_status["currentReplicas"] = status.get("currentReplicas", 0)
        out_status["desiredReplicas"] = status.get("desiredReplicas", 0)
        current_others = []
        for metric in status.get("currentMetrics") or []:
            if "currentCPUUtilizationPercentage" not in out_status and _is_cpu_current(metric):
                out_status["currentCPUUtilizationPercentage"] = metric["resource"]["current"]["averageUtilization"]
            else:
                current_others.append(metric)
        if current_others:
            annotations[CURRENT_METRICS_ANNOTATION] = json.dumps(current_others, separators=(",", ":"))
        if status.get("conditions"):
            annotations[CONDITIONS_ANNOTATION] = json.dumps(status["conditions"], separators=(",", ":"))
        out["status"] = out_status
    if annotations:
        md["annotations"] = annotations
    return out


def _annotation_list(annotations: dict[str, Any], key: str) -> list[Any]:
    try:
        value = json.loads(annotations.pop(key))
    except (KeyError, TypeError, ValueError):
        return []
    return value if isinstance(value, list) else []


def from_v1(obj: Obj) -> Obj:
    """An autoscaling/v1 body in the stored autoscaling/v2 shape."""
    md = dict(obj.get("metadata") or {}) if isinstance(obj.get("metadata"), dict) else obj.get("metadata")
    out: Obj = {"apiVersion": V2, "kind": obj.get("kind") or "HorizontalPodAutoscaler"}
    if md is not None:
        out["metadata"] = md
    annotations = dict(md.get("annotations") or {}) if isinstance(md, dict) else {}
    spec = obj.get("spec")
    if isinstance(spec, dict):
        out_spec: Obj = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec}
        metrics = []
        if spec.get("targetCPUUtilizationPercentage") is not None:
            metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": spec["targetCPUUtilizationPercentage"]}}})
        metrics += _annotation_list(annotations, METRICS_ANNOTATION)
        if metrics:
            out_spec["metrics"] = metrics
        try:
            behavior = json.loads(annotations.pop(BEHAVIOR_ANNOTATION))
            if isinstance(behavior, dict):
                out_spec["behavior"] = behavior
        except (KeyError, TypeError, ValueError):
            pass
        out["spec"] = out_spec
    elif spec is not None:
        out["spec"] = spec
    status = obj.get("status")
    current = _annotation_list(annotations, CURRENT_METRICS_ANNOTATION)
    conditions = _annotation_list(annotations, CONDITIONS_ANNOTATION)
    if isinstance(status, dict):
        out_status: Obj = {k: status[k] for k in ("observedGeneration", "lastScaleTime", "currentReplicas",
                                                  "desiredReplicas") if k in status}
        if status.get("currentCPUUtilizationPercentage") is not None:
            current.insert(0, {"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": status["currentCPUUtilizationPercentage"]}}})
        if current:
            out_status["currentMetrics"] = current
        if conditions:
            out_status["conditions"] = conditions
        out["status"] = out_status
    if isinstance(md, dict):
        for key in _CONVERSION_ANNOTATIONS:
            annotations.pop(key, None)
        if annotations:
            md["annotations"] = annotations
        else:
            md.pop("annotations", None)
    return out


class HPAV1Strategy(HPAStrategy):
    @property
    def internal_api_version(self) -> str:
        return V2

    def to_external(self, obj: Obj) -> Obj:
        return to_v1(obj)

    def to_internal(self, obj: Obj) -> Obj:
        if not isinstance(obj, dict) or obj.get("apiVersion") not in (None, "", V1):
            return obj  # the identity check answers with a readable 400
        return from_v1(obj)
