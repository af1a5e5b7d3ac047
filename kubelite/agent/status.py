"""Pod status as upstream's kubelet computes it: container statuses, phase, conditions.

Pure functions, called by the pod worker after every sync with what it found in the
runtime (``ContainerInfo`` per container: the newest instance and the one before it),
the reasons containers are waiting, and the probes' verdicts.

The status, and every condition the agent owns, carries ``observedGeneration``: the
``metadata.generation`` of the pod the worker synced (upstream's pod generation tracking,
KEP-5067, GA in 1.35), so a client that changed the spec can tell when the node has seen it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from kubelite.agent import initcontainers
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
    ephemeral: list[ContainerView] = field(default_factory=list)  # debug containers: shown, never counted
    pod_ip: str = ""
    host_ip: str = ""
    sandbox_ready: bool = False
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
        reason = "PodInitializing" if not is_init or cur is None else "ContainerCreating"
        status["state"] = {"waiting": {"reason": reason}}
    elif cur.state == rt.State.RUNNING:
        status["state"] = {"running": {"startedAt": iso(cur.started_at)}}
        status["ready"] = view.ready
        status["started"] = view.started
    else:
        status["state"] = terminated(cur, runtime_name)
    if is_init and not initcontainers.is_sidecar(spec):
        # A sidecar is started and ready by its probes, as an app container; a regular init
        # container is started while it runs and "ready" once it has completed.
        status["started"] = cur is not None and cur.state == rt.State.RUNNING
        status["ready"] = cur is not None and cur.state == rt.State.EXITED and cur.exit_code == 0
    return status


def ephemeral_status(view: ContainerView, runtime_name: str) -> Obj:
    """An ephemeral container's status, as kubelet writes it: never ready, never
    restarted, and without ``started`` (no probe decides it)."""
    status = container_status(view, runtime_name, is_init=False)
    status.pop("started", None)
    status["ready"] = False
    return status


def _exit_code(state: Obj) -> int | None:
    term = state.get("terminated")
    return int(term.get("exitCode") or 0) if isinstance(term, dict) else None


def _app_started(statuses: list[Obj]) -> bool:
    """upstream's HasAnyRegularContainerStarted: an app container runs or ran, so the pod
    was initialized once, even if a sidecar restarts now."""
    return any("running" in (st.get("state") or {}) or "terminated" in (st.get("state") or {}) for st in statuses)


def phase(view: PodView, init_statuses: list[Obj], statuses: list[Obj]) -> str:
    """upstream getPhase: Pending while a regular init container has not completed or a
    sidecar has not started (unless an app container ran already), then by the app
    containers' states. Running sidecars count as running; exited ones do not count: a
    Job-style pod whose app containers are done is finished whatever its sidecars do."""
    restart = (view.pod.get("spec") or {}).get("restartPolicy", "Always")
    if view.failed_reason is not None:
        return "Failed"
    pending_init = failed_init = 0
    running = waiting = stopped = succeeded = 0
    for st, cv in zip(init_statuses, view.init, strict=True):
        state = st.get("state") or {}
        last = _exit_code(st.get("lastState") or {})
        if initcontainers.is_sidecar(cv.spec):
            if "running" in state:
                running += 1
                pending_init += 0 if st.get("started") else 1
            elif "waiting" in state and last is None:
                pending_init += 1
                waiting += 1
            continue  # an exited sidecar (or one about to restart) decides nothing
        if "terminated" in state:
            failed_init += 1 if _exit_code(state) != 0 else 0
        elif "waiting" in state and last is not None:
            failed_init += 1 if last != 0 else 0
        else:
            pending_init += 1
    for st in statuses:
        state = st.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if _exit_code(state) == 0:
                succeeded += 1
        elif "waiting" in state:
            if "terminated" in (st.get("lastState") or {}):
                stopped += 1
            else:
                waiting += 1
    if failed_init > 0 and restart == "Never":
        return "Failed"
    if (pending_init > 0 and not _app_started(statuses)) or waiting > 0:
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


def initialized(view: PodView, init_statuses: list[Obj], statuses: list[Obj], ph: str) -> tuple[bool, str, str]:
    """The Initialized condition as (status, reason, message), upstream's
    GeneratePodInitializedCondition: every regular init container completed and every
    sidecar started, or an app container ran already (a sidecar restarting later does not
    undo it)."""
    incomplete = [st["name"] for st, cv in zip(init_statuses, view.init, strict=True)
                  if not st.get("started" if initcontainers.is_sidecar(cv.spec) else "ready")]
    if ph == "Succeeded":
        return True, "PodCompleted", ""
    if not incomplete or _app_started(statuses):
        return True, "", ""
    return False, "ContainersNotInitialized", f"containers with incomplete status: [{' '.join(incomplete)}]"


def generation(pod: Obj) -> int | None:
    """The pod's ``metadata.generation``, None when the server does not track it."""
    value = (pod.get("metadata") or {}).get("generation")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _condition(previous: dict[str, Obj], kind: str, ok: bool, reason: str = "", message: str = "", *,
               observed: int | None, since: str | None = None) -> Obj:
    """A condition the agent owns; its transition time stays while its status does, and
    is ``since`` (else now) when it changes."""
    status = "True" if ok else "False"
    old = previous.get(kind)
    transition = old.get("lastTransitionTime") if old and old.get("status") == status else since or now_iso()
    cond: Obj = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": transition}
    if observed is not None:
        cond["observedGeneration"] = observed
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


