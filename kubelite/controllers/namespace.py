"""The namespace controller: empties a Terminating namespace, then lets it go.

A deleted namespace stays with ``spec.finalizers: [kubernetes]`` until this controller
has deleted everything in it: it discovers every namespaced resource that can be
deleted (``/api`` and ``/apis``, so custom resources are included), issues a
delete-collection per resource (pods get their normal graceful deletion: the namespace
waits for their agents like upstream does), and when nothing is left PUTs
``/api/v1/namespaces/{name}/finalize`` without the ``kubernetes`` finalizer. Progress is
reported in the namespace's status conditions (``NamespaceContentRemaining``…).

Started by ``controllers.manager``. Checks again every 0.5 s while content remains
(upstream backs off from 1 s up to a minute); discovery is cached for 30 s.
"""

from __future__ import annotations

import time
from typing import Any

from kubelite.client import errors, resources
from kubelite.controllers import base

Obj = dict[str, Any]

RECHECK = 0.5
DISCOVERY_TTL = 30.0


class NamespaceController(base.Controller):
    name = "namespace"
    workers = 4

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.namespaces = self.informers.get(resources.NAMESPACES)
        self.namespaces.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self._discovered: list[resources.Resource] = []
        self._discovered_at = 0.0

    async def _deletable(self) -> list[resources.Resource]:
        if self._discovered and time.monotonic() - self._discovered_at < DISCOVERY_TTL:
            return self._discovered
        found: list[resources.Resource] = []
        prefixes = ["/api/v1"]
        groups = await self.client.request("GET", "/apis")
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            if preferred:
                prefixes.append(f"/apis/{preferred}")
        for prefix in prefixes:
            try:
                listing = await self.client.request("GET", prefix)
            except errors.ApiError:
                continue
            gv = listing.get("groupVersion") or "v1"
            group, _, version = gv.rpartition("/")
            for r in listing.get("resources") or []:
                verbs = set(r.get("verbs") or [])
                if "/" in r["name"] or not r.get("namespaced") or not ({"delete", "deletecollection"} & verbs):
                    continue
                found.append(resources.Resource(group, version, r["name"], True, r.get("kind") or ""))
        self._discovered, self._discovered_at = found, time.monotonic()
        return found

    async def reconcile(self, key: str) -> float | None:
        ns = self.namespaces.get(key)
        if ns is None or not base.deleting(ns):
            return None
        if "kubernetes" not in ((ns.get("spec") or {}).get("finalizers") or []):
            return None
        name = base.name_of(ns)
        remaining: dict[str, int] = {}
        failures: list[str] = []
        for res in await self._deletable():
            try:
                listed = await self.client.list(res, namespace=name, limit=1)
            except errors.ApiError:
                continue  # not listable (or gone): nothing we can delete
            if not listed.get("items"):
                continue
            rest_count = int((listed.get("metadata") or {}).get("remainingItemCount") or 0)
            remaining[str(res)] = 1 + rest_count
            try:
                await self.client.delete_collection(res, namespace=name, propagation_policy="Background")
            except errors.MethodNotAllowed:
                await self._delete_one_by_one(res, name)
            except errors.ApiError as exc:
                failures.append(f"{res}: {exc.message}")
        if remaining or failures:
            await self._report(ns, remaining, failures)
            return RECHECK
        spec = dict(ns.get("spec") or {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != "kubernetes"]
        body = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "resourceVersion": base.meta(ns).get("resourceVersion")},
                "spec": spec}
        await self.client.request("PUT", f"/api/v1/namespaces/{name}/finalize", json=body)
        self.log.info("namespace finalized namespace=%s", name)
        return None

    async def _delete_one_by_one(self, res: resources.Resource, namespace: str) -> None:
        listed = await self.client.list_all(res, namespace=namespace)
        for item in listed.get("items") or []:
            try:
                await self.client.delete(res, base.name_of(item), namespace=namespace,
                                         propagation_policy="Background")
            except errors.NotFound:
                pass

    async def _report(self, ns: Obj, remaining: dict[str, int], failures: list[str]) -> None:
        status = base.copy(ns.get("status") or {})
        text = ", ".join(f"{k} has {v} resource instances" for k, v in sorted(remaining.items()))
        cond = {"type": "NamespaceContentRemaining", "status": "True" if remaining else "False",
                "reason": "SomeResourcesRemain" if remaining else "ContentRemoved",
                "message": f"Some resources are remaining: {text}" if remaining else "All content successfully removed",
                "lastTransitionTime": base.fmt_time()}
        old = base.get_condition(status, cond["type"])
        if old and old.get("status") == cond["status"] and old.get("message") == cond["message"]:
            return
        base.set_condition(status, cond)
        if failures:
            base.set_condition(status, {"type": "NamespaceDeletionContentFailure", "status": "True",
                                        "reason": "ContentDeletionFailed", "message": "; ".join(failures),
                                        "lastTransitionTime": base.fmt_time()})
        try:
            await self.client.patch(resources.NAMESPACES, base.name_of(ns), {"status": status},
                                    subresource="status")
        except errors.ApiError as exc:
            self.log.debug("namespace status not written namespace=%s error=%s", base.name_of(ns), exc)
