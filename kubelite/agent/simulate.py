"""``kubelite simulate --nodes N``: N fake nodes in one process (the KWOK idea).

Called by ``kubelite.cli.main`` for scheduler and control-plane benchmarks and scale tests.
Every node registers like a real agent (capacity, labels, conditions Ready), renews its
Lease in ``kube-node-lease``, and runs the pods bound to it with the ``fake`` runtime
(Running at once, nothing executed) through the same pod manager a real agent uses.

All nodes share ONE pod informer (a real agent watches only its own pods): 1,000 watch
streams would cost the API server far more than the nodes themselves.

Heartbeats use Kubernetes' own defaults here (Lease of 40 s renewed every 10 s, status
every 60 s) rather than the real agent's faster 10 s / 2 s, so that 1,000 nodes cost the
API server about 100 Lease writes per second.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import Any

from kubelite.agent import events, pods
from kubelite.agent import node as node_mod
from kubelite.agent.runtime import fake
from kubelite.aio import tasks
from kubelite.client import config as config_mod
from kubelite.client import errors, informer, resources, rest

log = logging.getLogger("kubelite.agent.simulate")

SIM_CAPACITY = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"}


class _NodePods:
    """One node's slice of the shared pod informer, with the informer methods PodManager uses."""

    def __init__(self, shared: informer.Informer, node: str) -> None:
        self.shared = shared
        self.node = node
        self.handlers: list[dict[str, Any]] = []

    def add_handler(self, **handlers: Any) -> None:
        self.handlers.append(handlers)

    def start(self, tg: tasks.TaskGroup) -> None:
        pass  # the shared informer runs once for every node

    async def stop(self) -> None:
        pass

    async def wait_synced(self, timeout: float | None = None) -> None:
        await self.shared.has_synced.wait()

    def get(self, key: str) -> dict[str, Any] | None:
        pod = self.shared.get(key)
        return pod if pod is not None and (pod.get("spec") or {}).get("nodeName") == self.node else None

    def list(self) -> list[dict[str, Any]]:
        return list(self.shared.by_index("node", self.node))

    def dispatch(self, event: str, *args: Any) -> None:
        for handlers in self.handlers:
            handler = handlers.get(event)
            if handler is not None:
                handler(*args)


def _shared_pods(client: rest.Client, views: dict[str, _NodePods]) -> informer.Informer:
    shared = informer.Informer(client, resources.PODS, watch_timeout=300.0)
    shared.add_index("node", lambda pod: [(pod.get("spec") or {}).get("nodeName") or ""])

    def view_of(pod: dict[str, Any]) -> _NodePods | None:
        return views.get((pod.get("spec") or {}).get("nodeName") or "")

    def on_add(pod: dict[str, Any]) -> None:
        view = view_of(pod)
        if view is not None:
            view.dispatch("on_add", pod)

    def on_update(old: dict[str, Any], new: dict[str, Any]) -> None:
        view = view_of(new)
        if view is not None:
            view.dispatch("on_update", old, new)

    def on_delete(pod: dict[str, Any]) -> None:
        view = view_of(pod)
        if view is not None:
            view.dispatch("on_delete", pod)

    shared.add_handler(on_add=on_add, on_update=on_update, on_delete=on_delete)
    return shared


def node_names(count: int, prefix: str) -> list[str]:
    return [f"{prefix}-{i:04d}" for i in range(count)]


async def _one(client: rest.Client, name: str, index: int, *, group: tasks.TaskGroup, data_dir: Path,
               registered: asyncio.Semaphore, view: _NodePods) -> None:
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
                              volumes_root=data_dir / name, recorder=recorder, allocatable=spec.capacity,
                              pods_view=view)
    group.spawn(hb.run_lease(), name=f"{name}/lease")
    group.spawn(hb.run_status(), name=f"{name}/status")
    group.spawn(recorder.run(), name=f"{name}/events")
    group.spawn(manager.run(), name=f"{name}/pods")


async def run(cfg: config_mod.ClientConfig, *, nodes: int, prefix: str = "sim",
              data_dir: Path | None = None, ready: asyncio.Event | None = None) -> None:
    """Register ``nodes`` fake nodes and keep them alive until cancelled."""
    cfg.qps = max(cfg.qps, 2000.0)
    cfg.burst = max(cfg.burst, 4000)
    cfg.user_agent = config_mod.component_user_agent("kubelet")
    base = data_dir or Path(tempfile.mkdtemp(prefix="kubelite-simulate-"))
    group = tasks.TaskGroup("simulate")
    async with rest.Client(cfg) as client:
        try:
            names = node_names(nodes, prefix)
            views: dict[str, _NodePods] = {}
            shared_pods = _shared_pods(client, views)
            views.update({name: _NodePods(shared_pods, name) for name in names})
            shared_pods.start(group)
            registered = asyncio.Semaphore(50)  # registrations in flight at once
            await asyncio.gather(*(_one(client, name, i, group=group, data_dir=base, registered=registered,
                                        view=views[name])
                                   for i, name in enumerate(names)))
            log.info("simulated nodes registered count=%d prefix=%s", nodes, prefix)
            print(f"kubelite simulate: {nodes} nodes registered ({prefix}-0000 …)", flush=True)
            if ready is not None:
                ready.set()
            await asyncio.Event().wait()
        finally:
            await group.close()
