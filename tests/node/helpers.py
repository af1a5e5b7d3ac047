"""Small readers shared by the node-tier tests: a pod as plain JSON, its events, HTTP to a pod IP,
the host processes of a process-runtime pod."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
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


def pids_with_env(name: str, value: str) -> list[int]:
    """Host processes whose environment holds ``name=value``: a process-runtime pod's, and
    whatever they forked, found by a marker in the pod's env."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"{name}={value}".encode() in env and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie has ended: it only waits to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
