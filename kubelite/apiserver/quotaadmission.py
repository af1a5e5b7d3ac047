"""ResourceQuota admission: upstream's ``ResourceQuota`` plugin
(apiserver/pkg/admission/plugin/resourcequota) for every namespaced resource.

``registry.Store.create`` calls ``QuotaAdmission.admit`` last, after the resource's own
admission (LimitRange defaults included), and ``Store._write_update`` calls it on updates
of services and claims, whose cost can change; each gets back a ``Charge`` to refund if
its write then fails. What an object costs and whether it fits is
``kubelite.api.quota``; this module decides *when* and makes the charge stick.

Charging, as upstream: a request fits when every quota of its namespace that tracks it
has room; the new usage is then written to each quota's ``status.used`` with the quota's
``resourceVersion`` as precondition, *before* the object is stored. So two creates that
both fit alone cannot both pass: the second reads the first one's usage.

- Within one API server the charges of a namespace are serialized by an asyncio lock
  (upstream batches them per namespace in a work queue for the same reason): without it
  every create of a burst would read the same usage and all but one would lose the
  compare-and-swap and retry. Each charge starts from the quota as this server last
  wrote it, since the watch cache may not have seen that write yet.
- Across API servers on one etcd, the compare-and-swap on the quota is what serializes
  them: a server whose write finds the quota changed reads it again from storage and
  checks again (three times, then the request fails with upstream's 409 Conflict), so
  quota holds with several servers too, at the cost of retries under contention.
- A charge whose object is then not stored (a name taken, a failed write) is refunded
  here at once; if the refund itself cannot be written, the ResourceQuota controller's
  recount corrects the usage at its next sync of that quota. The recount itself races
  with admission as upstream's does: a usage written from a cache that has not seen a
  just-created object undercounts it until the next recount (the controller recounts only
  when a quota changes, counted objects go away, and on its periodic resync).

A namespace without ResourceQuotas costs one dictionary lookup
(``watchcache.NamespaceIndex``); the ones it has are read from the watch cache, as
upstream's plugin reads its informer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from kubelite.api import errors, quantity, quota, scheme
from kubelite.apiserver import requests

if TYPE_CHECKING:
    from kubelite.apiserver import registry

log = logging.getLogger("kubelite.apiserver.quota")

Obj = dict[str, Any]

ATTEMPTS: Final = 4  # the first check and upstream's three retries after a conflict


@dataclass
class Charge:
    """What one admitted write added to the usage of which quotas (by name)."""

    namespace: str
    added: dict[str, quantity.ResourceList] = field(default_factory=dict)


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _rv(obj: Obj) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class QuotaAdmission:
    """The quota admission of one API server; ``registry.Registry.quota``."""

    def __init__(self, registry_: registry.Registry) -> None:
        self.registry = registry_
        self._locks: dict[str, asyncio.Lock] = {}
        # quota key → the quota as this server last wrote it (newer than the cache for a while)
        self._written: dict[str, Obj] = {}

    def quotas(self, namespace: str) -> list[Obj]:
        return self.registry.namespace_index("", "resourcequotas").get(namespace)

    async def admit(self, info: scheme.ResourceInfo, obj: Obj, old: Obj | None, *, dry_run: bool) -> Charge | None:
        """Check ``obj`` (replacing ``old`` on an update) against its namespace's quotas and
        charge them; raises upstream's 403 when it does not fit."""
        if not info.namespaced:
            return None
        namespace = str((obj.get("metadata") or {}).get("namespace") or "")
        if not self.quotas(namespace):
            return None  # the common case
        evaluator = quota.evaluator_for(info.group, info.plural)
        if evaluator is None or (old is not None and not evaluator.on_update):
            return None
        lock = self._locks.setdefault(namespace, asyncio.Lock())
        async with lock:
            return await self._charge(info, namespace, obj, old, evaluator, dry_run=dry_run)

    async def _charge(self, info: scheme.ResourceInfo, namespace: str, obj: Obj, old: Obj | None,
                      evaluator: quota.Evaluator, *, dry_run: bool) -> Charge | None:
        charge = Charge(namespace)
        pending: list[Obj] = [self._freshest(q) for q in self.quotas(namespace)]
        last_error: errors.StatusError | None = None
        for _attempt in range(ATTEMPTS):
            try:
                new_used = quota.check_request(pending, evaluator, obj, old)
            except quota.Refused as exc:
                name = _name(obj)
                raise errors.Forbidden(f'{errors.qualified(info.plural, info.group)} "{name}" is forbidden: {exc}',
                                       name=name, group=info.group, kind=info.plural) from None
            if dry_run:
                return None
            failed: list[Obj] = []
            for current, used in zip(pending, new_used, strict=True):
                before = quota.used_of(current)
                if quota.equals(before, used):
                    continue
                try:
                    await self._write_used(current, used)
                except (errors.Conflict, errors.NotFound) as exc:
                    last_error = exc
                    failed.append(current)
                    continue
                charge.added[_name(current)] = quota.subtract_nonnegative(used, before)
            if not failed:
                return charge if charge.added else None
            # only the quotas whose write lost are checked again, on a fresh read
            pending = [q for q in [await self._fresh(namespace, _name(f)) for f in failed] if q is not None]
        await self.refund(charge)
        assert last_error is not None
        raise last_error

    def _freshest(self, cached: Obj) -> Obj:
        written = self._written.get(self._key(cached))
        if written is not None and _rv(written) > _rv(cached) and \
                (written.get("metadata") or {}).get("uid") == (cached.get("metadata") or {}).get("uid"):
            return written
        return cached

    @staticmethod
    def _key(q: Obj) -> str:
        md = q.get("metadata") or {}
        return f"{md.get('namespace')}/{md.get('name')}"

    async def _fresh(self, namespace: str, name: str) -> Obj | None:
        store = self.registry.by_plural("", "resourcequotas")
        if store is None:
            return None
        self._written.pop(f"{namespace}/{name}", None)
        try:
            return await store.get(namespace, name)
        except errors.NotFound:
            return None

    async def _write_used(self, current: Obj, used: quantity.ResourceList) -> Obj:
        store = self.registry.by_plural("", "resourcequotas")
        if store is None:
            raise errors.NotFound("resourcequotas are not served")
        md = current.get("metadata") or {}
        new = dict(current)
        new["metadata"] = dict(md)
        new["status"] = {**(current.get("status") or {}), "used": quantity.to_json(used)}
        written, _ = await store.update(md.get("namespace"), md.get("name", ""), new, requests.WriteOptions(),
                                        subresource="status")
        self._written[self._key(written)] = written
        return written

    async def refund(self, charge: Charge | None) -> None:
        """Take back what a write that did not happen was charged (best effort)."""
        if charge is None or not charge.added:
            return
        async with self._locks.setdefault(charge.namespace, asyncio.Lock()):
            for name, added in charge.added.items():
                for _attempt in range(ATTEMPTS):
                    current = next((self._freshest(q) for q in self.quotas(charge.namespace) if _name(q) == name),
                                   None)
                    if current is None:
                        break
                    used = quota.used_of(current)
                    back = {k: v for k, v in quota.subtract_nonnegative(used, added).items() if k in used}
                    try:
                        await self._write_used(current, back)
                        break
                    except errors.Conflict:
                        await self._fresh(charge.namespace, name)
                    except errors.StatusError as exc:
                        log.warning("quota refund failed quota=%s/%s error=%s", charge.namespace, name, exc)
                        break
