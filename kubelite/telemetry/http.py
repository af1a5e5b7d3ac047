"""``GET /metrics`` over plain HTTP, for components without an HTTP server of their own.

The scheduler runs one (``kubelite scheduler --metrics-bind-address``). Loopback by
default and without authentication, as kube-proxy serves its metrics on
``127.0.0.1:10249``: the numbers are about scheduling, never about a pod's contents.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import registry as prom_registry

from kubelite.telemetry import instruments

log = logging.getLogger("kubelite.telemetry")


def metrics_response(registry: prom_registry.CollectorRegistry) -> web.Response:
    """The answer to ``GET /metrics``: the registry as exposition text."""
    return web.Response(body=instruments.render(registry), headers={"Content-Type": instruments.CONTENT_TYPE})


def parse_address(text: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) → (host, port); ``""`` or port 0: None (off).
    Raises ValueError for anything else."""
    if not text:
        return None
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    port = int(port_text)
    if port == 0:
        return None
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {text!r}")
    return host.strip("[]") or "0.0.0.0", port


@contextlib.asynccontextmanager
async def serving(registry: prom_registry.CollectorRegistry, *, host: str, port: int,
                  component: str) -> AsyncIterator[bool]:
    """Serve ``/metrics`` and ``/healthz`` on ``host:port`` while the block runs. Yields
    False, after a warning, if the port is taken: metrics are not worth stopping the
    component for (several servers on one machine all start a scheduler)."""

    async def metrics(_request: web.Request) -> web.Response:
        return metrics_response(registry)

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            log.warning("metrics not served component=%s address=%s:%d error=%s", component, host, port, exc)
            yield False
            return
        log.info("metrics served component=%s url=http://%s:%d/metrics", component, host, port)
        yield True
    finally:
        await runner.cleanup()
