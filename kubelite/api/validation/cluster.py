"""Validation of the cluster-support kinds: EndpointSlice (discovery.k8s.io/v1),
StorageClass (storage.k8s.io/v1), PriorityClass (scheduling.k8s.io/v1) and
PodDisruptionBudget (policy/v1).

Pure functions, no I/O. ``kubelite.api.validation.validate`` dispatches here. Rules and
messages follow upstream ``pkg/apis/{discovery,storage,scheduling,policy}/validation``.
Checks that need other objects (only one ``globalDefault`` PriorityClass) are admission,
done by the API server's strategies, not here.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from kubelite.api import errors, meta, selectors
from kubelite.api.validation import workloads

Cause = errors.Cause
Obj = dict[str, Any]

# --- EndpointSlice ---------------------------------------------------------------------

ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
# "IP" was the alpha spelling: still accepted on update of old objects, never on create.
_DEPRECATED_ADDRESS_TYPES = ("IP",)
PORT_PROTOCOLS = ("SCTP", "TCP", "UDP")
MAX_ADDRESSES = 100
MAX_PORTS = 100
MAX_ENDPOINTS = 1000


def _too_many(field: str, actual: int, limit: int) -> Cause:
    return Cause("FieldValueTooMany", f"Too many: {actual}: must have at most {limit} items", field)


def _address_errors(address: Any, address_type: str) -> list[str]:
    if not isinstance(address, str):
        return ["must be a string"]
    if address_type in ("IPv4", "IPv6", "IP"):
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return {"IPv4": ["must be a valid IPv4 address"], "IPv6": ["must be a valid IPv6 address"]}.get(
                address_type, ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"])
        if address_type == "IPv4" and ip.version != 4:
            return ["must be a valid IPv4 address"]
        if address_type == "IPv6" and ip.version != 6:
            return ["must be a valid IPv6 address"]
        # upstream's ValidateNonSpecialIP, except loopback: the ``process`` runtime runs
        # pods on the host network with pod IP 127.0.0.1, and their slices must be valid
        if ip.is_unspecified:
            return ["may not be unspecified (0.0.0.0)" if ip.version == 4 else "may not be unspecified (::)"]
        if ip.is_link_local:
            return ["may not be in the link-local range (169.254.0.0/16, fe80::/10)"]
        if ip.is_multicast:
            return ["may not be in the multicast range (224.0.0.0/4, ff00::/8)"]
        return []
    if address_type == "FQDN":
        value = address.removesuffix(".")
        if "." not in value:
            return ["should be a domain with at least two segments separated by dots"]
        return meta.is_dns1123_subdomain(value.lower())
    return []


def validate_endpoint_slice(obj: Obj, old: Obj | None) -> list[Cause]:
    out: list[Cause] = []
    address_type = obj.get("addressType") or ""
    allowed = ADDRESS_TYPES + (_DEPRECATED_ADDRESS_TYPES if old is not None else ())
    if not address_type:
        out.append(meta.required("addressType"))
    elif address_type not in allowed:
        out.append(meta.not_supported("addressType", address_type, sorted(allowed)))
    endpoints = obj.get("endpoints") or []
    if not isinstance(endpoints, list):
        out.append(meta.invalid("endpoints", endpoints, "must be a list"))
        endpoints = []
    if len(endpoints) > MAX_ENDPOINTS:
        out.append(_too_many("endpoints", len(endpoints), MAX_ENDPOINTS))
        endpoints = []
    for i, endpoint in enumerate(endpoints):
        p = f"endpoints[{i}]"
        if not isinstance(endpoint, dict):
            out.append(meta.invalid(p, endpoint, "must be an object"))
            continue
        addresses = endpoint.get("addresses") or []
        if not addresses:
            out.append(meta.required(p + ".addresses", "must contain at least 1 address"))
        elif len(addresses) > MAX_ADDRESSES:
            out.append(_too_many(p + ".addresses", len(addresses), MAX_ADDRESSES))
        for j, address in enumerate(addresses if isinstance(addresses, list) else []):
            out.extend(meta.invalid(f"{p}.addresses[{j}]", address, msg)
                       for msg in _address_errors(address, address_type))
        hostname = endpoint.get("hostname")
        if hostname is not None:
            out.extend(meta.invalid(p + ".hostname", hostname, msg) for msg in meta.is_dns1123_label(str(hostname)))
    ports = obj.get("ports") or []
    if not isinstance(ports, list):
        out.append(meta.invalid("ports", ports, "must be a list"))
        ports = []
    if len(ports) > MAX_PORTS:
        out.append(_too_many("ports", len(ports), MAX_PORTS))
        ports = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        p = f"ports[{i}]"
        if not isinstance(port, dict):
            out.append(meta.invalid(p, port, "must be an object"))
            continue
        name = port.get("name") or ""
        if name:
            out.extend(meta.invalid(p + ".name", name, msg) for msg in meta.is_dns1123_label(name))
        if name in names:
            out.append(meta.duplicate(p + ".name", name))
        names.add(name)
        protocol = port.get("protocol")
        if protocol is None:
            out.append(meta.required(p + ".protocol"))
        elif protocol not in PORT_PROTOCOLS:
            out.append(meta.not_supported(p + ".protocol", protocol, PORT_PROTOCOLS))
        app_protocol = port.get("appProtocol")
        if app_protocol is not None:
            out.extend(meta.invalid(p + ".appProtocol", app_protocol, msg)
                       for msg in meta.is_qualified_name(str(app_protocol)))
    if old is not None and obj.get("addressType") != old.get("addressType"):
        out.append(meta.invalid("addressType", obj.get("addressType"), meta.FIELD_IMMUTABLE))
    return out


# --- StorageClass ----------------------------------------------------------------------

RECLAIM_POLICIES = ("Delete", "Retain")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
_MAX_PARAMETERS_SIZE = 256 * 1024


def validate_storage_class(obj: Obj, old: Obj | None) -> list[Cause]:
    out: list[Cause] = []
    provisioner = obj.get("provisioner") or ""
    if not provisioner:
        out.append(meta.required("provisioner"))
    else:
        out.extend(meta.invalid("provisioner", provisioner, msg)
                   for msg in meta.is_qualified_name(str(provisioner).lower()))
    parameters = obj.get("parameters") or {}
    if not isinstance(parameters, dict):
        out.append(meta.invalid("parameters", parameters, "must be a map of strings"))
    else:
        size = sum(len(str(k)) + len(str(v)) for k, v in parameters.items())
        if size > _MAX_PARAMETERS_SIZE:
            out.append(meta.too_long("parameters", _MAX_PARAMETERS_SIZE))
    reclaim = obj.get("reclaimPolicy")
    if reclaim is not None and reclaim not in RECLAIM_POLICIES:
        out.append(meta.not_supported("reclaimPolicy", reclaim, RECLAIM_POLICIES))
    mode = obj.get("volumeBindingMode")
    if mode is None:
        out.append(meta.required("volumeBindingMode"))
    elif mode not in BINDING_MODES:
        out.append(meta.not_supported("volumeBindingMode", mode, BINDING_MODES))
    expansion = obj.get("allowVolumeExpansion")
    if expansion is not None and not isinstance(expansion, bool):
        out.append(meta.invalid("allowVolumeExpansion", expansion, "must be a boolean"))
    if old is not None:
        if (obj.get("parameters") or {}) != (old.get("parameters") or {}):
            out.append(meta.forbidden("parameters", "updates to parameters are forbidden."))
        if obj.get("provisioner") != old.get("provisioner"):
            out.append(meta.forbidden("provisioner", "updates to provisioner are forbidden."))
        if obj.get("reclaimPolicy") != old.get("reclaimPolicy"):
            out.append(meta.forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
        if obj.get("volumeBindingMode") != old.get("volumeBindingMode"):
            out.append(meta.invalid("volumeBindingMode", mode, meta.FIELD_IMMUTABLE))
    return out


# --- PriorityClass ---------------------------------------------------------------------

SYSTEM_PRIORITY_PREFIX = "system-"
HIGHEST_USER_PRIORITY = 1_000_000_000
# upstream's built-in classes (scheduling/v1 SystemPriorityClasses): name → value
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
PREEMPTION_POLICIES = ("Never", "PreemptLowerPriority")
_MIN_INT32, _MAX_INT32 = -(2**31), 2**31 - 1


def _system_class_error(name: str, value: Any, global_default: Any) -> str:
    """Why ``name`` is not one of the built-in system classes ("" when it is)."""
    if name not in SYSTEM_PRIORITY_CLASSES:
        return f"{name} is not a known system priority class"
    if value != SYSTEM_PRIORITY_CLASSES[name]:
        return f"value of {name} PriorityClass must be {SYSTEM_PRIORITY_CLASSES[name]}"
    if bool(global_default):
        return f"globalDefault of {name} PriorityClass must be false"
    return ""


def validate_priority_class(obj: Obj, old: Obj | None) -> list[Cause]:
    out: list[Cause] = []
    name = (obj.get("metadata") or {}).get("name") or ""
    value = obj.get("value")
    if value is None:
        out.append(meta.required("value"))
    elif isinstance(value, bool) or not isinstance(value, int) or not _MIN_INT32 <= value <= _MAX_INT32:
        out.append(meta.invalid("value", value, "must be a 32-bit integer"))
        value = None
    if name.startswith(SYSTEM_PRIORITY_PREFIX):
        why = _system_class_error(name, value, obj.get("globalDefault"))
        if why:
            out.append(meta.forbidden("metadata.name", f"priority class names with '{SYSTEM_PRIORITY_PREFIX}' "
                                      f"prefix are reserved for system use only. error: {why}"))
    elif isinstance(value, int) and value > HIGHEST_USER_PRIORITY:
        out.append(meta.forbidden("value", f"maximum allowed value of a user defined priority is "
                                  f"{HIGHEST_USER_PRIORITY}"))
    policy = obj.get("preemptionPolicy")
    if policy is not None and policy not in PREEMPTION_POLICIES:
        out.append(meta.not_supported("preemptionPolicy", policy, PREEMPTION_POLICIES))
    if old is not None:
        if obj.get("value") != old.get("value"):
            out.append(meta.forbidden("value", "may not be changed in an update."))
        if obj.get("preemptionPolicy") != old.get("preemptionPolicy"):
            out.append(meta.invalid("preemptionPolicy", policy, meta.FIELD_IMMUTABLE))
    return out


# --- PodDisruptionBudget ---------------------------------------------------------------

UNHEALTHY_POD_EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")


def validate_pod_disruption_budget(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    out: list[Cause] = []
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None and max_unavailable is not None:
        out.append(Cause("FieldValueInvalid",
                         f"Invalid value: {meta.fmt_value(spec)}: minAvailable and maxUnavailable cannot be both set",
                         "spec"))
    for key, value in (("minAvailable", min_available), ("maxUnavailable", max_unavailable)):
        if value is not None:
            out.extend(workloads._int_or_percent(value, f"spec.{key}")[0])  # the same rule as rolling updates
    out.extend(selectors.validate_selector_dict(spec.get("selector"), "spec.selector"))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
        out.append(meta.not_supported("spec.unhealthyPodEvictionPolicy", policy, UNHEALTHY_POD_EVICTION_POLICIES))
    return out


def validate_pod_disruption_budget_status(obj: Obj) -> list[Cause]:
    """The status subresource: counters never go negative (upstream ValidatePodDisruptionBudgetStatus)."""
    status = obj.get("status")
    if not isinstance(status, dict):
        return []
    out: list[Cause] = []
    for key in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
        out.extend(meta.nonnegative(f"status.{key}", status.get(key)))
    disrupted = status.get("disruptedPods")
    if disrupted is not None and not isinstance(disrupted, dict):
        out.append(meta.invalid("status.disruptedPods", json.dumps(disrupted), "must be a map of pod name to time"))
    return out
