"""The aiohttp application: authentication, limits, error mapping and URL routing.

URLs are parsed here into ``handlers.Target`` (one catch-all route, because resources —
custom ones included — come and go at run time), then dispatched by verb. Three layers wrap the router,
outermost first, in one coroutine (``make_handler``):

1. errors: every refusal leaves as a Kubernetes ``Status``; an unexpected exception is
   logged and answered 500 without a traceback (``_status_of``).
2. authentication (``make_authenticator``): a static bearer token, a service-account
   token (a JWT this cluster signed: ``satokens``) or a client certificate; anonymous
   requests get 401 except on the public health and version endpoints. Then
   authorization (``make_authorizer``, ``authz``): members of ``system:masters`` pass at
   once; other users' requests (and impersonating ones) are decided by the authorizer of
   ``--authorization-mode`` and refused with upstream's 403.
3. the in-flight limit: at most N short requests in flight (429 + Retry-After past it), of
   which 64 execute at once and the rest wait their turn; Lease requests are neither
   counted nor queued; watches and other long-running requests are not counted, as upstream.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kubelite.api import errors, scheme
from kubelite.apiserver import (
    admissionwarnings,
    authz,
    bulk,
    discovery,
    handlers,
    http1,
    metrics,
    monitoring,
    openapi,
    openapi_v2,
    registry,
    reviews,
    satokens,
)
from kubelite.apiserver.authz import attributes, escalation, impersonation
from kubelite.storage import errors as storage_errors

log = logging.getLogger("kubelite.apiserver")

MAX_BODY_BYTES = 3 * 1024 * 1024
PUBLIC_PATHS = {"/healthz", "/livez", "/readyz", "/version", "/healthz/", "/livez/", "/readyz/", "/version/",
                "/kubelite.io/v1/ca"}  # the CA certificate is public; joiners check it by its hash

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class User:
    """An authenticated user. ``groups`` leaves out ``system:authenticated``, which every
    user has (``reviews`` adds it where users are reported)."""

    name: str
    groups: list[str] = field(default_factory=list)
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)
    # in system:masters: authorized without looking further (the control plane's components)
    master: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.master = authz.MASTERS in self.groups

    def info(self) -> authz.UserInfo:
        """The user as the authorizer sees it: every group, ``system:authenticated`` included."""
        return authz.UserInfo(self.name, (*self.groups, authz.AUTHENTICATED))


@dataclass
class AuthConfig:
    tokens: dict[str, User]  # bearer token → user
    allow_client_certs: bool = True
    # service-account tokens (JWTs); None: only the static tokens are accepted
    service_accounts: satokens.Authenticator | None = None
    # --authorization-mode: RBAC (authz.rbac.RBAC) or AlwaysAllow
    authorizer: authz.Authorizer = field(default_factory=authz.AlwaysAllow)


def status_response(exc: errors.StatusError) -> web.Response:
    resp = handlers.json_response(exc.to_status(), status=exc.code)
    if exc.retry_after is not None:
        resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


def _status_of(request: Any, exc: Exception) -> web.Response:
    """The ``Status`` answer for an exception that escaped a handler (errors_to_status)."""
    if isinstance(exc, errors.StatusError):
        return status_response(exc)
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return status_response(errors.RequestEntityTooLarge(
            "the request body is too large: the limit is 3 MiB (Kubernetes' limit for one object)"))
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        return status_response(_from_http(exc))
    if isinstance(exc, storage_errors.Unavailable):
        # The datastore did not answer (etcd without a quorum, a member that stopped
        # answering mid-write): 503 with Retry-After, which client-go retries by itself.
        log.warning("datastore unavailable method=%s path=%s error=%s", request.method, request.path, exc)
        return status_response(errors.ServiceUnavailable(f"the datastore is unavailable: {exc}", retry_after=1))
    log.exception("unexpected error method=%s path=%s", request.method, request.path, exc_info=exc)
    return status_response(errors.InternalError("an internal error occurred; the server log has the details"))


def _from_http(exc: web.HTTPException) -> errors.StatusError:
    by_code = {400: errors.BadRequest, 401: errors.Unauthorized, 403: errors.Forbidden, 404: errors.NotFound,
               405: errors.MethodNotAllowed, 406: errors.NotAcceptable, 413: errors.RequestEntityTooLarge,
               415: errors.UnsupportedMediaType, 429: errors.TooManyRequests}
    cls = by_code.get(exc.status, errors.InternalError)
    return cls(exc.reason or "error")


def make_authenticator(auth: AuthConfig) -> Callable[[Any], User | None]:
    """The request's user: bearer token or client certificate; raises 401 for a wrong
    token, or for no identity outside the public paths. The static tokens are tried first
    (every request of the control plane's components presents one); only a token that is
    none of them is tried as a service account's."""
    tokens = [(t.encode(), u) for t, u in auth.tokens.items()]
    accounts = auth.service_accounts

    def service_account(presented: bytes) -> User:
        identity = accounts.authenticate(presented.decode("ascii", "replace")) if accounts is not None else None
        if identity is None:
            raise errors.Unauthorized("Unauthorized")
        return User(identity.username, identity.groups, uid=identity.uid, extra=identity.extra)

    def authenticate(request: Any) -> User | None:
        user = None
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            presented = header[7:].strip().encode()
            for token, candidate in tokens:
                if hmac.compare_digest(presented, token):
                    user = candidate
                    break
            else:
                user = service_account(presented)
        elif auth.allow_client_certs and request.transport is not None:
            cert = request.transport.get_extra_info("peercert")
            if cert:
                user = _user_from_cert(cert)
        if user is None and request.path not in PUBLIC_PATHS:
            raise errors.Unauthorized("Unauthorized")
        return user

    return authenticate


# kubelite's own public path (the CA joiners check by its hash): no RBAC rule names it, and
# a path anonymous users may read is not refused to authenticated ones
_OPEN_TO_ALL = frozenset({"/kubelite.io/v1/ca"})
_STREAMING_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})


