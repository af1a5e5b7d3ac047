"""The Deployment controller: watches Deployments, their ReplicaSets (and, for Recreate,
their pods) and drives each Deployment through one reconcile: claim ReplicaSets, then
a status-only sync (being deleted), a scaling sync (paused, or spec.replicas changed),
or a rollout with the Deployment's strategy.

Started by ``controllers.manager``. Upstream defaults are kept (revisionHistoryLimit 10,
progressDeadlineSeconds 600, 25 %/25 % surge/unavailable); the server fills them in.
"""

from __future__ import annotations

from typing import Any

from kubelite.client import informer, resources
from kubelite.controllers import base
from kubelite.controllers.deployment import progress, recreate, rolling, sync, util

Obj = dict[str, Any]


class DeploymentController(base.Controller):
    name = "deployment"
    workers = 4

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.deployments = self.informers.get(resources.DEPLOYMENTS)
        self.rs = self.informers.get(resources.REPLICASETS)
        self.pods = self.informers.get(resources.PODS)
        self.deployments.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n),
                                     on_delete=self.enqueue)
        self.rs.add_handler(on_add=self._rs_changed, on_update=self._rs_updated, on_delete=self._rs_changed)
        self.pods.add_handler(on_delete=self._pod_deleted)

    def _owner_key(self, rs: Obj) -> str | None:
        ref = base.controller_ref(rs)
        if not ref or ref.get("kind") != "Deployment":
            return None
        key = f"{base.ns_of(rs)}/{ref.get('name')}"
        d = self.deployments.get(key)
        return key if d is not None and base.uid_of(d) == ref.get("uid") else None

    def _rs_changed(self, rs: Obj) -> None:
        key = self._owner_key(rs)
        if key is not None:
            self.queue.add(key)
        elif base.controller_ref(rs) is None:
            for d in self.deployments.by_index("namespace", base.ns_of(rs)):
                if base.selector_of(d).matches(base.labels_of(rs)):
                    self.enqueue(d)

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        old_key, new_key = self._owner_key(old), self._owner_key(new)
        if old_key and old_key != new_key:
            self.queue.add(old_key)
        self._rs_changed(new)

    def _pod_deleted(self, pod: Obj) -> None:
        # Only Recreate waits on pods (old ones gone before new ones start).
        ref = base.controller_ref(pod)
        if not ref or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rs.get(f"{base.ns_of(pod)}/{ref.get('name')}")
        if rs is None:
            return
        key = self._owner_key(rs)
        if key is not None:
            d = self.deployments.get(key)
            if d is not None and util.is_recreate(d):
                self.queue.add(key)

    async def reconcile(self, key: str) -> float | None:
        cached = self.deployments.get(key)
        if cached is None:
            return None
        d = base.copy(cached)
        spec = d.get("spec") or {}
        sel = spec.get("selector") or {}
        if not sel.get("matchLabels") and not sel.get("matchExpressions"):
            self.recorder.event(d, type_="Warning", reason="SelectingAll",
                                message="This deployment is selecting all pods. A non-empty selector is required.")
            return None
        rss = await sync.claim_replica_sets(self, d)
        if base.deleting(d):
            new_rs, old, d = await sync.get_all(self, d, rss, create=False)
            await progress.sync_status(self, d, old + ([new_rs] if new_rs else []), new_rs)
            return None
        d = await progress.check_paused_conditions(self, d)
        if spec.get("paused") or sync.is_scaling_event(d, rss):
            return await self._sync(d, rss)
        if util.is_recreate(d):
            return await recreate.rollout(self, d, rss)
        return await rolling.rollout(self, d, rss)

    async def _sync(self, d: Obj, rss: list[Obj]) -> float | None:
        """Scale (and, when paused, clean up) without rolling anything out."""
        new_rs, old, d = await sync.get_all(self, d, rss, create=False)
        await sync.scale(self, d, new_rs, old)
        # Re-read what scaling wrote so the status counts the new sizes.
        fresh = [self.rs.get(informer.key_of(rs)) or rs for rs in old + ([new_rs] if new_rs else [])]
        if (d.get("spec") or {}).get("paused"):
            await sync.cleanup(self, d, [rs for rs in fresh if not new_rs or base.uid_of(rs) != base.uid_of(new_rs)])
        new_fresh = next((rs for rs in fresh if new_rs and base.uid_of(rs) == base.uid_of(new_rs)), None)
        await progress.sync_status(self, d, fresh, new_fresh)
        return None
