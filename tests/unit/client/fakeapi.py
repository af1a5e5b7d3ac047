"""A small in-memory Kubernetes API written with aiohttp.web, for the client's unit tests.

It serves any ``/api/v1/...`` or ``/apis/<group>/<version>/...`` path with the wire
behaviour the client relies on: resourceVersions, 409 AlreadyExists/Conflict, paged lists
with continue tokens, chunked watch streams with bookmarks, and ``410 Expired`` for a
watch or continue token older than ``compact()``. Tests inject failures with ``inject``
and hold watches or writes with gates. It is a fake: no validation, no defaulting.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


@dataclass
class Injection:
    """Answer matching requests with ``code``/``body`` (or drop the connection if code=0)."""

    code: int
    body: Any = None
    method: str | None = None
    path_contains: str | None = None
    query_has: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = 1  # None: for ever
    hits: int = 0

    def matches(self, request: web.Request) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method and request.method != self.method:
            return False
        if self.path_contains and self.path_contains not in request.path:
            return False
        return not (self.query_has and self.query_has not in request.query)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


def _parse(path: str) -> tuple[str, str | None, str | None, str | None]:
    """``/apis/apps/v1/namespaces/ns/deployments/x/status`` → (collection, ns, name, sub)."""
    parts = [p for p in path.split("/") if p]
    if parts[0] == "api":
        gv, rest = f"core/{parts[1]}", parts[2:]
    else:
        gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    collection = f"{gv}/{rest[0]}"
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    return collection, namespace, name, sub


def _key(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


def _labels_match(obj: dict[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in selector.split(","):
        k, _, v = term.partition("=")
        if labels.get(k) != v:
            return False
    return True


class FakeApi:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}  # collection → key → obj
        self.rv = 100
        self.events: list[tuple[int, str, str, dict[str, Any]]] = []  # rv, collection, type, obj
        self.compacted = 0
        self.requests: list[Recorded] = []
        self.injections: list[Injection] = []
        self.watch_gate = asyncio.Event()
        self.watch_gate.set()
        self.write_gate = asyncio.Event()
        self.write_gate.set()
        self.writes_waiting = 0
        self.active_watches = 0
        self._changed = asyncio.Event()
        self._watch_epoch = 0  # bumped by end_watches()

    # --- test controls ----------------------------------------------------------------

    def inject(self, code: int, body: Any = None, **kw: Any) -> Injection:
        injection = Injection(code, body, **kw)
        self.injections.append(injection)
        return injection

    def compact(self) -> None:
        """Forget history: watches and continue tokens from before now get 410."""
        self.compacted = self.rv

    def end_watches(self) -> None:
        """End every open watch stream cleanly (as a server-side timeout would)."""
        self._watch_epoch += 1
        self._notify()

    def bookmark(self) -> int:
        self.rv += 1
        self.events.append((self.rv, "*", "BOOKMARK", {}))
        self._notify()
        return self.rv

    def seen(self, method: str, path_contains: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and path_contains in r.path]

    def put_object(self, collection: str, obj: dict[str, Any], *, event: bool = True) -> dict[str, Any]:
        """Store ``obj`` directly (test set-up), with an event unless ``event=False``."""
        meta = obj.setdefault("metadata", {})
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        meta.setdefault("uid", str(uuid.uuid4()))
        key = _key(meta.get("namespace"), meta["name"])
        kind = "MODIFIED" if key in self.objects.get(collection, {}) else "ADDED"
        self.objects.setdefault(collection, {})[key] = obj
        if event:
            self._event(collection, kind, obj)
        return obj

    def remove_object(self, collection: str, key: str, *, event: bool = True) -> None:
        obj = self.objects[collection].pop(key)
        self.rv += 1
        obj = dict(obj, metadata=dict(obj["metadata"], resourceVersion=str(self.rv)))
        if event:
            self._event(collection, "DELETED", obj)

    def _event(self, collection: str, kind: str, obj: dict[str, Any]) -> None:
        self.events.append((self.rv, collection, kind, obj))
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- HTTP -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        for injection in self.injections:
            if injection.matches(request):
                injection.hits += 1
                if injection.code == 0:
                    assert request.transport is not None
                    request.transport.abort()
                    await asyncio.sleep(0.1)
                    raise ConnectionResetError("dropped by test")
                payload = injection.body if injection.body is not None else status(
                    injection.code, "InternalError", "injected")
                if isinstance(payload, str):
                    return web.Response(status=injection.code, text=payload, headers=injection.headers,
                                        content_type="text/html")
                return self._json(payload, code=injection.code, headers=injection.headers)
        collection, namespace, name, _sub = _parse(request.path)
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            self.writes_waiting += 1
            try:
                await self.write_gate.wait()
            finally:
                self.writes_waiting -= 1
        if request.method == "GET" and name is None:
            if request.query.get("watch") in ("1", "true"):
                return await self._watch(request, collection, namespace)
            return self._list(request, collection, namespace)
        if request.method == "GET" and name:
            return self._get(collection, namespace, name)
        if request.method == "POST":
            return self._create(collection, namespace, orjson.loads(body))
        if request.method == "PUT" and name:
            return self._update(collection, namespace, name, orjson.loads(body))
        if request.method == "PATCH" and name:
            return self._patch(collection, namespace, name, orjson.loads(body))
        if request.method == "DELETE":
            return self._delete(request, collection, namespace, name)
        return self._json(status(405, "MethodNotAllowed", "no"), code=405)

    @staticmethod
    def _json(obj: Any, *, code: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(status=code, body=orjson.dumps(obj), content_type="application/json",
                            headers=headers)

    def _not_found(self, collection: str, name: str) -> web.Response:
        plural = collection.rsplit("/", 1)[-1]
        return self._json(status(404, "NotFound", f'{plural} "{name}" not found', name=name, kind=plural),
                          code=404)

    def _get(self, collection: str, namespace: str | None, name: str) -> web.Response:
        obj = self.objects.get(collection, {}).get(_key(namespace, name))
        return self._json(obj) if obj is not None else self._not_found(collection, name)

    def _list(self, request: web.Request, collection: str, namespace: str | None) -> web.Response:
        items = [o for k, o in sorted(self.objects.get(collection, {}).items())
                 if (namespace is None or o["metadata"].get("namespace") == namespace)
                 and _labels_match(o, request.query.get("labelSelector"))]
        offset, list_rv = 0, self.rv
        token = request.query.get("continue")
        if token:
            token_rv, _, token_offset = token.partition(":")
            if int(token_rv) < self.compacted:
                return self._json(status(410, "Expired", "The provided continue parameter is too old"),
                                  code=410)
            offset, list_rv = int(token_offset), int(token_rv)
        limit = int(request.query.get("limit") or 0)
        page = items[offset:offset + limit] if limit else items[offset:]
        meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if limit and offset + limit < len(items):
            meta["continue"] = f"{list_rv}:{offset + limit}"
            meta["remainingItemCount"] = len(items) - offset - limit
        return self._json({"kind": "List", "apiVersion": "v1", "metadata": meta, "items": page})

    def _create(self, collection: str, namespace: str | None, obj: dict[str, Any]) -> web.Response:
        meta = obj.setdefault("metadata", {})
        if namespace:
            meta["namespace"] = namespace
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        key = _key(namespace, meta["name"])
        if key in self.objects.get(collection, {}):
            plural = collection.rsplit("/", 1)[-1]
            return self._json(status(409, "AlreadyExists", f'{plural} "{meta["name"]}" already exists'),
                              code=409)
        return self._json(self.put_object(collection, obj), code=201)

    def _update(self, collection: str, namespace: str | None, name: str, obj: dict[str, Any]) -> web.Response:
        current = self.objects.get(collection, {}).get(_key(namespace, name))
        if current is None:
            return self._not_found(collection, name)
        sent_rv = (obj.get("metadata") or {}).get("resourceVersion")
        if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
            plural = collection.rsplit("/", 1)[-1]
            return self._json(status(409, "Conflict", f'Operation cannot be fulfilled on {plural} "{name}": '
                                     "the object has been modified"), code=409)
        obj["metadata"]["uid"] = current["metadata"]["uid"]
        return self._json(self.put_object(collection, obj))

    def _patch(self, collection: str, namespace: str | None, name: str, patch: Any) -> web.Response:
        current = self.objects.get(collection, {}).get(_key(namespace, name))
        if current is None:
            return self._not_found(collection, name)
        if isinstance(patch, list):  # JSON patch: not modelled; the object stays as it is
            return self._json(current)
        return self._json(self.put_object(collection, _merge(current, patch)))

    def _delete(self, request: web.Request, collection: str, namespace: str | None,
                name: str | None) -> web.Response:
        if name is None:
            keys = [k for k, o in self.objects.get(collection, {}).items()
                    if (namespace is None or o["metadata"].get("namespace") == namespace)
                    and _labels_match(o, request.query.get("labelSelector"))]
            for key in keys:
                self.remove_object(collection, key)
            return self._json({"kind": "Status", "apiVersion": "v1", "status": "Success"})
        key = _key(namespace, name)
        obj = self.objects.get(collection, {}).get(key)
        if obj is None:
            return self._not_found(collection, name)
        self.remove_object(collection, key)
        return self._json(obj)

    async def _watch(self, request: web.Request, collection: str, namespace: str | None) -> web.StreamResponse:
        await self.watch_gate.wait()
        since = request.query.get("resourceVersion")
        bookmarks = request.query.get("allowWatchBookmarks") == "true"
        timeout = float(request.query.get("timeoutSeconds") or 3600)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        epoch = self._watch_epoch
        self.active_watches += 1
        try:
            if since and int(since) < self.compacted:
                err = status(410, "Expired", f"too old resource version: {since} ({self.compacted})")
                await resp.write(orjson.dumps({"type": "ERROR", "object": err}) + b"\n")
                return resp
            position = int(since) if since else self.rv
            if not since:  # no RV: the current state first, as synthetic ADDED events
                for obj in self.objects.get(collection, {}).values():
                    await resp.write(orjson.dumps({"type": "ADDED", "object": obj}) + b"\n")
            deadline = asyncio.get_running_loop().time() + timeout
            while epoch == self._watch_epoch:
                changed = self._changed
                for rv, coll, kind, obj in self.events:
                    if rv <= position:
                        continue
                    position = rv
                    if coll == "*" and kind == "BOOKMARK":
                        if bookmarks:
                            mark = {"kind": "Bookmark", "apiVersion": "v1",
                                    "metadata": {"resourceVersion": str(rv)}}
                            await resp.write(orjson.dumps({"type": "BOOKMARK", "object": mark}) + b"\n")
                        continue
                    if coll != collection:
                        continue
                    if namespace and obj["metadata"].get("namespace") != namespace:
                        continue
                    await resp.write(orjson.dumps({"type": kind, "object": obj}) + b"\n")
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(changed.wait(), remaining)
            return resp
        finally:
            self.active_watches -= 1


@contextlib.asynccontextmanager
async def serve(fake: FakeApi, *, ssl_context: Any = None) -> AsyncIterator[str]:
    """Run ``fake`` on a free local port; yields its base URL."""
    runner = web.AppRunner(fake.app(), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    scheme = "https" if ssl_context is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def dead_url() -> str:
    """A URL on which nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def eventually(predicate: Any, *, timeout: float = 5.0, interval: float = 0.01) -> None:
    """Wait until ``predicate()`` is true, failing the test after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
