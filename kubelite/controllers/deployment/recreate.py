"""The Recreate strategy: scale every old ReplicaSet to zero, wait until none of their
pods is left running (terminating ones included: Recreate promises old and new never
overlap), then scale the new ReplicaSet up.

Called by ``deployment.controller`` for Deployments with ``strategy.type: Recreate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelite.controllers import base
from kubelite.controllers.deployment import progress, sync, util

if TYPE_CHECKING:
    from kubelite.controllers.deployment.controller import DeploymentController

Obj = dict[str, Any]


async def rollout(ctl: DeploymentController, d: Obj, rss: list[Obj]) -> float | None:
    new_rs, old, d = await sync.get_all(ctl, d, rss, create=False)
    all_rss = old + ([new_rs] if new_rs else [])
    scaled_down = False
    updated_old = []
    for rs in old:
        if util.replicas(rs) > 0:
            changed, rs = await sync.scale_rs(ctl, d, rs, 0)
            scaled_down = scaled_down or changed
        updated_old.append(rs)
    old = updated_old
    if scaled_down:
        return await progress.sync_rollout_status(ctl, d, old + ([new_rs] if new_rs else []), new_rs)
    if _old_pods_running(ctl, old):
        return await progress.sync_rollout_status(ctl, d, all_rss, new_rs)
    if new_rs is None:
        new_rs, old, d = await sync.get_all(ctl, d, rss, create=True)
        assert new_rs is not None
    _, new_rs = await sync.scale_rs(ctl, d, new_rs, util.replicas(d))
    if util.complete(d, d.get("status") or {}):
        await sync.cleanup(ctl, d, old)
    return await progress.sync_rollout_status(ctl, d, old + [new_rs], new_rs)


def _old_pods_running(ctl: DeploymentController, old: list[Obj]) -> bool:
    if sum(util.status_int(rs, "replicas") for rs in old) > 0:
        return True
    for rs in old:
        for pod in ctl.pods.by_index("controller", base.uid_of(rs)):
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                return True
    return False
