"""The Deployment controller's shared steps: claim its ReplicaSets, find or create the
new ReplicaSet (``<deployment>-<pod-template-hash>``), scale ReplicaSets (proportionally
while a rollout is in flight), and delete old ReplicaSets beyond
``revisionHistoryLimit`` (default 10, as upstream).

Called by ``deployment.controller`` and the strategies in ``rolling``/``recreate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelite.client import errors, resources
from kubelite.controllers import base, podcontrol
from kubelite.controllers.deployment import progress, rollback, util

if TYPE_CHECKING:
    from kubelite.controllers.deployment.controller import DeploymentController

Obj = dict[str, Any]


async def claim_replica_sets(ctl: DeploymentController, d: Obj) -> list[Obj]:
    owned = ctl.rs.by_index("controller", base.uid_of(d))
    orphans = [rs for rs in ctl.rs.by_index("namespace", base.ns_of(d)) if base.controller_ref(rs) is None]
    return await podcontrol.claim(ctl.client, res=resources.REPLICASETS, owner=d, kind="Deployment",
                                  api_version="apps/v1", selector=base.selector_of(d),
                                  owned=owned, orphans=orphans)


def find_new(d: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash):
    after an undo that is the old ReplicaSet being brought back."""
    template = (d.get("spec") or {}).get("template") or {}
    for rs in util.creation_order(rss):
        if util.templates_equal((rs.get("spec") or {}).get("template") or {}, template):
            return rs
    return None


async def get_all(ctl: DeploymentController, d: Obj, rss: list[Obj], *,
                  create: bool) -> tuple[Obj | None, list[Obj], Obj]:
    """(new ReplicaSet or None, old ReplicaSets, the Deployment as last written)."""
    existing = find_new(d, rss)
    old = [rs for rs in rss if existing is None or base.uid_of(rs) != base.uid_of(existing)]
    new_revision = util.max_revision(old) + 1
    if existing is not None:
        new_rs, d = await _update_existing(ctl, d, existing, new_revision)
        return new_rs, old, d
    if not create:
        return None, old, d
    new_rs, d = await _create_new(ctl, d, old, new_revision)
    return new_rs, old, d


async def _update_existing(ctl: DeploymentController, d: Obj, rs: Obj, new_revision: int) -> tuple[Obj, Obj]:
    rs_copy = base.copy(rs)
    changed = rollback.set_new_rs_annotations(d, rs_copy, new_revision=new_revision, exists=True)
    mrs = (d.get("spec") or {}).get("minReadySeconds") or 0
    spec_changed = ((rs_copy.get("spec") or {}).get("minReadySeconds") or 0) != mrs
    if changed or spec_changed:
        patch: Obj = {"metadata": {"annotations": base.annotations_of(rs_copy),
                                   "resourceVersion": base.meta(rs).get("resourceVersion")}}
        if spec_changed:
            patch["spec"] = {"minReadySeconds": mrs}
        rs_copy = await ctl.client.patch(resources.REPLICASETS, base.name_of(rs), patch, namespace=base.ns_of(rs))
    d = await set_deployment_revision(ctl, d, base.annotations_of(rs_copy).get(util.REVISION, ""))
    if util.progress_deadline(d) is not None and base.get_condition(d.get("status"), "Progressing") is None:
        cond = progress.condition("Progressing", "True", "FoundNewReplicaSet",
                                  f'Found new replica set "{base.name_of(rs_copy)}"')
        d = await _put_condition(ctl, d, cond)
    return rs_copy, d


