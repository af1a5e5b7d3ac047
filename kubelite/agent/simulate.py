"""``kubelite simulate --nodes N``: N fake nodes in one process (the KWOK idea).

Called by ``kubelite.cli.main`` for scheduler and control-plane benchmarks and scale tests.
Every node registers like a real agent (capacity, labels, conditions Ready), renews its
Lease in ``kube-node-lease``, and runs the pods bound to it with the ``fake`` runtime
(Running at once, nothing executed) through the same pod manager a real agent uses.

Heartbeats use Kubernetes' own defaults here (Lease of 40 s renewed every 10 s, status
every 60 s) rather than the real agent's faster 10 s / 2 s, so that 1,000 nodes cost the
API server about 100 Lease writes per second.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from kubelite.agent import events, pods
from kubelite.agent import node as node_mod
from kubelite.agent.runtime import fake
from kubelite.aio import tasks
from kubelite.client import config as config_mod
from kubelite.client import errors, rest

log = logging.getLogger("kubelite.agent.simulate")

SIM_CAPACITY = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"}


def node_names(count: int, prefix: str) -> list[str]:
    return [f"{prefix}-{i:04d}" for i in range(count)]


async def _one(client: rest.Client, name: str, index: int, *, group: tasks.TaskGroup, data_dir: Path,
               registered: asyncio.Semaphore) -> None:
    spec = node_mod.NodeSpec(name=name, internal_ip=f"10.{200 + index // 65536 % 50}.{index // 256 % 256}.{index % 256}",
                             capacity=dict(SIM_CAPACITY), runtime_version="fake://1.0",
                             os_image="kubelite simulated node", kernel_version="simulated",
                             labels={"kubelite.io/simulated": "true", "type": "kwok"})
    hb = node_mod.NodeHeartbeat(client, spec, lease_duration=40, renew_interval=10.0, status_interval=60.0)
    async with registered:
        delay = 0.2
        while True:
            try:
                await hb.register()
                await hb.renew_lease()
                break
            except errors.ApiError as exc:
                log.warning("registration failed node=%s error=%s", name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
    recorder = events.Recorder(client, node_name=name)
    manager = pods.PodManager(client, fake.FakeDriver(), node_name=name, host_ip=spec.internal_ip,
                              volumes_root=data_dir / name, recorder=recorder, allocatable=spec.capacity)
    group.spawn(hb.run_lease(), name=f"{name}/lease")
    group.spawn(hb.run_status(), name=f"{name}/status")
    group.spawn(recorder.run(), name=f"{name}/events")
    group.spawn(manager.run(), name=f"{name}/pods")


async def run(cfg: config_mod.ClientConfig, *, nodes: int, prefix: str = "sim",
              data_dir: Path | None = None, ready: asyncio.Event | None = None) -> None:
    """Register ``nodes`` fake nodes and keep them alive until cancelled."""
    cfg.qps = max(cfg.qps, 2000.0)
    cfg.burst = max(cfg.burst, 4000)
    base = data_dir or Path(tempfile.mkdtemp(prefix="kubelite-simulate-"))
    group = tasks.TaskGroup("simulate")
    async with rest.Client(cfg) as client:
        try:
            registered = asyncio.Semaphore(50)  # registrations in flight at once
            await asyncio.gather(*(_one(client, name, i, group=group, data_dir=base, registered=registered)
                                   for i, name in enumerate(node_names(nodes, prefix))))
            log.info("simulated nodes registered count=%d prefix=%s", nodes, prefix)
            print(f"kubelite simulate: {nodes} nodes registered ({prefix}-0000 …)", flush=True)
            if ready is not None:
                ready.set()
            await asyncio.Event().wait()
        finally:
            await group.close()
