"""Entry point of the scheduler inside ``kubelite server``: campaign for the
``kube-system/kube-scheduler`` Lease and, while leading, run a ``Scheduler``.

Called by ``kubelite/cli/main.py`` (``runner.run(cfg, identity=…)``). Each term starts
from fresh informers and an empty cache, as upstream's scheduler restarts on losing
the lease, so a new leader never acts on a stale picture. The metrics (``metrics``) are
the process's, served at ``metrics_address`` whether leading or not, and count across
terms.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from kubelite.aio import gctune
from kubelite.client import config, leaderelection, rest
from kubelite.scheduler import config as sched_config
from kubelite.scheduler import metrics as metrics_mod
from kubelite.scheduler import queue as queue_mod
from kubelite.scheduler import scheduler as scheduler_mod
from kubelite.telemetry import http as telemetry_http

log = logging.getLogger("kubelite.scheduler")


async def run(cfg: config.ClientConfig, *, identity: str,
              on_term: Callable[[scheduler_mod.Scheduler], None] | None = None,
              settings: sched_config.SchedulerConfig | None = None,
              metrics_address: tuple[str, int] | None = None) -> None:
    """Run forever: lead (or wait to), schedule while leading, campaign again when lost.
    ``on_term`` is given each term's ``Scheduler`` before it starts: a benchmark hooks its
    pod informer there, as scheduler_perf's throughput collector hooks the scheduler's.
    ``settings``: the ``--config`` file's profiles, backoff and Lease (default: upstream's
    defaults). ``metrics_address``: (host, port) to serve ``GET /metrics`` on (None: not
    served)."""
    # The collector's settings for a process holding the cluster as JSON trees (see
    # gctune). The CLI applies them too; a scheduler started by other means (benchmarks
    # run ``runner.run`` directly) must not scan its picture of the cluster 60 times a
    # second: with the defaults, collections took a fifth of this process's CPU.
    gctune.tune()
    collector = gctune.TwoGenerations(asyncio.get_running_loop()).start()
    metrics = metrics_mod.SchedulerMetrics()
    try:
        if metrics_address is None:
            await _run(cfg, identity=identity, on_term=on_term, settings=settings or sched_config.default(),
                       metrics=metrics)
            return
        host, port = metrics_address
        async with telemetry_http.serving(metrics.registry, host=host, port=port, component="scheduler"):
            await _run(cfg, identity=identity, on_term=on_term, settings=settings or sched_config.default(),
                       metrics=metrics)
    finally:
        collector.stop()


async def _run(cfg: config.ClientConfig, *, identity: str,
               on_term: Callable[[scheduler_mod.Scheduler], None] | None,
               settings: sched_config.SchedulerConfig, metrics: metrics_mod.SchedulerMetrics) -> None:
    # Binding thousands of pods a second needs headroom above a controller's rate limit.
    cfg = dataclasses.replace(cfg, qps=max(cfg.qps, 20000.0), burst=max(cfg.burst, 40000),
                              user_agent=config.component_user_agent("kube-scheduler"))
    async with rest.Client(cfg, pool_size=512) as client:
        elector = leaderelection.LeaderElector(client, name=settings.lease_name, namespace=settings.lease_namespace,
                                               identity=identity)
        while True:
            try:
                async with elector.leading() as leadership:
                    log.info("scheduler leading identity=%s", identity)
                    sched = scheduler_mod.Scheduler(
                        client, identity=identity, profiles=settings.frameworks(client),
                        still_leader=leadership.still_leader, on_synced=gctune.freeze_startup,
                        queue=queue_mod.SchedulingQueue(initial_backoff=settings.initial_backoff,
                                                        max_backoff=settings.max_backoff),
                        metrics=metrics)
                    if on_term is not None:
                        on_term(sched)
                    metrics.queue = sched.queue
                    try:
                        await sched.run(leadership.lost)
                    finally:
                        metrics.queue = None
                        # This term's picture goes: let the collector see it again, or
                        # its cycles (handlers bound to the scheduler) would keep it all.
                        gctune.thaw()
            except leaderelection.LeadershipLost as exc:
                log.warning("scheduler lost leadership error=%s", exc)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep campaigning whatever one term did
                log.exception("scheduler term failed")
                await asyncio.sleep(1.0)
