"""The agent's stream endpoint: container logs, exec, attach and port-forward.

Started by ``kubelite.agent.runner``; the API server proxies ``pods/log``, ``pods/exec``,
``pods/attach`` and ``pods/portforward`` here (kubelet's own paths):

- ``GET /containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&timestamps=&sinceSeconds=&sinceTime=&previous=``
  → ``text/plain``, chunked, open while following.
- ``GET /exec/{namespace}/{pod}/{container}?command=…&command=…&stdin=&stdout=&stderr=&tty=``
  and ``GET /attach/{namespace}/{pod}/{container}?stdin=&stdout=&stderr=&tty=``
  → WebSocket, subprotocol ``v5.channel.k8s.io`` (or v4): binary frames led by a channel
  byte (0 stdin, 1 stdout, 2 stderr, 3 error/Status, 4 resize, 255 close).
- ``GET /portForward/{namespace}/{pod}?ports=80,…`` → WebSocket ``v4.channel.k8s.io`` /
  ``portforward.k8s.io`` channel framing: per port i channels 2i (data) and 2i+1 (error),
  each opened with the port as 2 bytes little-endian (the Python client's protocol).

- ``GET /metrics`` → Prometheus text: kubelet's ``kubelet_running_pods``,
  ``kubelet_running_containers`` and ``kubelet_pod_start_duration_seconds``
  (``kubelite.agent.metrics``).
- ``GET /stats/summary`` → JSON shaped like kubelet's Summary API (``node`` and ``pods[]``
  with per-container ``cpu.usageNanoCores`` and ``memory.workingSetBytes``, plus kubelite's
  ``cpu.windowSeconds``). ``StatsSampler`` refreshes it in the background every few
  seconds, so the answer is instant; the API server's ``metrics.k8s.io`` API
  (``kubelite.apiserver.metrics``) reads it for ``kubectl top``.

Plain HTTP on ``127.0.0.1`` (by default); every request must carry
``Authorization: Bearer <token>`` where the token is the agent's own credential for the API
server (in ``kubelite up`` and the tests that is the cluster admin token the API server
also holds). The URL is published in the Node annotation ``kubelite.io/agent-url`` and the
port in ``status.daemonEndpoints.kubeletEndpoint.Port``.
"""

from __future__ import annotations

import asyncio
import datetime
import hmac
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from kubelite.agent import pods as pods_mod
from kubelite.agent.runtime import interface as rt
from kubelite.aio import tasks
from kubelite.telemetry import http as telemetry_http

log = logging.getLogger("kubelite.agent.server")

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
PF_PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io", "channel.k8s.io")
# Resource usage is sampled this often (metrics-server scrapes every 15 s, kubelet's
# cAdvisor housekeeping runs every 10-15 s); a rate needs two samples, so something
# seen for the first time is sampled again after FAST_SAMPLE_INTERVAL.
SAMPLE_INTERVAL = 5.0
FAST_SAMPLE_INTERVAL = 1.0
STATS_CONCURRENCY = 16
_KEEP: Any = object()  # "not sampled this pass: keep the last reading"


async def _kept() -> Any:
    return _KEEP
_CLOCK_TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes", "")