# The conditions the agent computes (upstream's kubetypes.PodConditionsByKubelet, with
# PodReadyToStartContainers). Every other condition on a pod (a readiness gate's, the
# controllers' DisruptionTarget, anything a user patched in) is someone else's: the agent
# keeps it as it finds it and writes only its own (status_manager's mergePodStatus).
OWNED_CONDITIONS = frozenset({"PodScheduled", "PodReadyToStartContainers", "Initialized", "Ready",
                              "ContainersReady"})

# The status fields the agent writes; the others (nominatedNodeName, resourceClaimStatuses, …)
# belong to other writers and are never touched.
MANAGED_FIELDS = ("observedGeneration", "phase", "conditions", "hostIP", "hostIPs", "podIP", "podIPs", "startTime",
                  "containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses", "reason", "message",
                  "qosClass")


def readiness_gates_message(pod: Obj, conditions: list[Obj]) -> str:
    """Why the pod's readiness gates keep it unready ("" when every gate's condition is
    True), worded as upstream's GeneratePodReadyCondition."""
    by_type = {c.get("type"): c for c in conditions if isinstance(c, dict)}
    unready = []
    for gate in (pod.get("spec") or {}).get("readinessGates") or []:
        kind = str((gate or {}).get("conditionType") or "")
        cond = by_type.get(kind)
        if cond is None:
            unready.append(f'corresponding condition of pod readiness gate "{kind}" does not exist.')
        elif cond.get("status") != "True":
            unready.append(f'the status of pod readiness gate "{kind}" is not "True", but {cond.get("status")}')
    return ", ".join(unready)


