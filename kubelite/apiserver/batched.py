"""Many writes of one resource at once, each with the semantics of its own request.

Called by ``bulk.Bulk`` for the scheduler's batched bindings and Events. ``update_many``
(and ``create_many`` likewise for ``Store.create``) gives each
item exactly what ``registry.Store.patch`` would (the same preparation, validation,
revision check, watch event and answer), but runs the common case without an asyncio
task per item: every item is prepared synchronously against the watch cache's object,
its storage write started at once (``start_update`` of the embedded backend queues it
and returns a future), and all the futures are awaited together. A thousand bindings
then cost one gather instead of a thousand tasks, each resumed through six nested
coroutines (measured: ~60 µs of the event loop per binding, most of it this machinery).

Whatever the fast path cannot decide on its own goes through ``Store.patch`` as before:
an object missing from the cache, a mutation that refuses (it may be a stale cache: the
refusal is decided again on a fresh read), a no-op, a dry run, a revision conflict.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubelite.api import errors
from kubelite.storage import errors as storage_errors

if TYPE_CHECKING:
    from kubelite.apiserver import registry, requests

Obj = dict[str, Any]
# (namespace, name, mutation): the mutation gets a copy of the current object and returns
# the new one, synchronously.
Update = tuple[str | None, str, Callable[[Obj], Obj]]


async def update_many(store: registry.Store, items: list[Update], opts: requests.WriteOptions, *,
                      subresource: str, copy: Callable[[Obj], Obj]) -> list[Obj | errors.StatusError]:
    """Each item's answer, in order: the stored object or the refusal its request gets."""
    from kubelite.apiserver import registry as registry_mod

    results: list[Obj | errors.StatusError | None] = [None] * len(items)
    slow: list[int] = []
    started: list[tuple[int, str, Obj, bytes, asyncio.Future[Any]]] = []
    cache = store.registry.cache
    for i, (namespace, name, mutate) in enumerate(items):
        key = store.info.key(namespace, name)
        current = store.cache.objects.get(key)
        if current is None or opts.dry_run:
            slow.append(i)
            continue
        try:
            new = store.strategy.to_internal(mutate(copy(current)))
            store._check_identity(new, namespace)
            if new["metadata"].get("name", name) != name or \
                    new["metadata"].get("resourceVersion") != current["metadata"].get("resourceVersion"):
                slow.append(i)  # a rename or a precondition: the full path says what it means
                continue
            step, new, key, expected = store._prepare_update(namespace, name, new, current, opts,
                                                             subresource=subresource, confirm_noop=True)
        except errors.StatusError:
            slow.append(i)  # perhaps a stale cache: decided on a fresh read
            continue
        if step != "update" or (not subresource and store.registry.quota.quotas(namespace or "")):
            slow.append(i)  # nothing to write, or quota admission to charge it on the full path
            continue
        value = registry_mod.encode_stored(new)
        cache.hint(key, value, new)
        started.append((i, key, new, value, _start_update(store, key, value, expected)))
    if started:
        outcomes = await _outcomes([f for *_, f in started])
        for (i, key, new, value, _), outcome in zip(started, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                cache.drop_hint(key, value)
                slow.append(i)  # a conflict or a failure: the full path retries or reports it
            else:
                new["metadata"]["resourceVersion"] = str(outcome)
                results[i] = new
    if slow:
        answers = await asyncio.gather(*(_one(store, items[i], opts, subresource=subresource, copy=copy)
                                         for i in slow))
        for i, answer in zip(slow, answers, strict=True):
            results[i] = answer
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


async def create_many(store: registry.Store, items: list[tuple[str | None, Obj]],
                      opts: requests.WriteOptions) -> list[Obj | errors.StatusError]:
    """Each item's answer, in order: the created object or the refusal its request gets.
    The fast path takes resources without create admission, in namespaces the cache
    holds, that are not terminating and have no ResourceQuota; the rest goes through
    ``Store.create``."""
    from kubelite.apiserver import registry as registry_mod
    from kubelite.apiserver.strategies import base

    results: list[Obj | errors.StatusError | None] = [None] * len(items)
    slow: list[int] = []
    started: list[tuple[int, str, Obj, bytes, asyncio.Future[Any]]] = []
    fast = not opts.dry_run and type(store.strategy).admit_create is base.Strategy.admit_create
    cache = store.registry.cache
    open_namespaces: dict[str, bool] = {}
    for i, (namespace, obj) in enumerate(items):
        if not fast:
            slow.append(i)
            continue
        try:
            obj = store._prepare_create(namespace, obj)
        except errors.StatusError as exc:
            results[i] = exc  # refused for what it is, whatever the cache holds
            continue
        md = obj["metadata"]
        if store.info.namespaced:
            namespace = md["namespace"]
            is_open = open_namespaces.get(namespace)
            if is_open is None:  # a batch's items are mostly in one namespace: looked up once
                is_open = open_namespaces[namespace] = _namespace_open(store, namespace)
            if not is_open:
                slow.append(i)  # unknown to the cache yet, or terminating: the full check answers
                continue
            if store.registry.quota.quotas(namespace):
                slow.append(i)  # quota admission charges it on the full path
                continue
        store._record_manager(obj, None, opts)
        key = store.info.key(md.get("namespace"), md["name"])
        value = registry_mod.encode_stored(obj)
        cache.hint(key, value, obj)
        started.append((i, key, obj, value, _start_create(store, key, value)))
        items[i] = (namespace, obj)
    if started:
        outcomes = await _outcomes([f for *_, f in started])
        for (i, key, obj, value, _), outcome in zip(started, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                cache.drop_hint(key, value)
                if isinstance(outcome, storage_errors.KeyExists):
                    results[i] = store._exists(obj["metadata"]["name"])
                else:
                    raise outcome  # as the one-by-one path would: the bulk request fails
            else:
                obj["metadata"]["resourceVersion"] = str(outcome)
                results[i] = obj
    if slow:
        answers = await asyncio.gather(*(_one_create(store, items[i], opts) for i in slow))
        for i, answer in zip(slow, answers, strict=True):
            results[i] = answer
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


async def _outcomes(futures: list[asyncio.Future[Any]]) -> list[Any]:
    """Each future's result or exception, in order. Awaited one after the other: they
    resolve a group commit at a time, so this suspends once per commit, where ``gather``
    would add a callback and its bookkeeping to every future."""
    outcomes: list[Any] = []
    for future in futures:
        try:
            outcomes.append(await future)
        except Exception as exc:  # noqa: BLE001 -- handed back as the item's outcome
            outcomes.append(exc)
    return outcomes


def _namespace_open(store: registry.Store, namespace: str) -> bool:
    ns_store = store.registry.by_plural("", "namespaces")
    if ns_store is None:
        return True
    ns = ns_store.cache.objects.get(ns_store.info.key(None, namespace))
    return ns is not None and not (ns.get("metadata", {}).get("deletionTimestamp")
                                   or ns.get("status", {}).get("phase") == "Terminating")


def _start_create(store: registry.Store, key: str, value: bytes) -> asyncio.Future[Any]:
    start = getattr(store.backend, "start_create", None)
    if start is not None:
        future: asyncio.Future[Any] = start(key, value)
        return future
    return asyncio.ensure_future(store.backend.create(key, value))


async def _one_create(store: registry.Store, item: tuple[str | None, Obj],
                      opts: requests.WriteOptions) -> Obj | errors.StatusError:
    try:
        return await store.create(item[0], item[1], opts)
    except errors.StatusError as exc:
        return exc


def _start_update(store: registry.Store, key: str, value: bytes, expected: int) -> asyncio.Future[Any]:
    start = getattr(store.backend, "start_update", None)
    if start is not None:
        future: asyncio.Future[Any] = start(key, value, expected_revision=expected)
        return future
    return asyncio.ensure_future(store.backend.update(key, value, expected_revision=expected))


async def _one(store: registry.Store, item: Update, opts: requests.WriteOptions, *, subresource: str,
               copy: Callable[[Obj], Obj]) -> Obj | errors.StatusError:
    namespace, name, mutate = item
    try:
        return await store.patch(namespace, name, mutate, opts, subresource=subresource, copy=copy)
    except errors.StatusError as exc:
        return exc