def make_authorizer(authorizer: authz.Authorizer) -> Callable[[Any, User],
                                                                tuple[User, escalation.Requester | None]]:
    """The user a request is served as (itself, or whom it impersonates), once the request
    is authorized, and the writer the RBAC strategies' escalation checks see (None: one
    they skip); raises upstream's 403 otherwise. Not called for ``system:masters``
    requests that impersonate nobody: ``make_handler`` lets them through first."""

    def authorize(request: Any, user: User) -> tuple[User, escalation.Requester | None]:
        if request.path in _OPEN_TO_ALL:
            return user, None
        headers = request.headers
        if impersonation.requested(headers):
            who = impersonation.impersonate(user.info(), headers, authorizer, master=user.master)
            user = User(who.name, who.groups, uid=who.uid, extra=who.extra)
            if user.master:
                return user, None
        info = user.info()
        attrs = attributes.from_request(request.method, request.path, request.query_string)
        decision = authorizer.authorize(info, attrs)
        if not decision.allowed:
            raise attributes.forbidden(user.name, attrs, decision.reason)
        if attrs.subresource in _STREAMING_SUBRESOURCES and attrs.verb == "get" and attrs.resource == "pods" \
                and "websocket" in headers.get("Upgrade", "").lower():
            # a WebSocket exec/attach/port-forward is a GET that acts: upstream (since 1.31,
            # AuthorizePodWebsocketUpgradeCreatePermission) also asks for create
            creating = attrs._replace(verb="create")
            decision = authorizer.authorize(info, creating)
            if not decision.allowed:
                raise attributes.forbidden(user.name, creating, decision.reason)
        return user, escalation.Requester(info, authorizer, master=False)

    return authorize


def _user_from_cert(cert: dict) -> User | None:  # type: ignore[type-arg]
    name, groups = "", []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                name = value
            elif key == "organizationName":
                groups.append(value)
    return User(name=name, groups=groups) if name else None


# Requests executing at once; the rest of the in-flight allowance waits its turn without
# using CPU. Enough for the storage's group commit to batch (~32 writes per fsync), few
# enough that a request which skips the wait is served within a few milliseconds.
EXECUTING_SEATS = 64
# Lease reads and writes skip the wait, like upstream's API Priority and Fairness puts
# leader election and node heartbeats at priority levels of their own: a controller
# manager or an agent must not lose its Lease because the server is busy with the work
# that Lease guards.
_PRIORITY_PATH = "/apis/coordination.k8s.io/"
_LONG_RUNNING_SUFFIXES = ("/log", "/exec", "/attach", "/portforward", "/proxy")


