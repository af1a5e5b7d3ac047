"""The ResourceQuota controller: keeps every quota's ``status.hard`` (its ``spec.hard``)
and ``status.used`` (a recount of the namespace's objects) current, as upstream's
pkg/controller/resourcequota does.

Started by ``controllers.manager``. A quota is recounted

- when it is created or its ``spec.hard`` differs from ``status.hard`` (a new or changed
  limit; quota admission refuses what a quota tracks until its usage is known);
- when a counted object goes away or its cost changes (a pod deleted or finished, a
  Service that stops being a NodePort, …): the quotas of that namespace are recounted
  (upstream's replenishment), which is how usage goes back down — admission only adds;
- every ``KUBELITE_QUOTA_RESYNC_SECONDS`` (300, upstream's full resync period), which
  also corrects what a refund could not.

Objects are counted from the manager's shared informers for the resources it watches
(pods, services, claims, configmaps, secrets, replication controllers and the apps and
batch workloads); any other ``count/<resource>.<group>`` is listed from the API server at
each recount. What an object costs is ``kubelite.api.quota``, the same arithmetic quota
admission charges with.
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any, Final

from kubelite.api import quantity, quota
from kubelite.client import errors, resources
from kubelite.controllers import base

Obj = dict[str, Any]

QUOTAS: Final = resources.Resource("", "v1", "resourcequotas", True, "ResourceQuota")
INFORMED: Final = (resources.PODS, resources.SERVICES, resources.PERSISTENTVOLUMECLAIMS, resources.CONFIGMAPS,
                   resources.SECRETS, resources.REPLICATIONCONTROLLERS, resources.DEPLOYMENTS,
                   resources.REPLICASETS, resources.STATEFULSETS, resources.DAEMONSETS, resources.JOBS,
                   resources.CRONJOBS)


def resync_seconds() -> float:
    return float(os.environ.get("KUBELITE_QUOTA_RESYNC_SECONDS", "300"))


def desired_status(q: Obj, used: quantity.ResourceList) -> Obj:
    """``status`` as the controller writes it: ``hard`` from the spec, ``used`` for exactly
    the hard names (both as Go prints quantities)."""
    hard = quantity.resource_list((q.get("spec") or {}).get("hard"))
    return {"hard": quantity.to_json(hard), "used": quantity.to_json(quota.mask(used, hard))}


class ResourceQuotaController(base.Controller):
    name = "resourcequota"
    event_source = "resourcequota-controller"
    workers = 2

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.quotas = self.informers.get(QUOTAS)
        self.quotas.add_handler(on_add=self.enqueue, on_update=self._quota_updated)
        self.informed = {(r.group, r.plural): self.informers.get(r) for r in INFORMED}
        for (group, plural), inf in self.informed.items():
            evaluator = quota.evaluator_for(group, plural)
            if evaluator is None:
                continue
            inf.add_handler(on_update=functools.partial(self._object_updated, evaluator),
                            on_delete=self._object_deleted)
        self._versions: dict[str, str] = {}  # API group → the version listed for count/<resource>.<group>

    def start(self) -> None:
        super().start()
        self.tg.spawn(self._resync(), name="resourcequota/resync")

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(resync_seconds())
            for q in self.quotas.list():
                self.enqueue(q)

    # --- event handlers ---------------------------------------------------------------

    def _quota_updated(self, old: Obj, new: Obj) -> None:
        status = new.get("status") or {}
        if status.get("used") is None or desired_status(new, {})["hard"] != (status.get("hard") or {}):
            self.enqueue(new)

    def _namespace_changed(self, obj: Obj) -> None:
        for q in self.quotas.by_index("namespace", base.ns_of(obj)):
            self.enqueue(q)

    def _object_updated(self, evaluator: quota.Evaluator, old: Obj, new: Obj) -> None:
        # most updates (pod status writes) are in namespaces without quotas: look first
        if not self.quotas.by_index("namespace", base.ns_of(new)):
            return
        if not quota.equals(evaluator.usage(old), evaluator.usage(new)):
            self._namespace_changed(new)

    def _object_deleted(self, obj: Obj) -> None:
        self._namespace_changed(obj)

    # --- reconcile --------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        q = self.quotas.get(key)
        if q is None:
            return None
        namespace = base.ns_of(q)
        hard = (q.get("spec") or {}).get("hard") or {}
        # what was observed before stays for names no evaluator recounts now
        used = quota.used_of(q)
        for evaluator, names in quota.tracked(hard, quota.count_evaluators(hard)).items():
            objects = await self._objects(evaluator, namespace)
            if objects is None:
                continue
            used.update(quota.usage_of(q, evaluator, names, objects))
        status = desired_status(q, used)
        current = q.get("status") or {}
        if current.get("hard") == status["hard"] and current.get("used") is not None and \
                quota.equals(quota.used_of(q), quota.mask(used, quantity.resource_list(status["hard"]))):
            return None
        updated = base.copy(q)
        updated["status"] = status
        await self.client.update(QUOTAS, updated, subresource="status")
        self.log.info("quota recounted quota=%s/%s used=%s", namespace, base.name_of(q),
                      ",".join(f"{k}={v}" for k, v in status["used"].items()))
        return None

    async def _objects(self, evaluator: quota.Evaluator, namespace: str) -> list[Obj] | None:
        inf = self.informed.get((evaluator.group, evaluator.plural))
        if inf is not None:
            return inf.by_index("namespace", namespace)
        res = await self._resource(evaluator.group, evaluator.plural)
        if res is None:
            return None
        try:
            listed = await self.client.list_all(res, namespace=namespace, resource_version="0",
                                                omit_managed_fields=True)
        except (errors.NotFound, errors.MethodNotAllowed):
            return None  # not served (any more): nothing to count
        items: list[Obj] = listed.get("items") or []
        return items

    async def _resource(self, group: str, plural: str) -> resources.Resource | None:
        """The resource to list for ``count/<plural>.<group>``: its served version."""
        for known in resources.KNOWN:
            if known.group == group and known.plural == plural:
                return known
        version = self._versions.get(group)
        if version is None:
            if not group:
                version = "v1"
            else:
                try:
                    doc = await self.client.request("GET", f"/apis/{group}")
                except errors.NotFound:
                    return None
                version = str((doc.get("preferredVersion") or {}).get("version") or "")
                if not version:
                    return None
            self._versions[group] = version
        return resources.Resource(group, version, plural, True)
