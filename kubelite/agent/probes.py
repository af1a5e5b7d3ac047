"""Liveness, readiness and startup probes (httpGet, tcpSocket, exec, grpc) and lifecycle hooks.

A pod worker starts one ``ContainerProbes`` per running container instance and reads its
``ready``/``started``/``live`` flags when it computes status; every change of a flag
calls the worker's ``on_change`` so status and restarts follow within a probe period.
Timing is upstream's: ``initialDelaySeconds`` before the first probe, then every
``periodSeconds``; a probe taking longer than ``timeoutSeconds`` fails;
``failureThreshold`` failures in a row flip a flag to false, ``successThreshold``
successes in a row flip it back. Liveness and readiness wait until the startup probe
has succeeded. A failure reads as kubelet's would (``Get "http://…": dial tcp …: connect:
connection refused``), since that is what ``kubectl describe pod`` shows; gRPC probes are
``grpcprobe``'s.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from kubelite.agent import grpcprobe
from kubelite.agent.runtime import interface as rt

log = logging.getLogger("kubelite.agent.probes")

Obj = dict[str, Any]


@dataclass
class Outcome:
    ok: bool
    message: str = ""  # what a probe failure event says (an exec's: the command's output alone)
    error: str = ""    # a failed exec as an error, for hooks: kubelet's "command '…' exited with N: …"

    @property
    def reason(self) -> str:
        """Why the handler failed, in full (the hook events)."""
        return self.error or self.message


def _port(value: Any, container: Obj) -> int:
    """A port number, or a named port of the container."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    for port in container.get("ports") or []:
        if port.get("name") == value:
            return int(port.get("containerPort", 0))
    raise ValueError(f"port {value!r} not found in container")


async def run_handler(handler: Obj, *, runtime: rt.RuntimeDriver, container_id: str, container: Obj,
                      pod_ip: str, timeout: float) -> Outcome:
    """One probe or lifecycle-hook action: exec, httpGet or tcpSocket."""
    try:
        if "exec" in handler:
            cmd = [str(c) for c in (handler["exec"] or {}).get("command") or []]
            result = await runtime.exec(container_id, cmd, timeout=timeout)
            if result.exit_code == 0:
                return Outcome(True)
            if result.exit_code == -1:
                # kubelet's timeout error: the command joined, quoted as Go's %q does
                timed_out = f"command {json.dumps(' '.join(cmd), ensure_ascii=False)} timed out"
                return Outcome(False, timed_out, timed_out)
            # A failed exec probe says what the command printed, nothing else (the prober's
            # "%s probe failed: %s" with the output, empty when it printed nothing).
            out = result.output.decode(errors="replace").strip()
            return Outcome(False, out, f"command '{' '.join(cmd)}' exited with {result.exit_code}: {out}")
        if "httpGet" in handler:
            spec = handler["httpGet"] or {}
            host = spec.get("host") or pod_ip
            scheme = (spec.get("scheme") or "HTTP").lower()
            port = _port(spec.get("port"), container)
            path = spec.get("path") or "/"
            if not path.startswith("/"):
                path = "/" + path
            headers = {h.get("name", ""): h.get("value", "") for h in spec.get("httpHeaders") or []}
            headers.setdefault("User-Agent", "kube-probe/1.37")
            url = f"{scheme}://{_host_port(host, port)}{path}"
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session, \
                        session.get(url, headers=headers, ssl=False, allow_redirects=True) as resp:
                    if 200 <= resp.status < 400:
                        return Outcome(True)
                    return Outcome(False, f"HTTP probe failed with statuscode: {resp.status}")
            except TimeoutError:
                return Outcome(False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while '
                                      "awaiting headers)")
            except aiohttp.ClientConnectorError as exc:
                return Outcome(False, f'Get "{url}": {_dial_error(host, port, exc.os_error)}')
        if "tcpSocket" in handler:
            spec = handler["tcpSocket"] or {}
            host = spec.get("host") or pod_ip
            port = _port(spec.get("port"), container)
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            except TimeoutError:
                return Outcome(False, f"dial tcp {_host_port(host, port)}: i/o timeout")
            except OSError as exc:
                return Outcome(False, _dial_error(host, port, exc))
            writer.close()
            return Outcome(True)
        if "grpc" in handler:
            spec = handler["grpc"] or {}
            ok, message = await grpcprobe.check(pod_ip, int(spec.get("port") or 0), str(spec.get("service") or ""),
                                                 timeout)
            return Outcome(ok, message)
        if "sleep" in handler:
            await asyncio.sleep(min(float((handler["sleep"] or {}).get("seconds", 0)), timeout))
            return Outcome(True)
        return Outcome(False, "unsupported handler")
    except asyncio.CancelledError:
        raise
    except TimeoutError:
        return Outcome(False, "context deadline exceeded")
    except Exception as exc:  # noqa: BLE001 - any failure of the target is a failed probe
        return Outcome(False, str(exc) or type(exc).__name__)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _dial_error(host: str, port: int, exc: OSError) -> str:
    """Go's ``dial tcp HOST:PORT: connect: connection refused`` for a failed connect."""
    reason = {errno.ECONNREFUSED: "connection refused", errno.EHOSTUNREACH: "no route to host",
              errno.ENETUNREACH: "network is unreachable", errno.ETIMEDOUT: "connection timed out"}.get(
        exc.errno or 0, (exc.strerror or str(exc)).lower())
    return f"dial tcp {_host_port(host, port)}: connect: {reason}"