def make_handler(inner: Handler, auth: AuthConfig, limit: int, *, seats: int = EXECUTING_SEATS) -> Handler:
    """``inner`` behind the three layers, outermost first: errors become ``Status`` answers;
    the request is authenticated; at most ``limit`` short requests are in flight (429 past
    it), of which ``seats`` execute at once in arrival order; Lease requests are exempt from
    both. One coroutine for the three (not one per layer): this runs for every
    request, thousands a second."""
    authenticate = make_authenticator(auth)
    authorize = make_authorizer(auth.authorizer)
    state = {"inflight": 0}
    seat = asyncio.Semaphore(max(1, min(seats, limit)))

    async def handle(request: Any) -> web.StreamResponse:
        held: contextvars.Token[escalation.Requester | None] | None = None  # the writer, for this request
        try:
            user = authenticate(request)
            # system:masters first, at the cost of one attribute: the control plane's
            # components send thousands of requests a second and are never refused. A
            # master that impersonates goes through ``authorize``, also with groups alone
            # (refused there: no user); the second look-up runs only without Impersonate-User.
            if user is not None and (not user.master or impersonation.USER in request.headers
                                     or impersonation.GROUP in request.headers):
                user, requester = authorize(request, user)
                if requester is not None:
                    held = escalation.REQUESTER.set(requester)
            request["user"] = user
            path = request.path
            if path.endswith(_LONG_RUNNING_SUFFIXES) or \
                    ("watch=" in request.query_string and request.query.get("watch") in ("1", "true", "True")):
                return await inner(request)
            if path.startswith(_PRIORITY_PATH):
                # Leases: leader election must not lose its term to other clients' load
                # (upstream's leader-election priority level), so never refused, never queued.
                return await inner(request)
            if state["inflight"] >= limit:
                raise errors.TooManyRequests("Too many requests, please try again later.", retry_after=1)
            state["inflight"] += 1
            try:
                async with seat:
                    return await inner(request)
            finally:
                state["inflight"] -= 1
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _status_of(request, exc)
        except Exception as exc:  # noqa: BLE001 -- every refusal leaves as a Status, never a traceback
            return _status_of(request, exc)
        finally:
            if held is not None:  # requests of one connection may share a task, hence a context
                escalation.REQUESTER.reset(held)
            admissionwarnings.clear()

    return handle


