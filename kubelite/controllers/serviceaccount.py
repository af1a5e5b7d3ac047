"""The service account controller: every Active namespace has a ServiceAccount named
``default`` (recreated if deleted), as upstream's ServiceAccountsController.

Started by ``controllers.manager``; namespaces being deleted are skipped, so the
namespace controller can empty them.
"""

from __future__ import annotations

from typing import Any

from kubelite.client import errors, resources
from kubelite.controllers import base

Obj = dict[str, Any]

DEFAULT = "default"


class ServiceAccountController(base.Controller):
    name = "serviceaccount"
    workers = 2

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.namespaces = self.informers.get(resources.NAMESPACES)
        self.accounts = self.informers.get(resources.SERVICEACCOUNTS)
        self.namespaces.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self.accounts.add_handler(on_delete=self._account_deleted)

    def _account_deleted(self, sa: Obj) -> None:
        if base.name_of(sa) == DEFAULT:
            self.queue.add(base.ns_of(sa))

    async def reconcile(self, key: str) -> float | None:
        ns = self.namespaces.get(key)
        if ns is None or base.deleting(ns) or (ns.get("status") or {}).get("phase") == "Terminating":
            return None
        if self.accounts.get(f"{key}/{DEFAULT}") is not None:
            return None
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEFAULT, "namespace": key}}
        try:
            await self.client.create(resources.SERVICEACCOUNTS, body, namespace=key)
            self.log.info("created default service account namespace=%s", key)
        except errors.AlreadyExists:
            pass
        except errors.Forbidden:
            pass  # the namespace started terminating meanwhile
        return None
