"""Pod and PodSpec validation: containers, ports, resources, probes, volumes, updates.

Pure functions, no I/O. ``kubelite.api.validation.validate`` calls ``validate_pod`` /
``validate_pod_update`` for Pods, and the workload validators call ``validate_pod_spec``
for every pod template. Rules and messages follow upstream
``pkg/apis/core/validation/validation.go`` (``ValidatePodSpec``, ``ValidatePodUpdate``);
the objects are expected to carry their defaults already (``kubelite.api.defaults``).
"""

from __future__ import annotations

import copy
import functools
import re
from fractions import Fraction
from typing import Any

import orjson

from kubelite.api import errors, meta
from kubelite.api.validation import ephemeral

Cause = errors.Cause
Obj = dict[str, Any]

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("SCTP", "TCP", "UDP")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
TOLERATION_OPERATORS = ("Equal", "Exists")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_OVERCOMMIT_FORBIDDEN_PREFIXES = ("hugepages-",)

# --- quantities ------------------------------------------------------------------------

QUANTITY_REGEX = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_quantity_re = re.compile(r"([+-]?[0-9]*\.?[0-9]*)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)?")
_SUFFIX = {
    "": Fraction(1), "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18), "Ki": Fraction(2**10), "Mi": Fraction(2**20),
    "Gi": Fraction(2**30), "Ti": Fraction(2**40), "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}


def parse_quantity(value: Any) -> Fraction | None:
    """A resource quantity (``100m``, ``1Gi``, ``1e3``, ``2``) as an exact number, None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(value)
    if not isinstance(value, str):
        return None
    return _parse_quantity_text(value)


@functools.lru_cache(maxsize=4096)
def _parse_quantity_text(value: str) -> Fraction | None:
    # Cached: the same few quantities ("100m", "64Mi") arrive on almost every pod.
    m = _quantity_re.fullmatch(value.strip())
    if not m or not m.group(1) or m.group(1) in ("+", "-", ".", "+.", "-."):
        return None
    number, suffix = Fraction(m.group(1)), m.group(2) or ""
    if suffix[:1] in ("e", "E"):
        return number * Fraction(10) ** int(suffix[1:])
    return number * _SUFFIX[suffix]


def _validate_resources(resources: Any, path: str) -> list[Cause]:
    if not isinstance(resources, dict):
        return []
    out: list[Cause] = []
    parsed: dict[str, dict[str, Fraction]] = {"limits": {}, "requests": {}}
    for part in ("limits", "requests"):
        values = resources.get(part) or {}
        if not isinstance(values, dict):
            out.append(meta.invalid(f"{path}.{part}", values, "must be a map of resource name to quantity"))
            continue
        for name, raw in values.items():
            q = parse_quantity(raw)
            if q is None:
                out.append(meta.invalid(f"{path}.{part}[{name}]", raw,
                                        f"quantities must match the regular expression '{QUANTITY_REGEX}'"))
                continue
            if q < 0:
                out.append(meta.invalid(f"{path}.{part}[{name}]", raw, "must be greater than or equal to 0"))
            parsed[part][name] = q
    limits = resources.get("limits") or {}
    for name, q in parsed["requests"].items():
        limit = parsed["limits"].get(name)
        if limit is None:
            continue
        raw, raw_limit = resources["requests"][name], limits[name]
        if name.startswith(_OVERCOMMIT_FORBIDDEN_PREFIXES) and q != limit:
            out.append(meta.invalid(f"{path}.requests", str(raw), f"must be equal to {name} limit of {raw_limit}"))
        elif q > limit:
            out.append(meta.invalid(f"{path}.requests", str(raw),
                                    f"must be less than or equal to {name} limit of {raw_limit}"))
    return out


# --- ports, probes, env ------------------------------------------------------------------


def _validate_port_ref(port: Any, path: str) -> list[Cause]:
    """A probe's or service's target port: a number 1–65535 or an IANA port name."""
    if port is None or port == "" or port == 0:
        return [meta.required(path)]
    if isinstance(port, bool):
        return [meta.invalid(path, port, "must be an int or a string")]
    if isinstance(port, int):
        return [meta.invalid(path, port, m) for m in meta.is_valid_port_num(port)]
    if isinstance(port, str):
        if port.isdigit():
            return [meta.invalid(path, port, m) for m in meta.is_valid_port_num(int(port))]
        return [meta.invalid(path, port, m) for m in meta.is_valid_port_name(port)]
    return [meta.invalid(path, port, "must be an int or a string")]


_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


def _validate_handler(handler: Obj, path: str, kinds: tuple[str, ...]) -> list[Cause]:
    present = [k for k in kinds if handler.get(k) is not None]
    if not present:
        return [meta.required(path, "must specify a handler type")]
    out: list[Cause] = []
    for extra in present[1:]:
        out.append(meta.forbidden(f"{path}.{extra}", "may not specify more than 1 handler type"))
    http_get = handler.get("httpGet")
    if isinstance(http_get, dict):
        out.extend(_validate_port_ref(http_get.get("port"), path + ".httpGet.port"))
        scheme = http_get.get("scheme")
        if scheme and scheme not in ("HTTP", "HTTPS"):
            out.append(meta.not_supported(path + ".httpGet.scheme", scheme, ["HTTP", "HTTPS"]))
    tcp = handler.get("tcpSocket")
    if isinstance(tcp, dict):
        out.extend(_validate_port_ref(tcp.get("port"), path + ".tcpSocket.port"))
    grpc = handler.get("grpc")
    if isinstance(grpc, dict):
        port = grpc.get("port")
        if not isinstance(port, int) or isinstance(port, bool):
            out.append(meta.required(path + ".grpc.port"))
        else:
            out.extend(meta.invalid(path + ".grpc.port", port, m) for m in meta.is_valid_port_num(port))
    exec_ = handler.get("exec")
    if isinstance(exec_, dict) and not exec_.get("command"):
        out.append(meta.required(path + ".exec.command"))
    return out


def _validate_probe(probe: Any, path: str, *, success_must_be_one: bool) -> list[Cause]:
    if probe is None:
        return []
    if not isinstance(probe, dict):
        return [meta.invalid(path, probe, "must be an object")]
    out = _validate_handler(probe, path, _HANDLERS)
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                "failureThreshold", "terminationGracePeriodSeconds"):
        out.extend(meta.nonnegative(f"{path}.{key}", probe.get(key)))
    threshold = probe.get("successThreshold")
    if success_must_be_one and isinstance(threshold, int) and threshold != 1:
        out.append(meta.invalid(path + ".successThreshold", threshold, "must be 1"))
    return out


def _validate_ports(ports: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(ports if isinstance(ports, list) else []):
        p = f"{path}[{i}]"
        if not isinstance(port, dict):
            out.append(meta.invalid(p, port, "must be an object"))
            continue
        name = port.get("name") or ""
        if name:
            out.extend(meta.invalid(p + ".name", name, m) for m in meta.is_valid_port_name(name))
            if name in names:
                out.append(meta.duplicate(p + ".name", name))
            names.add(name)
        cport = port.get("containerPort")
        if not cport:
            out.append(meta.required(p + ".containerPort"))
        elif isinstance(cport, int):
            out.extend(meta.invalid(p + ".containerPort", cport, m) for m in meta.is_valid_port_num(cport))
        host_port = port.get("hostPort")
        if isinstance(host_port, int) and host_port:
            out.extend(meta.invalid(p + ".hostPort", host_port, m) for m in meta.is_valid_port_num(host_port))
        protocol = port.get("protocol")
        if not protocol:
            out.append(meta.required(p + ".protocol"))
        elif protocol not in PROTOCOLS:
            out.append(meta.not_supported(p + ".protocol", protocol, PROTOCOLS))
    return out


def _validate_env(env: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    for i, var in enumerate(env if isinstance(env, list) else []):
        p = f"{path}[{i}]"
        if not isinstance(var, dict):
            out.append(meta.invalid(p, var, "must be an object"))
            continue
        name = var.get("name") or ""
        if not name:
            out.append(meta.required(p + ".name"))
        elif "=" in name or not all(" " <= ch <= "~" for ch in name):
            out.append(meta.invalid(p + ".name", name, "a valid environment variable name must consist "
                                    "only of printable ASCII characters other than '='"))
        if var.get("valueFrom") is not None and var.get("value"):
            out.append(meta.invalid(p + ".valueFrom", "", "may not be specified when `value` is not empty"))
    return out


# --- containers and volumes ------------------------------------------------------------


def _validate_container(c: Obj, path: str, *, volumes: set[str], kind: str) -> list[Cause]:
    out: list[Cause] = []
    name = c.get("name") or ""
    if not name:
        out.append(meta.required(path + ".name"))
    else:
        out.extend(meta.invalid(path + ".name", name, m) for m in meta.is_dns1123_label(name))
    image = c.get("image")
    if not image:
        out.append(meta.required(path + ".image"))
    elif isinstance(image, str) and image != image.strip():
        out.append(meta.invalid(path + ".image", image, "must not have leading or trailing whitespace"))
    policy = c.get("imagePullPolicy")
    if not policy:
        out.append(meta.required(path + ".imagePullPolicy"))
    elif policy not in PULL_POLICIES:
        out.append(meta.not_supported(path + ".imagePullPolicy", policy, PULL_POLICIES))
    tmp = c.get("terminationMessagePolicy")
    if not tmp:
        out.append(meta.required(path + ".terminationMessagePolicy"))
    elif tmp not in TERMINATION_MESSAGE_POLICIES:
        out.append(meta.not_supported(path + ".terminationMessagePolicy", tmp, TERMINATION_MESSAGE_POLICIES))
    out.extend(_validate_ports(c.get("ports"), path + ".ports"))
    out.extend(_validate_env(c.get("env"), path + ".env"))
    out.extend(_validate_resources(c.get("resources"), path + ".resources"))
    sidecar = kind == "initContainers" and c.get("restartPolicy") == "Always"
    if kind == "initContainers" and not sidecar:
        for key in ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
            if c.get(key) is not None:
                out.append(meta.forbidden(f"{path}.{key}",
                                          "may not be set for init containers without restartPolicy=Always"))
    elif kind != "ephemeralContainers":  # their probes are refused whole (``ephemeral``)
        out.extend(_validate_probe(c.get("livenessProbe"), path + ".livenessProbe", success_must_be_one=True))
        out.extend(_validate_probe(c.get("startupProbe"), path + ".startupProbe", success_must_be_one=True))
        out.extend(_validate_probe(c.get("readinessProbe"), path + ".readinessProbe", success_must_be_one=False))
    restart = c.get("restartPolicy")
    if restart is not None and (kind != "initContainers" or restart != "Always"):
        if kind == "initContainers":
            out.append(meta.not_supported(path + ".restartPolicy", restart, ["Always"]))
        elif kind == "containers":
            out.append(meta.forbidden(path + ".restartPolicy", "may not be set for non-init containers"))
    mount_paths: set[str] = set()
    for i, mount in enumerate(c.get("volumeMounts") or []):
        p = f"{path}.volumeMounts[{i}]"
        if not isinstance(mount, dict):
            out.append(meta.invalid(p, mount, "must be an object"))
            continue
        mname = mount.get("name") or ""
        if not mname:
            out.append(meta.required(p + ".name"))
        elif mname not in volumes:
            out.append(meta.not_found(p + ".name", mname))
        mpath = mount.get("mountPath") or ""
        if not mpath:
            out.append(meta.required(p + ".mountPath"))
        elif mpath in mount_paths:
            out.append(meta.invalid(p + ".mountPath", mpath, "must be unique"))
        mount_paths.add(mpath)
    return out


_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret",
    "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder",
    "cephfs", "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume",
    "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO",
    "storageos", "csi", "ephemeral", "image",
)
# the field naming the referenced object, per source that needs one
_VOLUME_REQUIRED = {"configMap": "name", "secret": "secretName", "hostPath": "path",
                    "persistentVolumeClaim": "claimName", "nfs": "server", "image": "reference"}


def validate_volumes(volumes: Any, path: str) -> tuple[list[Cause], set[str]]:
    """Volume causes and the set of valid volume names (for volumeMounts)."""
    out: list[Cause] = []
    names: set[str] = set()
    for i, vol in enumerate(volumes if isinstance(volumes, list) else []):
        p = f"{path}[{i}]"
        if not isinstance(vol, dict):
            out.append(meta.invalid(p, vol, "must be an object"))
            continue
        name = vol.get("name") or ""
        if not name:
            out.append(meta.required(p + ".name"))
        else:
            errs = meta.is_dns1123_label(name)
            out.extend(meta.invalid(p + ".name", name, m) for m in errs)
            if name in names:
                out.append(meta.duplicate(p + ".name", name))
            elif not errs:
                names.add(name)
        present = [k for k in _VOLUME_SOURCES if vol.get(k) is not None]
        if not present:
            out.append(meta.required(p, "must specify a volume type"))
        for extra in present[1:]:
            out.append(meta.forbidden(f"{p}.{extra}", "may not specify more than 1 volume type"))
        for source in present[:1]:
            field = _VOLUME_REQUIRED.get(source)
            body = vol.get(source)
            if field and isinstance(body, dict) and not body.get(field):
                out.append(meta.required(f"{p}.{source}.{field}"))
            if isinstance(body, dict) and body.get("defaultMode") is not None:
                mode = body["defaultMode"]
                if not isinstance(mode, int) or not 0 <= mode <= 0o777:
                    out.append(meta.invalid(f"{p}.{source}.defaultMode", mode,
                                            "must be a number between 0 and 0777 (octal), both inclusive"))
    return out, names


def _validate_tolerations(tolerations: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    for i, tol in enumerate(tolerations if isinstance(tolerations, list) else []):
        p = f"{path}[{i}]"
        if not isinstance(tol, dict):
            out.append(meta.invalid(p, tol, "must be an object"))
            continue
        key = tol.get("key") or ""
        if key:
            out.extend(meta.invalid(p + ".key", key, m) for m in meta.is_qualified_name(key))
        operator = tol.get("operator") or "Equal"
        if operator not in TOLERATION_OPERATORS:
            out.append(meta.not_supported(p + ".operator", operator, TOLERATION_OPERATORS))
        elif operator == "Exists" and tol.get("value"):
            out.append(meta.invalid(p + ".operator", tol.get("value"),
                                    "value must be empty when `operator` is 'Exists'"))
        elif not key and operator == "Equal":
            out.append(meta.invalid(p + ".operator", operator,
                                    "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
        effect = tol.get("effect") or ""
        if effect and effect not in TAINT_EFFECTS:
            out.append(meta.not_supported(p + ".effect", effect, TAINT_EFFECTS))
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            out.append(meta.invalid(p + ".effect", effect,
                                    "effect must be 'NoExecute' when `tolerationSeconds` is set"))
    return out


def validate_pod_spec(spec: Any, path: str, *, extra_volumes: frozenset[str] = frozenset()) -> list[Cause]:
    """Upstream ``ValidatePodSpec`` (the main rules) for a pod or a pod template's spec;
    ``extra_volumes`` are volumes the pods will get besides the spec's own (a
    StatefulSet's claims)."""
    if not isinstance(spec, dict):
        return [meta.required(path)]
    out, volume_names = validate_volumes(spec.get("volumes"), path + ".volumes")
    if extra_volumes:
        volume_names |= extra_volumes
    containers = spec.get("containers")
    if not containers:
        out.append(meta.required(path + ".containers"))
    seen: set[str] = set()
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        items = spec.get(kind)
        for i, c in enumerate(items if isinstance(items, list) else []):
            p = f"{path}.{kind}[{i}]"
            if not isinstance(c, dict):
                out.append(meta.invalid(p, c, "must be an object"))
                continue
            out.extend(_validate_container(c, p, volumes=volume_names, kind=kind))
            name = c.get("name") or ""
            if name and name in seen:
                out.append(meta.duplicate(p + ".name", name))
            seen.add(name)
    out.extend(ephemeral.validate_containers(spec, path + ".ephemeralContainers"))
    restart = spec.get("restartPolicy")
    if not restart:
        out.append(meta.required(path + ".restartPolicy"))
    elif restart not in RESTART_POLICIES:
        out.append(meta.not_supported(path + ".restartPolicy", restart, RESTART_POLICIES))
    dns = spec.get("dnsPolicy")
    if not dns:
        out.append(meta.required(path + ".dnsPolicy"))
    elif dns not in DNS_POLICIES:
        out.append(meta.not_supported(path + ".dnsPolicy", dns, DNS_POLICIES))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not isinstance(deadline, int) or not 1 <= deadline <= 2**31 - 1):
        out.append(meta.invalid(path + ".activeDeadlineSeconds", deadline,
                                "must be between 1 and 2147483647, inclusive"))
    for key, rule in (("nodeName", "subdomain"), ("serviceAccountName", "subdomain"),
                      ("hostname", "label"), ("subdomain", "label")):
        value = spec.get(key)
        if value:
            out.extend(meta.invalid(f"{path}.{key}", value, m) for m in meta.name_errors(value, rule))
    out.extend(meta.validate_labels(spec.get("nodeSelector"), path + ".nodeSelector"))
    out.extend(_validate_tolerations(spec.get("tolerations"), path + ".tolerations"))
    out.extend(_validate_scheduling_gates(spec.get("schedulingGates"), path + ".schedulingGates"))
    return out


