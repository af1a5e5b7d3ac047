"""Many updates of one resource at once, each with the semantics of its own request.

Called by ``bulk.Bulk`` for the scheduler's batched bindings. ``update_many`` gives each
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
        if step != "update":
            slow.append(i)
            continue
        value = registry_mod.encode_stored(new)
        cache.hint(key, value, new)
        started.append((i, key, new, value, _start_update(store, key, value, expected)))
    if started:
        outcomes = await asyncio.gather(*(f for *_, f in started), return_exceptions=True)
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
