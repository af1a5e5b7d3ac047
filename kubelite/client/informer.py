"""Informers: a live local copy of one resource, kept by list + watch, with change handlers.

Controllers, the scheduler and the node agent read the cluster through informers instead
of polling the API: an ``Informer`` lists the resource (in pages), then watches from the
list's resourceVersion with bookmarks, applies every event to a local cache, and calls
the registered handlers (``on_add``, ``on_update``, ``on_delete``). Like client-go's
reflector it re-lists when the server answers 410 (the watch fell out of history) and
reconnects with backoff after any other error, resuming from the last resourceVersion
it saw (bookmarks keep that fresh on quiet resources).

Handlers run in the informer's task in event order and should be quick: enqueue a key
on a ``WorkQueue`` and return. A failing handler is logged and does not stop the informer.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import inspect
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from kubelite.aio import tasks
from kubelite.client import errors, resources, rest

log = logging.getLogger("kubelite.client.informer")

Obj = dict[str, Any]
AddHandler = Callable[[Obj], Awaitable[None] | None]
UpdateHandler = Callable[[Obj, Obj], Awaitable[None] | None]
DeleteHandler = Callable[[Obj], Awaitable[None] | None]
IndexFunc = Callable[[Obj], "str | Iterable[str] | None"]


def key_of(obj: Obj) -> str:
    """``namespace/name``, or ``name`` for cluster-scoped objects (client-go's key format)."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name', '')}" if namespace else str(meta.get("name", ""))