def _validate_scheduling_gates(gates: Any, path: str) -> list[Cause]:
    """Upstream ``validateSchedulingGates``: qualified names, none twice."""
    out: list[Cause] = []
    seen: set[str] = set()
    for i, gate in enumerate(gates if isinstance(gates, list) else []):
        name = gate.get("name") if isinstance(gate, dict) else None
        if not isinstance(name, str) or not name:
            out.append(meta.required(f"{path}[{i}]", "name part must be non-empty"))
            continue
        out.extend(meta.invalid(f"{path}[{i}]", name, m) for m in meta.is_qualified_name(name))
        if name in seen:
            out.append(meta.duplicate(f"{path}[{i}]", name))
        seen.add(name)
    return out


def gate_names(spec: Obj) -> list[str]:
    gates = spec.get("schedulingGates")
    return [str(g.get("name")) for g in gates if isinstance(g, dict)] if isinstance(gates, list) else []


# Verdicts of validate_pod_spec by the spec's bytes. Pods of one Deployment, Job or
# benchmark share their spec byte for byte (their names and labels live in metadata), and
# validating a spec costs ~15 µs of the create path, encoding it as a key ~2 µs. Bounded:
# cleared when full, so a stream of distinct specs costs one encode each and no memory.
_SPEC_VERDICTS: dict[bytes, list[Cause]] = {}
_SPEC_VERDICTS_MAX = 512


