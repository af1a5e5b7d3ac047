"""HorizontalPodAutoscaler (autoscaling/v2, the stored shape): defaults and validation.

Pure functions, no I/O. Called by ``kubelite.apiserver.strategies.autoscaling`` on every
create and update (autoscaling/v1 bodies are converted to v2 first, as upstream validates
its internal version). Rules and messages follow upstream's
``pkg/apis/autoscaling/validation/validation.go``; defaults follow
``pkg/apis/autoscaling/v2/defaults.go`` (minReplicas 1, an empty ``metrics`` means 80 %
average CPU utilization, the scale-up and scale-down behavior rules).
"""

from __future__ import annotations

from typing import Any

from kubelite.api import errors, meta
from kubelite.api.validation import pods

Cause = errors.Cause
Obj = dict[str, Any]

DEFAULT_CPU_UTILIZATION = 80
MAX_STABILIZATION_WINDOW_SECONDS = 3600  # upstream MaxStabilizationWindowSeconds
MAX_PERIOD_SECONDS = 1800  # upstream MaxPeriodSeconds
METRIC_SOURCE_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
# metric source type → the field that carries it
SOURCE_FIELDS = {"Object": "object", "Pods": "pods", "Resource": "resource",
                 "ContainerResource": "containerResource", "External": "external"}
SELECT_POLICIES = ("Disabled", "Max", "Min")


# --- defaults --------------------------------------------------------------------------


def _default_rules(rules: Any, *, up: bool) -> Obj:
    """upstream GenerateHPAScaleUpRules / GenerateHPAScaleDownRules: fill what is unset."""
    out: Obj = dict(rules) if isinstance(rules, dict) else {}
    if up:
        out.setdefault("stabilizationWindowSeconds", 0)
        out.setdefault("policies", [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                    {"type": "Percent", "value": 100, "periodSeconds": 15}])
    else:
        # scale down: the window stays unset (nil) here; the controller reads it as 300 s
        out.setdefault("policies", [{"type": "Percent", "value": 100, "periodSeconds": 15}])
    out.setdefault("selectPolicy", "Max")
    return out


def default_hpa(hpa: Obj) -> None:
    """``SetDefaults_HorizontalPodAutoscaler`` of autoscaling/v2, in place."""
    spec = hpa.get("spec")
    if not isinstance(spec, dict):
        return
    if spec.get("minReplicas") is None:
        spec["minReplicas"] = 1
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _default_rules(behavior.get("scaleUp"), up=True)
        behavior["scaleDown"] = _default_rules(behavior.get("scaleDown"), up=False)


# --- validation ------------------------------------------------------------------------


def validate_hpa(hpa: Obj) -> list[Cause]:
    spec = hpa.get("spec")
    if not isinstance(spec, dict):
        return [meta.required("spec")]
    out: list[Cause] = []
    min_replicas, max_replicas = spec.get("minReplicas"), spec.get("maxReplicas")
    if isinstance(min_replicas, int) and min_replicas < 1:
        out.append(meta.invalid("spec.minReplicas", min_replicas, "must be greater than or equal to 1"))
    if not isinstance(max_replicas, int) or max_replicas < 1:
        out.append(meta.invalid("spec.maxReplicas", max_replicas or 0, "must be greater than 0"))
    if isinstance(min_replicas, int) and isinstance(max_replicas, int) and max_replicas < min_replicas:
        out.append(meta.invalid("spec.maxReplicas", max_replicas, "must be greater than or equal to `minReplicas`"))
    out += _validate_reference(spec.get("scaleTargetRef"), "spec.scaleTargetRef")
    for i, metric in enumerate(spec.get("metrics") or []):
        out += _validate_metric(metric if isinstance(metric, dict) else {}, f"spec.metrics[{i}]")
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        for direction in ("scaleUp", "scaleDown"):
            if isinstance(behavior.get(direction), dict):
                out += _validate_rules(behavior[direction], f"spec.behavior.{direction}")
    return out


def _validate_reference(ref: Any, path: str) -> list[Cause]:
    ref = ref if isinstance(ref, dict) else {}
    out: list[Cause] = []
    for key in ("kind", "name"):
        value = ref.get(key)
        if not value:
            out.append(meta.required(f"{path}.{key}"))
        else:
            out += [meta.invalid(f"{path}.{key}", value, msg) for msg in _path_segment_errors(str(value))]
    return out


