"""The watch cache: every object of every resource in memory, plus a window of recent events.

The API server serves lists, gets and watches from here instead of the datastore (as
upstream's cacher does). One storage watch on ``/registry/`` feeds the whole cache, so
the cache has a single revision that tells how far it has caught up with the store: a
consistent read waits until ``revision`` reaches the store's current revision (KEP-2340's
consistent reads from cache), which a per-resource watch could not tell.

Called by ``kubelite.apiserver.registry``; fed by ``WatchCache.run`` (a background task
started by the application).
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubelite.aio import tasks
from kubelite.api import errors
from kubelite.apiserver import managedfields
from kubelite.storage import errors as storage_errors
from kubelite.storage import interface as storage

log = logging.getLogger("kubelite.apiserver.watchcache")

REGISTRY_PREFIX = "/registry/"
# Events kept per resource for watches that resume from a resourceVersion. Upstream keeps
# ~100 and relies on etcd for older ones; kr8s resumes at old versions, so keep more.
DEFAULT_WINDOW = 20_000
# How long a read waits for the cache to reach the resourceVersion it asks for (upstream: 3 s).
FRESH_WAIT_SECONDS = 5.0
# A watcher this far behind is closed (upstream also terminates slow watchers); the client
# resumes from its last resourceVersion.
WATCHER_QUEUE_BOUND = 50_000


def _pod_node(pod: dict[str, Any]) -> str:
    return (pod.get("spec") or {}).get("nodeName") or ""


# (group, plural) → the selectable field whose required value indexes watchers, and how
# to read it from an object (upstream indexes pods by spec.nodeName the same way).
TRIGGERS: dict[tuple[str, str], tuple[str, Callable[[dict[str, Any]], str]]] = {
    ("", "pods"): ("spec.nodeName", _pod_node),
}


def decode(kv: storage.KeyValue, *, revision: int | None = None) -> dict[str, Any]:
    """A stored value as an API object, its resourceVersion taken from the store."""
    obj: dict[str, Any] = orjson.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision or kv.mod_revision)
    return obj


def resource_of(key: str) -> tuple[str, str] | None:
    """``/registry/apps/deployments/ns/x`` → (``apps``, ``deployments``)."""
    parts = key.split("/", 4)
    if len(parts) < 5 or parts[1] != "registry":
        return None
    group = parts[2]
    return ("" if group == "core" else group), parts[3]


@dataclass(slots=True)
class WatchEvent:
    """One change of one object, in API terms."""

    type: str  # ADDED | MODIFIED | DELETED
    obj: dict[str, Any]
    prev: dict[str, Any] | None
    revision: int
    key: str
    _raw: bytes | None = None
    _lean: bytes | None = None

    def raw_object(self) -> bytes:
        # Serialized once and shared by every watcher that gets the event unchanged.
        if self._raw is None:
            self._raw = orjson.dumps(self.obj)
        return self._raw

    def lean_object(self) -> bytes:
        """The object without its managedFields (``omitManagedFields``), also shared."""
        if self._lean is None:
            lean = managedfields.without(self.obj)
            self._lean = self.raw_object() if lean is self.obj else orjson.dumps(lean)
        return self._lean


Predicate = Callable[[dict[str, Any]], bool]


@dataclass(eq=False)
class Watcher:
    namespace: str | None
    predicate: Predicate | None
    queue: asyncio.Queue[WatchEvent | BaseException] = field(default_factory=asyncio.Queue)
    closed: bool = False
    # The value the resource's trigger field must have for this watcher's selector to
    # match (a node agent's ``spec.nodeName=<node>``), when the selector requires one.
    trigger: str | None = None
    # Events up to this revision are not for this watcher: it started from a
    # resourceVersion the cache had not reached yet (upstream skips them the same way).
    after: int = 0

    @classmethod
    def failed(cls, error: BaseException) -> Watcher:
        """A watcher that holds only ``error`` (upstream's errWatcher): its stream is one
        ERROR event. It is subscribed to nothing."""
        watcher = cls(namespace=None, predicate=None)
        watcher.queue.put_nowait(error)
        watcher.closed = True
        return watcher

    def matches(self, obj: dict[str, Any] | None, key: str, prefix_ns: str | None) -> bool:
        if obj is None:
            return False
        if prefix_ns is not None and not key.startswith(prefix_ns):
            return False
        return self.predicate is None or self.predicate(obj)

    def offer(self, event: WatchEvent, prefix_ns: str | None) -> None:
        """Deliver ``event`` as this watcher sees it through its selectors."""
        if event.revision <= self.after:
            return
        was = self.matches(event.prev, event.key, prefix_ns)
        now = event.type != "DELETED" and self.matches(event.obj, event.key, prefix_ns)
        if event.type == "DELETED":
            if was or self.matches(event.obj, event.key, prefix_ns):
                self._put(event)
        elif now and was:
            self._put(event)
        elif now:
            self._put(WatchEvent("ADDED", event.obj, None, event.revision, event.key, event._raw, event._lean))
        elif was:
            # The object stopped matching: to this watcher it is gone (upstream semantics).
            self._put(WatchEvent("DELETED", event.obj, None, event.revision, event.key, event._raw, event._lean))

    def _put(self, event: WatchEvent) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= WATCHER_QUEUE_BOUND:
            self.closed = True
            self.queue.put_nowait(errors.Expired("watcher fell too far behind; resume from the last resourceVersion"))
            return
        self.queue.put_nowait(event)


class ResourceCache:
    """Objects of one resource (``apps/deployments``) and its recent events."""

    def __init__(self, group: str, plural: str, *, window: int = DEFAULT_WINDOW) -> None:
        self.group = group
        self.plural = plural
        self.prefix = f"{REGISTRY_PREFIX}{group or 'core'}/{plural}/"
        self.objects: dict[str, dict[str, Any]] = {}
        self.events: collections.deque[WatchEvent] = collections.deque(maxlen=window)
        # Watches may resume from any revision > window_start without missing an event.
        self.window_start = 0
        self.watchers: set[Watcher] = set()
        # Watchers whose selector requires one value of the trigger field, by that value:
        # an event reaches only those keyed by its object's value before or after, as
        # upstream's watch cache triggers do (with a node agent per node, offering every
        # pod event to every agent would cost the loop O(nodes) per event).
        self.by_trigger: dict[str, set[Watcher]] = {}
        self.trigger_field, self.trigger_of = TRIGGERS.get((group, plural), (None, None))
        # Called synchronously with every applied event (the CRD manager registers
        # resources this way); a failing listener is logged, never breaks the cache.
        self.listeners: list[Callable[[WatchEvent], None]] = []
        self._sorted_keys: list[str] | None = None
        # Bumped whenever ``objects`` changes (an event, a load or a reload): derived
        # indexes (``NamespaceIndex``, the RBAC authorizer's) compare it to know they are stale.
        self.generation = 0

    def sorted_keys(self) -> list[str]:
        if self._sorted_keys is None:
            self._sorted_keys = sorted(self.objects)
        return self._sorted_keys

    def ns_prefix(self, namespace: str | None) -> str | None:
        return f"{self.prefix}{namespace}/" if namespace else None

    def apply(self, event: WatchEvent) -> None:
        self.generation += 1
        if event.type == "DELETED":
            if self.objects.pop(event.key, None) is not None:
                self._sorted_keys = None
        else:
            if event.key not in self.objects:
                self._sorted_keys = None
            self.objects[event.key] = event.obj
        if len(self.events) == self.events.maxlen:
            self.window_start = self.events[0].revision
        self.events.append(event)
        for watcher in list(self.watchers):
            watcher.offer(event, self.ns_prefix(watcher.namespace))
        if self.by_trigger:
            self._offer_triggered(event)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("watch cache listener failed resource=%s/%s", self.group, self.plural)

    def _offer_triggered(self, event: WatchEvent) -> None:
        assert self.trigger_of is not None
        value = self.trigger_of(event.obj)
        reached = list(self.by_trigger.get(value, ()))
        if event.prev is not None:
            before = self.trigger_of(event.prev)
            if before != value:
                reached += self.by_trigger.get(before, ())
        for watcher in reached:
            watcher.offer(event, self.ns_prefix(watcher.namespace))

    def all_watchers(self) -> list[Watcher]:
        return [*self.watchers, *(w for group in self.by_trigger.values() for w in group)]

    def iter_objects(self, namespace: str | None, *, start_key: str = "") -> Iterable[tuple[str, dict[str, Any]]]:
        prefix = self.ns_prefix(namespace) or self.prefix
        keys = self.sorted_keys()
        i = bisect.bisect_left(keys, max(prefix, start_key))
        objects = self.objects
        while i < len(keys):
            key = keys[i]
            if not key.startswith(prefix):
                break
            yield key, objects[key]
            i += 1

    def subscribe(self, *, namespace: str | None, predicate: Predicate | None,
                  since: int, revision: int, send_initial: bool, trigger: str | None = None) -> Watcher:
        """A watcher that first gets the history after ``since`` (or the current state).

        Replay and registration happen without an ``await`` in between, so no event can
        fall into a gap or arrive twice.
        """
        if self.trigger_of is None:
            trigger = None
        watcher = Watcher(namespace=namespace, predicate=predicate, trigger=trigger,
                          after=0 if send_initial else since)
        prefix_ns = self.ns_prefix(namespace)
        if send_initial:
            for key, obj in self.iter_objects(namespace):
                if watcher.matches(obj, key, prefix_ns):
                    watcher._put(WatchEvent("ADDED", obj, None, revision, key))
        else:
            if since < self.window_start:
                # Upstream's wording: the oldest version a watch may still resume from.
                raise errors.Expired(f"too old resource version: {since} ({self.window_start})")
            for event in self.events:
                if event.revision > since:
                    watcher.offer(event, prefix_ns)
        if watcher.trigger is None:
            self.watchers.add(watcher)
        else:
            self.by_trigger.setdefault(watcher.trigger, set()).add(watcher)
        return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        if watcher.trigger is None:
            self.watchers.discard(watcher)
            return
        group = self.by_trigger.get(watcher.trigger)
        if group is not None:
            group.discard(watcher)
            if not group:
                del self.by_trigger[watcher.trigger]


class NamespaceIndex:
    """The objects of one resource by namespace, for admission plugins that ask "what
    LimitRanges (ResourceQuotas) does this namespace have?" on every pod create: an O(1)
    dictionary lookup, rebuilt from the cache only after the resource changed (rare next
    to pod creates). What it answers is the cache as it is, as upstream's admission
    plugins read their informers."""

    def __init__(self, cache: ResourceCache) -> None:
        self.cache = cache
        self._generation = -1
        self._by_namespace: dict[str, list[dict[str, Any]]] = {}

    def get(self, namespace: str) -> list[dict[str, Any]]:
        if self._generation != self.cache.generation:
            by_namespace: dict[str, list[dict[str, Any]]] = {}
            for obj in self.cache.objects.values():
                ns = (obj.get("metadata") or {}).get("namespace") or ""
                by_namespace.setdefault(ns, []).append(obj)
            for objs in by_namespace.values():
                objs.sort(key=lambda o: str((o.get("metadata") or {}).get("name") or ""))
            self._by_namespace, self._generation = by_namespace, self.cache.generation
        return self._by_namespace.get(namespace) or []


class WatchCache:
    """All resource caches, fed from one storage watch."""

    def __init__(self, backend: storage.StorageBackend, *, window: int = DEFAULT_WINDOW) -> None:
        self.backend = backend
        self.window = window
        self.resources: dict[tuple[str, str], ResourceCache] = {}
        self.revision = 0
        self.ready = asyncio.Event()
        self._progress = asyncio.Condition()
        # key → (value bytes, object) of writes this server made: their events reuse the
        # object instead of decoding the bytes again (see ``hint``).
        self._hints: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self._hinting = getattr(backend, "hands_written_values_to_watch", False)
        self._tasks = tasks.TaskGroup("watchcache")

    def resource(self, group: str, plural: str) -> ResourceCache:
        cache = self.resources.get((group, plural))
        if cache is None:
            cache = self.resources[(group, plural)] = ResourceCache(group, plural, window=self.window)
            cache.window_start = self.revision
        return cache

    def hint(self, key: str, value: bytes, obj: dict[str, Any]) -> None:
        """``obj`` is being written as ``value`` under ``key``: when the store's event
        carries these very bytes (the embedded backend hands the written bytes object
        through), the cache takes ``obj`` instead of decoding them, ~10 µs per pod event.
        ``obj`` must not change after the write (the registry's contract: written and
        cached objects are never mutated, only copied). A backend that re-reads values
        (etcd) yields other bytes objects, so no hint is kept for it."""
        if self._hinting:
            self._hints[key] = (value, obj)

    def drop_hint(self, key: str, value: bytes) -> None:
        """The write of ``value`` failed: no event will carry it."""
        held = self._hints.get(key)
        if held is not None and held[0] is value:
            del self._hints[key]

    def _hinted(self, kv: storage.KeyValue) -> dict[str, Any] | None:
        # Any event for the key ends its hint: bytes that are not the hinted object (read
        # back from the log on a replay, or from etcd) mean the hint will never match, and
        # keeping it would hold every object a server ever wrote.
        held = self._hints.pop(kv.key, None)
        if held is None or held[0] is not kv.value:
            return None
        obj = held[1]
        obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
        return obj

    async def start(self) -> None:
        """Load every object, then follow the store from the revision the load read at."""
        revision = await self._load()
        self.revision = revision
        for cache in self.resources.values():
            cache.window_start = revision
            cache.generation += 1
        self._tasks.spawn(self._follow(revision + 1), name="follow")
        self.ready.set()

    async def _load(self) -> int:
        start_key, revision = "", 0
        while True:
            page = await self.backend.list(REGISTRY_PREFIX, start_key=start_key, limit=5000, revision=revision)
            revision = page.revision
            for kv in page.items:
                res = resource_of(kv.key)
                if res is not None:
                    self.resource(*res).objects[kv.key] = decode(kv)
            if not page.more or not page.items:
                return revision
            start_key = page.items[-1].key + "\x00"

    async def _follow(self, start: int) -> None:
        while True:
            try:
                async for batch in self.backend.watch(REGISTRY_PREFIX, start_revision=start):
                    for ev in batch:
                        self._dispatch(ev)
                        start = ev.revision + 1
                    if batch:
                        await self._advance(batch[-1].revision)
            except asyncio.CancelledError:
                raise
            except storage_errors.Compacted:
                # The store moved past us: reload everything (watchers must re-list).
                log.warning("watch cache fell behind compaction; reloading")
                await self._reload()
                start = self.revision + 1
            except Exception as exc:  # a broken store connection: retry after a pause
                log.error("watch cache stream failed error=%r", exc)
                await asyncio.sleep(0.5)

    async def _reload(self) -> None:
        for cache in self.resources.values():
            for watcher in cache.all_watchers():
                watcher._put(errors.Expired("the watch cache was reloaded; re-list"))
                watcher.closed = True
            cache.watchers.clear()
            cache.by_trigger.clear()
            cache.objects.clear()
            cache.generation += 1
            cache._sorted_keys = None
            cache.events.clear()
        self._hints.clear()
        revision = await self._load()
        for cache in self.resources.values():
            cache.window_start = revision
            cache.generation += 1
        await self._advance(revision)

    def _dispatch(self, ev: storage.Event) -> None:
        res = resource_of(ev.kv.key)
        if res is None:
            return
        cache = self.resource(*res)
        prev = cache.objects.get(ev.kv.key)
        if ev.type is storage.EventType.DELETE:
            if self._hints:
                self._hints.pop(ev.kv.key, None)
            obj = decode(ev.kv, revision=ev.revision)
            cache.apply(WatchEvent("DELETED", obj, prev, ev.revision, ev.kv.key))
        else:
            obj = self._hinted(ev.kv) if self._hints else None
            if obj is None:
                obj = decode(ev.kv)
            cache.apply(WatchEvent("MODIFIED" if prev is not None else "ADDED", obj, prev, ev.revision, ev.kv.key))

    async def _advance(self, revision: int) -> None:
        async with self._progress:
            self.revision = max(self.revision, revision)
            self._progress.notify_all()

    async def wait_for(self, revision: int, *, timeout: float | None = None) -> None:
        """Return once the cache has seen ``revision``; 504 Timeout past ``timeout``
        (``FRESH_WAIT_SECONDS``), as upstream's ``Too large resource version``."""
        if self.revision >= revision:
            return
        if timeout is None:
            timeout = FRESH_WAIT_SECONDS
        async with self._progress:
            try:
                await asyncio.wait_for(self._progress.wait_for(lambda: self.revision >= revision), timeout)
            except TimeoutError:
                raise errors.Timeout(
                    f"Too large resource version: {revision}, current: {self.revision}",
                    causes=[errors.Cause("ResourceVersionTooLarge", "Too large resource version")],
                    retry_after=1) from None

    async def wait_fresh(self) -> int:
        """Wait until the cache holds everything the store acknowledged; its revision."""
        current = await self.backend.current_revision()
        await self.wait_for(current)
        return self.revision

    async def close(self) -> None:
        await self._tasks.close()
