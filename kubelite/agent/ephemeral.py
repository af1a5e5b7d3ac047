"""Ephemeral containers on the node: the debug containers ``kubectl debug`` adds to a
running pod (``spec.ephemeralContainers``, written through ``pods/ephemeralcontainers``).

Called by ``workers.PodWorker``: ``drive`` at the end of each sync that drives the pod's
containers, ``views`` for the status (``status.pod_status`` reports them as
``ephemeralContainerStatuses``). As upstream's kubelet:

- each one is started once, in the pod (the network namespace of the pod's other
  containers; with a sandbox container its IPC namespace too) and, with
  ``targetContainerName``, in that container's PID namespace (Docker: ``pid:
  container:<id>``), so the debugger sees the target's processes; it is started only once
  the target runs;
- it is never restarted, whatever the pod's restartPolicy, and plays no part in the pod's
  phase, conditions or readiness;
- it is stopped and removed with the rest of the pod (``workers`` lists all of a pod's
  containers when it stops them).

The process runtime has no namespaces: there a debug container is one more host process,
which sees every process of the host, the target's included.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from kubelite.agent import status as status_mod
from kubelite.agent.runtime import interface as rt

if TYPE_CHECKING:
    from kubelite.agent.workers import PodWorker

Obj = dict[str, Any]

KIND = "ephemeral"  # the runtime kind (``rt.LABEL_KIND``) of an ephemeral container's instance
TARGET_WAIT_S = 2.0  # how soon to look again when the target does not run yet


def specs(pod: Obj) -> list[Obj]:
    listed = (pod.get("spec") or {}).get("ephemeralContainers")
    return [c for c in listed if isinstance(c, dict) and c.get("name")] if isinstance(listed, list) else []


def _ran_before(pod: Obj, name: str) -> bool:
    """Whether the pod's status says this container has run: an instance the runtime no
    longer has (the process runtime's, after an agent restart) is not started again."""
    for st in (pod.get("status") or {}).get("ephemeralContainerStatuses") or []:
        if isinstance(st, dict) and st.get("name") == name and st.get("containerID"):
            return True
    return False


async def drive(worker: PodWorker, latest: dict[str, rt.ContainerInfo], sandbox: rt.SandboxInfo) -> None:
    """Start the ephemeral containers that have no instance yet; leave the others be."""
    for spec in specs(worker.pod):
        name = spec["name"]
        cur = latest.get(name)
        if cur is not None:
            if cur.state == rt.State.CREATED:  # an agent died between create and start
                await worker._start_existing(spec, cur, init=False)
            continue  # running or exited: never restarted
        if _ran_before(worker.pod, name):
            continue
        target_name = spec.get("targetContainerName") or ""
        target = latest.get(target_name) if target_name else None
        if target_name and (target is None or target.state != rt.State.RUNNING):
            worker.waiting[name] = ("ContainerCreating", f"waiting for target container {target_name} to run")
            worker._wake_at(time.time() + TARGET_WAIT_S)
            continue
        await worker._start(spec, attempt=0, kind=KIND, sandbox=sandbox, pid_target=target.id if target else "")


def views(worker: PodWorker, latest: dict[str, rt.ContainerInfo]) -> list[status_mod.ContainerView]:
    """What the status shows of each ephemeral container: its one instance (never ready)."""
    out = []
    for spec in specs(worker.pod):
        cur = worker.messages.told(latest.get(spec["name"]))
        if cur is not None and cur.kind != KIND:
            cur = None  # not ours: a name the API would have refused (unique across kinds)
        waiting = None if cur is not None and cur.state == rt.State.RUNNING else worker.waiting.get(spec["name"])
        out.append(status_mod.ContainerView(spec=spec, current=cur, waiting=waiting))
    return out
