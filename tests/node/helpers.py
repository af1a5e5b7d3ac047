"""Small readers shared by the node-tier tests: a pod as plain JSON, its events, HTTP to a pod IP."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def pod_json(core: Any, namespace: str, name: str) -> dict[str, Any]:
    resp = core.read_namespaced_pod(name, namespace, _preload_content=False)
    return json.loads(resp.data)


def phase(core: Any, namespace: str, name: str) -> str:
    return str((pod_json(core, namespace, name).get("status") or {}).get("phase"))


def container_status(core: Any, namespace: str, name: str, container: str, *, init: bool = False) -> dict[str, Any]:
    key = "initContainerStatuses" if init else "containerStatuses"
    for cs in (pod_json(core, namespace, name).get("status") or {}).get(key) or []:
        if cs.get("name") == container:
            return dict(cs)
    return {}


def condition(core: Any, namespace: str, name: str, kind: str) -> str:
    for c in (pod_json(core, namespace, name).get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return str(c.get("status"))
    return ""


def events(core: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    resp = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}",
                                      _preload_content=False)
    return list(json.loads(resp.data).get("items") or [])


def reasons(core: Any, namespace: str, name: str) -> list[str]:
    return [e.get("reason", "") for e in events(core, namespace, name)]


def http_get(ip: str, port: int = 80, path: str = "/") -> str:
    with urllib.request.urlopen(f"http://{ip}:{port}{path}", timeout=2) as resp:
        return resp.read().decode()
