"""Events expire after ``--event-ttl`` (default one hour), as kube-apiserver's do.

Upstream attaches an etcd lease of the TTL to every write of an Event: an Event goes that
long after its last write, and watchers see it DELETED. Here a loop in the API server
deletes, through the registry (so watchers see the same DELETED), every Event whose newest
time is older than the TTL. Without it Events pile up for good: ~5 for every pod started,
kept in the store, the watch cache and the store's key index.

An Event's newest time is the latest of its ``creationTimestamp``, ``lastTimestamp``,
``eventTime``, ``series.lastObservedTime`` and ``deprecatedLastTimestamp`` (the core and
``events.k8s.io`` shapes share one store): a client that updates an Event (a repeat counted
in ``count`` or ``series``) advances one of them, as its write renews upstream's lease. A
delete carries the resourceVersion the loop saw, so an Event updated meanwhile stays. Why
not a storage TTL: SQLite has none, and one way for both backends is simpler. With several
servers each runs the loop; a second delete of the same Event fails NotFound or Conflict
and is ignored.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Iterable
from typing import Any

from kubelite.api import errors
from kubelite.apiserver import requests

log = logging.getLogger("kubelite.apiserver.eventttl")

DEFAULT_TTL = 3600.0
_CHUNK = 2000  # Events looked at per turn of the loop

Obj = dict[str, Any]


def _instant(text: Any) -> str | None:
    """``text`` (metav1.Time or MicroTime) as ``YYYY-MM-DDTHH:MM:SS`` in UTC, which orders
    as text; None when it is not a time."""
    if not isinstance(text, str) or len(text) < 19:
        return None
    if text.endswith("Z"):
        return text[:19]
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def last_written(event: Obj) -> str | None:
    """The newest of an Event's times (see the module's docstring), or None."""
    series = event.get("series")
    candidates = (
        (event.get("metadata") or {}).get("creationTimestamp"),
        event.get("lastTimestamp"),
        event.get("eventTime"),
        event.get("deprecatedLastTimestamp"),
        series.get("lastObservedTime") if isinstance(series, dict) else None,
    )
    found = [t for t in map(_instant, candidates) if t is not None]
    return max(found) if found else None


def expired(events: Iterable[Obj], *, now: float, ttl: float) -> list[tuple[str, str, str]]:
    """(namespace, name, resourceVersion) of every Event last written more than ``ttl``
    seconds before ``now`` (Events without any time are kept)."""
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - ttl))
    out = []
    for event in events:
        when = last_written(event)
        if when is not None and when < cutoff:
            md = event["metadata"]
            out.append((md.get("namespace") or "", md["name"], md.get("resourceVersion") or ""))
    return out


async def run(store: Any, *, ttl: float, every: float | None = None) -> None:
    """Delete expired Events every ``every`` seconds (default: a tenth of ``ttl``, between
    1 s and 60 s) until cancelled. ``store``: the registry's store of core Events."""
    period = every if every is not None else min(60.0, max(1.0, ttl / 10))
    while True:
        await asyncio.sleep(period)
        try:
            removed = await sweep(store, ttl=ttl)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - logged; the next sweep tries again
            log.warning("expiring events failed error=%r", exc)
            continue
        if removed:
            log.info("expired events count=%d ttl=%ss", removed, ttl)


async def sweep(store: Any, *, ttl: float) -> int:
    """One pass: delete what has expired now; how many went."""
    objects = list(store.cache.objects.values())
    now = time.time()
    doomed: list[tuple[str, str, str]] = []
    for i in range(0, len(objects), _CHUNK):
        doomed += expired(objects[i:i + _CHUNK], now=now, ttl=ttl)
        await asyncio.sleep(0)  # a big cache must not hold the loop in one go
    removed = 0
    for namespace, name, version in doomed:
        opts = requests.DeleteOptions(preconditions={"resourceVersion": version} if version else {})
        try:
            await store.delete(namespace, name, opts)
        except (errors.NotFound, errors.Conflict):
            continue  # gone already, or written again since it was seen
        removed += 1
    return removed