def _path_segment_errors(name: str) -> list[str]:
    """upstream path.IsValidPathSegmentName."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _validate_metric(metric: Obj, path: str) -> list[Cause]:
    out: list[Cause] = []
    mtype = metric.get("type")
    present = [f for f in SOURCE_FIELDS.values() if metric.get(f) is not None]
    expected = SOURCE_FIELDS.get(mtype) if isinstance(mtype, str) else None
    if not mtype:
        out.append(meta.required(f"{path}.type", "must specify a metric source type"))
    elif expected is None:
        out.append(meta.not_supported(f"{path}.type", mtype, METRIC_SOURCE_TYPES))
    elif metric.get(expected) is None:
        out.append(meta.required(f"{path}.{expected}", "must populate information for the given metric source"))
    if len(present) != 1:
        for name in present:
            if name != expected:
                out.append(meta.forbidden(f"{path}.{name}", "must populate the given metric source only"))
    if expected in ("resource", "containerResource") and isinstance(metric.get(expected), dict):
        out += _validate_resource_source(metric[expected], f"{path}.{expected}",
                                         container=expected == "containerResource")
    elif expected in ("pods", "object", "external") and isinstance(metric.get(expected), dict):
        src = metric[expected]
        if not (src.get("metric") or {}).get("name"):
            out.append(meta.required(f"{path}.{expected}.metric.name", "must specify a metric name"))
        out += _validate_target(src.get("target") or {}, f"{path}.{expected}.target")
    return out


def _validate_resource_source(src: Obj, path: str, *, container: bool) -> list[Cause]:
    out: list[Cause] = []
    if not src.get("name"):
        out.append(meta.required(f"{path}.name", "must specify a resource name"))
    if container and not src.get("container"):
        out.append(meta.required(f"{path}.container", "must specify a container"))
    raw = src.get("target")
    target: Obj = raw if isinstance(raw, dict) else {}
    out += _validate_target(target, f"{path}.target")
    if target.get("averageUtilization") is None and target.get("averageValue") is None:
        out.append(meta.required(f"{path}.target.averageUtilization",
                                 "must set either a target raw value or a target utilization"))
    if target.get("averageUtilization") is not None and target.get("averageValue") is not None:
        out.append(meta.forbidden(f"{path}.target.averageValue",
                                  "may not set both a target raw value and a target utilization"))
    return out


def _validate_target(target: Obj, path: str) -> list[Cause]:
    out: list[Cause] = []
    ttype = target.get("type")
    if not ttype:
        out.append(meta.required(f"{path}.type", "must specify a metric target type"))
    if ttype not in ("Utilization", "Value", "AverageValue"):
        out.append(meta.invalid(f"{path}.type", ttype or "", "must be either Utilization, Value, or AverageValue"))
    for key in ("value", "averageValue"):
        if target.get(key) is not None:
            parsed = pods.parse_quantity(target[key])
            if parsed is None or parsed <= 0:
                out.append(meta.invalid(f"{path}.{key}", target[key], "must be positive"))
    utilization = target.get("averageUtilization")
    if isinstance(utilization, int) and utilization < 1:
        out.append(meta.invalid(f"{path}.averageUtilization", utilization, "must be greater than 0"))
    return out


def _validate_rules(rules: Obj, path: str) -> list[Cause]:
    out: list[Cause] = []
    window = rules.get("stabilizationWindowSeconds")
    if isinstance(window, int):
        if window < 0:
            out.append(meta.invalid(f"{path}.stabilizationWindowSeconds", window,
                                    "must be greater than or equal to zero"))
        elif window > MAX_STABILIZATION_WINDOW_SECONDS:
            out.append(meta.invalid(f"{path}.stabilizationWindowSeconds", window,
                                    f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"))
    select = rules.get("selectPolicy")
    if select is not None and select not in SELECT_POLICIES:
        out.append(meta.not_supported(f"{path}.selectPolicy", select, SELECT_POLICIES))
    policies = rules.get("policies")
    if not policies:
        out.append(meta.required(f"{path}.policies", "must specify at least one Policy"))
    for i, policy in enumerate(policies or []):
        p = policy if isinstance(policy, dict) else {}
        ppath = f"{path}.policies[{i}]"
        if p.get("type") not in ("Pods", "Percent"):
            out.append(meta.invalid(f"{ppath}.type", p.get("type") or "", "policy type must be either Pods or Percent"))
        period = p.get("periodSeconds")
        if not isinstance(period, int) or period <= 0:
            out.append(meta.invalid(f"{ppath}.periodSeconds", period or 0, "must be greater than zero"))
        elif period > MAX_PERIOD_SECONDS:
            out.append(meta.invalid(f"{ppath}.periodSeconds", period,
                                    f"must be less than or equal to {MAX_PERIOD_SECONDS}"))
        value = p.get("value")
        if not isinstance(value, int) or value <= 0:
            out.append(meta.invalid(f"{ppath}.value", value or 0, "must be greater than zero"))
    return out
