"""The garbage collector: acts on ``metadata.ownerReferences`` and the deletion
finalizers the API server adds for ``propagationPolicy``.

- **Background** (the default): once every owner of an object is gone, the object is
  deleted (its own dependents follow the same way). An object with some owners gone
  and others alive only loses the dangling references.
- **Foreground**: the server leaves the owner with the ``foregroundDeletion``
  finalizer; the collector deletes its dependents (foreground again for those that
  have dependents of their own) and removes the finalizer once no dependent with
  ``blockOwnerDeletion: true`` is left, so the owner goes last.
- **Orphan**: the ``orphan`` finalizer; the collector removes the owner's reference
  from every dependent, then the finalizer, so the dependents stay.

Started by ``controllers.manager``. The graph is the shared informers' caches (indexed
by owner uid) over the kinds listed in ``TRACKED``; an owner missing from the cache is
confirmed absent by a live GET (uid compared) before anything is deleted, because a
cache can lag behind the object that was just created. Owners of kinds not tracked and
not known to the client (custom resources) are assumed present — never delete on a guess.
"""

from __future__ import annotations

from typing import Any

from kubelite.client import errors, informer, resources
from kubelite.controllers import base

Obj = dict[str, Any]

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"

TRACKED: tuple[resources.Resource, ...] = (
    resources.PODS, resources.REPLICASETS, resources.REPLICATIONCONTROLLERS, resources.DEPLOYMENTS,
    resources.STATEFULSETS, resources.DAEMONSETS, resources.JOBS, resources.CRONJOBS, resources.CONTROLLERREVISIONS,
    resources.PERSISTENTVOLUMECLAIMS, resources.SERVICES, resources.ENDPOINTS,
    resources.CONFIGMAPS, resources.SECRETS, resources.NODES,
)


def _item(res: resources.Resource, key: str) -> str:
    return f"{res.plural}.{res.group}|{key}"


