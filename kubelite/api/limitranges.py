"""LimitRange enforcement, as upstream's LimitRanger admission plugin
(plugin/pkg/admission/limitranger) applies it: defaults for containers, then minimum,
maximum and limit/request ratio checks for containers, pods and claims.

Pure functions, no I/O; ``kubelite.apiserver.strategies.limitranges`` calls them with the
namespace's LimitRanges on pod and PersistentVolumeClaim creation. Every message is
upstream's; the API server wraps them as ``pods "x" is forbidden: …``.
"""

from __future__ import annotations

from typing import Any, Final

from kubelite.api import quantity, quota

Obj = dict[str, Any]
ResourceList = quantity.ResourceList

ANNOTATION: Final = "kubernetes.io/limit-ranger"
# MaxMilliValue: quantities compared in thousandths while that cannot overflow an int64
_MAX_MILLI: Final = (2**63 - 1) // 1000


def _items(limit_range: Obj) -> list[Obj]:
    limits = (limit_range.get("spec") or {}).get("limits")
    return [item for item in limits if isinstance(item, dict)] if isinstance(limits, list) else []


def default_requirements(limit_range: Obj) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Container item's ``defaultRequest`` and ``default`` maps (raw quantities)."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    for item in _items(limit_range):
        if item.get("type") == "Container":
            requests.update(item.get("defaultRequest") or {})
            limits.update(item.get("default") or {})
    return requests, limits


def apply_defaults(pod: Obj, limit_range: Obj) -> None:
    """upstream PodMutateLimitFunc: containers (and init containers) without a request or
    limit for a resource get the range's default; what was set is recorded in the pod's
    ``kubernetes.io/limit-ranger`` annotation."""
    default_requests, default_limits = default_requirements(limit_range)
    if not default_requests and not default_limits:
        return
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    notes: list[str] = []
    for kind, label in (("containers", "container"), ("initContainers", "init container")):
        containers = spec.get(kind)
        for container in containers if isinstance(containers, list) else []:
            if not isinstance(container, dict):
                continue
            resources = container.get("resources")
            if not isinstance(resources, dict):
                resources = container["resources"] = {}
            set_limits = _fill(resources, "limits", default_limits)
            set_requests = _fill(resources, "requests", default_requests)
            name = container.get("name", "")
            if set_requests:
                notes.append(f"{', '.join(sorted(set_requests))} request for {label} {name}")
            if set_limits:
                notes.append(f"{', '.join(sorted(set_limits))} limit for {label} {name}")
    if notes:
        md = pod.setdefault("metadata", {})
        annotations = md.get("annotations")
        if not isinstance(annotations, dict):
            annotations = md["annotations"] = {}
        annotations[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)


def _fill(resources: Obj, part: str, defaults: dict[str, Any]) -> list[str]:
    if not defaults:
        return []
    current = resources.get(part)
    if not isinstance(current, dict):
        current = resources[part] = {}
    added = [name for name in defaults if name not in current]
    for name in added:
        current[name] = defaults[name]
    return added


# --- constraints --------------------------------------------------------------------


def _comparable(*values: quantity.Quantity) -> list[int]:
    """upstream requestLimitEnforcedValues: thousandths when none would overflow, else wholes."""
    if all(v.whole() <= _MAX_MILLI for v in values):
        return [v.milli() for v in values]
    return [v.whole() for v in values]


def _min(kind: str, name: str, enforced: quantity.Quantity, requests: ResourceList,
         limits: ResourceList) -> str | None:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim, bound = _comparable(req or quantity.ZERO, lim or quantity.ZERO, enforced)
    if req is None:
        return f"minimum {name} usage per {kind} is {enforced}.  No request is specified"
    if observed_req < bound:
        return f"minimum {name} usage per {kind} is {enforced}, but request is {req}"
    if lim is not None and observed_lim < bound:
        return f"minimum {name} usage per {kind} is {enforced}, but limit is {lim}"
    return None


