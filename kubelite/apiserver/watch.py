"""Watch streams: chunked, newline-delimited JSON events from the watch cache.

Called by ``handlers.Handlers.list`` for ``?watch=true``. The stream carries ADDED /
MODIFIED / DELETED events, BOOKMARKs when the client allows them (including the
``k8s.io/initial-events-end`` bookmark of ``sendInitialEvents=true``), and ends with an
ERROR event (410 Expired and the like) or when ``timeoutSeconds`` runs out. A watch that
cannot start once its request is understood (a resourceVersion older than the cache's
window, one not reached in time for ``sendInitialEvents``) is answered 200 with that one
ERROR event, as upstream's cacher does (``registry.Store.watch``). Objects are sent as
they are, or as Tables or PartialObjectMetadata when the Accept header asks
(``negotiation``).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from kubelite.api import errors
from kubelite.apiserver import http1, managedfields, monitoring, negotiation, requests, tables, watchcache

if TYPE_CHECKING:
    from kubelite.apiserver import handlers

# Upstream closes watches after a random 30–60 minutes so load spreads across servers.
MAX_WATCH_SECONDS = 1800
BOOKMARK_EVERY = 10.0
WRITE_BATCH = 128  # watch events written at once, at most


def _bookmark(info_api_version: str, kind: str, revision: int, *, initial_end: bool = False) -> bytes:
    md: dict[str, Any] = {"resourceVersion": str(revision)}
    if initial_end:
        md["annotations"] = {"k8s.io/initial-events-end": "true"}
    return orjson.dumps({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": info_api_version, "metadata": md}}) + b"\n"


async def serve(request: web.Request, t: handlers.Target,
                opts: requests.ListOptions) -> web.StreamResponse | http1.Stream:
    store = t.store
    watcher, revision = await store.watch(t.namespace, opts)
    out = negotiation.output(request.headers.get("Accept", ""))
    as_table = out.kind == negotiation.TABLE
    # Events of PartialObjectMetadata (client-go's metadata informers). A watch that asks
    # for PartialObjectMetadataList gets the objects themselves, as upstream, whose
    # conversion of each event fails and falls back to the object.
    partial = out.version if out.kind == negotiation.PARTIAL else ""
    bookmark_as = (out.api_version, negotiation.PARTIAL) if partial else (t.info.api_version, t.info.kind)
    include_object = request.query.get("includeObject", "Metadata")
    to_external = store.strategy.to_external
    plain = _is_identity(store)
    headers = {"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
    resp: Any
    if isinstance(request, http1.Request):  # the HTTP/1.1 front: chunks go straight to the socket
        resp = request.stream(headers)
    else:
        resp = web.StreamResponse(status=200, headers={**headers, "Transfer-Encoding": "chunked"})
        await resp.prepare(request)
    timeout = opts.timeout_seconds if opts.timeout_seconds else int(MAX_WATCH_SECONDS * (1 + random.random()))
    deadline = time.monotonic() + max(timeout, 0)
    first_table = True
    initial_pending = bool(opts.send_initial_events)
    sent = monitoring.WATCH_EVENTS
    sent_key = (t.info.group, t.info.version, t.info.kind)
    try:
        while True:
            # Drain what is queued without waiting, then decide on a bookmark.
            queue = watcher.queue
            if queue.empty():
                if initial_pending:
                    initial_pending = False
                    if opts.allow_bookmarks:
                        await resp.write(_bookmark(*bookmark_as, revision, initial_end=True))
                        continue
                remaining = deadline - time.monotonic()
                if remaining <= 0 or _client_gone(request):
                    break
                try:
                    # asyncio.timeout, not wait_for: wait_for wraps the get in a task of its
                    # own, once per wake-up of every watch
                    async with asyncio.timeout(min(remaining, BOOKMARK_EVERY)):
                        item = await queue.get()
                except TimeoutError:
                    if opts.allow_bookmarks and queue.empty() and time.monotonic() < deadline:
                        await resp.write(_bookmark(*bookmark_as, store.registry.cache.revision))
                    continue
            else:
                item = queue.get_nowait()
            # Events queued together leave in one write (one chunk, one TLS record run):
            # under a burst a watcher has many waiting, and a write each cost more than
            # encoding them.
            batch = [item]
            while len(batch) < WRITE_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            lines: list[bytes] = []
            failure: BaseException | None = None
            for queued in batch:
                if isinstance(queued, BaseException):
                    failure = queued
                    break
                lines.append(_encode_event(t, queued, as_table=as_table, first_table=first_table,
                                           include_object=include_object, plain=plain, to_external=to_external,
                                           lean=opts.omit_managed_fields, version=out.version, partial=partial))
                first_table = False
            if lines:
                await resp.write(b"".join(lines))
                sent[sent_key] = sent.get(sent_key, 0) + len(lines)
            if failure is not None:
                status = failure.to_status() if isinstance(failure, errors.StatusError) else \
                    errors.InternalError("watch failed").to_status()
                await resp.write(orjson.dumps({"type": "ERROR", "object": status}) + b"\n")
                break
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        store.cache.unsubscribe(watcher)
    try:
        await resp.write_eof()
    except (ConnectionResetError, RuntimeError):
        pass
    return resp


def _client_gone(request: Any) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _is_identity(store: Any) -> bool:
    from kubelite.apiserver.strategies import base

    return type(store.strategy).to_external is base.Strategy.to_external


def _encode_event(t: handlers.Target, event: watchcache.WatchEvent, *, as_table: bool, first_table: bool,
                  include_object: str, plain: bool, to_external: Any, lean: bool, version: str = "v1",
                  partial: str = "") -> bytes:
    if as_table:
        obj = to_external(event.obj)
        # table_event is the whole event ({"type", "object": Table}); do not wrap it again
        return orjson.dumps(tables.table_event(t.info, event.type, obj, first=first_table,
                                               include_object=include_object,
                                               printer_columns=getattr(t.info, "printer_columns", None),
                                               version=version)) + b"\n"
    if partial:
        obj = event.obj if plain else to_external(event.obj)
        if lean:
            obj = managedfields.without(obj)
        return orjson.dumps({"type": event.type,
                             "object": negotiation.partial(obj.get("metadata") or {}, partial)}) + b"\n"
    if plain:
        # The object's bytes are shared by every watcher of this event.
        raw = event.lean_object() if lean else event.raw_object()
        return b'{"type":"' + event.type.encode() + b'","object":' + raw + b"}\n"
    obj = to_external(event.obj)
    return orjson.dumps({"type": event.type, "object": managedfields.without(obj) if lean else obj}) + b"\n"