class GarbageCollector(base.Controller):
    name = "garbagecollector"
    event_source = "garbage-collector-controller"
    workers = 8

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.by_name: dict[str, resources.Resource] = {}
        self.uids: dict[str, tuple[resources.Resource, str]] = {}
        for res in TRACKED:
            inf = self.informers.get(res)
            self.by_name[f"{res.plural}.{res.group}"] = res
            inf.add_handler(on_add=self._adder(res), on_update=self._updater(res),
                            on_delete=self._deleter(res))

    # --- graph maintenance ------------------------------------------------------------

    def _adder(self, res: resources.Resource) -> Any:
        def on_add(obj: Obj) -> None:
            key = informer.key_of(obj)
            self.uids[base.uid_of(obj)] = (res, key)
            if base.meta(obj).get("ownerReferences") or self._gc_finalizing(obj):
                self.queue.add(_item(res, key))
        return on_add

    def _updater(self, res: resources.Resource) -> Any:
        def on_update(old: Obj, new: Obj) -> None:
            key = informer.key_of(new)
            self.uids[base.uid_of(new)] = (res, key)
            if self._gc_finalizing(new) or (
                    base.meta(old).get("ownerReferences") != base.meta(new).get("ownerReferences")):
                self.queue.add(_item(res, key))
            if base.deleting(new):
                self._enqueue_owners(new)
        return on_update

    def _deleter(self, res: resources.Resource) -> Any:
        def on_delete(obj: Obj) -> None:
            uid = base.uid_of(obj)
            if self.uids.get(uid, (None, None))[1] == informer.key_of(obj):
                self.uids.pop(uid, None)
            # Its dependents may now be orphans; its owners may be waiting for it.
            for dep_res, dep_key in self._dependents(uid):
                self.queue.add(_item(dep_res, dep_key))
            self._enqueue_owners(obj)
        return on_delete

    def _enqueue_owners(self, obj: Obj) -> None:
        for ref in base.meta(obj).get("ownerReferences") or []:
            found = self.uids.get(str(ref.get("uid")))
            if found is not None:
                self.queue.add(_item(*found))

    def _dependents(self, uid: str) -> list[tuple[resources.Resource, str]]:
        out = []
        for res in TRACKED:
            for key in self.informers.get(res).index_keys("owner", uid):
                out.append((res, key))
        return out

    @staticmethod
    def _gc_finalizing(obj: Obj) -> bool:
        fins = base.meta(obj).get("finalizers") or []
        return base.deleting(obj) and (ORPHAN in fins or FOREGROUND in fins)

    # --- reconcile --------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        res_name, _, obj_key = key.partition("|")
        res = self.by_name[res_name]
        obj = self.informers.get(res).get(obj_key)
        if obj is None:
            return None
        fins = base.meta(obj).get("finalizers") or []
        if base.deleting(obj) and ORPHAN in fins:
            await self._orphan_dependents(res, obj)
            return None
        if base.deleting(obj) and FOREGROUND in fins:
            return await self._delete_dependents(res, obj)
        if base.meta(obj).get("ownerReferences") and not base.deleting(obj):
            await self._check_owners(res, obj)
        return None

    async def _orphan_dependents(self, res: resources.Resource, owner: Obj) -> None:
        uid = base.uid_of(owner)
        for dep_res, dep_key in self._dependents(uid):
            dep = self.informers.get(dep_res).get(dep_key)
            if dep is None:
                continue
            refs = [r for r in base.meta(dep).get("ownerReferences") or [] if r.get("uid") != uid]
            patch = {"metadata": {"ownerReferences": refs or None,
                                  "resourceVersion": base.meta(dep).get("resourceVersion")}}
            await self.client.patch(dep_res, base.name_of(dep), patch, namespace=base.ns_of(dep) or None)
        await self._remove_finalizer(res, owner, ORPHAN)
        self.log.info("orphaned dependents owner=%s/%s", res.plural, informer.key_of(owner))

    async def _delete_dependents(self, res: resources.Resource, owner: Obj) -> float | None:
        uid = base.uid_of(owner)
        blocking = 0
        for dep_res, dep_key in self._dependents(uid):
            dep = self.informers.get(dep_res).get(dep_key)
            if dep is None:
                continue
            ref: Obj = next((r for r in base.meta(dep).get("ownerReferences") or [] if r.get("uid") == uid), {})
            if ref.get("blockOwnerDeletion"):
                blocking += 1
            if base.deleting(dep):
                continue
            policy = "Foreground" if self._dependents(base.uid_of(dep)) else "Background"
            try:
                await self.client.delete(dep_res, base.name_of(dep), namespace=base.ns_of(dep) or None,
                                         propagation_policy=policy,
                                         preconditions={"uid": base.uid_of(dep)})
            except (errors.NotFound, errors.Conflict):
                pass
        if blocking:
            return 1.0  # dependents' deletions re-enqueue us; this is the safety net
        await self._remove_finalizer(res, owner, FOREGROUND)
        self.log.info("foreground deletion done owner=%s/%s", res.plural, informer.key_of(owner))
        return None

    async def _remove_finalizer(self, res: resources.Resource, obj: Obj, finalizer: str) -> None:
        fins = [f for f in base.meta(obj).get("finalizers") or [] if f != finalizer]
        patch = {"metadata": {"finalizers": fins or None,
                              "resourceVersion": base.meta(obj).get("resourceVersion")}}
        await self.client.patch(res, base.name_of(obj), patch, namespace=base.ns_of(obj) or None)

    async def _owner_state(self, obj: Obj, ref: Obj) -> str:
        """``present``, ``absent`` or ``waiting`` (present, deleting in the foreground)."""
        uid = str(ref.get("uid") or "")
        found = self.uids.get(uid)
        if found is not None:
            owner = self.informers.get(found[0]).get(found[1])
            if owner is not None and base.uid_of(owner) == uid:
                return "waiting" if self._in_foreground(owner) else "present"
        owner_res = resources.by_kind(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""))
        if owner_res is None:
            return "present"
        try:
            owner = await self.client.get(owner_res, str(ref.get("name") or ""),
                                          namespace=base.ns_of(obj) or None)
        except errors.NotFound:
            return "absent"
        if base.uid_of(owner) != uid:
            return "absent"
        return "waiting" if self._in_foreground(owner) else "present"

    @staticmethod
    def _in_foreground(owner: Obj) -> bool:
        return base.deleting(owner) and FOREGROUND in (base.meta(owner).get("finalizers") or [])

    async def _check_owners(self, res: resources.Resource, obj: Obj) -> None:
        refs = base.meta(obj).get("ownerReferences") or []
        states = [await self._owner_state(obj, ref) for ref in refs]
        if "present" in states:
            dangling = {str(r.get("uid")) for r, s in zip(refs, states, strict=True) if s == "absent"}
            waiting = {str(r.get("uid")) for r, s in zip(refs, states, strict=True) if s == "waiting"}
            if not dangling and not waiting:
                return
            # Keep living owners; a foreground owner must not wait on us while another
            # owner keeps us alive, so our reference to it stops blocking.
            new_refs = []
            for r in refs:
                if str(r.get("uid")) in dangling:
                    continue
                if str(r.get("uid")) in waiting and r.get("blockOwnerDeletion"):
                    r = {**r, "blockOwnerDeletion": False}
                new_refs.append(r)
            if new_refs != refs:
                patch = {"metadata": {"ownerReferences": new_refs,
                                      "resourceVersion": base.meta(obj).get("resourceVersion")}}
                await self.client.patch(res, base.name_of(obj), patch, namespace=base.ns_of(obj) or None)
            return
        policy = "Foreground" if "waiting" in states and self._dependents(base.uid_of(obj)) else "Background"
        self.log.info("deleting dependent object=%s/%s policy=%s", res.plural, informer.key_of(obj), policy)
        try:
            await self.client.delete(res, base.name_of(obj), namespace=base.ns_of(obj) or None,
                                     propagation_policy=policy, preconditions={"uid": base.uid_of(obj)})
        except (errors.NotFound, errors.Conflict):
            pass