def validate_pod(pod: Obj) -> list[Cause]:
    spec = pod.get("spec")
    try:
        key = orjson.dumps(spec)
    except TypeError:  # not JSON (a Python caller's object): validate without the memo
        return validate_pod_spec(spec, "spec")
    verdict = _SPEC_VERDICTS.get(key)
    if verdict is None:
        verdict = validate_pod_spec(spec, "spec")
        if len(_SPEC_VERDICTS) >= _SPEC_VERDICTS_MAX:
            _SPEC_VERDICTS.clear()
        _SPEC_VERDICTS[key] = verdict
    return list(verdict)


# --- updates ---------------------------------------------------------------------------

POD_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _diff_paths(a: Any, b: Any, path: str, out: list[str]) -> None:
    if len(out) >= 5:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                _diff_paths(a.get(key), b.get(key), f"{path}.{key}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                _diff_paths(x, y, f"{path}[{i}]", out)
    else:
        out.append(path)


def _without_seconds(toleration: Any) -> Any:
    if isinstance(toleration, dict) and "tolerationSeconds" in toleration:
        return {k: v for k, v in toleration.items() if k != "tolerationSeconds"}
    return toleration


def validate_pod_update(new: Obj, old: Obj) -> list[Cause]:
    """Upstream ``ValidatePodUpdate``: the new spec must be valid and differ from the old
    one only in container images, activeDeadlineSeconds, added tolerations and a
    terminationGracePeriodSeconds fix-up."""
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    out = validate_pod_spec(new_spec, "spec")
    deadline, old_deadline = new_spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if old_deadline is not None and (deadline is None or (isinstance(deadline, int) and deadline > old_deadline)):
        out.append(meta.invalid("spec.activeDeadlineSeconds", deadline,
                                "must be less than or equal to previous value"))
    # Upstream's validateOnlyAddedTolerations: every old toleration is still there, its
    # tolerationSeconds aside (a pod's time on a failed node may be changed).
    new_tolerations = [_without_seconds(t) for t in new_spec.get("tolerations") or []]
    missing = [t for t in old_spec.get("tolerations") or [] if _without_seconds(t) not in new_tolerations]
    if missing:
        out.append(meta.forbidden("spec.tolerations",
                                  "existing toleration can not be modified except its tolerationSeconds"))
    # Scheduling gates may only be removed (upstream validateOnlyDeletedSchedulingGates).
    old_gates = set(gate_names(old_spec))
    for i, name in enumerate(gate_names(new_spec)):
        if name not in old_gates:
            out.append(meta.forbidden(f"spec.schedulingGates[{i}].name",
                                      f"only deletion is allowed, but found new scheduling gate '{name}'"))
    # compare with the mutable fields copied over from the old spec
    munged = copy.copy(new_spec)
    if old_gates:  # a gated pod's placement may still be narrowed (mutable scheduling directives)
        out.extend(_validate_gated_directives(new_spec, old_spec))
        for key in ("nodeSelector", "affinity"):
            if key in old_spec:
                munged[key] = old_spec[key]
            else:
                munged.pop(key, None)
    for kind in ("containers", "initContainers"):
        new_list, old_list = new_spec.get(kind), old_spec.get(kind)
        if isinstance(new_list, list) and isinstance(old_list, list) and len(new_list) == len(old_list):
            merged = []
            for c, oc in zip(new_list, old_list):
                if isinstance(c, dict) and isinstance(oc, dict):
                    c = dict(c, image=oc.get("image"))
                merged.append(c)
            munged[kind] = merged
    # spec.ephemeralContainers changes only through pods/ephemeralcontainers: compared here as any field
    for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        if key in old_spec:
            munged[key] = old_spec[key]
        else:
            munged.pop(key, None)
    grace, old_grace = new_spec.get("terminationGracePeriodSeconds"), old_spec.get("terminationGracePeriodSeconds")
    if isinstance(old_grace, int) and old_grace < 0 and grace == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if munged != old_spec:
        changed: list[str] = []
        _diff_paths(munged, old_spec, "spec", changed)
        out.append(meta.forbidden("spec", POD_UPDATE_MESSAGE + "\n  changed: " + ", ".join(changed)))
    return out


def _validate_gated_directives(new_spec: Obj, old_spec: Obj) -> list[Cause]:
    """What a gated pod's update may do to its placement (upstream, PodSchedulingReadiness):
    add to ``nodeSelector`` and narrow the required node affinity (each term keeps what it
    had and may gain requirements; the list of terms keeps its length). Preferred terms and
    pod (anti-)affinity are free."""
    out: list[Cause] = []
    new_sel, old_sel = new_spec.get("nodeSelector") or {}, old_spec.get("nodeSelector") or {}
    if isinstance(new_sel, dict) and isinstance(old_sel, dict) and any(
            k not in new_sel or new_sel[k] != v for k, v in old_sel.items()):
        out.append(meta.invalid("spec.nodeSelector", new_sel,
                                "only additions to spec.nodeSelector are allowed (no mutations or deletions)"))
    path = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"

    def required_terms(spec: Obj) -> list[Any] | None:
        req = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
               .get("requiredDuringSchedulingIgnoredDuringExecution"))
        return list(req.get("nodeSelectorTerms") or []) if isinstance(req, dict) else None

    old_terms, new_terms = required_terms(old_spec), required_terms(new_spec)
    if old_terms is None:
        return out
    if new_terms is None:
        out.append(meta.invalid(path, None, "nodeSelectorTerms may not be removed from a gated pod"))
        return out
    if len(new_terms) != len(old_terms):
        out.append(meta.invalid(path + ".nodeSelectorTerms", new_terms,
                                "no additions/deletions to non-empty NodeSelectorTerms list are allowed"))
        return out
    for i, (new_term, old_term) in enumerate(zip(new_terms, old_terms)):
        if not isinstance(new_term, dict) or not isinstance(old_term, dict):
            continue
        for field in ("matchExpressions", "matchFields"):
            kept = new_term.get(field) or []
            if any(req not in kept for req in old_term.get(field) or []):
                out.append(meta.invalid(f"{path}.nodeSelectorTerms[{i}]", new_term,
                                        "only additions are allowed (terms are ORed)"))
                break
    return out
