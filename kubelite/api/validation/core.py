"""Validation of the core/v1 kinds other than Pod, plus Lease: Service, ConfigMap, Secret,
Namespace, Node, Event, PersistentVolumeClaim, PersistentVolume.

Pure functions, no I/O. ``kubelite.api.validation.validate`` dispatches here. Rules and
messages follow upstream ``pkg/apis/core/validation/validation.go`` and
``pkg/apis/coordination/validation``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import Any

from kubelite.api import errors, meta
from kubelite.api.validation import pods

Cause = errors.Cause
Obj = dict[str, Any]

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
MAX_DATA_SIZE = 1024 * 1024  # ConfigMap and Secret payload limit


def _spec(obj: Obj) -> Obj:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


# --- Service ---------------------------------------------------------------------------


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def validate_service(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    svc_type = spec.get("type") or ""
    if svc_type not in SERVICE_TYPES:
        out.append(meta.not_supported("spec.type", svc_type, SERVICE_TYPES))
    cluster_ip = spec.get("clusterIP") or ""
    headless = cluster_ip == "None"
    ports = spec.get("ports") or []
    if not ports and not headless and svc_type != "ExternalName":
        out.append(meta.required("spec.ports"))
    if svc_type == "ExternalName":
        name = spec.get("externalName") or ""
        if not name:
            out.append(meta.required("spec.externalName"))
        else:
            out.extend(meta.invalid("spec.externalName", name, m)
                       for m in meta.is_dns1123_subdomain(name.rstrip(".")))
    if cluster_ip and not headless and not _valid_ip(cluster_ip):
        out.append(meta.invalid("spec.clusterIPs[0]", cluster_ip,
                                "must be empty, 'None', or a valid IP address"))
    names: set[str] = set()
    seen_ports: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports if isinstance(ports, list) else []):
        p = f"spec.ports[{i}]"
        if not isinstance(port, dict):
            out.append(meta.invalid(p, port, "must be an object"))
            continue
        name = port.get("name") or ""
        if not name:
            if len(ports) > 1:
                out.append(meta.required(p + ".name"))
        else:
            out.extend(meta.invalid(p + ".name", name, m) for m in meta.is_dns1123_label(name))
            if name in names:
                out.append(meta.duplicate(p + ".name", name))
            names.add(name)
        number = port.get("port")
        if not isinstance(number, int) or isinstance(number, bool):
            out.append(meta.required(p + ".port"))
        else:
            out.extend(meta.invalid(p + ".port", number, m) for m in meta.is_valid_port_num(number))
        protocol = port.get("protocol") or ""
        if not protocol:
            out.append(meta.required(p + ".protocol"))
        elif protocol not in pods.PROTOCOLS:
            out.append(meta.not_supported(p + ".protocol", protocol, pods.PROTOCOLS))
        if port.get("targetPort") is not None:
            out.extend(pods._validate_port_ref(port.get("targetPort"), p + ".targetPort"))
        node_port = port.get("nodePort")
        if node_port:
            if svc_type not in ("NodePort", "LoadBalancer"):
                out.append(meta.forbidden(p + ".nodePort", f"may not be used when `type` is '{svc_type}'"))
            elif isinstance(node_port, int):
                out.extend(meta.invalid(p + ".nodePort", node_port, m) for m in meta.is_valid_port_num(node_port))
        key = (number, protocol)
        if key in seen_ports:
            out.append(meta.duplicate(p, {"port": number, "protocol": protocol}))
        seen_ports.add(key)
    affinity = spec.get("sessionAffinity")
    if affinity and affinity not in ("ClientIP", "None"):
        out.append(meta.not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
    out.extend(meta.validate_labels(spec.get("selector"), "spec.selector"))
    for field, allowed in (("externalTrafficPolicy", ("Cluster", "Local")),
                           ("internalTrafficPolicy", ("Cluster", "Local")),
                           ("ipFamilyPolicy", ("SingleStack", "PreferDualStack", "RequireDualStack"))):
        value = spec.get(field)
        if value and value not in allowed:
            out.append(meta.not_supported(f"spec.{field}", value, allowed))
    if old is not None:
        old_spec = _spec(old)
        old_ip = old_spec.get("clusterIP") or ""
        changing_type = "ExternalName" in (svc_type, old_spec.get("type"))
        if old_ip and cluster_ip and old_ip != cluster_ip and not changing_type:
            out.append(meta.invalid("spec.clusterIPs[0]", spec.get("clusterIPs") or [cluster_ip],
                                    "may not change once set"))
    return out


# --- ConfigMap and Secret ----------------------------------------------------------------


def _validate_keys(data: Any, path: str) -> list[Cause]:
    if not data:
        return []
    if not isinstance(data, dict):
        return [meta.invalid(path, data, "must be a map")]
    out: list[Cause] = []
    for key in data:
        for msg in meta.is_config_map_key(key):
            out.append(meta.invalid(f"{path}[{key}]", key, msg))
    return out


def _immutable_data(obj: Obj, old: Obj | None, fields: tuple[str, ...]) -> list[Cause]:
    if old is None or not old.get("immutable"):
        return []
    out: list[Cause] = []
    if not obj.get("immutable"):
        out.append(meta.forbidden("immutable", "field is immutable when `immutable` is set"))
    for field in fields:
        if (obj.get(field) or {}) != (old.get(field) or {}):
            out.append(meta.forbidden(field, "field is immutable when `immutable` is set"))
    return out


def validate_config_map(obj: Obj, old: Obj | None) -> list[Cause]:
    out = _validate_keys(obj.get("data"), "data") + _validate_keys(obj.get("binaryData"), "binaryData")
    data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
    size = 0
    if isinstance(data, dict) and isinstance(binary, dict):
        for key in data:
            if key in binary:
                out.append(meta.invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        size = sum(len(k) + len(v) for k, v in data.items() if isinstance(v, str))
        size += sum(len(k) + len(v) * 3 // 4 for k, v in binary.items() if isinstance(v, str))
    if size > MAX_DATA_SIZE:
        out.append(meta.too_long("", MAX_DATA_SIZE))
    out.extend(_immutable_data(obj, old, ("data", "binaryData")))
    return out


# type → keys that must be present in data
_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def validate_secret(obj: Obj, old: Obj | None) -> list[Cause]:
    out = _validate_keys(obj.get("data"), "data") + _validate_keys(obj.get("stringData"), "stringData")
    data = obj.get("data") or {}
    string_data = obj.get("stringData") or {}
    size = 0
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(value, str):
                continue
            try:
                size += len(key) + len(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                out.append(meta.invalid(f"data[{key}]", "<secret contents redacted>",
                                        "must be base64-encoded"))
    if isinstance(string_data, dict):
        size += sum(len(k) + len(v.encode()) for k, v in string_data.items() if isinstance(v, str))
    if size > MAX_DATA_SIZE:
        out.append(meta.too_long("data", MAX_DATA_SIZE))
    secret_type = obj.get("type") or "Opaque"
    present = set(data) | set(string_data) if isinstance(data, dict) and isinstance(string_data, dict) else set()
    for key in _SECRET_REQUIRED_KEYS.get(secret_type, ()):
        if key not in present:
            out.append(meta.required(f"data[{key}]"))
    if secret_type == "kubernetes.io/service-account-token":
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            out.append(meta.required("metadata.annotations[kubernetes.io/service-account.name]"))
    if secret_type == "kubernetes.io/basic-auth" and not ({"username", "password"} & present):
        out.append(meta.required("data[username]"))
    if old is not None:
        old_type = old.get("type") or "Opaque"
        if secret_type != old_type:
            out.append(meta.invalid("type", secret_type, meta.FIELD_IMMUTABLE))
        out.extend(_immutable_data(obj, old, ("data",)))
    return out


# --- Namespace, Node, Event, Lease ---------------------------------------------------------

_STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def validate_namespace(obj: Obj, old: Obj | None) -> list[Cause]:
    out: list[Cause] = []
    for finalizer in _spec(obj).get("finalizers") or []:
        out.extend(meta.invalid("spec.finalizers", finalizer, m) for m in meta.is_qualified_name(finalizer))
        if "/" not in finalizer and finalizer not in _STANDARD_FINALIZERS:
            out.append(meta.invalid("spec.finalizers", finalizer,
                                    "name is neither a standard finalizer name nor is it fully qualified"))
    return out


def validate_node(obj: Obj, old: Obj | None) -> list[Cause]:
    out: list[Cause] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(_spec(obj).get("taints") or []):
        p = f"spec.taints[{i}]"
        if not isinstance(taint, dict):
            out.append(meta.invalid(p, taint, "must be an object"))
            continue
        key = taint.get("key") or ""
        if not key:
            out.append(meta.required(p + ".key"))
        else:
            out.extend(meta.invalid(p + ".key", key, m) for m in meta.is_qualified_name(key))
        value = taint.get("value") or ""
        out.extend(meta.invalid(p + ".value", value, m) for m in meta.is_label_value(value))
        effect = taint.get("effect") or ""
        if not effect:
            out.append(meta.required(p + ".effect"))
        elif effect not in pods.TAINT_EFFECTS:
            out.append(meta.not_supported(p + ".effect", effect, pods.TAINT_EFFECTS))
        if (key, effect) in seen:
            out.append(meta.duplicate(p, {"key": key, "effect": effect}))
        seen.add((key, effect))
    return out


def validate_event(obj: Obj, old: Obj | None) -> list[Cause]:
    namespace = (obj.get("metadata") or {}).get("namespace") or ""
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    involved_ns = involved.get("namespace") or ""
    field = "involvedObject.namespace" if "involvedObject" in obj else "regarding.namespace"
    if involved_ns:
        if involved_ns != namespace:
            return [meta.invalid(field, involved_ns, "does not match event.namespace")]
    elif namespace not in ("", "default"):
        # an event about a cluster-scoped object lives in "default" (or nowhere)
        return [meta.invalid(field, involved_ns, "does not match event.namespace")]
    return []


def validate_lease(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        out.append(meta.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    out.extend(meta.nonnegative("spec.leaseTransitions", spec.get("leaseTransitions")))
    return out


# --- storage ---------------------------------------------------------------------------------

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
VOLUME_MODES = ("Block", "Filesystem")


def _validate_access_modes(modes: Any, path: str) -> list[Cause]:
    if not modes:
        return [meta.required(path, "at least 1 access mode is required")]
    out = [meta.not_supported(path, m, ACCESS_MODES) for m in modes if m not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        out.append(meta.forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return out


def validate_pvc(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _spec(obj)
    out = _validate_access_modes(spec.get("accessModes"), "spec.accessModes")
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if storage is None:
        out.append(meta.required("spec.resources[storage]"))
    else:
        quantity = pods.parse_quantity(storage)
        if quantity is None or quantity <= 0:
            out.append(meta.invalid("spec.resources[storage]", storage, "must be greater than zero"))
    mode = spec.get("volumeMode")
    if mode and mode not in VOLUME_MODES:
        out.append(meta.not_supported("spec.volumeMode", mode, VOLUME_MODES))
    if old is not None:
        # only the requested size (and a few fields the controllers own) may change
        keep = ("resources", "volumeAttributesClassName")
        new_rest = {k: v for k, v in spec.items() if k not in keep}
        old_rest = {k: v for k, v in _spec(old).items() if k not in keep}
        if old_rest.get("volumeName") is None:
            new_rest.pop("volumeName", None)  # binding sets it once
            old_rest.pop("volumeName", None)
        if new_rest != old_rest:
            out.append(meta.forbidden("spec", "spec is immutable after creation except resources.requests "
                                      "and volumeAttributesClassName for bound claims"))
    return out


_PV_SOURCES = ("hostPath", "local", "nfs", "csi", "iscsi", "rbd", "cephfs", "fc", "glusterfs",
               "flexVolume", "cinder", "azureFile", "azureDisk", "awsElasticBlockStore",
               "gcePersistentDisk", "vsphereVolume", "portworxVolume", "scaleIO", "storageos",
               "quobyte", "photonPersistentDisk", "flocker")


def validate_pv(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _spec(obj)
    out = _validate_access_modes(spec.get("accessModes"), "spec.accessModes")
    capacity = spec.get("capacity") or {}
    if not capacity:
        out.append(meta.required("spec.capacity"))
    elif "storage" not in capacity:
        out.append(meta.not_supported("spec.capacity", list(capacity), ["storage"]))
    present = [k for k in _PV_SOURCES if spec.get(k) is not None]
    if not present:
        out.append(meta.required("spec", "must specify a volume type"))
    for extra in present[1:]:
        out.append(meta.forbidden(f"spec.{extra}", "may not specify more than 1 volume type"))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy and policy not in ("Delete", "Recycle", "Retain"):
        out.append(meta.not_supported("spec.persistentVolumeReclaimPolicy", policy, ["Delete", "Recycle", "Retain"]))
    mode = spec.get("volumeMode")
    if mode and mode not in VOLUME_MODES:
        out.append(meta.not_supported("spec.volumeMode", mode, VOLUME_MODES))
    return out