def pod_status(view: PodView) -> Obj:
    pod = view.pod
    old = pod.get("status") or {}
    old_conditions = [c for c in old.get("conditions") or [] if isinstance(c, dict)]
    previous: dict[str, Obj] = {str(c.get("type")): c for c in old_conditions}
    foreign = [c for c in old_conditions if c.get("type") not in OWNED_CONDITIONS]
    init_statuses = [container_status(c, view.runtime_name, is_init=True) for c in view.init]
    app_statuses = [container_status(c, view.runtime_name, is_init=False) for c in view.app]
    ph = phase(view, init_statuses, app_statuses)
    if old.get("phase") in ("Succeeded", "Failed"):
        ph = old["phase"]  # terminal is forever
    terminal = ph in ("Succeeded", "Failed")
    # Sidecars first, as upstream lists them: they are part of the pod's readiness.
    unready = [st["name"] for st, cv in zip(init_statuses, view.init, strict=True)
               if initcontainers.is_sidecar(cv.spec) and not st["ready"]]
    unready += [st["name"] for st in app_statuses if not st["ready"]]
    observed = generation(pod)
    init_ok, init_reason, init_message = initialized(view, init_statuses, app_statuses, ph)
    conditions = foreign + [
        _condition(previous, "PodReadyToStartContainers", view.sandbox_ready and not terminal, observed=observed),
        _condition(previous, "Initialized", init_ok, init_reason, init_message, observed=observed),
    ]
    if terminal:
        why = "PodCompleted" if ph == "Succeeded" else "PodFailed"  # upstream's GeneratePod*ReadyCondition
        conditions.append(_condition(previous, "Ready", False, why, observed=observed))
        conditions.append(_condition(previous, "ContainersReady", False, why, observed=observed))
    elif unready:
        msg = f"containers with unready status: [{' '.join(unready)}]"
        conditions.append(_condition(previous, "Ready", False, "ContainersNotReady", msg, observed=observed))
        conditions.append(_condition(previous, "ContainersReady", False, "ContainersNotReady", msg,
                                     observed=observed))
    else:
        # Containers are ready: the pod is Ready once its readiness gates' conditions,
        # set by other writers, are True too. ContainersReady does not look at them.
        gates = readiness_gates_message(pod, conditions)
        conditions.append(_condition(previous, "Ready", not gates, "ReadinessGatesNotReady" if gates else "", gates,
                                     observed=observed))
        conditions.append(_condition(previous, "ContainersReady", True, observed=observed))
    # A pod on a node is scheduled: the agent writes PodScheduled True as kubelet does,
    # keeping the time the binding (or, for a pod created bound, its start) set.
    conditions.append(_condition(previous, "PodScheduled", True, observed=observed, since=view.start_time))
    status: Obj = {"phase": ph, "conditions": conditions, "hostIP": view.host_ip,
                   "hostIPs": [{"ip": view.host_ip}] if view.host_ip else [],
                   "startTime": old.get("startTime") or view.start_time or now_iso(),
                   "containerStatuses": app_statuses}
    if observed is not None:
        status["observedGeneration"] = observed
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    if view.ephemeral:
        status["ephemeralContainerStatuses"] = [ephemeral_status(c, view.runtime_name) for c in view.ephemeral]
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


def status_patch(uid: str, current: Obj | None, new: Obj) -> list[Obj] | None:
    """The JSON patch that takes the pod's status from ``current`` (the last version the
    agent read or wrote) to ``new``, or None when there is nothing to write.

    Only the fields the agent manages are written, each on its own, and conditions one by
    one by type: a condition another writer added since ``current`` (a readiness gate's,
    say) is not in the patch and stays. Each replaced condition is guarded by a test of its
    type at its index, the pod by a test of its uid: when the list moved under us, or the
    pod was replaced by another of the same name, the server refuses the patch (422) and
    the caller reads the pod again, rather than overwriting what it did not see.
    """
    guard: Obj = {"op": "test", "path": "/metadata/uid", "value": uid}
    if not isinstance(current, dict):
        body = {k: new[k] for k in MANAGED_FIELDS if k in new}
        return [guard, {"op": "add", "path": "/status", "value": body}]
    ops: list[Obj] = []
    for key in MANAGED_FIELDS:
        if key == "conditions":
            ops.extend(_condition_ops(current.get("conditions"), new.get("conditions") or []))
        elif key in new:
            if key not in current or current[key] != new[key]:
                ops.append({"op": "add", "path": f"/status/{key}", "value": new[key]})
        elif key in current:
            ops.append({"op": "remove", "path": f"/status/{key}"})
    return [guard, *ops] if ops else None


def _condition_ops(current: Any, new: list[Obj]) -> list[Obj]:
    owned = [c for c in new if c.get("type") in OWNED_CONDITIONS]
    if not isinstance(current, list):
        # No list yet: create it, unless one appeared meanwhile (a missing member tests as null).
        return [{"op": "test", "path": "/status/conditions", "value": None},
                {"op": "add", "path": "/status/conditions", "value": owned}]
    where: dict[Any, int] = {}
    for i, c in enumerate(current):
        if isinstance(c, dict):
            where.setdefault(c.get("type"), i)
    ops: list[Obj] = []
    for cond in owned:
        at = where.get(cond["type"])
        if at is None:
            ops.append({"op": "add", "path": "/status/conditions/-", "value": cond})
        elif current[at] != cond:
            ops.append({"op": "test", "path": f"/status/conditions/{at}/type", "value": cond["type"]})
            ops.append({"op": "replace", "path": f"/status/conditions/{at}", "value": cond})
    return ops