async def _create_new(ctl: DeploymentController, d: Obj, old: list[Obj], new_revision: int) -> tuple[Obj, Obj]:
    spec = d.get("spec") or {}
    collisions = (d.get("status") or {}).get("collisionCount")
    template = base.copy(spec.get("template") or {})
    pth = util.template_hash(template, collisions)
    template.setdefault("metadata", {}).setdefault("labels", {})[util.HASH_LABEL] = pth
    selector = base.copy(spec.get("selector") or {})
    selector.setdefault("matchLabels", {})[util.HASH_LABEL] = pth
    rs: Obj = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{base.name_of(d)}-{pth}", "namespace": base.ns_of(d),
                     "labels": dict(template["metadata"]["labels"]),
                     "ownerReferences": [base.owner_reference(d, kind="Deployment", api_version="apps/v1")]},
        "spec": {"replicas": 0, "minReadySeconds": spec.get("minReadySeconds") or 0,
                 "selector": selector, "template": template},
    }
    rs["spec"]["replicas"] = util.new_rs_replicas(d, old + [rs], rs)
    rollback.set_new_rs_annotations(d, rs, new_revision=new_revision, exists=False)
    try:
        created = await ctl.client.create(resources.REPLICASETS, rs, namespace=base.ns_of(d))
    except errors.AlreadyExists:
        current = await ctl.client.get(resources.REPLICASETS, rs["metadata"]["name"], namespace=base.ns_of(d))
        ref = base.controller_ref(current)
        if ref and ref.get("uid") == base.uid_of(d) and util.templates_equal(
                (current.get("spec") or {}).get("template") or {}, spec.get("template") or {}):
            return current, d  # ours, from an earlier pass whose event we have not seen
        # A hash collision with someone else's ReplicaSet: salt the hash and retry.
        status = {"collisionCount": int(collisions or 0) + 1}
        await ctl.client.patch(resources.DEPLOYMENTS, base.name_of(d), {"status": status},
                               namespace=base.ns_of(d), subresource="status")
        raise
    except errors.ApiError as exc:
        if errors.namespace_terminating(exc):
            raise  # every create there fails alike: no condition, no Event (upstream)
        msg = f'Failed to create new replica set "{rs["metadata"]["name"]}": {exc.message}'
        held = base.get_condition(d.get("status"), "Progressing") or {}
        # as upstream's SetDeploymentCondition: the same status and reason are not written
        # again (a write per refused retry would retrigger the Deployment at once)
        if util.progress_deadline(d) is not None and \
                (held.get("status"), held.get("reason")) != ("False", "ReplicaSetCreateError"):
            await _put_condition(ctl, d, progress.condition("Progressing", "False", "ReplicaSetCreateError", msg))
        ctl.recorder.event(d, type_="Warning", reason="ReplicaSetCreateError", message=msg)
        # raised to the work queue, whose growing back-off paces the retries
        raise
    n = util.replicas(created)
    if n > 0:
        ctl.recorder.event(d, type_="Normal", reason="ScalingReplicaSet",
                           message=f"Scaled up replica set {base.name_of(created)} from 0 to {n}")
    d = await set_deployment_revision(ctl, d, str(new_revision))
    if util.progress_deadline(d) is not None:
        cond = progress.condition("Progressing", "True", "NewReplicaSetCreated",
                                  f'Created new replica set "{base.name_of(created)}"')
        d = await _put_condition(ctl, d, cond)
    return created, d


async def _put_condition(ctl: DeploymentController, d: Obj, cond: Obj) -> Obj:
    status = base.copy(d.get("status") or {})
    base.set_condition(status, cond, keep_transition_if_same=False)
    await ctl.client.patch(resources.DEPLOYMENTS, base.name_of(d), {"status": {"conditions": status["conditions"]}},
                           namespace=base.ns_of(d), subresource="status")
    d = base.copy(d)
    d["status"] = status
    return d


async def set_deployment_revision(ctl: DeploymentController, d: Obj, rev: str) -> Obj:
    patch = rollback.deployment_revision_patch(d, rev)
    if patch is None:
        return d
    updated = await ctl.client.patch(resources.DEPLOYMENTS, base.name_of(d), patch, namespace=base.ns_of(d))
    # Keep the status we computed from: the patch answer may predate our status writes.
    updated["status"] = d.get("status") or {}
    return updated


