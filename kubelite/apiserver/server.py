"""The API server's lifecycle: datastore, watch cache, registry, PKI, HTTPS listener.

``kubelite server`` and ``kubelite up`` (``kubelite.cli``) run ``APIServer`` as an async
context manager. On first start it creates the CA, the serving certificate, the admin
token and ``<data-dir>/kubeconfig.yaml``; then it makes sure the system namespaces, the
system PriorityClasses, the default RBAC policy and the default StorageClass exist, and
keeps the ``kubernetes`` Service with its Endpoints and EndpointSlice (``bootstrap``).
Requests are authorized by RBAC (``authz``) unless ``authorization_mode`` is AlwaysAllow. Service-account tokens are
signed with a key derived from the CA key (``satokens``), so every server of the cluster
issues and accepts the same tokens.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from kubelite import storage
from kubelite.aio import gctune, tasks
from kubelite.api import scheme, tolerations
from kubelite.apiserver import app as app_module
from kubelite.apiserver import (
    authz,
    bootstrap,
    crds,
    eventttl,
    http1,
    join,
    pki,
    podsecurity,
    registry,
    satokens,
    strategies,
    watchcache,
)
from kubelite.apiserver.authz import rbac as authz_rbac
from kubelite.apiserver.strategies import pods as pod_strategies
from kubelite.apiserver.strategies import serviceaccounts as service_account_admission

log = logging.getLogger("kubelite.apiserver")

SYSTEM_NAMESPACES = bootstrap.SYSTEM_NAMESPACES
# Compact history older than this (upstream compacts etcd every 5 minutes).
COMPACT_EVERY = 300.0


@dataclass
class ServerConfig:
    data_dir: Path
    bind_address: str = "127.0.0.1"
    port: int = 6443
    datastore: str = ""  # default: sqlite://<data_dir>/state.db
    advertise_address: str = "127.0.0.1"
    max_inflight: int = 600
    extra_sans: list[str] = field(default_factory=list)
    join_url: str = ""    # an existing server of the cluster to take the CA and token from
    join_token: str = ""  # from `kubelite token` on that server
    event_ttl: float = eventttl.DEFAULT_TTL  # seconds an Event is kept after its last write (0: for good)
    # admission plugins turned off, by upstream's names (--disable-admission-plugins):
    # "ServiceAccount", "DefaultTolerationSeconds"
    disable_admission_plugins: tuple[str, ...] = ()
    # DefaultTolerationSeconds' tolerations (--default-not-ready-toleration-seconds,
    # --default-unreachable-toleration-seconds; upstream's default is 300)
    default_not_ready_toleration_seconds: int = tolerations.DEFAULT_SECONDS
    default_unreachable_toleration_seconds: int = tolerations.DEFAULT_SECONDS
    # --authorization-mode, by upstream's names: RBAC (enforced) or AlwaysAllow
    authorization_mode: str = "RBAC"

    @property
    def datastore_url(self) -> str:
        return self.datastore or f"sqlite://{self.data_dir / 'state.db'}"

    @property
    def kubeconfig_path(self) -> Path:
        return self.data_dir / "kubeconfig.yaml"


class APIServer:
    """One API server process: ``async with APIServer(cfg) as srv: await srv.serve_forever()``."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.scheme = scheme.Scheme()
        self.tasks = tasks.TaskGroup("apiserver")
        self.backend: Any = None
        self.cache: watchcache.WatchCache | None = None
        self.registry: registry.Registry | None = None
        self.crds: crds.CRDManager | None = None
        self.runner: web.ServerRunner | None = None
        self.listener: asyncio.AbstractServer | None = None
        self.front: http1.Front | None = None
        self.pki: pki.Pki | None = None
        self.url = ""
        self.gc: gctune.TwoGenerations | None = None
        self.system_objects: bootstrap.SystemObjects | None = None

    async def __aenter__(self) -> APIServer:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        hostnames = ["localhost", socket.gethostname()] + [s for s in cfg.extra_sans if not _is_ip(s)]
        ips = ["127.0.0.1", "::1"] + [s for s in cfg.extra_sans if _is_ip(s)]
        if cfg.advertise_address not in ips:
            ips.append(cfg.advertise_address)
        if cfg.bind_address not in ("0.0.0.0", "::") and cfg.bind_address not in ips:
            ips.append(cfg.bind_address)
        if cfg.join_url:
            await join.fetch_cluster_pki(url=cfg.join_url, token=cfg.join_token, data_dir=cfg.data_dir)
        self.pki = await asyncio.to_thread(pki.ensure_pki, cfg.data_dir, hostnames=hostnames, ips=ips)
        self.backend = await storage.open_backend(cfg.datastore_url)
        self.cache = watchcache.WatchCache(self.backend)
        await self.cache.start()
        self.registry = registry.Registry(backend=self.backend, cache=self.cache, scheme_=self.scheme)
        for info in self.scheme.resources:
            self.registry.add(info, strategies.strategy_for(info))
        pods = self.registry.get("", "v1", "pods")
        assert pods is not None and isinstance(pods.strategy, pod_strategies.PodStrategy)
        pods.strategy.service_account_admission = \
            service_account_admission.PLUGIN not in cfg.disable_admission_plugins
        pods.strategy.default_toleration_seconds = None if tolerations.PLUGIN in cfg.disable_admission_plugins \
            else (cfg.default_not_ready_toleration_seconds, cfg.default_unreachable_toleration_seconds)
        if podsecurity.PLUGIN in cfg.disable_admission_plugins:
            podsecurity.disable(self.registry)
        # CustomResourceDefinitions, and the resources of the CRDs already stored.
        self.crds = crds.CRDManager(reg=self.registry, the_scheme=self.scheme)
        self.crds.start()
        await bootstrap.ensure_cluster_objects(self.registry)
        gctune.freeze_startup()  # the stored state, now cached, is long-lived
        self.gc = gctune.TwoGenerations(asyncio.get_running_loop()).start()
        signer = satokens.Signer.from_ca_key(await asyncio.to_thread(self.pki.ca_key.read_bytes))
        authorizer: authz.Authorizer = authz.AlwaysAllow() if cfg.authorization_mode == "AlwaysAllow" \
            else authz_rbac.RBAC(self.registry)
        auth = app_module.AuthConfig(tokens={self.pki.token: app_module.User("admin", [authz.MASTERS])},
                                     service_accounts=satokens.Authenticator(signer, self.registry),
                                     authorizer=authorizer)
        self.front, self.router = app_module.build_app(reg=self.registry, the_scheme=self.scheme, auth=auth,
                                                       max_inflight=cfg.max_inflight)
        self.router.extra_schemas = self.crds.openapi_schemas
        self.router.handlers.token_signer = signer
        # node agents accept the admin token for pods' log/exec/attach/portforward
        self.router.handlers.streams.agent_token = self.pki.token
        self.router.extra[join.PREFIX] = join.make_handler(self.pki)
        # aiohttp serves the connections the HTTP/1.1 front hands it; the front owns the socket.
        self.runner = web.ServerRunner(self.front.fallback, handle_signals=False, shutdown_timeout=2.0)
        await self.runner.setup()
        self.listener = await asyncio.get_running_loop().create_server(
            self.front.protocol, cfg.bind_address, cfg.port, ssl=pki.ssl_context(self.pki), backlog=1024,
            reuse_address=True)
        host = "127.0.0.1" if cfg.bind_address in ("0.0.0.0", "::", "127.0.0.1") else cfg.bind_address
        port = cfg.port
        if port == 0:  # an ephemeral port: find out which one we got
            port = self.listener.sockets[0].getsockname()[1]
        self.url = f"https://{host}:{port}"
        # The kubernetes Service and its endpoints name the port this server listens on; kept
        # (re-created when deleted) by a loop, as upstream's bootstrap controller.
        self.system_objects = bootstrap.SystemObjects(
            self.registry, address=cfg.advertise_address, port=port,
            sole_server=cfg.datastore_url.startswith("sqlite://"))
        await self.system_objects.reconcile()
        self.tasks.spawn(self.system_objects.run(), name="system-objects")
        pki.write_kubeconfig(cfg.kubeconfig_path, server_url=self.url, ca_pem=self.pki.ca_pem(), token=self.pki.token)
        self.tasks.spawn(self._compact_loop(), name="compact")
        if cfg.event_ttl > 0:
            events = self.registry.get("", "v1", "events")
            assert events is not None
            self.tasks.spawn(eventttl.run(events, ttl=cfg.event_ttl), name="event-ttl")
        log.info("api server listening url=%s datastore=%s kubeconfig=%s", self.url, cfg.datastore_url,
                 cfg.kubeconfig_path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.gc is not None:
            self.gc.stop()
        await self.tasks.close()
        if self.crds is not None:
            await self.crds.close()
        if self.listener is not None:
            self.listener.close()
        if self.front is not None:
            self.front.close()
        if self.runner is not None:
            await self.runner.cleanup()
            await self.router.handlers.streams.close()
        if self.cache is not None:
            await self.cache.close()
        if self.backend is not None:
            await self.backend.close()

    async def _compact_loop(self) -> None:
        assert self.backend is not None
        previous = await self.backend.current_revision()
        while True:
            await asyncio.sleep(COMPACT_EVERY)
            current = await self.backend.current_revision()
            if previous > await self.backend.compacted_revision():
                try:
                    await self.backend.compact(previous)
                except Exception as exc:
                    log.warning("compaction failed revision=%d error=%r", previous, exc)
            previous = current

    async def serve_forever(self) -> None:
        """Serve until cancelled. Raises ``StoreStopped`` when the datastore can no longer
        serve (SQLite: its writer process died): a server that answers every write 503 is
        worse than none, since clients and supervisors only fail over from one that is gone."""
        reason = await self.backend.stopped()
        raise StoreStopped(reason)


class StoreStopped(RuntimeError):
    """The datastore stopped for good; the server process must exit (and be restarted)."""


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False
