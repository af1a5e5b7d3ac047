"""A container's environment from its spec: value, valueFrom (configMapKeyRef,
secretKeyRef, fieldRef, resourceFieldRef) and envFrom, with ``$(VAR)`` expansion.

Called by the pod workers when they create a container, and by ``volumes`` for
downwardAPI files. A missing ConfigMap, Secret or key that is not ``optional`` raises
``ConfigError`` with upstream's message: the container then waits with reason
``CreateContainerConfigError``.
"""

from __future__ import annotations

import base64
import collections
import math
import re
from collections.abc import Mapping
from typing import Any

from kubelite.api.validation import pods as pod_validation
from kubelite.client import errors, resources, rest

Obj = dict[str, Any]
_VAR = re.compile(r"\$\((\w[\w.-]*)\)|\$\$")


class ConfigError(Exception):
    """The environment cannot be built yet (CreateContainerConfigError)."""


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` syntax: known names are replaced, ``$$`` escapes, others stay."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _VAR.sub(sub, value)


def field_value(pod: Obj, path: str, *, file_format: bool = False) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations") and file_format:
        items = sorted((meta.get(path.split(".")[1]) or {}).items())
        return "\n".join(f'{k}="{v}"' for k, v in items)
    simple = {
        "metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"), "status.hostIP": status.get("hostIP"),
        "status.podIP": status.get("podIP"),
        "status.podIPs": ",".join(p.get("ip", "") for p in status.get("podIPs") or []),
        "status.hostIPs": ",".join(p.get("ip", "") for p in status.get("hostIPs") or []),
    }
    return str(simple.get(path) or "")


def resource_value(pod: Obj, ref: Obj, container: Obj | None = None, *, node_allocatable: Obj | None = None) -> str:
    """limits.cpu / requests.memory / … of the named (or given) container, divided by the divisor,
    rounded up; an unset limit is the node's allocatable, as upstream."""
    name = ref.get("containerName")
    if container is None or (name and container.get("name") != name):
        for c in (pod.get("spec") or {}).get("containers") or []:
            if not name or c.get("name") == name:
                container = c
                break
    resource = ref.get("resource", "")
    part, _, kind = resource.partition(".")
    res = (container or {}).get("resources") or {}
    raw = (res.get(part) or {}).get(kind)
    if raw is None and part == "requests":
        raw = (res.get("limits") or {}).get(kind)
    if raw is None:
        raw = (node_allocatable or {}).get(kind, "0")
    value = pod_validation.parse_quantity(raw) or 0
    divisor = pod_validation.parse_quantity(ref.get("divisor") or "1") or 1
    return str(math.ceil(value / divisor))


async def resolve(client: rest.Client, pod: Obj, container: Obj, *, node_allocatable: Obj | None = None,
                  service_env: dict[str, str] | None = None) -> dict[str, str]:
    """The container's environment; ``service_env`` (``clusternet.service_env``) can be
    referred to by ``$(VAR)`` and is added last, for names the container does not set."""
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    cache: dict[tuple[str, str], dict[str, str] | None] = {}

    async def source(kind: str, name: str, optional: bool) -> dict[str, str] | None:
        if (kind, name) not in cache:
            res = resources.CONFIGMAPS if kind == "configmap" else resources.SECRETS
            try:
                obj = await client.get(res, name, namespace=namespace)
            except errors.NotFound:
                cache[(kind, name)] = None
            else:
                if kind == "secret":
                    cache[(kind, name)] = {k: base64.b64decode(v).decode(errors="replace")
                                           for k, v in (obj.get("data") or {}).items()}
                else:
                    cache[(kind, name)] = {k: str(v) for k, v in (obj.get("data") or {}).items()}
        data = cache[(kind, name)]
        if data is None and not optional:
            raise ConfigError(f'{kind} "{name}" not found')
        return data

    env: dict[str, str] = {}
    services = service_env or {}
    lookup = collections.ChainMap(env, services)  # the container's own values win
    for ef in container.get("envFrom") or []:
        prefix = ef.get("prefix") or ""
        for kind, key in (("configmap", "configMapRef"), ("secret", "secretRef")):
            if key in ef:
                ref = ef[key] or {}
                data = await source(kind, ref.get("name", ""), bool(ref.get("optional")))
                for k, v in (data or {}).items():
                    env[prefix + k] = v
    for var in container.get("env") or []:
        name = var.get("name", "")
        if "valueFrom" not in var:
            env[name] = expand(str(var.get("value") or ""), lookup)
            continue
        vf = var["valueFrom"] or {}
        if "configMapKeyRef" in vf or "secretKeyRef" in vf:
            kind = "configmap" if "configMapKeyRef" in vf else "secret"
            ref = vf.get("configMapKeyRef") or vf.get("secretKeyRef") or {}
            optional = bool(ref.get("optional"))
            data = await source(kind, ref.get("name", ""), optional)
            if data is None:
                continue
            if ref.get("key") not in data:
                if optional:
                    continue
                label = "ConfigMap" if kind == "configmap" else "Secret"
                raise ConfigError(f"couldn't find key {ref.get('key')} in {label} {namespace}/{ref.get('name')}")
            env[name] = data[ref["key"]]
        elif "fieldRef" in vf:
            env[name] = field_value(pod, (vf["fieldRef"] or {}).get("fieldPath", ""))
        elif "resourceFieldRef" in vf:
            env[name] = resource_value(pod, vf["resourceFieldRef"] or {}, container,
                                       node_allocatable=node_allocatable)
    for name, value in services.items():
        env.setdefault(name, value)
    return env
