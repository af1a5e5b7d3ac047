"""Pods' streaming subresources: ``log``, ``exec``, ``attach`` and ``portforward``.

``kubelite.apiserver.handlers.Handlers`` sends GET (and POST) requests for these
subresources here. The API server checks the request against the pod as upstream's pod
REST does (container defaulting, completed pods, unscheduled pods), then proxies to the
node agent of the pod's node (``kubelite.agent.server``), found at the Node annotation
``kubelite.io/agent-url`` and called with the agent token (``Streams.agent_token``, the
admin token ``kubelite.apiserver.server`` hands over):

- ``log``: the agent's ``text/plain`` stream, copied chunk by chunk; it ends when either
  side goes.
- ``exec``/``attach``: a WebSocket per side, frames copied both ways (channel byte first:
  0 stdin, 1 stdout, 2 stderr, 3 error/Status, 4 resize, 255 close in v5). The subprotocol
  the client chose is echoed; the ``base64.channel.k8s.io`` variants are translated to the
  agent's binary framing.
- ``portforward``: the Python client's channel WebSocket (``?ports=``) is copied through;
  kubectl's ``SPDY/3.1+portforward.k8s.io`` tunnel is terminated by
  ``kubelite.apiserver.streams_spdy``, one agent WebSocket per forwarded connection — so it
  works for pods on any node the agent can reach.

aiohttp answers WebSocket pings on both legs (autoping).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from multidict import MultiDict

from kubelite.aio import tasks
from kubelite.api import errors
from kubelite.apiserver import registry, streams_spdy

if TYPE_CHECKING:
    from kubelite.apiserver import handlers

log = logging.getLogger("kubelite.apiserver.streams")

Obj = dict[str, Any]

SUBRESOURCES = ("log", "exec", "attach", "portforward")
AGENT_URL_ANNOTATION = "kubelite.io/agent-url"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
# What the agent speaks; the base64 variants are offered to clients and translated here.
CHANNEL_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
BASE64_PROTOCOLS = {"v5.base64.channel.k8s.io": "v5.channel.k8s.io",
                    "v4.base64.channel.k8s.io": "v4.channel.k8s.io",
                    "base64.channel.k8s.io": "channel.k8s.io"}
PORTFORWARD_PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io", "channel.k8s.io")
# How often a silent ``logs -f`` checks that its client is still there (aiohttp does not
# cancel a handler whose client left).
DISCONNECT_POLL = 1.0


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes", "")


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _offered(request: web.Request) -> list[str]:
    return [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]


class Streams:
    """Proxies of pods' streaming subresources to node agents."""

    def __init__(self, reg: registry.Registry, *, agent_token: str | None = None) -> None:
        self.registry = reg
        self.agent_token = agent_token
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # streams last as long as their users want: no overall deadline
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        return self._session

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.agent_token}"} if self.agent_token else {}

    async def serve(self, request: web.Request, t: handlers.Target) -> web.StreamResponse:
        assert t.name is not None and t.namespace is not None
        if t.subresource == "log":
            if request.method != "GET":
                raise errors.MethodNotAllowed("the server does not allow this method on the requested resource "
                                              "(pods/log)")
            return await self.log(request, namespace=t.namespace, name=t.name)
        if t.subresource in ("exec", "attach"):
            return await self.exec(request, namespace=t.namespace, name=t.name, verb=t.subresource)
        return await self.portforward(request, namespace=t.namespace, name=t.name)

    # --- locating the pod, its container and its agent ---------------------------------

    async def _pod(self, namespace: str, name: str) -> Obj:
        store = self.registry.get("", "v1", "pods")
        assert store is not None
        return await store.get(namespace, name)

    async def _agent_url(self, pod: Obj) -> str:
        name = pod["metadata"]["name"]
        node_name = (pod.get("spec") or {}).get("nodeName") or ""
        if not node_name:
            raise errors.BadRequest(f"pod {name} does not have a host assigned")
        nodes = self.registry.get("", "v1", "nodes")
        assert nodes is not None
        try:
            node = await nodes.get(None, node_name)
        except errors.NotFound:
            raise errors.BadRequest(f'node "{node_name}" of pod {name} does not exist') from None
        url = ((node.get("metadata") or {}).get("annotations") or {}).get(AGENT_URL_ANNOTATION, "")
        if not url:
            raise errors.BadRequest(f'node "{node_name}" has no agent serving streams (no {AGENT_URL_ANNOTATION} '
                                    f'annotation)')
        return url.rstrip("/")

    @staticmethod
    def _container(pod: Obj, wanted: str) -> str:
        """The container a request names, or the default one (upstream's rules plus kubectl's annotation)."""
        name = pod["metadata"]["name"]
        spec = pod.get("spec") or {}
        regular = [c["name"] for c in spec.get("containers") or []]
        inits = [c["name"] for c in spec.get("initContainers") or []]
        ephemeral = [c["name"] for c in spec.get("ephemeralContainers") or []]
        if not wanted:
            annotated = ((pod["metadata"].get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION) or "")
            if annotated in regular:
                return annotated
            if len(regular) == 1:
                return regular[0]
            message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(regular)}]"
            if inits:
                message += f" or one of the init containers: [{' '.join(inits)}]"
            if ephemeral:
                message += f" or one of the ephemeral containers: [{' '.join(ephemeral)}]"
            raise errors.BadRequest(message)
        if wanted not in regular + inits + ephemeral:
            raise errors.BadRequest(f"container {wanted} is not valid for pod {name}")
        return wanted

    async def _agent_error(self, resp: aiohttp.ClientResponse) -> errors.StatusError:
        text = (await resp.text(errors="replace")).strip()
        if resp.content_type == "application/json":
            try:
                status = await resp.json()
                text = status.get("message") or text
            except ValueError:
                pass
        if resp.status == 404:
            return errors.NotFound(text or "not found")
        if resp.status in (401, 403):
            return errors.InternalError(f"the node agent refused the API server's credentials: {text}")
        if resp.status >= 500:
            return errors.InternalError(text or f"node agent error {resp.status}")
        return errors.BadRequest(text or f"node agent error {resp.status}")

    # --- log ---------------------------------------------------------------------------

    async def log(self, request: web.Request, *, namespace: str, name: str) -> web.StreamResponse:
        q = request.query
        pod = await self._pod(namespace, name)
        container = self._container(pod, q.get("container", ""))
        params = _log_params(q, pod_name=name)
        if not (pod.get("spec") or {}).get("nodeName"):
            # upstream answers an unscheduled pod's log with an empty stream
            return web.Response(text="", content_type="text/plain")
        url = f"{await self._agent_url(pod)}/containerLogs/{quote(namespace)}/{quote(name)}/{quote(container)}"
        try:
            upstream = await self._client().get(url, params=params, headers=self._auth())
        except aiohttp.ClientError as exc:
            raise errors.InternalError(f"error dialing backend: {exc}") from None
        try:
            if upstream.status != 200:
                raise await self._agent_error(upstream)
            resp = web.StreamResponse(headers={"Content-Type": "text/plain", "Cache-Control": "no-cache, private"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            group = tasks.TaskGroup(f"log/{namespace}/{name}")
            copy = group.spawn(_copy_body(upstream, resp), name=container)
            try:
                # also end when the client is gone while the log is silent
                while not copy.done():
                    await asyncio.wait({copy}, timeout=DISCONNECT_POLL)
                    transport = request.transport
                    if transport is None or transport.is_closing():
                        break
            finally:
                await group.close(timeout=2.0)
            try:
                await resp.write_eof()
            except (ConnectionResetError, RuntimeError):
                pass
            return resp
        finally:
            upstream.release()
            upstream.close()

    # --- exec and attach ---------------------------------------------------------------

    async def exec(self, request: web.Request, *, namespace: str, name: str, verb: str) -> web.StreamResponse:
        q = request.query
        pod = await self._pod(namespace, name)
        container = self._container(pod, q.get("container", ""))
        phase = (pod.get("status") or {}).get("phase", "")
        if phase in ("Succeeded", "Failed"):
            doing = "exec into" if verb == "exec" else "attach"
            raise errors.BadRequest(f"cannot {doing} a container in a completed pod; current phase is {phase}")
        if verb == "exec" and not q.getall("command", []):
            raise errors.BadRequest("you must specify at least 1 command")
        if not any(_truthy(q.get(s)) if s in q else False for s in ("stdin", "stdout", "stderr")):
            raise errors.BadRequest("you must specify at least 1 of stdin, stdout, stderr")
        agent = await self._agent_url(pod)
        params = MultiDict((k, v) for k, v in q.items() if k != "container")
        url = f"{agent}/{verb}/{quote(namespace)}/{quote(name)}/{quote(container)}"
        if not _is_websocket(request):
            # client-go falls back to SPDY (POST + Upgrade: SPDY/3.1) when the WebSocket upgrade
            # failed: tell it why the agent refused, if it did
            await self._agent_reason(url, params=params)
            raise errors.BadRequest(f"{verb} is served over WebSocket only (subprotocol v5.channel.k8s.io); "
                                    f"SPDY upgrades are not supported")
        offered = _offered(request)
        chosen = next((p for p in offered if p in CHANNEL_PROTOCOLS or p in BASE64_PROTOCOLS), None)
        if offered and chosen is None:
            raise errors.BadRequest(f"none of the offered subprotocols {offered} is supported; "
                                    f"use one of {list(CHANNEL_PROTOCOLS)}")
        agent_protocol = BASE64_PROTOCOLS.get(chosen or "", chosen or "channel.k8s.io")
        upstream = await self._dial_ws(url, params=params, protocol=agent_protocol)
        ws = web.WebSocketResponse(protocols=(chosen,) if chosen else ())
        await ws.prepare(request)
        await _splice(ws, upstream, base64_frames=chosen in BASE64_PROTOCOLS, name=f"{verb}/{namespace}/{name}")
        return ws

    async def _dial_ws(self, url: str, *, params: Any, protocol: str) -> aiohttp.ClientWebSocketResponse:
        try:
            return await self._client().ws_connect(url, params=params, protocols=(protocol,), headers=self._auth(),
                                                   max_msg_size=0)
        except aiohttp.WSServerHandshakeError as exc:
            # the handshake error drops the body: ask again plainly for the agent's reason
            await self._agent_reason(url, params=params)
            raise errors.InternalError(f"error upgrading connection to the node agent: {exc.status} {exc.message}") \
                from None
        except aiohttp.ClientError as exc:
            raise errors.InternalError(f"error dialing backend: {exc}") from None

    async def _agent_reason(self, url: str, *, params: Any) -> None:
        """Raise the agent's refusal of a plain GET of ``url`` (it checks before upgrading)."""
        try:
            async with self._client().get(url, params=params, headers=self._auth()) as resp:
                if resp.status >= 400:
                    raise await self._agent_error(resp)
        except aiohttp.ClientError as exc:
            raise errors.InternalError(f"error dialing backend: {exc}") from None

    # --- port-forward ------------------------------------------------------------------

    async def portforward(self, request: web.Request, *, namespace: str, name: str) -> web.StreamResponse:
        pod = await self._pod(namespace, name)
        phase = (pod.get("status") or {}).get("phase", "")
        if phase != "Running":
            raise errors.BadRequest(f"unable to forward port because pod is not running. Current status={phase}")
        agent = await self._agent_url(pod)
        if not _is_websocket(request):
            raise errors.BadRequest("port-forward is served over WebSocket only (subprotocols "
                                    "SPDY/3.1+portforward.k8s.io, v4.channel.k8s.io); SPDY upgrades are not supported")
        offered = _offered(request)
        url = f"{agent}/portForward/{quote(namespace)}/{quote(name)}"
        target = f"{namespace}/{name}"
        if streams_spdy.PROTOCOL in offered:
            ws = web.WebSocketResponse(protocols=(streams_spdy.PROTOCOL,), max_msg_size=0)
            await ws.prepare(request)

            async def connect(port: int) -> aiohttp.ClientWebSocketResponse:
                return await self._dial_ws(url, params={"ports": str(port)}, protocol="v4.channel.k8s.io")

            await streams_spdy.TunnelSession(ws, connect=connect, name=target).run()
            return ws
        ports = [p.strip() for p in request.query.get("ports", "").split(",") if p.strip()] + \
            [p for p in request.query.getall("port", []) if p]
        if not ports or not all(p.isdigit() and 0 < int(p) < 65536 for p in ports):
            raise errors.BadRequest("query parameter \"ports\" is required: a list of port numbers between 1 and "
                                    "65535")
        chosen = next((p for p in offered if p in PORTFORWARD_PROTOCOLS), None)
        upstream = await self._dial_ws(url, params={"ports": ",".join(ports)}, protocol="v4.channel.k8s.io")
        ws = web.WebSocketResponse(protocols=(chosen,) if chosen else (), max_msg_size=0)
        await ws.prepare(request)
        await _splice(ws, upstream, base64_frames=False, name=f"portforward/{target}")
        return ws


def _log_params(q: Any, *, pod_name: str) -> dict[str, str]:
    """PodLogOptions from the query, checked as upstream, in the agent's terms."""
    params: dict[str, str] = {}
    for key in ("follow", "previous", "timestamps"):
        if key in q:
            params[key] = "true" if _truthy(q.get(key)) else "false"
    causes: list[errors.Cause] = []
    for key, minimum in (("tailLines", 0), ("limitBytes", 1), ("sinceSeconds", 1)):
        raw = q.get(key, "")
        if raw == "":
            continue
        try:
            value = int(raw)
        except ValueError:
            raise errors.BadRequest(f'invalid value for {key}: "{raw}" is not an integer') from None
        if value < minimum:
            causes.append(errors.invalid_value(key, value, "must be greater than or equal to 0" if minimum == 0
                                               else "must be greater than 0"))
        params[key] = str(value)
    since_time = q.get("sinceTime", "")
    if since_time:
        if "sinceSeconds" in params:
            causes.append(errors.Cause(reason="FieldValueForbidden", field="sinceTime",
                                       message="at most one of `sinceTime` or `sinceSeconds` may be specified"))
        try:
            when = datetime.datetime.fromisoformat(since_time)
        except ValueError:
            raise errors.BadRequest(f'invalid value for sinceTime: "{since_time}" is not an RFC 3339 time') from None
        elapsed = (datetime.datetime.now(datetime.UTC) - when).total_seconds()
        params["sinceSeconds"] = str(max(1, int(elapsed) + 1))
    if causes:
        raise errors.invalid(kind="PodLogOptions", group="", name=pod_name, causes=causes)
    return params


async def _copy_body(upstream: aiohttp.ClientResponse, resp: web.StreamResponse) -> None:
    try:
        async for chunk in upstream.content.iter_any():
            await resp.write(chunk)
    except (ConnectionResetError, aiohttp.ClientError, RuntimeError):
        pass


async def _splice(client: web.WebSocketResponse, agent: aiohttp.ClientWebSocketResponse, *,
                  base64_frames: bool, name: str) -> None:
    """Copy WebSocket messages both ways until either side closes, then close the other."""

    async def to_agent() -> None:
        try:
            await _client_to_agent()
        except (ConnectionResetError, aiohttp.ClientError, RuntimeError, ValueError):
            pass

    async def to_client() -> None:
        try:
            await _agent_to_client()
        except (ConnectionResetError, aiohttp.ClientError, RuntimeError):
            pass

    async def _client_to_agent() -> None:
        async for msg in client:
            if msg.type == aiohttp.WSMsgType.BINARY:
                await agent.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT and base64_frames and msg.data:
                # base64 framing: the channel as an ASCII digit, then the payload in base64
                await agent.send_bytes(bytes([int(msg.data[0])]) + base64.b64decode(msg.data[1:]))

    async def _agent_to_client() -> None:
        async for msg in agent:
            if msg.type != aiohttp.WSMsgType.BINARY:
                continue
            if base64_frames and msg.data:
                await client.send_str(str(msg.data[0]) + base64.b64encode(msg.data[1:]).decode())
            else:
                await client.send_bytes(msg.data)

    group = tasks.TaskGroup(name)
    legs = {group.spawn(to_agent(), name="in"), group.spawn(to_client(), name="out")}
    try:
        await asyncio.wait(legs, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await group.close(timeout=2.0)
        for ws in (agent, client):
            if not ws.closed:
                try:
                    await ws.close()
                except (ConnectionResetError, RuntimeError):
                    pass
