"""ResourceQuota and LimitRange validation, as upstream's ValidateResourceQuota(Update),
ValidateResourceQuotaStatusUpdate and ValidateLimitRange (pkg/apis/core/validation).

Pure functions, no I/O; called by ``kubelite.apiserver.strategies.resourcequotas`` and
``…strategies.limitranges``. One difference in wording: where upstream passes a Quantity
struct as the bad value, its message shows the Go struct (``resource.Quantity{i:…}``);
here the quantity is shown as written (``"2"``).
"""

from __future__ import annotations

from typing import Any, Final

from kubelite.api import errors, meta, quantity
from kubelite.api.validation import pods as pod_validation

Cause = errors.Cause
Obj = dict[str, Any]

# upstream's standard names (pkg/apis/core/helper)
_STANDARD_QUOTA: Final = frozenset({
    "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.storage",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods", "services",
    "replicationcontrollers", "resourcequotas", "secrets", "persistentvolumeclaims", "configmaps",
    "services.nodeports", "services.loadbalancers"})
_STANDARD: Final = _STANDARD_QUOTA | {"storage"}
_STANDARD_CONTAINER: Final = frozenset({"cpu", "memory", "ephemeral-storage"})
_INTEGER: Final = frozenset({"pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
                             "persistentvolumeclaims", "services.nodeports", "services.loadbalancers"})
SCOPES: Final = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
                 "CrossNamespacePodAffinity", "VolumeAttributesClass")
_POD_COUNT: Final = frozenset({"pods"})
_POD_COMPUTE: Final = frozenset({"cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu", "requests.memory"})
_EXISTS_ONLY: Final = ("BestEffort", "NotBestEffort", "Terminating", "NotTerminating", "CrossNamespacePodAffinity")
LIMIT_TYPES: Final = ("Pod", "Container", "PersistentVolumeClaim")


def _is_hugepages(name: str, *, quota: bool = False) -> bool:
    return name.startswith("hugepages-") or (quota and name.startswith("requests.hugepages-"))


def _is_extended(name: str) -> bool:
    native = "/" not in name or "kubernetes.io/" in name
    return not native and not name.startswith("requests.") and not meta.is_qualified_name("requests." + name)


def _resource_name(name: str, path: str) -> list[Cause]:
    """upstream validateResourceName: a qualified name, standard unless it has a domain."""
    problems = [meta.invalid(path, name, m) for m in meta.is_qualified_name(name)]
    if problems:
        return problems
    if "/" not in name and name not in _STANDARD and not _is_hugepages(name):
        return [meta.invalid(path, name, "must be a standard resource type or fully qualified")]
    return []


def _quota_resource_name(name: str, path: str) -> list[Cause]:
    out = _resource_name(name, path)
    if "/" not in name and name not in _STANDARD_QUOTA and not _is_hugepages(name, quota=True):
        out.append(meta.invalid(path, name, "must be a standard resource for quota"))
    return out


def _container_resource_name(name: str, path: str) -> list[Cause]:
    out = _resource_name(name, path)
    if "/" not in name:
        if name not in _STANDARD_CONTAINER and not _is_hugepages(name):
            out.append(meta.invalid(path, name, "must be a standard resource for containers"))
    elif "kubernetes.io/" not in name and not _is_extended(name):
        out.append(meta.invalid(path, name, "doesn't follow extended resource name standard"))
    return out


def _quantity(name: str, raw: Any, path: str) -> tuple[quantity.Quantity | None, list[Cause]]:
    """upstream ValidateResourceQuantityValue: not negative, whole for counted resources."""
    q = quantity.parse(raw)
    if q is None:
        return None, [meta.invalid(path, raw, "quantities must match the regular expression "
                                              f"'{pod_validation.QUANTITY_REGEX}'")]
    out: list[Cause] = []
    if q.value < 0:
        out.append(meta.invalid(path, str(q), "must be greater than or equal to 0"))
    if (name in _INTEGER or name.startswith("count/") or _is_extended(name)) and q.milli() % 1000:
        out.append(meta.invalid(path, str(q), "must be an integer"))
    return q, out


def _resource_map(raw: Any, path: str, check_name: Any) -> tuple[dict[str, quantity.Quantity], list[Cause]]:
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        return {}, [meta.invalid(path, raw, "must be a map of resource name to quantity")]
    parsed: dict[str, quantity.Quantity] = {}
    out: list[Cause] = []
    for name in sorted(raw):
        key_path = f"{path}[{name}]"
        out += check_name(str(name), key_path)
        q, problems = _quantity(str(name), raw[name], key_path)
        out += problems
        if q is not None:
            parsed[str(name)] = q
    return parsed, out


