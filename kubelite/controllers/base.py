"""What every controller shares: the ``Controller`` skeleton (informer → work queue →
``reconcile(key)``), shared informers, expectations, events, and small object helpers
(owner references, selectors, conditions, pod readiness, times).

Called by every module in ``kubelite.controllers``; the manager builds one
``SharedInformers`` and hands it to each controller, so N controllers watching pods cost
one watch and one cache.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import logging
import time
from collections.abc import Iterable
from typing import Any

import orjson

from kubelite.aio import tasks
from kubelite.api import selectors
from kubelite.client import errors, informer, resources, rest, workqueue

log = logging.getLogger("kubelite.controllers")

Obj = dict[str, Any]

# --- objects ---------------------------------------------------------------------------


def copy(obj: Obj) -> Obj:
    """A deep copy (informer caches are shared: never mutate what they hold)."""
    result: Obj = orjson.loads(orjson.dumps(obj))
    return result


def meta(obj: Obj) -> Obj:
    m: Obj = obj.get("metadata") or {}
    return m


def name_of(obj: Obj) -> str:
    return str(meta(obj).get("name") or "")


def ns_of(obj: Obj) -> str:
    return str(meta(obj).get("namespace") or "")


def uid_of(obj: Obj) -> str:
    return str(meta(obj).get("uid") or "")


def generation_of(obj: Obj) -> int:
    """``metadata.generation``: what a condition written now records as its
    ``observedGeneration`` (pods too, since upstream's pod generation tracking, 1.35)."""
    return int(meta(obj).get("generation") or 0)


def labels_of(obj: Obj) -> dict[str, str]:
    labels: dict[str, str] = meta(obj).get("labels") or {}
    return labels


def annotations_of(obj: Obj) -> dict[str, str]:
    ann: dict[str, str] = meta(obj).get("annotations") or {}
    return ann


def deleting(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def controller_ref(obj: Obj) -> Obj | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_reference(owner: Obj, *, kind: str, api_version: str, block: bool = True) -> Obj:
    """The controller reference a controller puts on what it creates."""
    return {"apiVersion": api_version, "kind": kind, "name": name_of(owner),
            "uid": uid_of(owner), "controller": True, "blockOwnerDeletion": block}


def selector_of(obj: Obj) -> selectors.LabelSelector:
    """``spec.selector`` as a matcher; a missing or empty selector matches nothing (as
    workload controllers treat it, unlike list selectors)."""
    sel = (obj.get("spec") or {}).get("selector")
    if not sel or (not sel.get("matchLabels") and not sel.get("matchExpressions")):
        return selectors.LabelSelector.match_nothing()
    return selectors.from_selector_dict(sel)


def error_message(exc: BaseException) -> str:
    """What an event says of a failed request: the API's message alone (``pods "x" is
    forbidden: …``), as Go's ``err.Error()`` of a status error, without our code prefix."""
    return exc.message if isinstance(exc, errors.ApiError) else str(exc)


# --- time ------------------------------------------------------------------------------


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def fmt_time(when: datetime.datetime | None = None) -> str:
    """RFC 3339 with second precision, as metav1.Time serializes."""
    return (when or now()).astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        return None


def zeroless(value: Any) -> Any:
    """``value`` without its zero members (0, "", False, None, empty lists and maps), at
    any depth: a status as the server stores it, since Go's ``omitempty`` drops them, for
    comparing with one a controller computed (else every sync writes a status that
    changes nothing)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = zeroless(v)
            if v not in (0, "", None) and v != {} and v != [] and v is not False:
                out[k] = v
        return out
    if isinstance(value, list):
        return [zeroless(v) for v in value]
    return value


# --- conditions ------------------------------------------------------------------------


def get_condition(status: Obj | None, ctype: str) -> Obj | None:
    for cond in (status or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def set_condition(status: Obj, cond: Obj, *, keep_transition_if_same: bool = True) -> None:
    """Put ``cond`` into ``status.conditions``; when its status did not change the old
    lastTransitionTime stays (a condition's age is how long it has held)."""
    conds: list[Obj] = list(status.get("conditions") or [])
    for i, old in enumerate(conds):
        if old.get("type") == cond.get("type"):
            if keep_transition_if_same and old.get("status") == cond.get("status") \
                    and old.get("lastTransitionTime"):
                cond["lastTransitionTime"] = old["lastTransitionTime"]
            conds[i] = cond
            break
    else:
        conds.append(cond)
    status["conditions"] = conds


def remove_condition(status: Obj, ctype: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != ctype]


# --- pods ------------------------------------------------------------------------------


def pod_active(pod: Obj) -> bool:
    """Counts toward a controller's replicas: not finished and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not deleting(pod)


def pod_ready(pod: Obj) -> bool:
    cond = get_condition(pod.get("status"), "Ready")
    return bool(cond and cond.get("status") == "True")


def pod_available(pod: Obj, *, min_ready_seconds: int, at: datetime.datetime | None = None) -> bool:
    """Ready for at least ``min_ready_seconds`` (measured from the Ready condition's
    lastTransitionTime, as upstream's IsPodAvailable)."""
    cond = get_condition(pod.get("status"), "Ready")
    if not cond or cond.get("status") != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time(cond.get("lastTransitionTime"))
    if since is None:
        return False
    return (at or now()) - since >= datetime.timedelta(seconds=min_ready_seconds)


def available_in(pod: Obj, *, min_ready_seconds: int) -> float | None:
    """Seconds until a ready pod becomes available (None: not ready, or already there)."""
    cond = get_condition(pod.get("status"), "Ready")
    if min_ready_seconds <= 0 or not cond or cond.get("status") != "True":
        return None
    since = parse_time(cond.get("lastTransitionTime"))
    if since is None:
        return None
    left = min_ready_seconds - (now() - since).total_seconds()
    return left if left > 0 else None


# --- shared informers ------------------------------------------------------------------


def _owner_uids(obj: Obj) -> list[str]:
    return [str(r.get("uid")) for r in meta(obj).get("ownerReferences") or [] if r.get("uid")]


def _controller_uid(obj: Obj) -> str | None:
    ref = controller_ref(obj)
    return str(ref["uid"]) if ref and ref.get("uid") else None


def _namespace(obj: Obj) -> str | None:
    return meta(obj).get("namespace") or None


def _orphan_namespace(obj: Obj) -> str | None:
    return None if controller_ref(obj) is not None or deleting(obj) else _namespace(obj)


def _node_name(obj: Obj) -> str | None:
    return (obj.get("spec") or {}).get("nodeName") or None


class SharedInformers:
    """One informer per resource for the whole manager, each with the indices
    ``namespace``, ``owner`` (every owner uid) and ``controller`` (the controller's
    uid); pods are also indexed by ``node``."""

    def __init__(self, client: rest.Client) -> None:
        self.client = client
        self._informers: dict[tuple[resources.Resource, str | None], informer.Informer] = {}
        self._started = False

    def get(self, res: resources.Resource, *, field_selector: str | None = None) -> informer.Informer:
        """The informer of ``res``; with ``field_selector``, one of only the objects it
        selects (a controller that cares about one name need not cache every object)."""
        inf = self._informers.get((res, field_selector))
        if inf is None:
            if self._started:
                raise RuntimeError(f"informer for {res} requested after start")
            inf = informer.Informer(self.client, res, page_size=1000, watch_timeout=300.0,
                                    field_selector=field_selector, strip_managed_fields=True)
            inf.add_index("namespace", _namespace)
            inf.add_index("owner", _owner_uids)
            inf.add_index("controller", _controller_uid)
            if res == resources.PODS:
                inf.add_index("node", _node_name)
                # Pods no controller owns, by namespace: what adoption looks at.
                inf.add_index("orphan", _orphan_namespace)
            self._informers[(res, field_selector)] = inf
        return inf

    def all(self) -> list[informer.Informer]:
        return list(self._informers.values())

    def start(self, tg: tasks.TaskGroup) -> None:
        self._started = True
        for inf in self._informers.values():
            inf.start(tg)

    async def wait_synced(self) -> None:
        await asyncio.gather(*(inf.wait_synced() for inf in self._informers.values()))


# --- expectations ----------------------------------------------------------------------


class Expectations:
    """client-go's ControllerExpectations: after creating or deleting pods, a controller
    waits until its informer has seen those changes before counting again, or it would
    create the same replicas twice. Expectations expire (a lost event must not wedge a
    controller for ever): 30 s here, 5 min upstream."""

    TTL = 30.0

    def __init__(self) -> None:
        self._adds: dict[str, int] = {}
        self._dels: dict[str, set[str]] = {}
        self._at: dict[str, float] = {}

    def expect(self, key: str, *, adds: int = 0, deletes: Iterable[str] = ()) -> None:
        self._adds[key] = self._adds.get(key, 0) + adds
        self._dels.setdefault(key, set()).update(deletes)
        self._at[key] = time.monotonic()

    def created(self, key: str) -> None:
        if key in self._adds:
            self._adds[key] -= 1

    def creation_failed(self, key: str, count: int = 1) -> None:
        if key in self._adds:
            self._adds[key] -= count

    def deleted(self, key: str, pod_key: str) -> None:
        dels = self._dels.get(key)
        if dels is not None:
            dels.discard(pod_key)

    def satisfied(self, key: str) -> bool:
        if key not in self._at:
            return True
        if self._adds.get(key, 0) <= 0 and not self._dels.get(key):
            return True
        return time.monotonic() - self._at[key] > self.TTL

    def forget(self, key: str) -> None:
        self._adds.pop(key, None)
        self._dels.pop(key, None)
        self._at.pop(key, None)


# --- events ----------------------------------------------------------------------------


class _Seen:
    """What the recorder remembers of one event it wrote, to count repeats on it."""

    __slots__ = ("name", "namespace", "count", "first")

    def __init__(self, name: str, namespace: str, first: str) -> None:
        self.name, self.namespace, self.count, self.first = name, namespace, 1, first


class Recorder:
    """Kubernetes Events for ``kubectl describe``; best effort, never blocks a reconcile.

    As upstream's event correlator (client-go ``tools/record``): an event written again
    within ``WINDOW`` (same object, type, reason and message) counts on the first one
    (``count``, ``lastTimestamp``) instead of making another; and once ``AGGREGATE``
    different messages of one object and reason came within the window ("Created pod:
    a", "Created pod: b", …), the next ones count on a single event whose message is
    ``(combined from similar events): <the latest>``. Memory is bounded (``KEPT`` keys).
    """

    WINDOW = 600.0
    AGGREGATE = 10
    KEPT = 4096
    COMBINED = "(combined from similar events): "

    def __init__(self, client: rest.Client, tg: tasks.TaskGroup, *, component: str) -> None:
        self.client = client
        self.tg = tg
        self.component = component
        self._inflight = 0
        # (object, type, reason[, message]) → the event written for it, oldest first
        self._written: collections.OrderedDict[tuple[str, ...], tuple[float, _Seen]] = collections.OrderedDict()
        # (object, type, reason) → (window start, messages seen in it)
        self._similar: collections.OrderedDict[tuple[str, ...], tuple[float, set[str]]] = collections.OrderedDict()

    def _remember(self, table: collections.OrderedDict[tuple[str, ...], Any], key: tuple[str, ...],
                  value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.KEPT:
            table.popitem(last=False)

    def event(self, obj: Obj, *, type_: str, reason: str, message: str) -> None:
        if self._inflight > 200:  # a storm of events must not compete with real work
            return
        m = meta(obj)
        now = time.monotonic()
        similar_key = (str(m.get("namespace") or ""), str(obj.get("kind") or ""), str(m.get("name") or ""),
                       str(m.get("uid") or ""), type_, reason)
        since, messages = self._similar.get(similar_key) or (now, set())
        if now - since > self.WINDOW:
            since, messages = now, set()
        messages.add(message)
        self._remember(self._similar, similar_key, (since, messages))
        key: tuple[str, ...] = similar_key
        if len(messages) > self.AGGREGATE:
            message = self.COMBINED + message
        else:
            key = (*similar_key, message)
        held = self._written.get(key)
        stamp = fmt_time()
        if held is not None and now - held[0] <= self.WINDOW:
            seen = held[1]
            seen.count += 1
            self._remember(self._written, key, (held[0], seen))
            self._inflight += 1
            self.tg.spawn(self._count(seen, seen.count, stamp, message), name=f"event/{reason}")
            return
        ev: Obj = {
            "apiVersion": "v1", "kind": "Event",
            # <object>.<hex nanoseconds>, as upstream's recorder names events.
            "metadata": {"name": f"{m.get('name', 'x')}.{time.time_ns():x}",
                         "namespace": m.get("namespace") or "default"},
            "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                               "name": m.get("name"), "namespace": m.get("namespace"),
                               "uid": m.get("uid"), "resourceVersion": m.get("resourceVersion")},
            "reason": reason, "message": message, "type": type_,
            "source": {"component": self.component},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": self.component,
        }
        self._remember(self._written, key, (now, _Seen(ev["metadata"]["name"], ev["metadata"]["namespace"], stamp)))
        self._inflight += 1
        self.tg.spawn(self._send(ev), name=f"event/{reason}")

    async def _send(self, ev: Obj) -> None:
        try:
            await self.client.create(resources.EVENTS, ev)
        except errors.ApiError as exc:
            log.debug("event not recorded reason=%s error=%s", ev.get("reason"), exc)
        finally:
            self._inflight -= 1

    async def _count(self, seen: _Seen, count: int, stamp: str, message: str) -> None:
        """One more of an event already written: its count and last time (and, for a
        combined one, the latest message) go onto it."""
        try:
            await self.client.patch(resources.EVENTS, seen.name, {
                "count": count, "lastTimestamp": stamp, "message": message}, namespace=seen.namespace)
        except errors.ApiError as exc:  # gone (expired, deleted) or not there yet: let it be
            log.debug("event not counted name=%s error=%s", seen.name, exc)
        finally:
            self._inflight -= 1


# --- the controller skeleton -----------------------------------------------------------


class Controller:
    """``informer handlers → WorkQueue → reconcile(key)``.

    Subclasses register handlers in ``__init__`` (through ``self.informers.get(...)``,
    before the manager starts the informers) and implement ``reconcile``; returning a
    number asks to look at the key again after that many seconds.
    """

    name = "controller"
    workers = 4
    # The component its Events are from (``kubectl describe``'s "From"): upstream's
    # controller names, "<name>-controller" unless a subclass says otherwise.
    event_source = ""

    def __init__(self, *, client: rest.Client, informers: SharedInformers,
                 tg: tasks.TaskGroup) -> None:
        self.client = client
        self.informers = informers
        self.tg = tg
        self.queue: workqueue.WorkQueue[str] = workqueue.WorkQueue(name=self.name)
        self.recorder = Recorder(client, tg, component=self.event_source or f"{self.name}-controller")
        self.log = logging.getLogger(f"kubelite.controllers.{self.name}")

    def enqueue(self, obj: Obj) -> None:
        self.queue.add(informer.key_of(obj))

    def start(self) -> None:
        workqueue.run_workers(self.queue, self._reconcile_guarded, workers=self.workers,
                              tg=self.tg, name=self.name)

    async def _reconcile_guarded(self, key: str) -> float | None:
        try:
            return await self.reconcile(key)
        except errors.Conflict:
            # Someone wrote in between: look again soon with fresh data, quietly.
            self.queue.add_after(key, 0.05)
            return None
        except errors.NotFound:
            # What we were writing to vanished; the next event tells us what to do.
            return None

    async def reconcile(self, key: str) -> float | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def stop(self) -> None:
        self.queue.shutdown()


async def gather_limited(coros: list[Any], *, limit: int = 100) -> list[Any]:
    """Run coroutines concurrently, at most ``limit`` at a time; exceptions are returned."""
    sem = asyncio.Semaphore(limit)

    async def one(c: Any) -> Any:
        async with sem:
            return await c

    return list(await asyncio.gather(*(one(c) for c in coros), return_exceptions=True))
