"""The controller manager: campaigns for the Lease ``kube-controller-manager`` in
``kube-system`` and, while it leads, runs every controller on one set of shared
informers. Called by ``kubelite server`` (``kubelite/cli/main.py``) as
``run(cfg, identity=...)``; of N servers only the leader's controllers act.

A lost lease stops all controllers at once (their work queues shut down and their tasks
are cancelled) before another server can take over; this server then campaigns again
with fresh informers, since its caches may be stale by the time it leads again.

The process's metrics (``metrics``: the work queues' and leadership) are served at
``metrics_address`` whether leading or not, and count across terms.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from typing import Any

from kubelite.aio import tasks
from kubelite.client import config as client_config
from kubelite.client import leaderelection, rest, workqueue
from kubelite.controllers import (
    base,
    clusterroleaggregation,
    cronjob,
    daemonset,
    disruption,
    endpoints,
    endpointslices,
    ephemeral,
    garbagecollector,
    hpa,
    job,
    metrics,
    namespace,
    nodelifecycle,
    replicaset,
    replication,
    resourcequota,
    rootca,
    serviceaccount,
    statefulset,
    volumes,
)
from kubelite.controllers.deployment import DeploymentController
from kubelite.telemetry import http as telemetry_http

log = logging.getLogger("kubelite.controllers.manager")

LEASE_NAME = "kube-controller-manager"

CONTROLLERS: tuple[type[base.Controller], ...] = (
    replicaset.ReplicaSetController,
    replication.ReplicationControllerController,
    DeploymentController,
    garbagecollector.GarbageCollector,
    namespace.NamespaceController,
    serviceaccount.ServiceAccountController,
    rootca.RootCAPublisher,
    endpoints.EndpointsController,
    nodelifecycle.NodeLifecycleController,
    statefulset.StatefulSetController,
    daemonset.DaemonSetController,
    job.JobController,
    cronjob.CronJobController,
    endpointslices.EndpointSliceController,
    volumes.PersistentVolumeController,
    volumes.LocalPathProvisioner,
    volumes.VolumeProtectionController,
    ephemeral.EphemeralVolumeController,
    disruption.DisruptionController,
    hpa.HorizontalPodAutoscalerController,
    resourcequota.ResourceQuotaController,
    clusterroleaggregation.ClusterRoleAggregationController,
)


def enabled_controllers() -> tuple[type[base.Controller], ...]:
    """All controllers, minus those named in ``KUBELITE_DISABLE_CONTROLLERS`` (comma
    separated names such as ``nodelifecycle,cronjob``; an operator's escape hatch)."""
    disabled = {n.strip() for n in os.environ.get("KUBELITE_DISABLE_CONTROLLERS", "").split(",") if n.strip()}
    return tuple(c for c in CONTROLLERS if c.name not in disabled)


async def run_controllers(client: rest.Client, *, lost: asyncio.Event | None = None,
                          measured: metrics.ControllerManagerMetrics | None = None) -> None:
    """Run every enabled controller until cancelled (or ``lost`` is set); their work
    queues report to ``measured`` when given."""
    tg = tasks.TaskGroup("controllers")
    informers = base.SharedInformers(client)
    controllers: list[base.Controller] = [cls(client=client, informers=informers, tg=tg)
                                          for cls in enabled_controllers()]
    if measured is not None:
        for ctl in controllers:  # before the informers start: their first events are adds
            for queue in vars(ctl).values():
                if isinstance(queue, workqueue.WorkQueue):
                    queue.metrics = measured.queue(queue.name)
    try:
        informers.start(tg)
        await informers.wait_synced()
        log.info("controllers starting count=%d informers=%d", len(controllers), len(informers.all()))
        for ctl in controllers:
            ctl.start()
        await (lost.wait() if lost is not None else asyncio.Event().wait())
    finally:
        for ctl in controllers:
            ctl.stop()
        for inf in informers.all():
            await inf.stop()
        await tg.close()


async def run(cfg: client_config.ClientConfig, *, identity: str,
              metrics_address: tuple[str, int] | None = None, **elector_options: Any) -> None:
    """Lead, run controllers, and campaign again after a lost term; until cancelled.
    ``metrics_address``: (host, port) to serve ``GET /metrics`` on (None: not served)."""
    measured = metrics.ControllerManagerMetrics(lease=LEASE_NAME)
    if metrics_address is None:
        await _run(cfg, identity=identity, measured=measured, **elector_options)
        return
    host, port = metrics_address
    async with telemetry_http.serving(measured.registry, host=host, port=port, component="controller-manager"):
        await _run(cfg, identity=identity, measured=measured, **elector_options)


async def _run(cfg: client_config.ClientConfig, *, identity: str, measured: metrics.ControllerManagerMetrics,
               **elector_options: Any) -> None:
    cfg = dataclasses.replace(cfg, user_agent=client_config.component_user_agent("kube-controller-manager"))
    async with rest.Client(cfg, pool_size=512) as client:
        elector = leaderelection.LeaderElector(client, name=LEASE_NAME, identity=identity,
                                               namespace="kube-system", **elector_options)
        while True:
            try:
                async with elector.leading() as leadership:
                    log.info("controller manager leading identity=%s", identity)
                    measured.leading = True
                    try:
                        await run_controllers(client, lost=leadership.lost, measured=measured)
                    finally:
                        measured.leading = False
            except leaderelection.LeadershipLost as exc:
                log.warning("controller manager lost leadership identity=%s error=%s", identity, exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("controller manager failed identity=%s error=%r", identity, exc, exc_info=exc)
                await asyncio.sleep(1.0)
