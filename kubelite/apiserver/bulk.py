"""Bulk writes for kubelite's own scheduler: many pod bindings, or many Events, per request.

Kubernetes has no bulk API, and nothing here changes what a client of the Kubernetes API
sees: each item goes through the very store path its ordinary request takes (the same
strategy, validation, admission, revision check and watch event), and answers with the
same Status its own request would have had. What a bulk request saves is the HTTP
round, TLS record, authentication and JSON framing of each item: at thousands of pods
per second these cost the single API server process more than the writes themselves
(the issue asks the scheduler to "bind asynchronously and in batches").

    POST /apis/bulk.kubelite.io/v1/bindings   {"items": [Binding, …]}
    POST /apis/bulk.kubelite.io/v1/events     {"items": [Event, …]}     (core/v1 Events)
    → 200 {"kind": "BulkResult", "items": [{"code": 201} | Status, …]}   (same order)

Served by ``app.Router`` through its ``extra`` prefixes; not in discovery (an internal
endpoint, as upstream's are for its own components). A server without it answers 404,
and the scheduler then falls back to one request per item.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from kubelite.api import errors
from kubelite.apiserver import handlers, registry, requests
from kubelite.apiserver.strategies import pods

PREFIX = "/apis/bulk.kubelite.io/v1/"
MAX_ITEMS = 1000  # per request: a body stays well under the 3 MiB request limit

Obj = dict[str, Any]
_CREATED: Obj = {"code": 201}


def _failure(exc: errors.StatusError) -> Obj:
    return exc.to_status()


class Bulk:
    def __init__(self, reg: registry.Registry) -> None:
        self.registry = reg

    async def handle(self, request: web.Request) -> web.Response:
        kind = request.path[len(PREFIX):].strip("/")
        if kind not in ("bindings", "events"):
            raise errors.NotFound("the server could not find the requested resource")
        if request.method != "POST":
            raise errors.MethodNotAllowed(f"the server does not allow the method {request.method} here")
        body = handlers.decode_object(await handlers.read_body(request), handlers.media_type(request))
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise errors.BadRequest('the request body must be {"items": [object, …]}')
        if len(items) > MAX_ITEMS:
            raise errors.BadRequest(f"at most {MAX_ITEMS} items per request, got {len(items)}")
        opts = requests.WriteOptions.parse(request.query)
        one = self._bind if kind == "bindings" else self._event
        results = await asyncio.gather(*(self._guarded(one, item, opts) for item in items))
        return handlers.json_response({"kind": "BulkResult", "apiVersion": "bulk.kubelite.io/v1",
                                       "items": results})

    @staticmethod
    async def _guarded(one: Any, item: Obj, opts: requests.WriteOptions) -> Obj:
        try:
            await one(item, opts)
        except errors.StatusError as exc:
            return _failure(exc)
        return _CREATED

    async def _bind(self, binding: Obj, opts: requests.WriteOptions) -> None:
        meta = binding.get("metadata") or {}
        namespace, name, uid = meta.get("namespace") or "", meta.get("name") or "", meta.get("uid") or ""
        node = (binding.get("target") or {}).get("name") or ""
        causes = [errors.required(f) for f, v in (("metadata.namespace", namespace), ("metadata.name", name))
                  if not v] + pods.validate_binding(binding)
        if causes:
            raise errors.invalid(kind="Binding", group="", name=name, causes=causes)
        store = self.registry.get("", "v1", "pods")
        assert store is not None

        def do_bind(pod: Obj) -> Obj:
            return pods.bind(pod, node_name=node, name=name, uid=uid)

        await store.patch(namespace, name, do_bind, opts, subresource="binding",
                          copy=pods.copy_for_binding)

    async def _event(self, event: Obj, opts: requests.WriteOptions) -> None:
        namespace = (event.get("metadata") or {}).get("namespace") or ""
        if not namespace:
            raise errors.invalid(kind="Event", group="", name=(event.get("metadata") or {}).get("name") or "",
                                 causes=[errors.required("metadata.namespace")])
        store = self.registry.get("", "v1", "events")
        assert store is not None
        await store.create(namespace, event, opts)