def split_key(key: str) -> tuple[str | None, str]:
    """The inverse of ``key_of``: ``"ns/name"`` → ``("ns", "name")``, ``"n"`` → ``(None, "n")``."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else (None, namespace)


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


_ADD, _UPDATE, _DELETE = 0, 1, 2


class _Handlers:
    def __init__(self, on_add: AddHandler | None, on_update: UpdateHandler | None,
                 on_delete: DeleteHandler | None) -> None:
        self.on_add, self.on_update, self.on_delete = on_add, on_update, on_delete
        self.by_kind: tuple[Callable[..., Any] | None, ...] = (on_add, on_update, on_delete)


class Informer:
    """List + watch one resource into a cache, and tell handlers about every change."""

    def __init__(
        self,
        client: rest.Client,
        res: resources.ResourceLike,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float | None = None,
        page_size: int = 500,
        watch_timeout: float = 60.0,
        max_backoff: float = 5.0,
        strip_managed_fields: bool = False,
    ) -> None:
        self.client = client
        self.res = resources.as_resource(res)
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.page_size = page_size
        # Each watch asks the server to end it after watch_timeout..2*watch_timeout
        # (client-go: 5..10 min); a short window also bounds how long a silently dead
        # server can hold us, since the read timeout follows it.
        self.watch_timeout = watch_timeout
        self.max_backoff = max_backoff
        # As upstream's components (TransformStripManagedFields): what nobody here reads
        # is not kept in memory. A kubelite server is asked not to send them at all
        # (OMIT_MANAGED_FIELDS); any other drops them here, on arrival.
        self.strip_managed_fields = strip_managed_fields
        self.has_synced = asyncio.Event()
        self.resource_version = ""  # the newest revision we have seen (list, event, bookmark)
        self._cache: dict[str, Obj] = {}
        self._handlers: list[_Handlers] = []
        self._index_funcs: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        self._index_values: dict[str, dict[str, tuple[str, ...]]] = {}  # name → key → values
        self._tg: tasks.TaskGroup | None = None
        self._own_tasks: list[asyncio.Task[Any]] = []
        self.name = f"informer/{self.res}" + (f"/{namespace}" if namespace else "")

    # --- registration -----------------------------------------------------------------

    def add_handler(self, *, on_add: AddHandler | None = None, on_update: UpdateHandler | None = None,
                    on_delete: DeleteHandler | None = None) -> None:
        """Register handlers (sync or async). Added after sync, the handler is first told
        about every cached object through ``on_add``, as client-go does."""
        handlers = _Handlers(on_add, on_update, on_delete)
        self._handlers.append(handlers)
        if self._cache and on_add is not None and self._tg is not None:
            objs = list(self._cache.values())

            async def replay() -> None:
                for obj in objs:
                    await self._call(on_add, obj)

            self._own_tasks.append(self._tg.spawn(replay(), name=f"{self.name}/replay"))

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Index cached objects by ``fn(obj)`` (a value, several, or None), e.g. pods by
        ``spec.nodeName``; query with ``by_index(name, value)``."""
        self._index_funcs[name] = fn
        self._indices[name] = {}
        self._index_values[name] = {}
        for key, obj in self._cache.items():
            self._index_one(name, key, obj)

    # --- reading the cache ------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        return self._cache.get(key)

    def list(self) -> builtins.list[Obj]:
        return list(self._cache.values())

    def keys(self) -> builtins.list[str]:
        return list(self._cache)

    def __len__(self) -> int:
        return len(self._cache)

    def by_index(self, name: str, value: str) -> builtins.list[Obj]:
        keys = self._indices[name].get(value, set())
        return [self._cache[k] for k in sorted(keys) if k in self._cache]

    def index_keys(self, name: str, value: str) -> builtins.list[str]:
        return sorted(self._indices[name].get(value, set()))

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait for the first complete list; False if ``timeout`` passed first."""
        try:
            await asyncio.wait_for(self.has_synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # --- lifecycle --------------------------------------------------------------------

    def start(self, tg: tasks.TaskGroup) -> None:
        """Run the list/watch loop (and the resync loop) as tasks of ``tg``."""
        if self._own_tasks:
            raise RuntimeError(f"{self.name} already started")
        self._tg = tg
        self._own_tasks.append(tg.spawn(self.run(), name=self.name))
        if self.resync_period:
            self._own_tasks.append(tg.spawn(self._resync_loop(self.resync_period),
                                            name=f"{self.name}/resync"))

    async def stop(self) -> None:
        tasks_, self._own_tasks = self._own_tasks, []
        for task in tasks_:
            task.cancel()
        if tasks_:
            await asyncio.wait(tasks_)
        self._tg = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Informer]:
        """``async with informer.running():`` — started on entry, stopped on exit."""
        tg = tasks.TaskGroup(self.name)
        self.start(tg)
        try:
            yield self
        finally:
            await self.stop()
            await tg.close()

    # --- the reflector loop -----------------------------------------------------------

    async def run(self) -> None:
        """List, then watch for ever; re-list on 410, back off and resume on other errors."""
        need_list = True
        delay = 0.0
        expired_in_a_row = 0
        while True:
            try:
                if need_list:
                    await self._list_and_replace()
                    need_list = False
                started = asyncio.get_running_loop().time()
                events = await self._watch_once()
                expired_in_a_row = 0
                if events or asyncio.get_running_loop().time() - started > 1.0:
                    delay = 0.0  # a watch that ran its course: the server is healthy
                else:
                    # Closed at once with nothing in it: do not spin against that server.
                    delay = min(self.max_backoff, delay * 2 if delay else 0.2)
                    await asyncio.sleep(delay)
            except asyncio.CancelledError:
                raise
            except errors.Gone as exc:
                # Our resourceVersion fell out of the server's history: only a fresh list
                # can tell us what we missed. The first 410 is an answer, not a failure, so
                # re-list at once; a server that 410s even a fresh list gets backoff.
                log.info("watch expired, re-listing informer=%s rv=%s error=%s",
                         self.name, self.resource_version, exc.message)
                need_list = True
                expired_in_a_row += 1
                if expired_in_a_row > 1:
                    delay = min(self.max_backoff, delay * 2 if delay else 0.2)
                    await asyncio.sleep(delay)
            except Exception as exc:  # noqa: BLE001 - any failure: back off and resume, never die
                delay = min(self.max_backoff, delay * 2 if delay else 0.2)
                log.warning("list/watch failed informer=%s rv=%s retry_in=%.1fs error=%s",
                            self.name, self.resource_version, delay, exc)
                await asyncio.sleep(delay * (1 + random.random() * 0.2))

    async def _list_and_replace(self) -> None:
        listed = await self.client.list_all(
            self.res, namespace=self.namespace, label_selector=self.label_selector,
            field_selector=self.field_selector, page_size=self.page_size,
            omit_managed_fields=self.strip_managed_fields)
        fresh: dict[str, Obj] = {}
        for item in listed.get("items") or []:
            # Lists omit each item's kind/apiVersion; handlers expect whole objects.
            item.setdefault("apiVersion", self.res.api_version)
            if self.res.kind:
                item.setdefault("kind", self.res.kind)
            if self.strip_managed_fields:
                (item.get("metadata") or {}).pop("managedFields", None)
            fresh[key_of(item)] = item
        old = self._cache
        self._cache = {}
        for name in self._indices:
            self._indices[name] = {}
            self._index_values[name] = {}
        self.resource_version = str((listed.get("metadata") or {}).get("resourceVersion") or "")
        # Deletions we missed while not watching come first, then adds and changes.
        for key, obj in old.items():
            if key not in fresh:
                await self._dispatch_delete(obj)
        for key, obj in fresh.items():
            self._store(key, obj)
            previous = old.get(key)
            if previous is None:
                await self._dispatch_add(obj)
            elif _rv(previous) != _rv(obj):
                await self._dispatch_update(previous, obj)
        if not self.has_synced.is_set():
            log.info("informer synced informer=%s objects=%d rv=%s",
                     self.name, len(self._cache), self.resource_version)
            self.has_synced.set()

    async def _watch_once(self) -> int:
        """Watch until the server ends the stream; returns how many events arrived."""
        count = 0
        timeout = int(self.watch_timeout * (1 + random.random()))
        # In batches (the events of one chunk read): one generator step per chunk.
        stream = self.client.watch_batches(
            self.res, namespace=self.namespace, resource_version=self.resource_version or None,
            label_selector=self.label_selector, field_selector=self.field_selector,
            timeout_seconds=timeout, allow_bookmarks=True, omit_managed_fields=self.strip_managed_fields)
        async with contextlib.aclosing(stream) as batches:
            async for batch in batches:
                for event in batch:
                    count += 1
                    pending = self._apply_now(event)
                    if pending is not None:
                        await pending
        return count

    async def _apply(self, event: dict[str, Any]) -> None:
        pending = self._apply_now(event)
        if pending is not None:
            await pending

    def _apply_now(self, event: dict[str, Any]) -> Awaitable[None] | None:
        """Apply one event and call the handlers; what is left to await when a handler
        is async (then it and the handlers after it finish there, in order). Runs for
        every event a busy informer sees (thousands a second): no coroutine per event
        unless a handler needs one, and the metadata read once."""
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            return None
        meta = obj.get("metadata") or {}
        if self.strip_managed_fields:
            meta.pop("managedFields", None)
        rv = str(meta.get("resourceVersion") or "")
        if kind == "BOOKMARK":
            if rv:
                self.resource_version = rv
            return None
        res = self.res
        if "apiVersion" not in obj:
            obj["apiVersion"] = res.api_version
        if res.kind and "kind" not in obj:
            obj["kind"] = res.kind
        namespace = meta.get("namespace")
        key = f"{namespace}/{meta.get('name', '')}" if namespace else str(meta.get("name", ""))
        if kind == "ADDED" or kind == "MODIFIED":
            previous = self._cache.get(key)
            self._cache[key] = obj
            if self._index_funcs:
                for name in self._index_funcs:
                    self._index_one(name, key, obj)
            if rv:
                self.resource_version = rv
            if previous is None:
                return self._notify(_ADD, (obj,))
            return self._notify(_UPDATE, (previous, obj))
        if kind == "DELETED":
            previous = self._cache.get(key)
            if rv:
                self.resource_version = rv
            if previous is not None:
                self._remove(key)
            return self._notify(_DELETE, (obj,))
        log.warning("unknown watch event informer=%s type=%s", self.name, kind)
        return None

    def _notify(self, which: int, args: tuple[Obj, ...]) -> Awaitable[None] | None:
        """Call handler ``which`` (_ADD, _UPDATE, _DELETE) of every registration, in
        order; synchronous ones right here."""
        handlers = tuple(self._handlers)
        for i, h in enumerate(handlers):
            fn = h.by_kind[which]
            if fn is not None:
                pending = self._start(fn, *args)
                if pending is not None:
                    return self._notify_rest(fn, pending, handlers[i + 1:], which, args)
        return None

    async def _notify_rest(self, fn: Callable[..., Any], pending: Awaitable[Any], rest_: tuple[_Handlers, ...],
                           which: int, args: tuple[Obj, ...]) -> None:
        await self._finish(fn, pending, args[-1])
        for h in rest_:
            later = h.by_kind[which]
            if later is not None:
                await self._call(later, *args)

    async def _resync_loop(self, period: float) -> None:
        """Re-deliver every cached object as ``on_update(obj, obj)`` each period, so a
        controller that dropped an event still converges (client-go's resync)."""
        while True:
            await asyncio.sleep(period)
            if not self.has_synced.is_set():
                continue
            for obj in list(self._cache.values()):
                await self._dispatch_update(obj, obj)

    # --- cache and indices ------------------------------------------------------------

    def _store(self, key: str, obj: Obj) -> None:
        self._cache[key] = obj
        for name in self._index_funcs:
            self._index_one(name, key, obj)

    def _remove(self, key: str) -> None:
        self._cache.pop(key, None)
        for name in self._index_funcs:
            self._unindex(name, key)

    def _index_one(self, name: str, key: str, obj: Obj) -> None:
        self._unindex(name, key)
        try:
            raw = self._index_funcs[name](obj)
        except Exception as exc:  # noqa: BLE001 - a bad index function must not stop the informer
            log.warning("index function failed informer=%s index=%s key=%s error=%r",
                        self.name, name, key, exc)
            return
        if raw is None:
            return
        values = (raw,) if isinstance(raw, str) else tuple(raw)
        self._index_values[name][key] = values
        index = self._indices[name]
        for value in values:
            index.setdefault(value, set()).add(key)

    def _unindex(self, name: str, key: str) -> None:
        index = self._indices[name]
        for value in self._index_values[name].pop(key, ()):
            keys = index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[value]

    # --- handlers ---------------------------------------------------------------------

    def _failed(self, fn: Callable[..., Any], obj: Obj, exc: Exception) -> None:
        log.error("informer handler failed informer=%s handler=%s key=%s error=%r",
                  self.name, getattr(fn, "__qualname__", fn), key_of(obj), exc, exc_info=exc)

    def _start(self, fn: Callable[..., Any], *args: Any) -> Awaitable[Any] | None:
        """Call a handler; what is left to await if it is async. Synchronous handlers
        (the usual kind) cost a plain call: no coroutine per event."""
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - a failing handler must not stop the informer
            self._failed(fn, args[-1], exc)
            return None
        return result if result is not None and inspect.isawaitable(result) else None

    async def _finish(self, fn: Callable[..., Any], pending: Awaitable[Any], obj: Obj) -> None:
        try:
            await pending
        except Exception as exc:  # noqa: BLE001 - a failing handler must not stop the informer
            self._failed(fn, obj, exc)

    async def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        pending = self._start(fn, *args)
        if pending is not None:
            await self._finish(fn, pending, args[-1])

    async def _dispatch_add(self, obj: Obj) -> None:
        for h in tuple(self._handlers):
            if h.on_add is not None:
                pending = self._start(h.on_add, obj)
                if pending is not None:
                    await self._finish(h.on_add, pending, obj)

    async def _dispatch_update(self, old: Obj, new: Obj) -> None:
        for h in tuple(self._handlers):
            if h.on_update is not None:
                pending = self._start(h.on_update, old, new)
                if pending is not None:
                    await self._finish(h.on_update, pending, new)

    async def _dispatch_delete(self, obj: Obj) -> None:
        for h in tuple(self._handlers):
            if h.on_delete is not None:
                pending = self._start(h.on_delete, obj)
                if pending is not None:
                    await self._finish(h.on_delete, pending, obj)