# --- ResourceQuota ------------------------------------------------------------------


def _scope_valid_for(scope: str, resource: str) -> bool:
    if scope in ("Terminating", "NotTerminating", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity"):
        return resource in _POD_COUNT or resource in _POD_COMPUTE
    if scope == "BestEffort":
        return resource in _POD_COUNT
    if scope == "VolumeAttributesClass":
        return resource in ("persistentvolumeclaims", "requests.storage")
    return True


def _standard_hard(spec: Obj) -> list[str]:
    hard: Obj = spec["hard"] if isinstance(spec.get("hard"), dict) else {}
    return sorted(k for k in hard if k in _STANDARD_QUOTA or _is_hugepages(k, quota=True))


def _validate_scopes(spec: Obj) -> list[Cause]:
    scopes = spec.get("scopes")
    if not scopes:
        return []
    if not isinstance(scopes, list):
        return [meta.invalid("spec.scopes", scopes, "must be a list of scopes")]
    out: list[Cause] = []
    hard = _standard_hard(spec)
    for scope in scopes:
        if scope not in SCOPES:
            out.append(meta.invalid("spec.scopes", scopes, "unsupported scope"))
        for name in hard:
            if not _scope_valid_for(str(scope), name):
                out.append(meta.invalid("spec.scopes", scopes, "unsupported scope applied to resource"))
    for pair in (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating")):
        if all(p in scopes for p in pair):
            out.append(meta.invalid("spec.scopes", scopes, "conflicting scopes"))
    return out


def _validate_scope_selector(spec: Obj) -> list[Cause]:
    selector = spec.get("scopeSelector")
    if not isinstance(selector, dict):
        return []
    path = "spec.scopeSelector.matchExpressions"
    hard = _standard_hard(spec)
    out: list[Cause] = []
    seen: set[str] = set()
    for req in selector.get("matchExpressions") or []:
        if not isinstance(req, dict):
            continue
        scope, operator, values = req.get("scopeName"), req.get("operator"), req.get("values") or []
        if scope not in SCOPES:
            out.append(meta.invalid(f"{path}.scopeName", scope, "unsupported scope"))
        for name in hard:
            if not _scope_valid_for(str(scope), name):
                out.append(meta.invalid(path, selector, "unsupported scope applied to resource"))
        if scope in _EXISTS_ONLY and operator != "Exists":
            out.append(meta.invalid(
                f"{path}.operator", operator,
                "must be 'Exist' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, "
                "ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or "
                "ResourceQuotaScopeCrossNamespacePodAffinity"))
        if operator in ("In", "NotIn"):
            if not values:
                out.append(meta.required(f"{path}.values",
                                         "must be at least one value when `operator` is 'In' or 'NotIn' for scope "
                                         "selector"))
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                out.append(meta.invalid(f"{path}.values", values,
                                        "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope "
                                        "selector"))
        else:
            out.append(meta.invalid(f"{path}.operator", operator, "not a valid selector operator"))
        seen.add(str(scope))
    for pair in (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating")):
        if all(p in seen for p in pair):
            out.append(meta.invalid(path, spec.get("scopes"), "conflicting scopes"))
    return out


def validate_resource_quota_spec(spec: Any) -> list[Cause]:
    if not isinstance(spec, dict):
        return []
    _, out = _resource_map(spec.get("hard"), "spec.hard", _quota_resource_name)
    return out + _validate_scopes(spec) + _validate_scope_selector(spec)


def validate_resource_quota_status(status: Any) -> list[Cause]:
    if not isinstance(status, dict):
        return []
    _, out = _resource_map(status.get("hard"), "status.hard", _quota_resource_name)
    _, used = _resource_map(status.get("used"), "status.used", _quota_resource_name)
    return out + used


def validate_resource_quota_update(new: Obj, old: Obj) -> list[Cause]:
    """The spec as on create; ``spec.scopes`` may not change (as a set)."""
    out = validate_resource_quota_spec(new.get("spec"))
    new_scopes = set((new.get("spec") or {}).get("scopes") or [])
    old_scopes = set((old.get("spec") or {}).get("scopes") or [])
    if new_scopes != old_scopes:
        out.append(meta.invalid("spec.scopes", (new.get("spec") or {}).get("scopes"), meta.FIELD_IMMUTABLE))
    return out


# --- LimitRange ---------------------------------------------------------------------


def _limit_type(value: Any, path: str) -> list[Cause]:
    text = value if isinstance(value, str) else ""
    problems = [meta.invalid(path, text, m) for m in meta.is_qualified_name(text)]
    if problems:
        return problems
    if "/" not in text and text not in LIMIT_TYPES:
        return [meta.invalid(path, text, "must be a standard limit type or fully qualified")]
    return []


def _validate_limit_item(item: Obj, path: str) -> list[Cause]:
    kind = item.get("type")
    name_check = _container_resource_name if kind in ("Pod", "Container") else _resource_name
    out: list[Cause] = []
    parsed: dict[str, dict[str, quantity.Quantity]] = {}
    for part in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
        if kind == "Pod" and part in ("default", "defaultRequest"):
            if item.get(part):
                out.append(meta.forbidden(f"{path}.{part}", "may not be specified when `type` is 'Pod'"))
            parsed[part] = {}
            continue
        values, problems = _resource_map(item.get(part), f"{path}.{part}", name_check)
        parsed[part], out = values, out + problems
    low, high, default, default_request, ratio = (parsed[p] for p in ("min", "max", "default", "defaultRequest",
                                                                       "maxLimitRequestRatio"))
    if kind == "PersistentVolumeClaim" and "storage" not in low and "storage" not in high:
        out.append(meta.required(f"{path}.limits",
                                 "either minimum or maximum storage value is required, but neither was provided"))
    keys = sorted(set().union(*(v.keys() for v in parsed.values())))
    for k in keys:
        lo, hi, d, dr, r = low.get(k), high.get(k), default.get(k), default_request.get(k), ratio.get(k)
        if lo is not None and hi is not None and lo.value > hi.value:
            out.append(meta.invalid(f"{path}.min[{k}]", str(lo), f"min value {lo} is greater than max value {hi}"))
        if dr is not None and lo is not None and lo.value > dr.value:
            out.append(meta.invalid(f"{path}.defaultRequest[{k}]", str(dr),
                                    f"min value {lo} is greater than default request value {dr}"))
        if dr is not None and hi is not None and dr.value > hi.value:
            out.append(meta.invalid(f"{path}.defaultRequest[{k}]", str(dr),
                                    f"default request value {dr} is greater than max value {hi}"))
        if dr is not None and d is not None and dr.value > d.value:
            out.append(meta.invalid(f"{path}.defaultRequest[{k}]", str(dr),
                                    f"default request value {dr} is greater than default limit value {d}"))
        if d is not None and lo is not None and lo.value > d.value:
            out.append(meta.invalid(f"{path}.default[{k}]", str(lo),
                                    f"min value {lo} is greater than default value {d}"))
        if d is not None and hi is not None and d.value > hi.value:
            out.append(meta.invalid(f"{path}.default[{k}]", str(hi),
                                    f"default value {d} is greater than max value {hi}"))
        if r is not None and r.value < 1:
            out.append(meta.invalid(f"{path}.maxLimitRequestRatio[{k}]", str(r), f"ratio {r} is less than 1"))
        if r is not None and lo is not None and hi is not None and lo.value > 0:
            bound = hi.milli() / lo.milli()
            if r.milli() / 1000 > bound:
                out.append(meta.invalid(f"{path}.maxLimitRequestRatio[{k}]", str(r),
                                        f"ratio {r} is greater than max/min = {bound:f}"))
        if _is_hugepages(k) and d is not None and dr is not None and d.value != dr.value:
            out.append(meta.invalid(f"{path}.defaultRequest[{k}]", str(dr),
                                    f"default value {d} must equal to defaultRequest value {dr} in {k}"))
    return out


def validate_limit_range(obj: Obj) -> list[Cause]:
    limits = (obj.get("spec") or {}).get("limits")
    if limits is None:
        return []
    if not isinstance(limits, list):
        return [meta.invalid("spec.limits", limits, "must be a list")]
    out: list[Cause] = []
    seen: set[Any] = set()
    for i, item in enumerate(limits):
        path = f"spec.limits[{i}]"
        if not isinstance(item, dict):
            out.append(meta.invalid(path, item, "must be an object"))
            continue
        out += _limit_type(item.get("type"), f"{path}.type")
        if item.get("type") in seen:
            out.append(meta.duplicate(f"{path}.type", item.get("type")))
        seen.add(item.get("type"))
        out += _validate_limit_item(item, path)
    return out