async def scale_rs(ctl: DeploymentController, d: Obj, rs: Obj, new_scale: int) -> tuple[bool, Obj]:
    """Set a ReplicaSet's replicas and its desired/max annotations; (scaled?, new RS)."""
    size_changed = util.replicas(rs) != new_scale
    if not size_changed and not util.annotations_need_update(d, rs):
        return False, rs
    ann: Obj = {util.DESIRED_REPLICAS: str(util.replicas(d)),
                util.MAX_REPLICAS: str(util.replicas(d) + util.max_surge(d))}
    patch = {"metadata": {"annotations": ann}, "spec": {"replicas": new_scale}}
    updated = await ctl.client.patch(resources.REPLICASETS, base.name_of(rs), patch, namespace=base.ns_of(rs))
    if size_changed:
        verb = "up" if new_scale > util.replicas(rs) else "down"
        ctl.recorder.event(d, type_="Normal", reason="ScalingReplicaSet",
                           message=f"Scaled {verb} replica set {base.name_of(rs)} "
                                   f"from {util.replicas(rs)} to {new_scale}")
    return size_changed, updated


def is_scaling_event(d: Obj, rss: list[Obj]) -> bool:
    """Did spec.replicas change since the active ReplicaSets were last sized?"""
    for rs in rss:
        if util.replicas(rs) > 0:
            desired = base.annotations_of(rs).get(util.DESIRED_REPLICAS)
            if desired is not None and desired != str(util.replicas(d)):
                return True
    return False


async def scale(ctl: DeploymentController, d: Obj, new_rs: Obj | None, old: list[Obj]) -> None:
    """Resize to spec.replicas: one active ReplicaSet takes it all; during a rollout
    the change is spread in proportion to each ReplicaSet's size (largest first)."""
    active = [rs for rs in ([new_rs] if new_rs else []) + old if util.replicas(rs) > 0]
    want = util.replicas(d)
    if len(active) <= 1:
        target = active[0] if active else (new_rs or (util.creation_order(old)[-1] if old else None))
        if target is not None:
            await scale_rs(ctl, d, target, want)
        return
    if new_rs is not None and util.replicas(new_rs) == want and util.status_int(new_rs, "availableReplicas") == want:
        for rs in old:
            if util.replicas(rs) > 0:
                await scale_rs(ctl, d, rs, 0)
        return
    if util.is_recreate(d):
        return
    allowed = want + util.max_surge(d) if want > 0 else 0
    current = sum(util.replicas(rs) for rs in active)
    to_add = allowed - current
    if to_add == 0:
        for rs in active:
            await scale_rs(ctl, d, rs, util.replicas(rs))
        return
    # Bigger (and, on a tie, newer when growing) ReplicaSets first.
    order = sorted(active, key=lambda rs: (-util.replicas(rs), base.meta(rs).get("creationTimestamp") or ""),
                   reverse=False)
    sizes: dict[str, int] = {}
    added = 0
    for rs in order:
        share = int(util.replicas(rs) * to_add / current) if current else 0
        if to_add < 0:
            share = max(share, -util.replicas(rs))
        sizes[base.uid_of(rs)] = util.replicas(rs) + share
        added += share
    leftover = to_add - added
    first = base.uid_of(order[0])
    sizes[first] = max(0, sizes[first] + leftover)
    for rs in order:
        await scale_rs(ctl, d, rs, sizes[base.uid_of(rs)])


async def cleanup(ctl: DeploymentController, d: Obj, old: list[Obj]) -> None:
    """Delete the oldest unused ReplicaSets beyond revisionHistoryLimit."""
    limit = (d.get("spec") or {}).get("revisionHistoryLimit")
    limit = 10 if limit is None else int(limit)
    alive = [rs for rs in old if not base.deleting(rs)]
    diff = len(alive) - limit
    if diff <= 0:
        return
    for rs in sorted(alive, key=util.revision)[:diff]:
        if util.status_int(rs, "replicas") != 0 or util.replicas(rs) != 0 or \
                int(base.meta(rs).get("generation") or 0) > util.status_int(rs, "observedGeneration"):
            continue
        try:
            await ctl.client.delete(resources.REPLICASETS, base.name_of(rs), namespace=base.ns_of(rs))
        except errors.NotFound:
            pass
