"""The async REST client for the Kubernetes API: get, list, create, update, patch, delete, watch.

Every component but the API server reaches the cluster through ``Client``: controllers and
the scheduler (through informers and direct writes), the node agent, the CLI helpers.
It speaks the Kubernetes wire protocol only (JSON over HTTPS, ``Status`` errors, chunked
watch streams), so it works against kubelite and against real Kubernetes alike.

Resilience, in the order a request meets it:

1. a client-side token bucket (``ClientConfig.qps``/``burst``) so a controller storm
   cannot flood the server;
2. failover: ``ClientConfig.servers`` is tried in order, starting with the last server
   that answered. A server that refuses the connection is skipped at once for every verb
   (the request never left us); a connection lost *after* sending is retried elsewhere
   only for idempotent verbs (GET, PUT, DELETE), since a POST or PATCH may have landed;
   A server that accepted the request but did not answer within ``response_timeout``
   (default 10 s when several servers are configured: a frozen or partitioned server
   still accepts TCP connections in the kernel) counts as failed the same way, and
   the next request starts with the following server. Open streams (watches) to a
   server that failed this way are ended, so informers re-watch elsewhere at once; a
   watch that stays silent longer than ``WATCH_IDLE_TIMEOUT`` (a kubelite bookmark and a
   half) is ended too;
3. when no server answered, bounded exponential backoff and another round;
4. ``429 TooManyRequests`` (and 5xx for idempotent verbs when it carries ``Retry-After``)
   waits as the server asks, capped, a bounded number of times.

Anything else non-2xx becomes the matching ``kubelite.client.errors`` exception.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import random
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal, Self

import aiohttp
import orjson

from kubelite.client import config as config_mod
from kubelite.client import errors, resources, workqueue

log = logging.getLogger("kubelite.client")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

# With several servers: an answer slower than this means the server is frozen or cut off
# (kubelite answers from its watch cache; informers list in pages of 500).
FAILOVER_RESPONSE_TIMEOUT = 10.0
# kubelite sends a BOOKMARK on an idle watch every 10 s, so 15 s of silence means the server
# froze (a false alarm costs one re-watch from the last resourceVersion). This is what ends
# a watch to a frozen server when no other request of ours goes there to notice. Only with
# several servers (a real Kubernetes API server bookmarks about once a minute, and with one
# server there is nowhere else to go anyway).
WATCH_IDLE_TIMEOUT = 15.0
# How often an open stream checks whether its server was found dead by another request.
_STREAM_CHECK = 1.0
# kubelite's list/watch parameter: items without metadata.managedFields, for consumers that
# drop them anyway (informers of components). Upstream's servers ignore it and send them.
OMIT_MANAGED_FIELDS = "omitManagedFields"

PatchType = Literal["merge", "strategic", "json", "apply"]
PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    # JSON is YAML, so an apply body is sent as JSON under the YAML media type.
    "apply": "application/apply-patch+yaml",
}

ParamValue = str | int | float | bool | Sequence[str] | None


class _Unreachable(Exception):
    """No server produced an answer this round; ``sent`` if one may have got the request."""

    def __init__(self, *, sent: bool, failures: list[str]) -> None:
        super().__init__("; ".join(failures))
        self.sent = sent
        self.failures = failures


def _params(params: Mapping[str, ParamValue] | None) -> list[tuple[str, str]]:
    """Query parameters as Kubernetes parses them: ``true``/``false``, repeated keys for lists."""
    out: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        elif isinstance(value, (list, tuple)):
            out += [(key, str(v)) for v in value]
        else:
            out.append((key, str(value)))
    return out


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date: rare from API servers; fall back to our own wait


def _decode(body: bytes, content_type: str) -> Any:
    if not body:
        return {}
    if "json" in content_type or body[:1] in (b"{", b"["):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return body.decode("utf-8", "replace")


def _namespace_of(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or None


class Client:
    """One connection pool to the API servers; use as ``async with Client(cfg) as c:``.

    Resources are ``resources.Resource`` values or ``(group, version, plural)`` tuples.
    For a namespaced resource a missing ``namespace`` means: the object's own namespace
    (create/update), all namespaces (list/watch), or the config's default namespace
    (get/patch/delete), as kubectl behaves.
    """

    def __init__(
        self,
        config: config_mod.ClientConfig,
        *,
        pool_size: int = 256,
        max_retries: int = 3,
        max_throttle_retries: int = 5,
        max_retry_after: float = 10.0,
        response_timeout: float | None = None,
    ) -> None:
        self.config = config
        several = len(config.servers) > 1
        self.response_timeout = response_timeout if response_timeout is not None else (
            FAILOVER_RESPONSE_TIMEOUT if several else None)
        # Watches hold a connection each for their lifetime: size the pool for all
        # informers plus the workers' concurrent requests.
        self.pool_size = pool_size
        self.max_retries = max_retries
        self.max_throttle_retries = max_throttle_retries
        self.max_retry_after = max_retry_after
        self._limiter = workqueue.TokenBucket(qps=config.qps, burst=config.burst)
        self._session: aiohttp.ClientSession | None = None
        self._current = 0  # index of the server that answered last
        # Per server: how many times a sent request to it went unanswered. Streams opened
        # to a server end when its count moves (someone found it dead).
        self._failures = [0] * len(config.servers)
        self._last_index = 0  # the server the last _attempt_round got its answer from

    # --- lifecycle --------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._ensure_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.pool_size, limit_per_host=0, ssl=self.config.ssl_context(),
                enable_cleanup_closed=True,
            )
            headers = {"Accept": "application/json", "User-Agent": self.config.user_agent}
            self._session = aiohttp.ClientSession(connector=connector, headers=headers,
                                                  json_serialize=lambda o: orjson.dumps(o).decode())
        return self._session

    @property
    def namespace(self) -> str:
        """The default namespace (from the kubeconfig context)."""
        return self.config.namespace

    @property
    def server(self) -> str:
        """The server the next request goes to first."""
        return self.config.servers[self._current]

    # --- transport --------------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        token = self.config.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def _attempt_round(
        self, method: str, path: str, *, params: list[tuple[str, str]], body: bytes | None,
        headers: dict[str, str], timeout: aiohttp.ClientTimeout, read_body: bool,
    ) -> tuple[aiohttp.ClientResponse, bytes | None]:
        """Try each server once, starting with the one that answered last."""
        session = self._ensure_session()
        servers = self.config.servers
        idempotent = method in IDEMPOTENT
        failures: list[str] = []
        sent = False
        first = self._current  # _server_failed may move _current while we go round
        for i in range(len(servers)):
            index = (first + i) % len(servers)
            url = servers[index] + path
            try:
                resp = await session.request(
                    method, url, params=params, data=body, headers=headers, timeout=timeout,
                    server_hostname=self.config.tls_server_name,
                )
                data = None
                if read_body:
                    try:
                        data = await resp.read()
                    finally:
                        resp.release()
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # Refused, unresolvable, TLS refused or connect timeout: nothing was sent.
                failures.append(f"{servers[index]}: {exc}")
            except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                # The request may have reached the server before the connection failed.
                sent = True
                failures.append(f"{servers[index]}: {type(exc).__name__}: {exc}")
                self._server_failed(index)
                if not idempotent:
                    raise _Unreachable(sent=True, failures=failures) from exc
            else:
                if index != self._current:
                    log.warning("api server failover from=%s to=%s", servers[self._current], servers[index])
                    self._current = index
                self._last_index = index
                return resp, data
            if len(servers) > 1:
                log.info("api server unreachable server=%s error=%s", servers[index], failures[-1])
        raise _Unreachable(sent=sent, failures=failures)

    def _server_failed(self, index: int) -> None:
        """A sent request to server ``index`` got no answer: start the next request
        elsewhere and end the streams open to it (a frozen server never closes them)."""
        self._failures[index] += 1
        if index == self._current and len(self.config.servers) > 1:
            self._current = (index + 1) % len(self.config.servers)
            log.warning("api server not answering server=%s next=%s", self.config.servers[index],
                        self.config.servers[self._current])

    async def _perform(
        self, method: str, path: str, *, params: Mapping[str, ParamValue] | None = None,
        body: bytes | None = None, headers: Mapping[str, str] | None = None,
        stream: bool = False, read_timeout: float | None = None,
    ) -> tuple[aiohttp.ClientResponse, bytes | None]:
        """Send with failover, retries and throttling; return a 2xx response (and its body
        unless ``stream``). Raises ``errors.ApiError`` subclasses."""
        if stream:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.config.connect_timeout,
                                            sock_read=read_timeout)
        else:
            # sock_connect, not connect: waiting for a free pooled connection is not a
            # sign of a dead server and must not trigger failover.
            timeout = aiohttp.ClientTimeout(total=self.config.timeout,
                                            sock_connect=self.config.connect_timeout,
                                            sock_read=self.response_timeout)
        query = _params(params)
        idempotent = method in IDEMPOTENT
        unreachable_rounds = 0
        throttled = 0
        delay = 0.2
        while True:
            await self._limiter.acquire()
            try:
                resp, data = await self._attempt_round(
                    method, path, params=query, body=body, headers=self._headers(headers),
                    timeout=timeout, read_body=not stream)
            except _Unreachable as exc:
                unreachable_rounds += 1
                if (exc.sent and not idempotent) or unreachable_rounds > self.max_retries:
                    raise errors.ConnectionFailed(
                        f"{method} {path}: no API server answered: {exc}") from exc
                await asyncio.sleep(delay * (1 + random.random() * 0.2))
                delay = min(delay * 2, 5.0)
                continue
            if resp.status < 400:
                return resp, data
            if stream:
                try:
                    data = await resp.read()
                finally:
                    resp.release()
            error = errors.from_status(
                resp.status, _decode(data or b"", resp.content_type),
                retry_after=_retry_after(resp.headers), fallback_message=f"{method} {path}")
            retryable = resp.status == 429 or (
                resp.status >= 500 and error.retry_after is not None and idempotent)
            if retryable and throttled < self.max_throttle_retries:
                throttled += 1
                wait = min(self.max_retry_after, error.retry_after if error.retry_after is not None else 1.0)
                log.info("api server throttled method=%s path=%s code=%d wait=%.1fs",
                         method, path, resp.status, wait)
                await asyncio.sleep(wait)
                continue
            raise error

    async def request(
        self, method: str, path: str, *, params: Mapping[str, ParamValue] | None = None,
        json: Any = None, data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The raw escape hatch: any verb on any path (``pods/binding``, ``pods/log``, …).

        Returns the decoded JSON body, or the text for non-JSON answers (logs).
        """
        hdrs = dict(headers or {})
        body: bytes | None
        if json is not None:
            body = orjson.dumps(json)
            hdrs.setdefault("Content-Type", "application/json")
        else:
            body = data.encode() if isinstance(data, str) else data
        resp, raw = await self._perform(method.upper(), path, params=params, body=body, headers=hdrs)
        return _decode(raw or b"", resp.content_type)

    async def stream(
        self, method: str, path: str, *, params: Mapping[str, ParamValue] | None = None,
        read_timeout: float | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Yield the body's chunks as they arrive (``pods/log?follow=true``, watches).

        A connection lost mid-stream raises ``ConnectionFailed``; a clean end just stops.
        """
        resp, _ = await self._perform(method.upper(), path, params=params, stream=True,
                                      read_timeout=read_timeout)
        index = self._last_index
        failures = self._failures[index]
        try:
            while True:
                # Wake up now and then to notice that another request found this server
                # dead: a frozen server keeps the connection open and silent.
                tick = asyncio.timeout(_STREAM_CHECK)
                try:
                    async with tick:
                        chunk = await resp.content.readany()
                except TimeoutError:
                    if not tick.expired():
                        raise  # aiohttp's read timeout, not our tick
                    if self._failures[index] != failures:
                        raise errors.ConnectionFailed(
                            f"{method} {path}: stream ended: {self.config.servers[index]} stopped answering"
                        ) from None
                    continue
                if not chunk:
                    return
                yield chunk
        except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            if isinstance(exc, TimeoutError):
                self._server_failed(index)  # silent past its read timeout
            raise errors.ConnectionFailed(f"{method} {path}: stream broken: {exc!r}") from exc
        finally:
            resp.close()

    async def _line_batches(self, path: str, params: Mapping[str, ParamValue],
                            read_timeout: float | None) -> AsyncGenerator[builtins.list[bytes], None]:
        """The stream's non-blank lines, as the list each chunk completes."""
        # Split ourselves rather than readline(): aiohttp caps a line at 128 KiB, and one
        # watch event carries a whole object (a ConfigMap may hold 1 MiB). A line split
        # across chunks is kept in pieces and joined once, never re-copied per chunk.
        # aclosing: when our consumer stops early, the HTTP response is closed now, not
        # whenever the garbage collector finalizes the inner generator.
        partial: builtins.list[bytes] = []
        chunks = self.stream("GET", path, params=params, read_timeout=read_timeout)
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                if b"\n" not in chunk:
                    partial.append(chunk)
                    continue
                lines = chunk.split(b"\n")
                if partial:
                    partial.append(lines[0])
                    lines[0] = b"".join(partial)
                    partial = []
                tail = lines.pop()
                if tail:
                    partial.append(tail)
                batch = [line for line in lines if line and not line.isspace()]
                if batch:
                    yield batch
        if partial:
            last = b"".join(partial)
            if not last.isspace():
                yield [last]

    # --- resource verbs ---------------------------------------------------------------

    def _ns(self, res: resources.Resource, namespace: str | None) -> str | None:
        if not res.namespaced:
            return None
        return namespace or self.config.namespace

    async def get(self, res: resources.ResourceLike, name: str, *, namespace: str | None = None,
                  subresource: str | None = None) -> dict[str, Any]:
        r = resources.as_resource(res)
        path = r.path(namespace=self._ns(r, namespace), name=name, subresource=subresource)
        result: dict[str, Any] = await self.request("GET", path)
        return result

    async def list(
        self, res: resources.ResourceLike, *, namespace: str | None = None,
        label_selector: str | None = None, field_selector: str | None = None,
        limit: int | None = None, continue_: str | None = None,
        resource_version: str | None = None, resource_version_match: str | None = None,
        omit_managed_fields: bool = False,
    ) -> dict[str, Any]:
        """One page of a list; ``namespace=None`` lists across all namespaces.
        ``omit_managed_fields``: see ``OMIT_MANAGED_FIELDS``."""
        r = resources.as_resource(res)
        params: dict[str, ParamValue] = {
            "labelSelector": label_selector or None, "fieldSelector": field_selector or None,
            "limit": limit, "continue": continue_ or None, "resourceVersion": resource_version,
            "resourceVersionMatch": resource_version_match,
            OMIT_MANAGED_FIELDS: True if omit_managed_fields else None,
        }
        result: dict[str, Any] = await self.request("GET", r.path(namespace=namespace), params=params)
        return result

    async def list_all(
        self, res: resources.ResourceLike, *, namespace: str | None = None,
        label_selector: str | None = None, field_selector: str | None = None,
        page_size: int = 500, resource_version: str | None = None, omit_managed_fields: bool = False,
    ) -> dict[str, Any]:
        """Every page of a list joined into one ``<Kind>List`` (the first page's
        resourceVersion, which all pages share as one consistent snapshot).

        If the continue token expires midway (410), one unpaged list is made instead, as
        client-go's pager does: slower, but it never returns a torn result.
        """
        kwargs: dict[str, Any] = {"namespace": namespace, "label_selector": label_selector,
                                  "field_selector": field_selector, "omit_managed_fields": omit_managed_fields}
        first: dict[str, Any] | None = None
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            try:
                page = await self.list(res, limit=page_size, continue_=token,
                                       resource_version=None if token else resource_version, **kwargs)
            except errors.Gone:
                if token is None:
                    raise
                log.info("list continue token expired, listing unpaged resource=%s",
                         resources.as_resource(res))
                return await self.list(res, resource_version=resource_version, **kwargs)
            if first is None:
                first = page
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                break
        result = dict(first)
        meta = dict(first.get("metadata") or {})
        meta.pop("continue", None)
        meta.pop("remainingItemCount", None)
        result["metadata"] = meta
        result["items"] = items
        return result

    async def create(
        self, res: resources.ResourceLike, obj: Mapping[str, Any], *, namespace: str | None = None,
        dry_run: bool = False, field_manager: str | None = None,
    ) -> dict[str, Any]:
        r = resources.as_resource(res)
        path = r.path(namespace=self._ns(r, namespace or _namespace_of(obj)))
        params = {"dryRun": "All" if dry_run else None, "fieldManager": field_manager}
        result: dict[str, Any] = await self.request("POST", path, params=params, json=obj)
        return result

    async def update(
        self, res: resources.ResourceLike, obj: Mapping[str, Any], *, namespace: str | None = None,
        subresource: str | None = None, dry_run: bool = False, field_manager: str | None = None,
    ) -> dict[str, Any]:
        """PUT the whole object; its ``metadata.resourceVersion`` makes this a
        compare-and-swap (409 ``Conflict`` if someone wrote in between)."""
        r = resources.as_resource(res)
        name = (obj.get("metadata") or {}).get("name") or ""
        path = r.path(namespace=self._ns(r, namespace or _namespace_of(obj)), name=name,
                      subresource=subresource)
        params = {"dryRun": "All" if dry_run else None, "fieldManager": field_manager}
        result: dict[str, Any] = await self.request("PUT", path, params=params, json=obj)
        return result

    async def patch(
        self, res: resources.ResourceLike, name: str, patch: Any, *, namespace: str | None = None,
        patch_type: PatchType = "merge", subresource: str | None = None,
        field_manager: str | None = None, force: bool | None = None, dry_run: bool = False,
    ) -> dict[str, Any]:
        """PATCH with a merge (dict), strategic merge (dict), JSON (list) or apply patch.

        Server-side apply needs ``field_manager``; ``force`` takes conflicting fields over.
        """
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}")
        if patch_type == "apply" and not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        r = resources.as_resource(res)
        path = r.path(namespace=self._ns(r, namespace), name=name, subresource=subresource)
        params: dict[str, ParamValue] = {
            "fieldManager": field_manager, "dryRun": "All" if dry_run else None,
            "force": force if patch_type == "apply" else None,
        }
        result: dict[str, Any] = await self.request(
            "PATCH", path, params=params, data=orjson.dumps(patch),
            headers={"Content-Type": PATCH_CONTENT_TYPES[patch_type]})
        return result

    @staticmethod
    def _delete_options(
        *, grace_period_seconds: int | None, propagation_policy: str | None,
        preconditions: Mapping[str, str] | None, dry_run: bool,
    ) -> dict[str, Any]:
        opts: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            opts["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy is not None:
            opts["propagationPolicy"] = propagation_policy  # Orphan | Background | Foreground
        if preconditions:
            opts["preconditions"] = dict(preconditions)  # {"uid": …, "resourceVersion": …}
        if dry_run:
            opts["dryRun"] = ["All"]
        return opts

    async def delete(
        self, res: resources.ResourceLike, name: str, *, namespace: str | None = None,
        grace_period_seconds: int | None = None, propagation_policy: str | None = None,
        preconditions: Mapping[str, str] | None = None, dry_run: bool = False,
    ) -> dict[str, Any]:
        """Delete one object; returns the object (still terminating) or a success Status."""
        r = resources.as_resource(res)
        opts = self._delete_options(grace_period_seconds=grace_period_seconds,
                                    propagation_policy=propagation_policy,
                                    preconditions=preconditions, dry_run=dry_run)
        result: dict[str, Any] = await self.request(
            "DELETE", r.path(namespace=self._ns(r, namespace), name=name), json=opts)
        return result

    async def delete_collection(
        self, res: resources.ResourceLike, *, namespace: str | None = None,
        label_selector: str | None = None, field_selector: str | None = None,
        grace_period_seconds: int | None = None, propagation_policy: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        r = resources.as_resource(res)
        opts = self._delete_options(grace_period_seconds=grace_period_seconds,
                                    propagation_policy=propagation_policy,
                                    preconditions=None, dry_run=dry_run)
        params = {"labelSelector": label_selector or None, "fieldSelector": field_selector or None}
        result: dict[str, Any] = await self.request(
            "DELETE", r.path(namespace=self._ns(r, namespace)), params=params, json=opts)
        return result

    async def watch(
        self, res: resources.ResourceLike, *, namespace: str | None = None,
        resource_version: str | None = None, label_selector: str | None = None,
        field_selector: str | None = None, timeout_seconds: int | None = None,
        allow_bookmarks: bool = True, send_initial_events: bool = False,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Yield watch events ``{"type": ADDED|MODIFIED|DELETED|BOOKMARK, "object": …}``.

        The stream ends when the server closes it (``timeout_seconds``); an ``ERROR``
        event raises its mapped error (``errors.Expired`` when ``resource_version`` is too
        old: list again). Use ``contextlib.aclosing`` to close the connection early.
        """
        batches = self.watch_batches(
            res, namespace=namespace, resource_version=resource_version, label_selector=label_selector,
            field_selector=field_selector, timeout_seconds=timeout_seconds, allow_bookmarks=allow_bookmarks,
            send_initial_events=send_initial_events)
        async with contextlib.aclosing(batches):
            async for batch in batches:
                for event in batch:
                    yield event

    async def watch_batches(
        self, res: resources.ResourceLike, *, namespace: str | None = None,
        resource_version: str | None = None, label_selector: str | None = None,
        field_selector: str | None = None, timeout_seconds: int | None = None,
        allow_bookmarks: bool = True, send_initial_events: bool = False, omit_managed_fields: bool = False,
    ) -> AsyncGenerator[builtins.list[dict[str, Any]], None]:
        """``watch``, yielding the events in the lists they arrived in (one per chunk
        read): for consumers of thousands of events a second (informers), one
        generator step per chunk instead of per event. An ``ERROR`` event raises after
        the events before it in its chunk were yielded."""
        r = resources.as_resource(res)
        params: dict[str, ParamValue] = {
            "watch": True, "resourceVersion": resource_version,
            "labelSelector": label_selector or None, "fieldSelector": field_selector or None,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": True if allow_bookmarks else None,
            OMIT_MANAGED_FIELDS: True if omit_managed_fields else None,
        }
        if send_initial_events:
            # The server requires NotOlderThan with sendInitialEvents (watch-list).
            params["sendInitialEvents"] = True
            params["resourceVersionMatch"] = "NotOlderThan"
        # A server that went silent (paused, partitioned) is noticed by the read timeout:
        # a healthy one ends the stream itself at timeout_seconds.
        read_timeout = float(timeout_seconds) + 30.0 if timeout_seconds else None
        if allow_bookmarks and len(self.config.servers) > 1:
            read_timeout = min(read_timeout or WATCH_IDLE_TIMEOUT, WATCH_IDLE_TIMEOUT)
        lines = self._line_batches(r.path(namespace=namespace), params, read_timeout)
        loads = orjson.loads
        async with contextlib.aclosing(lines):
            async for batch in lines:
                events = [loads(line) for line in batch]
                for i, event in enumerate(events):
                    if event.get("type") == "ERROR":
                        if i:
                            yield events[:i]
                        obj = event.get("object")
                        code = int(obj.get("code") or 500) if isinstance(obj, dict) else 500
                        raise errors.from_status(code, obj, fallback_message="watch error")
                yield events
