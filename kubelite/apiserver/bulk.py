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

from typing import Any

from aiohttp import web

from kubelite.api import errors
from kubelite.apiserver import batched, decoding, handlers, registry, requests
from kubelite.apiserver.strategies import pods

PREFIX = "/apis/bulk.kubelite.io/v1/"
GROUP, VERSION = "bulk.kubelite.io", "v1"
KINDS = ("bindings", "events")  # what the bulk API writes, by the path's last segment
MAX_ITEMS = 1000  # per request: a body stays well under the 3 MiB request limit

Obj = dict[str, Any]
_CREATED: Obj = {"code": 201}


def _failure(exc: errors.StatusError) -> Obj:
    return exc.to_status()


def _no_namespace(event: Obj) -> errors.StatusError:
    return errors.invalid(kind="Event", group="", name=(event.get("metadata") or {}).get("name") or "",
                          causes=[errors.required("metadata.namespace")])


def _binding_update(binding: Obj) -> batched.Update:
    """A Binding as (namespace, pod name, mutation of the pod); 422 when malformed."""
    meta = binding.get("metadata") or {}
    namespace, name, uid = meta.get("namespace") or "", meta.get("name") or "", meta.get("uid") or ""
    node = (binding.get("target") or {}).get("name") or ""
    causes = [errors.required(f) for f, v in (("metadata.namespace", namespace), ("metadata.name", name))
              if not v] + pods.validate_binding(binding)
    if causes:
        raise errors.invalid(kind="Binding", group="", name=name, causes=causes)

    def do_bind(pod: Obj) -> Obj:
        return pods.bind(pod, node_name=node, name=name, uid=uid)

    return namespace, name, do_bind


class Bulk:
    def __init__(self, reg: registry.Registry) -> None:
        self.registry = reg

    async def handle(self, request: web.Request) -> web.Response:
        kind = request.path[len(PREFIX):].strip("/")
        if kind not in KINDS:
            raise errors.NotFound("the server could not find the requested resource")
        if request.method != "POST":
            raise errors.MethodNotAllowed(f"the server does not allow the method {request.method} here")
        body = decoding.decode_object(await handlers.read_body(request), handlers.media_type(request))
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise errors.BadRequest('the request body must be {"items": [object, …]}')
        if len(items) > MAX_ITEMS:
            raise errors.BadRequest(f"at most {MAX_ITEMS} items per request, got {len(items)}")
        opts = handlers.write_options(request)
        if kind == "bindings":
            results = await self._bind_all(items, opts)
        else:
            results = await self._create_events(items, opts)
        return handlers.json_response({"kind": "BulkResult", "apiVersion": "bulk.kubelite.io/v1",
                                       "items": results})

    async def _bind_all(self, bindings: list[Obj], opts: requests.WriteOptions) -> list[Obj]:
        """Every binding as its own pods/binding request would go (``batched.update_many``)."""
        results: list[Obj] = [_CREATED] * len(bindings)
        updates: list[batched.Update] = []
        placed: list[int] = []
        for i, binding in enumerate(bindings):
            try:
                updates.append(_binding_update(binding))
                placed.append(i)
            except errors.StatusError as exc:
                results[i] = _failure(exc)
        store = self.registry.get("", "v1", "pods")
        assert store is not None
        answers = await batched.update_many(store, updates, opts, subresource="binding", copy=pods.copy_for_binding)
        for i, answer in zip(placed, answers, strict=True):
            if isinstance(answer, errors.StatusError):
                results[i] = _failure(answer)
        return results

    async def _create_events(self, events: list[Obj], opts: requests.WriteOptions) -> list[Obj]:
        """Every Event as its own create would go (``batched.create_many``)."""
        results: list[Obj] = [_CREATED] * len(events)
        creates: list[tuple[str | None, Obj]] = []
        placed: list[int] = []
        for i, event in enumerate(events):
            namespace = (event.get("metadata") or {}).get("namespace") or ""
            if not namespace:
                results[i] = _failure(_no_namespace(event))
                continue
            creates.append((namespace, event))
            placed.append(i)
        store = self.registry.get("", "v1", "events")
        assert store is not None
        answers = await batched.create_many(store, creates, opts)
        for i, answer in zip(placed, answers, strict=True):
            if isinstance(answer, errors.StatusError):
                results[i] = _failure(answer)
        return results
