"""Deployment status and its conditions: ``Available`` (enough replicas available) and
``Progressing`` (NewReplicaSetCreated / FoundNewReplicaSet / ReplicaSetUpdated /
NewReplicaSetAvailable / ProgressDeadlineExceeded / DeploymentPaused / DeploymentResumed),
with upstream's reasons and messages, which ``kubectl rollout status`` and
``kubectl describe`` read.

Called by the rollout strategies (``rolling``, ``recreate``) and by ``sync`` for
status-only syncs. ``progressDeadlineSeconds`` defaults to 600 s as upstream; the
controller requeues a progressing Deployment for the moment its deadline passes.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from kubelite.client import resources
from kubelite.controllers import base
from kubelite.controllers.deployment import util

if TYPE_CHECKING:
    from kubelite.controllers.deployment.controller import DeploymentController

Obj = dict[str, Any]


def condition(ctype: str, status: str, reason: str, message: str) -> Obj:
    stamp = base.fmt_time()
    return {"type": ctype, "status": status, "lastUpdateTime": stamp,
            "lastTransitionTime": stamp, "reason": reason, "message": message}


def calculate_status(d: Obj, all_rss: list[Obj], new_rs: Obj | None) -> Obj:
    old = d.get("status") or {}
    available = sum(util.status_int(rs, "availableReplicas") for rs in all_rss)
    total = sum(util.replicas(rs) for rs in all_rss)
    status: Obj = {
        "observedGeneration": base.meta(d).get("generation") or 1,
        "replicas": sum(util.status_int(rs, "replicas") for rs in all_rss),
        "updatedReplicas": util.status_int(new_rs, "replicas") if new_rs else 0,
        "readyReplicas": sum(util.status_int(rs, "readyReplicas") for rs in all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total - available),
        "conditions": [dict(c) for c in old.get("conditions") or []],
    }
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= util.replicas(d) - util.max_unavailable(d):
        cond = condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    else:
        cond = condition("Available", "False", "MinimumReplicasUnavailable",
                         "Deployment does not have minimum availability.")
    _set(status, cond)
    return status


def _set(status: Obj, cond: Obj) -> None:
    """Set a condition; an unchanged one keeps both its times (no needless writes)."""
    current = base.get_condition(status, cond["type"])
    if current and current.get("status") == cond["status"] and current.get("reason") == cond["reason"] \
            and current.get("message") == cond["message"]:
        return
    base.set_condition(status, cond)


def timed_out(d: Obj, status: Obj) -> bool:
    deadline = util.progress_deadline(d)
    cond = base.get_condition(status, "Progressing")
    if deadline is None or cond is None:
        return False
    if cond.get("reason") == "NewReplicaSetAvailable":
        return False
    if cond.get("reason") == "ProgressDeadlineExceeded":
        return True
    since = base.parse_time(cond.get("lastUpdateTime"))
    return since is not None and since + datetime.timedelta(seconds=deadline) < base.now()


async def write_status(ctl: DeploymentController, d: Obj, status: Obj) -> None:
    old = d.get("status") or {}
    if _same(old, status):
        return
    body = {k: status.get(k) for k in set(old) | set(status)}
    await ctl.client.patch(resources.DEPLOYMENTS, base.name_of(d), {"status": body},
                           namespace=base.ns_of(d), subresource="status")


def _same(old: Obj, new: Obj) -> bool:
    keys = set(old) | set(new)
    return all((old.get(k) or 0) == (new.get(k) or 0) for k in keys)


async def sync_status(ctl: DeploymentController, d: Obj, all_rss: list[Obj], new_rs: Obj | None) -> None:
    """Status without touching Progressing (scaling and paused syncs)."""
    await write_status(ctl, d, calculate_status(d, all_rss, new_rs))


async def sync_rollout_status(ctl: DeploymentController, d: Obj, all_rss: list[Obj],
                              new_rs: Obj | None) -> float | None:
    """Status with the Progressing condition; returns when to look again for the deadline."""
    status = calculate_status(d, all_rss, new_rs)
    deadline = util.progress_deadline(d)
    if deadline is None:
        base.remove_condition(status, "Progressing")
    current = base.get_condition(d.get("status"), "Progressing")
    already_complete = (status["replicas"] == status["updatedReplicas"] and current is not None
                        and current.get("reason") == "NewReplicaSetAvailable")
    rs_name = base.name_of(new_rs) if new_rs else ""
    if deadline is not None and not already_complete:
        if util.complete(d, status):
            _set(status, condition("Progressing", "True", "NewReplicaSetAvailable",
                                   f'ReplicaSet "{rs_name}" has successfully progressed.'))
        elif util.progressing(d, status):
            cond = condition("Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
            if current is not None and current.get("status") == "True":
                cond["lastTransitionTime"] = current.get("lastTransitionTime") or cond["lastTransitionTime"]
            base.remove_condition(status, "Progressing")
            status["conditions"].append(cond)
        elif timed_out(d, status):
            _set(status, condition("Progressing", "False", "ProgressDeadlineExceeded",
                                   f'ReplicaSet "{rs_name}" has timed out progressing.'))
            if current is None or current.get("reason") != "ProgressDeadlineExceeded":
                ctl.recorder.event(d, type_="Warning", reason="ProgressDeadlineExceeded",
                                   message=f'ReplicaSet "{rs_name}" has timed out progressing.')
    # A ReplicaSet that cannot create pods says why on the Deployment too.
    failure = next((base.get_condition(rs.get("status"), "ReplicaFailure") for rs in all_rss
                    if base.get_condition(rs.get("status"), "ReplicaFailure")), None)
    if failure is not None:
        _set(status, condition("ReplicaFailure", "True", failure.get("reason") or "FailedCreate",
                               failure.get("message") or ""))
    else:
        base.remove_condition(status, "ReplicaFailure")
    await write_status(ctl, d, status)
    return _requeue_for_deadline(d, status)


def _requeue_for_deadline(d: Obj, status: Obj) -> float | None:
    deadline = util.progress_deadline(d)
    cond = base.get_condition(status, "Progressing")
    if deadline is None or cond is None or cond.get("status") != "True" \
            or cond.get("reason") == "NewReplicaSetAvailable" or util.complete(d, status):
        return None
    since = base.parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return None
    left = (since + datetime.timedelta(seconds=deadline) - base.now()).total_seconds()
    return max(left, 0.0) + 1.0


async def check_paused_conditions(ctl: DeploymentController, d: Obj) -> Obj:
    """DeploymentPaused / DeploymentResumed on Progressing; returns the (new) Deployment."""
    if util.progress_deadline(d) is None:
        return d
    cond = base.get_condition(d.get("status"), "Progressing")
    if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
        return d  # a reported failure is not hidden behind a pause
    paused = bool((d.get("spec") or {}).get("paused"))
    paused_exists = cond is not None and cond.get("reason") == "DeploymentPaused"
    if paused and not paused_exists:
        new = condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
    elif not paused and paused_exists:
        new = condition("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed")
    else:
        return d
    status = base.copy(d.get("status") or {})
    base.set_condition(status, new, keep_transition_if_same=False)
    d = base.copy(d)
    d["status"] = status
    await ctl.client.patch(resources.DEPLOYMENTS, base.name_of(d), {"status": {"conditions": status["conditions"]}},
                           namespace=base.ns_of(d), subresource="status")
    return d
