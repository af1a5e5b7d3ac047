"""Pod status as upstream's kubelet computes it: container statuses, phase, conditions.

Pure functions, called by the pod worker after every sync with what it found in the
runtime (``ContainerInfo`` per container: the newest instance and the one before it),
the reasons containers are waiting, and the probes' verdicts.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from kubelite.agent.runtime import interface as rt

Obj = dict[str, Any]


def iso(ts: float) -> str | None:
    if not ts:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def terminated_reason(info: rt.ContainerInfo) -> str:
    if info.oom_killed:
        return "OOMKilled"
    return "Completed" if info.exit_code == 0 else "Error"


def terminated(info: rt.ContainerInfo, runtime_name: str) -> Obj:
    body: Obj = {"exitCode": info.exit_code, "reason": terminated_reason(info),
                 "startedAt": iso(info.started_at), "finishedAt": iso(info.finished_at),
                 "containerID": f"{runtime_name}://{info.id}"}
    if info.message:
        body["message"] = info.message
    return {"terminated": body}


@dataclass
class ContainerView:
    """What the worker knows about one spec container."""

    spec: Obj
    current: rt.ContainerInfo | None = None
    previous: rt.ContainerInfo | None = None
    waiting: tuple[str, str] | None = None  # (reason, message) when not running
    ready: bool = False
    started: bool = False


@dataclass
class PodView:
    pod: Obj
    runtime_name: str
    init: list[ContainerView] = field(default_factory=list)
    app: list[ContainerView] = field(default_factory=list)
    pod_ip: str = ""
    host_ip: str = ""
    sandbox_ready: bool = False
    initialized: bool = False
    failed_reason: tuple[str, str] | None = None  # terminal failure decided by the worker (DeadlineExceeded)
    start_time: str | None = None


def container_status(view: ContainerView, runtime_name: str, *, is_init: bool) -> Obj:
    spec = view.spec
    cur = view.current
    status: Obj = {"name": spec.get("name"), "image": spec.get("image"), "imageID": "",
                   "ready": False, "restartCount": cur.attempt if cur else 0, "started": False,
                   "state": {}, "lastState": {}}
    if cur is not None:
        status["imageID"] = cur.image_id
        status["containerID"] = f"{runtime_name}://{cur.id}"
    if view.previous is not None:
        status["lastState"] = terminated(view.previous, runtime_name)
    if view.waiting is not None and (cur is None or cur.state != rt.State.RUNNING):
        reason, message = view.waiting
        status["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        if cur is not None and cur.state == rt.State.EXITED:
            status["lastState"] = terminated(cur, runtime_name)
    elif cur is None or cur.state == rt.State.CREATED:
        status["state"] = {"waiting": {"reason": "PodInitializing" if not is_init or cur is None else "ContainerCreating"}}
    elif cur.state == rt.State.RUNNING:
        status["state"] = {"running": {"startedAt": iso(cur.started_at)}}
        status["ready"] = view.ready
        status["started"] = view.started
    else:
        status["state"] = terminated(cur, runtime_name)
    if is_init:
        status["started"] = cur is not None and cur.state == rt.State.RUNNING
        status["ready"] = cur is not None and cur.state == rt.State.EXITED and cur.exit_code == 0
    return status


def phase(view: PodView, statuses: list[Obj]) -> str:
    """upstream getPhase: Pending until initialized, then by the app containers' states."""
    restart = (view.pod.get("spec") or {}).get("restartPolicy", "Always")
    if view.failed_reason is not None:
        return "Failed"
    for init in view.init:
        cur = init.current
        if cur is not None and cur.state == rt.State.EXITED and cur.exit_code != 0 and restart == "Never":
            return "Failed"
    if not view.initialized:
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for st in statuses:
        state = st.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif "waiting" in state:
            if "terminated" in (st.get("lastState") or {}):
                stopped += 1
            else:
                waiting += 1
    if waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped > 0:
        if restart == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart == "OnFailure":
            return "Running"
        return "Failed"
    return "Pending"


def _condition(previous: dict[str, Obj], kind: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    status = "True" if ok else "False"
    old = previous.get(kind)
    transition = old.get("lastTransitionTime") if old and old.get("status") == status else now_iso()
    cond: Obj = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": transition}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def pod_status(view: PodView) -> Obj:
    pod = view.pod
    old = pod.get("status") or {}
    previous = {c.get("type"): c for c in old.get("conditions") or []}
    init_statuses = [container_status(c, view.runtime_name, is_init=True) for c in view.init]
    app_statuses = [container_status(c, view.runtime_name, is_init=False) for c in view.app]
    ph = phase(view, app_statuses)
    if old.get("phase") in ("Succeeded", "Failed"):
        ph = old["phase"]  # terminal is forever
    terminal = ph in ("Succeeded", "Failed")
    unready = [s["name"] for s in app_statuses if not s["ready"]]
    incomplete = [s["name"] for s in init_statuses if not s["ready"]]
    conditions = [
        _condition(previous, "PodReadyToStartContainers", view.sandbox_ready and not terminal),
        _condition(previous, "Initialized", view.initialized,
                   "" if view.initialized else "ContainersNotInitialized",
                   "" if view.initialized else f"containers with incomplete status: [{' '.join(incomplete)}]"),
    ]
    if terminal:
        conditions.append(_condition(previous, "Ready", False, "PodCompleted"))
        conditions.append(_condition(previous, "ContainersReady", False, "PodCompleted"))
    else:
        msg = f"containers with unready status: [{' '.join(unready)}]"
        conditions.append(_condition(previous, "Ready", not unready, "" if not unready else "ContainersNotReady",
                                     "" if not unready else msg))
        conditions.append(_condition(previous, "ContainersReady", not unready,
                                     "" if not unready else "ContainersNotReady", "" if not unready else msg))
    scheduled = previous.get("PodScheduled") or {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                                 "lastTransitionTime": view.start_time or now_iso()}
    conditions.append(scheduled)
    status: Obj = {"phase": ph, "conditions": conditions, "hostIP": view.host_ip,
                   "hostIPs": [{"ip": view.host_ip}] if view.host_ip else [],
                   "startTime": old.get("startTime") or view.start_time or now_iso(),
                   "containerStatuses": app_statuses}
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    pod_ip = view.pod_ip or old.get("podIP")
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    if "qosClass" in old:
        status["qosClass"] = old["qosClass"]
    if view.failed_reason is not None:
        status["reason"], status["message"] = view.failed_reason
    elif old.get("reason") and terminal:
        status["reason"] = old["reason"]
        if old.get("message"):
            status["message"] = old["message"]
    return status
