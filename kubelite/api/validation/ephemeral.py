"""Ephemeral container validation: what a debug container may be, and how the
``pods/ephemeralcontainers`` subresource may change a pod's list of them.

Pure functions, no I/O. ``pods.validate_pod_spec`` calls ``validate_containers`` for every
pod spec (the rules shared with other containers ran already); the pod strategy calls
``validate_update`` for writes through the subresource and ``forbidden_on_create`` for
pod creates. Rules and messages follow upstream ``pkg/apis/core/validation``
(``validateEphemeralContainers``, ``ValidatePodEphemeralContainersUpdate``,
``ValidatePodCreate``).
"""

from __future__ import annotations

from typing import Any

from kubelite.api import errors, meta

Cause = errors.Cause
Obj = dict[str, Any]

# Upstream keeps an allow-list of an ephemeral container's fields; these are the fields
# of a container it leaves out: a debug container must not be relied upon to serve the
# pod (ports, probes, lifecycle hooks) nor change what the pod was admitted with (resources).
FORBIDDEN_FIELDS = ("ports", "resources", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle",
                    "resizePolicy", "restartPolicy", "restartPolicyRules")
FORBIDDEN_MESSAGE = "cannot be set for an Ephemeral Container"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def _is_zero(value: Any) -> bool:
    """Go's zero value as it reaches the API: absent, null, empty or false."""
    return value is None or value == {} or value == [] or value == "" or value is False or value == 0


def validate_containers(spec: Obj, path: str) -> list[Cause]:
    """The rules only ephemeral containers have (``spec`` is the whole pod spec): a
    ``targetContainerName`` naming one of the pod's containers or init containers, none of
    ``FORBIDDEN_FIELDS``, no ``subPath``/``subPathExpr`` mounts (bind mounts that would
    outlive the container). Unique names across all kinds are checked with the others."""
    items = spec.get("ephemeralContainers")
    if not isinstance(items, list) or not items:
        return []
    others: set[Any] = set()
    for key in ("containers", "initContainers"):
        listed = spec.get(key)
        others.update(c.get("name") for c in (listed if isinstance(listed, list) else []) if isinstance(c, dict))
    out: list[Cause] = []
    for i, c in enumerate(items):
        if not isinstance(c, dict):
            continue  # reported with the other containers' rules
        p = f"{path}[{i}]"
        target = c.get("targetContainerName")
        if target and target not in others:
            out.append(meta.not_found(p + ".targetContainerName", target))
        out.extend(meta.forbidden(f"{p}.{key}", FORBIDDEN_MESSAGE) for key in FORBIDDEN_FIELDS
                   if not _is_zero(c.get(key)))
        mounts = c.get("volumeMounts")
        for j, mount in enumerate(mounts if isinstance(mounts, list) else []):
            for key in ("subPath", "subPathExpr"):
                if isinstance(mount, dict) and mount.get(key):
                    out.append(meta.forbidden(f"{p}.volumeMounts[{j}].{key}", FORBIDDEN_MESSAGE))
    return out


def forbidden_on_create(pod: Obj) -> list[Cause]:
    """A pod is created without ephemeral containers; they come later, through the subresource."""
    spec = pod.get("spec")
    if isinstance(spec, dict) and spec.get("ephemeralContainers"):
        return [meta.forbidden("spec.ephemeralContainers", "cannot be set on create")]
    return []


def _changed_fields(old: Obj, new: Obj) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def validate_update(new: Obj, old: Obj) -> list[Cause]:
    """What the subresource may do to the list besides what a valid spec needs: add
    containers only. Existing ones may be neither removed nor changed; order is not
    compared (a patch need not keep it). Static pods have no ephemeral containers."""
    annotations = (old.get("metadata") or {}).get("annotations") or {}
    if isinstance(annotations, dict) and MIRROR_ANNOTATION in annotations:
        return [meta.forbidden("", "static pods do not support ephemeral containers")]
    new_list = (new.get("spec") or {}).get("ephemeralContainers")
    old_list = (old.get("spec") or {}).get("ephemeralContainers")
    by_name = {c.get("name"): c for c in (new_list if isinstance(new_list, list) else []) if isinstance(c, dict)}
    out: list[Cause] = []
    for held in old_list if isinstance(old_list, list) else []:
        if not isinstance(held, dict):
            continue
        name = held.get("name")
        now = by_name.get(name)
        if now is None:
            out.append(meta.forbidden("spec.ephemeralContainers",
                                      f"existing ephemeral containers {_quoted(name)} may not be removed\n"))
        elif now != held:
            out.append(meta.forbidden("spec.ephemeralContainers",
                                      f"existing ephemeral containers {_quoted(name)} may not be changed\n"
                                      f"changed: {', '.join(_changed_fields(held, now))}"))
    return out


def _quoted(name: Any) -> str:
    return '"' + str(name).replace('"', '\\"') + '"'
