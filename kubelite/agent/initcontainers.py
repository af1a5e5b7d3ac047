"""Init containers and sidecars: which ones a pod sync acts on, whether the app containers
may start, and when a pod whose app containers are done is finished.

Called by ``workers.PodWorker`` on every sync, with the newest runtime instance of each
container; pure, the worker acts on the answers (start, restart with backoff, watch the
probes, stop the sidecars). Upstream's ``computeInitContainerActions`` with native sidecars
(KEP-753, GA in Kubernetes 1.33):

- Init containers start one at a time, in spec order. A regular one must exit 0 before the
  next starts; when it fails it is run again (backoff) unless the pod's restartPolicy is
  Never, which fails the pod.
- A *sidecar* is an init container with ``restartPolicy: Always``. The next init container
  (or, after the last, the app containers) starts as soon as the sidecar has *started*
  (running, and its startupProbe, if any, succeeded). It keeps running beside the app
  containers and is restarted whenever it exits, whatever the pod's restartPolicy, until
  the pod is finished (``finished``); then it is stopped, after the app containers.
- An init container that a later one (or an app container) has followed did its part
  before: a regular one is never run again, a sidecar is only kept running. Judging from
  the furthest container that ran, not from each one's own record, keeps a pod going when
  an earlier record is gone (a sidecar that crashed meanwhile, say).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubelite.agent.runtime import interface as rt

Obj = dict[str, Any]


def is_sidecar(spec: Obj) -> bool:
    """An init container that runs beside the app containers (a restartable init container)."""
    return spec.get("restartPolicy") == "Always"


@dataclass
class InitPlan:
    attend: list[Obj] = field(default_factory=list)  # init containers to act on now, in spec order
    initialized: bool = False  # the app containers may start (or already have)


def plan(inits: list[Obj], latest: dict[str, rt.ContainerInfo], *, started: Callable[[rt.ContainerInfo], bool],
         app_ran: bool, restart_policy: str) -> InitPlan:
    """What this sync does with the pod's init containers.

    ``attend`` holds the ones that need the worker now: not created yet, created but not
    started, exited and due a restart, or (sidecars) running and to be watched (probes,
    liveness, a changed image). ``started`` says whether a running instance has started
    (its startupProbe passed); ``app_ran`` whether any app container exists already.
    """
    reached = max((i for i, c in enumerate(inits) if c.get("name") in latest), default=-1)
    out = InitPlan()
    for i, spec in enumerate(inits):
        cur = latest.get(spec["name"])
        followed = app_ran or i < reached
        if is_sidecar(spec):
            out.attend.append(spec)  # whatever its state: started, restarted or watched
            if followed or (cur is not None and cur.state == rt.State.RUNNING and started(cur)):
                continue
            return out
        if followed or (cur is not None and cur.state == rt.State.EXITED and cur.exit_code == 0):
            continue
        if cur is None or cur.state == rt.State.CREATED or (cur.state == rt.State.EXITED and restart_policy != "Never"):
            out.attend.append(spec)
        # A running one is waited for; a failed one under Never fails the pod (``status.phase``).
        return out
    out.initialized = True
    return out


def finished(apps: list[Obj], latest: dict[str, rt.ContainerInfo], *, restart_policy: str) -> bool:
    """Whether every app container has exited for good: none will be restarted under the
    pod's restartPolicy (never under Always). The pod is then done, and its sidecars, which
    would otherwise keep it running forever, are stopped and not restarted (upstream kills
    the pod when no app container is kept or started)."""
    if restart_policy == "Always" or not apps:
        return False
    for spec in apps:
        cur = latest.get(spec["name"])
        if cur is None or cur.state != rt.State.EXITED:
            return False
        if restart_policy == "OnFailure" and cur.exit_code != 0:
            return False
    return True


def sidecar_ranks(spec: Obj) -> dict[str, int]:
    """Sidecar name → its place among the pod's init containers: they stop in reverse order."""
    return {c["name"]: i for i, c in enumerate(spec.get("initContainers") or []) if is_sidecar(c)}
