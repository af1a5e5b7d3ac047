"""The RollingUpdate strategy: grow the new ReplicaSet while the total stays within
``replicas + maxSurge``, shrink old ones while available pods stay at least
``replicas - maxUnavailable`` (upstream's arithmetic, including scaling away unhealthy
old replicas first).

Called by ``deployment.controller`` for Deployments whose strategy is RollingUpdate
(the default: 25 % surge, 25 % unavailable, as upstream).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelite.controllers import base
from kubelite.controllers.deployment import progress, sync, util

if TYPE_CHECKING:
    from kubelite.controllers.deployment.controller import DeploymentController

Obj = dict[str, Any]


async def rollout(ctl: DeploymentController, d: Obj, rss: list[Obj]) -> float | None:
    new_rs, old, d = await sync.get_all(ctl, d, rss, create=True)
    assert new_rs is not None
    all_rss = old + [new_rs]
    scaled, new_rs = await _reconcile_new(ctl, d, all_rss, new_rs)
    all_rss = old + [new_rs]
    if scaled:
        return await progress.sync_rollout_status(ctl, d, all_rss, new_rs)
    scaled_down, old = await _reconcile_old(ctl, d, old, new_rs)
    all_rss = old + [new_rs]
    if scaled_down:
        return await progress.sync_rollout_status(ctl, d, all_rss, new_rs)
    if util.complete(d, d.get("status") or {}):
        await sync.cleanup(ctl, d, old)
    return await progress.sync_rollout_status(ctl, d, all_rss, new_rs)


async def _reconcile_new(ctl: DeploymentController, d: Obj, all_rss: list[Obj], new_rs: Obj) -> tuple[bool, Obj]:
    want = util.replicas(d)
    if util.replicas(new_rs) == want:
        return False, new_rs
    if util.replicas(new_rs) > want:
        return await sync.scale_rs(ctl, d, new_rs, want)
    return await sync.scale_rs(ctl, d, new_rs, util.new_rs_replicas(d, all_rss, new_rs))


async def _reconcile_old(ctl: DeploymentController, d: Obj, old: list[Obj], new_rs: Obj) -> tuple[bool, list[Obj]]:
    active_old = [rs for rs in old if util.replicas(rs) > 0]
    if not active_old:
        return False, old
    all_rss = old + [new_rs]
    all_pods = sum(util.replicas(rs) for rs in all_rss)
    min_available = util.replicas(d) - util.max_unavailable(d)
    new_unavailable = util.replicas(new_rs) - util.status_int(new_rs, "availableReplicas")
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False, old
    by_uid = {base.uid_of(rs): rs for rs in old}
    # Old replicas that are not available cost nothing to remove: take them first.
    cleaned = 0
    for rs in util.creation_order(active_old):
        if cleaned >= max_scaled_down:
            break
        unhealthy = util.replicas(rs) - util.status_int(rs, "availableReplicas")
        if unhealthy <= 0:
            continue
        count = min(max_scaled_down - cleaned, unhealthy)
        _, by_uid[base.uid_of(rs)] = await sync.scale_rs(ctl, d, rs, util.replicas(rs) - count)
        cleaned += count
    old = [by_uid[base.uid_of(rs)] for rs in old]
    # Then available ones, as far as minAvailable allows.
    all_rss = old + [new_rs]
    # An RS just scaled down still reports the pods it is deleting as available until its
    # controller catches up; counting them would let a second pass scale down again and
    # dip below minAvailable. An RS never has more available pods than it wants.
    available = sum(min(util.status_int(rs, "availableReplicas"), util.replicas(rs)) for rs in all_rss)
    scaled = 0
    if available > min_available:
        total = available - min_available
        for rs in util.creation_order([rs for rs in old if util.replicas(rs) > 0]):
            if scaled >= total:
                break
            count = min(util.replicas(rs), total - scaled)
            _, by_uid[base.uid_of(rs)] = await sync.scale_rs(ctl, d, rs, util.replicas(rs) - count)
            scaled += count
    return cleaned + scaled > 0, [by_uid[base.uid_of(rs)] for rs in old]