def _max(kind: str, name: str, enforced: quantity.Quantity, requests: ResourceList,
         limits: ResourceList) -> str | None:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim, bound = _comparable(req or quantity.ZERO, lim or quantity.ZERO, enforced)
    if lim is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No limit is specified"
    if observed_lim > bound:
        return f"maximum {name} usage per {kind} is {enforced}, but limit is {lim}"
    if req is not None and observed_req > bound:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {req}"
    return None


def _max_request(kind: str, name: str, enforced: quantity.Quantity, requests: ResourceList) -> str | None:
    req = requests.get(name)
    observed_req, _, bound = _comparable(req or quantity.ZERO, quantity.ZERO, enforced)
    if req is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No request is specified"
    if observed_req > bound:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {req}"
    return None


def _ratio(kind: str, name: str, enforced: quantity.Quantity, requests: ResourceList,
           limits: ResourceList) -> str | None:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim, _ = _comparable(req or quantity.ZERO, lim or quantity.ZERO, enforced)
    if req is None or observed_req == 0:
        return (f"{name} max limit to request ratio per {kind} is {enforced}, "
                f"but no request is specified or request is 0")
    if lim is None or observed_lim == 0:
        return (f"{name} max limit to request ratio per {kind} is {enforced}, "
                f"but no limit is specified or limit is 0")
    shown = observed_lim / observed_req
    observed, allowed = shown, float(enforced.whole())
    if enforced.whole() <= _MAX_MILLI:
        observed, allowed = shown * 1000, float(enforced.milli())
    if observed > allowed:
        return f"{name} max limit to request ratio per {kind} is {enforced}, but provided ratio is {shown:f}"
    return None


def _check(kind: str, item: Obj, requests: ResourceList, limits: ResourceList) -> list[str]:
    out: list[str] = []
    for name, raw in (item.get("min") or {}).items():
        out.append(_min(kind, name, quantity.must(raw), requests, limits) or "")
    for name, raw in (item.get("max") or {}).items():
        out.append(_max(kind, name, quantity.must(raw), requests, limits) or "")
    for name, raw in (item.get("maxLimitRequestRatio") or {}).items():
        out.append(_ratio(kind, name, quantity.must(raw), requests, limits) or "")
    return [m for m in out if m]


def validate_pod(pod: Obj, limit_range: Obj) -> list[str]:
    """upstream PodValidateLimitFunc: each container against the Container item, the pod's
    aggregate requests and limits against the Pod item."""
    spec = pod.get("spec") or {}
    out: list[str] = []
    for item in _items(limit_range):
        kind = item.get("type")
        if kind == "Container":
            for key in ("containers", "initContainers"):
                containers = spec.get(key)
                for c in containers if isinstance(containers, list) else []:
                    if isinstance(c, dict):
                        res: Obj = c["resources"] if isinstance(c.get("resources"), dict) else {}
                        out += _check("Container", item, quantity.resource_list(res.get("requests")),
                                      quantity.resource_list(res.get("limits")))
        elif kind == "Pod":
            out += _check("Pod", item, quota.pod_aggregate(spec, "requests"), quota.pod_aggregate(spec, "limits"))
    return out


def validate_claim(claim: Obj, limit_range: Obj) -> list[str]:
    """upstream PersistentVolumeClaimValidateLimitFunc: the claim's storage request against
    the PersistentVolumeClaim item's min and max (limits are not a claim's to give)."""
    requests = quantity.resource_list(((claim.get("spec") or {}).get("resources") or {}).get("requests"))
    out: list[str] = []
    for item in _items(limit_range):
        if item.get("type") != "PersistentVolumeClaim":
            continue
        for name, raw in (item.get("min") or {}).items():
            out.append(_min("PersistentVolumeClaim", name, quantity.must(raw), requests, {}) or "")
        for name, raw in (item.get("max") or {}).items():
            out.append(_max_request("PersistentVolumeClaim", name, quantity.must(raw), requests) or "")
    return [m for m in out if m]


def aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate's message: one error as it is, several as ``[a, b]``
    (repeats dropped)."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"