def _status_frame(code: int | None, message: str = "") -> bytes:
    """The Status ending an exec or attach on the error channel, as kubelet writes it:
    Success, NonZeroExitCode with the code as a cause, or (``code`` None: the runtime
    failed) upstream's ``NewInternalError``, whose cause repeats the error."""
    if code == 0:
        body: dict[str, Any] = {"metadata": {}, "status": "Success"}
    elif code is None:
        body = {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
                "reason": "InternalError", "details": {"causes": [{"message": message}]}, "code": 500}
    else:
        body = {"metadata": {}, "status": "Failure", "message": f"command terminated with non-zero exit code: {code}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
    return b"\x03" + orjson.dumps(body)


def _since(seconds: str | None, when: str | None) -> float | None:
    """The earliest time wanted in a log (epoch seconds), from ``sinceSeconds`` and/or an
    RFC 3339 ``sinceTime``: the later of the two, as kubelet's NewLogOptions."""
    found: list[float] = []
    if seconds:
        found.append(time.time() - float(seconds))
    if when:
        try:
            found.append(datetime.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp())
        except ValueError:
            raise web.HTTPBadRequest(text=f'invalid value for sinceTime: "{when}" is not an RFC 3339 time') from None
    return max(found) if found else None


def _rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Point:
    """One reading of a cumulative CPU counter (ns) and the memory working set (bytes)."""

    mono: float
    wall: float
    cpu_ns: float
    working_set: float
    usage: float


@dataclass
class _Usage:
    """The latest reading and the CPU rate since the reading before (None until there are two)."""

    point: _Point
    nanocores: int | None = None
    window: float = 0.0

    def advance(self, point: _Point) -> _Usage:
        elapsed = point.mono - self.point.mono
        if elapsed <= 0 or point.cpu_ns < self.point.cpu_ns:
            # a restarted counter (container restarted in place): start over
            return _Usage(point=point)
        return _Usage(point=point, nanocores=int((point.cpu_ns - self.point.cpu_ns) / elapsed), window=elapsed)

    def cpu(self) -> dict[str, Any]:
        return {"time": _rfc3339(self.point.wall), "usageNanoCores": self.nanocores or 0,
                "usageCoreNanoSeconds": int(self.point.cpu_ns), "windowSeconds": round(self.window, 3)}

    def memory(self) -> dict[str, Any]:
        return {"time": _rfc3339(self.point.wall), "workingSetBytes": int(self.point.working_set),
                "usageBytes": int(self.point.usage)}


def _node_point() -> _Point:
    """The whole machine: busy CPU time from /proc/stat, working set from /proc/meminfo."""
    with open("/proc/stat", "rb") as f:
        cpu = f.readline().split()
    # user nice system idle iowait irq softirq steal …: idle and iowait are not usage
    ticks = [int(v) for v in cpu[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    mem: dict[str, int] = {}
    with open("/proc/meminfo", "rb") as f:
        for line in f:
            key, _, rest = line.partition(b":")
            mem[key.decode()] = int(rest.split()[0]) * 1024
    total = mem.get("MemTotal", 0)
    # MemAvailable is what the kernel could hand out without swapping: the rest is the
    # working set (the kubelet's "usage minus inactive file" for the root cgroup)
    working_set = total - mem.get("MemAvailable", mem.get("MemFree", 0))
    return _Point(mono=time.monotonic(), wall=time.time(), cpu_ns=busy * _CLOCK_TICK_NS,
                  working_set=float(working_set), usage=float(total - mem.get("MemFree", 0)))


class StatsSampler:
    """Background resource-usage sampling of the node and of its pods' running containers.

    ``AgentServer`` starts it and answers ``/stats/summary`` from ``summary()``.
    """

    def __init__(self, runtime: rt.RuntimeDriver, *, node_name: str, interval: float = SAMPLE_INTERVAL) -> None:
        self.runtime = runtime
        self.node_name = node_name
        self.interval = interval
        self.node: _Usage | None = None
        # container id → (its runtime info, its usage)
        self.containers: dict[str, tuple[rt.ContainerInfo, _Usage]] = {}
        self._limit = asyncio.Semaphore(STATS_CONCURRENCY)
        self._boot = time.time() - time.monotonic()

    async def run(self) -> None:
        last_full = -self.interval
        while True:
            # Every interval all containers; in between only those still without a rate:
            # a burst of 100 starting pods must not cost the engine 100 stats calls a second
            # while it starts them.
            full = time.monotonic() - last_full >= self.interval
            try:
                await self.sample(only_new=not full)
                if full:
                    last_full = time.monotonic()
            except rt.DriverError as exc:
                log.warning("stats sampling failed node=%s error=%s", self.node_name, exc)
            settled = self.node is not None and self.node.nanocores is not None and \
                all(u.nanocores is not None for _, u in self.containers.values())
            await asyncio.sleep(self.interval if settled else FAST_SAMPLE_INTERVAL)

    async def sample(self, *, only_new: bool = False) -> None:
        try:
            point = _node_point()
            self.node = _Usage(point=point) if self.node is None else self.node.advance(point)
        except (OSError, ValueError, IndexError) as exc:
            log.debug("node stats unavailable error=%r", exc)
        running = [c for c in await self.runtime.list_containers(node_name=self.node_name)
                   if c.state == rt.State.RUNNING]  # sidecars (running init containers) count too
        known = self.containers

        def wanted(c: rt.ContainerInfo) -> bool:
            return not only_new or c.id not in known or known[c.id][1].nanocores is None

        readings = await asyncio.gather(*(self._read(c.id) if wanted(c) else _kept() for c in running))
        fresh: dict[str, tuple[rt.ContainerInfo, _Usage]] = {}
        for info, reading in zip(running, readings):
            if reading is _KEEP:
                fresh[info.id] = known[info.id]
                continue
            if reading is None:
                continue
            before = self.containers.get(info.id)
            fresh[info.id] = (info, _Usage(point=reading) if before is None else before[1].advance(reading))
        self.containers = fresh  # containers that stopped or went away drop out here

    async def _read(self, container_id: str) -> _Point | None:
        async with self._limit:
            try:
                stats = await self.runtime.stats(container_id)
            except Exception as exc:  # noqa: BLE001 - one container's stats must not stop the others
                log.debug("container stats unavailable id=%s error=%r", container_id[:12], exc)
                return None
        return _Point(mono=time.monotonic(), wall=time.time(), cpu_ns=float(stats.get("cpu_usage_ns", 0.0)),
                      working_set=float(stats.get("memory_bytes", 0.0)),
                      usage=float(stats.get("memory_usage_bytes", stats.get("memory_bytes", 0.0))))

    def summary(self) -> dict[str, Any]:
        """Kubelet's Summary shape. A pod appears once every running container of it has a
        CPU rate (two samples), so that a pod's total never silently misses a container."""
        node: dict[str, Any] = {"nodeName": self.node_name, "startTime": _rfc3339(self._boot)}
        if self.node is not None and self.node.nanocores is not None:
            node["cpu"], node["memory"] = self.node.cpu(), self.node.memory()
        pending = {info.pod_uid for info, usage in self.containers.values() if usage.nanocores is None}
        pods: dict[str, dict[str, Any]] = {}
        for info, usage in sorted(self.containers.values(), key=lambda e: (e[0].namespace, e[0].pod_name,
                                                                            e[0].name)):
            if info.pod_uid in pending:
                continue
            pod = pods.setdefault(info.pod_uid, {
                "podRef": {"name": info.pod_name, "namespace": info.namespace, "uid": info.pod_uid},
                "containers": []})
            pod["containers"].append({"name": info.name, "startTime": _rfc3339(info.started_at or info.created_at),
                                      "cpu": usage.cpu(), "memory": usage.memory()})
        return {"node": node, "pods": list(pods.values())}


class AgentServer:
    def __init__(self, manager: pods_mod.PodManager, *, token: str | None, bind: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.manager = manager
        self.runtime = manager.runtime
        self.token = token
        self.bind = bind
        self.port = port
        self._runner: web.AppRunner | None = None
        self.sampler = StatsSampler(self.runtime, node_name=manager.node_name)
        self._tasks = tasks.TaskGroup(f"agent-server/{manager.node_name}")

    @property
    def url(self) -> str:
        return f"http://{self.bind}:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        for verb in ("exec", "attach"):
            app.router.add_get(f"/{verb}/{{namespace}}/{{pod}}/{{container}}", self._exec)
            app.router.add_post(f"/{verb}/{{namespace}}/{{pod}}/{{container}}", self._exec)
        app.router.add_get("/portForward/{namespace}/{pod}", self._port_forward)
        app.router.add_get("/stats/summary", self._stats_summary)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.bind, self.port)
        try:
            await site.start()
        except OSError:
            # The wanted port is taken (another agent on this machine): any free one will do,
            # since the URL is published on the Node.
            site = web.TCPSite(self._runner, self.bind, 0)
            await site.start()
        server = site._server
        if server is not None and server.sockets:  # type: ignore[union-attr]
            self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        self._tasks.spawn(self.sampler.run(), name="stats")

    async def close(self) -> None:
        await self._tasks.close(timeout=2.0)
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/healthz" or self.token is None:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else ""
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "message": "Unauthorized", "reason": "Unauthorized", "code": 401}, status=401)
        return await handler(request)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _metrics(self, request: web.Request) -> web.Response:
        metrics = self.manager.metrics
        await metrics.refresh(self.runtime, node_name=self.manager.node_name)
        return telemetry_http.metrics_response(metrics.registry)

    async def _stats_summary(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(self.sampler.summary()), content_type="application/json")

    async def _find(self, request: web.Request, *, previous: bool = False) -> tuple[dict[str, Any], rt.ContainerInfo]:
        info = request.match_info
        try:
            return await self.manager.container(info["namespace"], info["pod"], info.get("container"),
                                                previous=previous)
        except LookupError as exc:
            raise web.HTTPBadRequest(text=str(exc.args[0]) if exc.args else "not found") from None

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        _, info = await self._find(request, previous=_truthy(q.get("previous")) if "previous" in q else False)
        tail = int(q["tailLines"]) if q.get("tailLines") not in (None, "") else None
        since = _since(q.get("sinceSeconds"), q.get("sinceTime"))
        limit = int(q["limitBytes"]) if q.get("limitBytes") else None
        follow = _truthy(q.get("follow")) if "follow" in q else False
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        sent = 0
        try:
            async for chunk in self.runtime.logs(info.id, follow=follow, tail=tail,
                                                 timestamps=_truthy(q.get("timestamps")) if "timestamps" in q else False,
                                                 since=since):
                if limit is not None:
                    chunk = chunk[: max(0, limit - sent)]
                await resp.write(chunk)
                sent += len(chunk)
                if limit is not None and sent >= limit:
                    break
        except (ConnectionResetError, aiohttp.ClientConnectionError):
            pass
        try:
            await resp.write_eof()
        except (ConnectionResetError, aiohttp.ClientConnectionError):
            pass  # the reader (the API server's proxy) has gone
        return resp

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        attach = request.path.startswith("/attach/")
        _, info = await self._find(request)
        if info.state != rt.State.RUNNING:
            raise web.HTTPBadRequest(text=f"container {info.name} is not running")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            # after the checks above, so that a plain request learns why an upgrade would fail
            raise web.HTTPBadRequest(text="exec and attach are served over WebSocket only (v5.channel.k8s.io)")
        ws = web.WebSocketResponse(protocols=PROTOCOLS)
        await ws.prepare(request)
        v5 = ws.ws_protocol == "v5.channel.k8s.io"
        want_stdin, tty = _truthy(q.get("stdin")) if "stdin" in q else False, _truthy(q.get("tty")) if "tty" in q else False
        try:
            if attach:
                session = await self.runtime.attach_session(info.id, stdin=want_stdin, tty=tty)
            else:
                session = await self.runtime.exec_session(info.id, list(q.getall("command", [])), tty=tty,
                                                          stdin=want_stdin)
        except (rt.DriverError, Exception) as exc:  # noqa: BLE001 - reported on the error channel
            doing = "error attaching to container" if attach else "error executing command in container"
            await ws.send_bytes(_status_frame(None, f"{doing}: {exc}"))
            await ws.close()
            return ws

        async def pump_out() -> None:
            while True:
                item = await session.read()
                if item is None:
                    return
                stream, data = item
                await ws.send_bytes(bytes([stream]) + data)

        async def pump_in() -> None:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                    continue
                channel, data = msg.data[0], msg.data[1:]
                if channel == 0:
                    await session.write(data)
                elif channel == 4:
                    size = orjson.loads(data)
                    await session.resize(int(size.get("Width", 80)), int(size.get("Height", 24)))
                elif channel == 255 and v5 and data[:1] == b"\x00":
                    await session.close_stdin()

        reader = asyncio.ensure_future(pump_in())
        try:
            await pump_out()
            code = 0 if attach else await session.exit_code()
            await ws.send_bytes(_status_frame(code))
        except (ConnectionResetError, aiohttp.ClientConnectionError):
            pass
        finally:
            reader.cancel()
            await session.close()
            await ws.close()
        return ws

    async def _port_forward(self, request: web.Request) -> web.StreamResponse:
        pod = self.manager.pod(request.match_info["namespace"], request.match_info["pod"])
        if pod is None:
            raise web.HTTPNotFound(text=f'pods "{request.match_info["pod"]}" not found')
        pod_ip = (pod.get("status") or {}).get("podIP")
        if not pod_ip:
            raise web.HTTPBadRequest(text="pod has no IP yet")
        ports = [int(p) for p in request.query.get("ports", "").split(",") if p.strip()]
        if not ports:
            raise web.HTTPBadRequest(text="ports are required")
        ws = web.WebSocketResponse(protocols=PF_PROTOCOLS)
        await ws.prepare(request)
        conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = []
        for i, port in enumerate(ports):
            prefix = port.to_bytes(2, "little")
            await ws.send_bytes(bytes([2 * i]) + prefix)
            await ws.send_bytes(bytes([2 * i + 1]) + prefix)
            try:
                conns.append(await asyncio.open_connection(pod_ip, port))
            except OSError as exc:
                conns.append(None)
                await ws.send_bytes(bytes([2 * i + 1]) + f"error connecting to {pod_ip}:{port}: {exc}".encode())

        live = {"pumps": sum(1 for c in conns if c is not None)}

        async def pump(i: int, reader: asyncio.StreamReader) -> None:
            try:
                while data := await reader.read(65536):
                    await ws.send_bytes(bytes([2 * i]) + data)
            except (ConnectionResetError, aiohttp.ClientConnectionError):
                pass
            live["pumps"] -= 1
            if live["pumps"] == 0:
                # every pod connection has ended: closing is how the client learns of the EOF
                await ws.close()

        pumps = [asyncio.ensure_future(pump(i, c[0])) for i, c in enumerate(conns) if c is not None]
        if not pumps:
            await ws.close()  # nothing to forward: the errors were sent on the error channels
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                    continue
                channel = msg.data[0]
                if channel % 2 == 0 and channel // 2 < len(conns):
                    conn = conns[channel // 2]
                    if conn is not None:
                        conn[1].write(msg.data[1:])
                        await conn[1].drain()
        finally:
            for task in pumps:
                task.cancel()
            for conn in conns:
                if conn is not None:
                    conn[1].close()
        return ws