class ContainerProbes:
    """The probes of one running container instance."""

    def __init__(self, *, container: Obj, container_id: str, runtime: rt.RuntimeDriver, pod_ip: str,
                 on_change: Callable[[], None], on_failure: Callable[[str, str], None]) -> None:
        self.container = container
        self.container_id = container_id
        self.runtime = runtime
        self.pod_ip = pod_ip
        self.on_change = on_change
        self.on_failure = on_failure  # (probe kind, message): for the Unhealthy event
        self.started = "startupProbe" not in container
        self.ready = "readinessProbe" not in container
        self.live = True
        self.live_failure = ""
        self.startup_failed = False
        self._started_event = asyncio.Event()
        if self.started:
            self._started_event.set()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, spawn: Callable[[Any, str], asyncio.Task[Any]]) -> None:
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            if kind in self.container:
                self._tasks.append(spawn(self._loop(kind, self.container[kind] or {}),
                                         f"probe/{self.container.get('name')}/{kind}"))

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    async def _loop(self, kind: str, probe: Obj) -> None:
        if kind != "startupProbe":
            await self._started_event.wait()
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        period = float(probe.get("periodSeconds") or 10)
        timeout = float(probe.get("timeoutSeconds") or 1)
        failure_threshold = int(probe.get("failureThreshold") or 3)
        success_threshold = int(probe.get("successThreshold") or 1)
        successes = failures = 0
        label = {"startupProbe": "Startup", "livenessProbe": "Liveness", "readinessProbe": "Readiness"}[kind]
        while True:
            outcome = await run_handler(probe, runtime=self.runtime, container_id=self.container_id,
                                        container=self.container, pod_ip=self.pod_ip, timeout=timeout)
            if outcome.ok:
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
                self.on_failure(label, f"{label} probe failed: {outcome.message}")
            if kind == "startupProbe":
                if outcome.ok:
                    self.started = True
                    self._started_event.set()
                    self.on_change()
                    return
                if failures >= failure_threshold:
                    self.startup_failed = True
                    self.live_failure = f"Container {self.container.get('name')} failed startup probe, will be restarted"
                    self.on_change()
                    return
            elif kind == "livenessProbe":
                if failures >= failure_threshold:
                    self.live = False
                    self.live_failure = f"Container {self.container.get('name')} failed liveness probe, will be restarted"
                    self.on_change()
                    return  # the container will be killed; a new instance gets new probes
            else:
                if outcome.ok and not self.ready and successes >= success_threshold:
                    self.ready = True
                    self.on_change()
                elif not outcome.ok and self.ready and failures >= failure_threshold:
                    self.ready = False
                    self.on_change()
            await asyncio.sleep(period)