class Router:
    """Turns a URL into a discovery document or a ``handlers.Target`` and dispatches."""

    def __init__(self, reg: registry.Registry, the_scheme: scheme.Scheme, *,
                 authorizer: authz.Authorizer | None = None) -> None:
        self.registry = reg
        self.scheme = the_scheme
        self.handlers = handlers.Handlers(reg)
        self.extra: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {}
        # Resources served by dedicated handlers rather than the registry (reviews).
        self.extra_resources: list[scheme.ResourceInfo] = list(reviews.RESOURCES)
        self.extra[reviews.PREFIX] = reviews.Reviews(authorizer or authz.AlwaysAllow()).handle
        self.extra[reviews.WHOAMI_PREFIX] = reviews.handle_whoami
        # metrics.k8s.io (kubectl top), read from the node agents through the streams' session
        self.metrics = metrics.Metrics(reg, streams=self.handlers.streams)
        self.extra_resources += metrics.RESOURCES
        self.extra[metrics.PREFIX] = self.metrics.handle
        self.extra[bulk.PREFIX] = bulk.Bulk(reg).handle  # the scheduler's batched writes
        # CRD versions' openAPIV3Schema by resource (kept up to date by crds.CRDManager).
        self.extra_schemas: dict[scheme.ResourceInfo, dict] = {}  # type: ignore[type-arg]

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path in ("/healthz", "/livez", "/readyz", "/healthz/", "/livez/", "/readyz/") or \
                path.startswith(("/healthz/", "/livez/", "/readyz/")):
            return web.Response(text="ok")
        if path in ("/version", "/version/"):
            return handlers.json_response(discovery.version_info())
        if path.startswith("/openapi/v3"):
            return await self._openapi(request)
        if path in ("/openapi/v2", "/openapi/v2/"):
            return await openapi_v2.serve(request, self.scheme, extra=self.extra_resources,
                                          extra_schemas=dict(self.extra_schemas))
        for prefix, extra in self.extra.items():
            if path.startswith(prefix):
                return await extra(request)
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in ("api", "apis"):
            if not parts:
                return handlers.json_response({"paths": sorted(
                    ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version", "/openapi/v2",
                     "/openapi/v3"]
                    + [f"/apis/{g}/{v}" for g, v in self.scheme.group_versions() if g])})
            raise errors.NotFound("the server could not find the requested resource")
        if parts[0] == "api":
            if len(parts) == 1:
                return self._discovery(request, legacy=True)
            group, version, rest = "", parts[1], parts[2:]
            if version != "v1":
                raise errors.NotFound("the server could not find the requested resource")
        else:
            if len(parts) == 1:
                return self._discovery(request, legacy=False)
            group = parts[1]
            if len(parts) == 2:
                return self._group(group)
            version, rest = parts[2], parts[3:]
        if not rest:
            listing = discovery.legacy_resource_list(self.scheme, group, version, extra=self.extra_resources)
            if listing is None:
                raise errors.NotFound("the server could not find the requested resource")
            return handlers.json_response(listing)
        try:
            target = self._target(group, version, rest)
        except errors.NotFound:
            # A CRD created a moment ago is served once the watch cache has seen it.
            await self.registry.cache.wait_fresh()
            target = self._target(group, version, rest)
        method = request.method
        h = self.handlers
        if method == "GET":
            return await h.get(request, target)
        if method == "POST":
            return await h.create(request, target)
        if method == "PUT":
            return await h.update(request, target)
        if method == "PATCH":
            return await h.patch(request, target)
        if method == "DELETE":
            return await h.delete(request, target)
        raise errors.MethodNotAllowed(f"the server does not allow the method {method} here")

    def _target(self, group: str, version: str, rest: list[str]) -> handlers.Target:
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            candidate = self.scheme.lookup(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        info = self.scheme.lookup(group, version, plural)
        store = self.registry.get(group, version, plural)
        if info is None or store is None:
            raise errors.NotFound(f"the server could not find the requested resource (resource {plural!r} "
                                  f"in {group + '/' if group else ''}{version})")
        if not info.namespaced and namespace is not None:
            raise errors.NotFound("the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else ""
        if len(rest) > 3 and subresource != "proxy":
            raise errors.NotFound("the server could not find the requested resource")
        if subresource and subresource not in info.subresources:
            raise errors.NotFound(f"the server could not find the requested resource ({plural}/{subresource})")
        return handlers.Target(info=info, store=store, namespace=namespace, name=name, subresource=subresource)

    def _discovery(self, request: web.Request, *, legacy: bool) -> web.Response:
        accept = request.headers.get("Accept", "")
        if discovery.negotiate(accept) == "aggregated":
            resp = handlers.json_response(discovery.aggregated(self.scheme, legacy=legacy, extra=self.extra_resources),
                                          content_type=discovery.AGGREGATED_CONTENT_TYPE)
        elif legacy:
            resp = handlers.json_response(discovery.legacy_api_versions())
        else:
            resp = handlers.json_response(discovery.legacy_api_group_list(self.scheme, extra=self.extra_resources))
        # The same URL answers in two forms depending on Accept.
        resp.headers["Vary"] = "Accept"
        return resp

    def _group(self, group: str) -> web.Response:
        found = discovery.legacy_api_group(self.scheme, group, extra=self.extra_resources)
        if found is None:
            raise errors.NotFound("the server could not find the requested resource")
        return handlers.json_response(found)

    async def _openapi(self, request: web.Request) -> web.Response:
        path = request.path.rstrip("/")
        if path == "/openapi/v3":
            return handlers.json_response(openapi.index(self.scheme, extra=self.extra_resources,
                                                        extra_schemas=dict(self.extra_schemas)))
        # Building a document takes a few hundred ms the first time: keep it off the loop.
        rendered = await asyncio.to_thread(openapi.rendered, self.scheme, path[len("/openapi/v3/"):],
                                           extra=self.extra_resources, extra_schemas=dict(self.extra_schemas))
        if rendered is None:
            raise errors.NotFound("the server could not find the requested resource")
        return web.Response(body=rendered.body, content_type="application/json",
                            headers={"Etag": f'"{rendered.hash}"', "Cache-Control": "no-cache, private"})


def build_app(*, reg: registry.Registry, the_scheme: scheme.Scheme, auth: AuthConfig,
              max_inflight: int = 600) -> tuple[http1.Front, Router]:
    """The HTTP front (its ``protocol`` serves a listening socket; its ``fallback``, the
    aiohttp server, is for ``web.ServerRunner``), and the router behind it."""
    router = Router(reg, the_scheme, authorizer=auth.authorizer)
    # Prometheus: GET /metrics, and every request recorded, refusals (401, 429) included.
    monitor = monitoring.Monitoring(cache=reg.cache, known=monitoring.served(the_scheme, router.extra_resources))
    router.extra[monitor.PATH] = monitor.handle
    # The layers wrap the router directly rather than as aiohttp middlewares: the same order
    # and behaviour without aiohttp's per-request chain building.
    handler = monitor.requests.instrument(make_handler(router, auth, max_inflight))
    # aiohttp's low-level server, not a web.Application: one catch-all route needs none of the
    # application's URL dispatch, match info or signals, which cost ~15 µs per request. It
    # serves what the HTTP/1.1 front (http1) hands it: streams, upgrades, unusual requests.
    fallback = web.Server(_expecting(handler), request_factory=_request_factory, access_log=None)
    return http1.Front(handler, fallback, max_body=MAX_BODY_BYTES), router


def _request_factory(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
    return web.BaseRequest(message, payload, protocol, writer, task, asyncio.get_running_loop(),
                           client_max_size=MAX_BODY_BYTES)


class _ExpectationFailed(errors.StatusError):
    code = 417
    reason = "ExpectationFailed"


def _expecting(inner: Handler) -> Handler:
    """Answer ``Expect: 100-continue`` (curl sends it for bodies over 1 KiB) before the
    handler reads the body, as web.Application's default expect handler does."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        expect = request.headers.get("Expect")
        if expect is not None:
            if expect.lower() != "100-continue":
                return status_response(_ExpectationFailed(f"unknown Expect header value {expect!r}"))
            if request.version >= (1, 1):
                await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return await inner(request)

    return handle
