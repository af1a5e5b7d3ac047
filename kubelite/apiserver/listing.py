"""The two ways a list is served (upstream's cacher and its fall-through to etcd).

- ``from_cache``: the watch cache's current objects, in key order, filtered and paged;
  what almost every list reads (no ``resourceVersionMatch=Exact``, no continue token from
  an older revision).
- ``from_storage``: the store read at one past revision, paged in chunks: an exact
  ``resourceVersion``, or a continue token whose revision the cache has moved past, so
  the pages of one list stay one consistent snapshot. A compacted revision is ``410
  Expired``; a revision the store has not reached yet is a ``504`` with ``Retry-After``.

``registry.Store.list`` decides which; it also waits for the cache to be fresh enough.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kubelite.api import errors
from kubelite.apiserver import requests, watchcache
from kubelite.storage import errors as storage_errors
from kubelite.storage import interface as storage

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool] | None

CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list.")


@dataclass
class ListResult:
    items: list[Obj]
    resource_version: str
    continue_token: str = ""
    remaining: int | None = None


def from_cache(objects: Iterable[tuple[str, Obj]], revision: int, opts: requests.ListOptions,
               predicate: Predicate) -> ListResult:
    """One page of ``objects`` (``(key, object)`` in key order, from where the page starts)
    as of the cache's ``revision``."""
    items: list[Obj] = []
    limit = opts.limit
    last_key = ""
    more = False
    for key, obj in objects:
        if limit and len(items) >= limit:
            more = True
            break
        if predicate is None or predicate(obj):
            items.append(obj)
            last_key = key
    token = requests.ContinueToken(revision, last_key + "\x00").encode() if more else ""
    return ListResult(items=items, resource_version=str(revision), continue_token=token)


async def from_storage(backend: storage.StorageBackend, prefix: str, opts: requests.ListOptions,
                       predicate: Predicate, *, revision: int, start_key: str) -> ListResult:
    """One page of the keys under ``prefix`` from ``start_key`` on, read at ``revision``."""
    items: list[Obj] = []
    start = max(start_key, prefix)
    limit = opts.limit
    try:
        while True:
            page = await backend.list(prefix, start_key=start, limit=max(limit, 500), revision=revision)
            for kv in page.items:
                if limit and len(items) >= limit:
                    token = requests.ContinueToken(revision, kv.key).encode()
                    return ListResult(items=items, resource_version=str(revision), continue_token=token)
                obj = watchcache.decode(kv)
                if predicate is None or predicate(obj):
                    items.append(obj)
            if not page.more or not page.items:
                break
            start = page.items[-1].key + "\x00"
    except storage_errors.Compacted:
        if opts.continue_token:
            raise errors.Expired(CONTINUE_TOO_OLD) from None
        raise errors.Expired(f"too old resource version: {revision}") from None
    except storage_errors.FutureRevision as exc:
        raise errors.Timeout(f"Too large resource version: {revision}, current: {exc.current}",
                             retry_after=1) from None
    return ListResult(items=items, resource_version=str(revision))
