"""``kubelite explain pod NAME``: why a pod is (not) where it is, in plain words.

Reads what the scheduler left on the pod: the PodScheduled condition (the upstream
summary line), ``status.nominatedNodeName`` and the ``scheduler.kubelite.io/diagnosis``
annotation (reason → node count and some node names), and prints them readably.
Pure formatting over a Pod object; ``kubelite/cli/main.py`` fetches the pod. Reasons
that are not self-explanatory (volume binding, space held for nominated pods) get a
one-line hint saying what to look at.
"""

from __future__ import annotations

from typing import Any

import orjson

from kubelite.scheduler import reporting

# Upstream reason text → what a user should check.
HINTS = {
    "node(s) had untolerated taint(s)":
        "the node has a NoSchedule or NoExecute taint the pod does not tolerate (kubectl describe node: Taints)",
    "node(s) didn't match PersistentVolume's node affinity":
        "a PersistentVolume the pod's claim is bound to can only be used on other nodes (PV spec.nodeAffinity)",
    "node(s) didn't find available persistent volumes to bind":
        "no Available PersistentVolume of the claim's class fits there, and its StorageClass cannot provision "
        "there (no provisioner, or allowedTopologies exclude the node)",
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)":
        "a claim's spec.volumeName names a PersistentVolume that does not exist",
}
PRE_FILTER_HINTS = {
    "pod has unbound immediate PersistentVolumeClaims":
        "a claim of an Immediate-binding class is not Bound yet; the volume binder must bind it first",
}


def format_diagnosis(pod: dict[str, Any]) -> str:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    name = f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"
    lines: list[str] = []
    if spec.get("nodeName"):
        lines.append(f"Pod {name} is scheduled on node {spec['nodeName']}.")
        return "\n".join(lines)
    scheduler = spec.get("schedulerName") or "default-scheduler"
    cond = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
    raw = (meta.get("annotations") or {}).get(reporting.DIAGNOSIS_ANNOTATION)
    if cond is None and raw is None:
        lines.append(f"Pod {name} is pending: {scheduler} has not reported on it yet.")
        return "\n".join(lines)
    lines.append(f"Pod {name} is pending: no node can run it.")
    if cond is not None and cond.get("message"):
        lines.append(f"  {cond['message']}")
    if status.get("nominatedNodeName"):
        lines.append(f"  Nominated node: {status['nominatedNodeName']} (waiting for preempted pods to leave)")
    try:
        diag = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        diag = {}
    if diag.get("preFilter"):
        lines.append("")
        lines.append(f"Before looking at nodes: {diag['preFilter']}")
        hint = PRE_FILTER_HINTS.get(diag["preFilter"]) or (
            "create the claim, or fix the pod's claimName" if "persistentvolumeclaim" in diag["preFilter"]
            and diag["preFilter"].endswith("not found") else "")
        if hint:
            lines.append(f"  ({hint})")
    reasons: dict[str, int] = diag.get("reasons") or {}
    by_reason: dict[str, list[str]] = diag.get("nodesByReason") or {}
    if reasons:
        lines.append("")
        lines.append(f"Why each of the {diag.get('nodes', '?')} nodes was rejected:")
        width = max(len(r) for r in reasons)
        for reason, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            names = by_reason.get(reason) or []
            shown = ", ".join(names)
            more = count - len(names)
            if more > 0:
                shown += f", … and {more} more"
            lines.append(f"  {reason:<{width}}  {count:>5} node(s): {shown}")
            if reason in HINTS:
                lines.append(f"  {'':<{width}}  ({HINTS[reason]})")
    held: dict[str, list[str]] = diag.get("nominatedPods") or {}
    if held:
        lines.append("")
        lines.append("Space held for higher-priority pods nominated by preemption:")
        for node, pods in sorted(held.items()):
            lines.append(f"  {node}: {', '.join(pods)}")
    if diag.get("postFilter"):
        lines.append("")
        lines.append(f"Preemption: {diag['postFilter'].removeprefix('preemption: ')}")
    return "\n".join(lines)
