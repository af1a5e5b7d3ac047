"""``kubelite agent`` (and the agent half of ``kubelite up``): one node agent until cancelled.

Called by ``kubelite.cli.main``. It picks the runtime (``auto``: Docker when an engine
answers, else host processes with a loud warning), starts the stream endpoint, registers
the Node with that endpoint, then runs the Lease heartbeat, the node status loop, the
event recorder and the pod manager together.

SIGTERM (or SIGINT) stops the agent as it does kubelet: it just exits, after closing what it opened.
Containers of an engine are left running, for the next agent to adopt; the process
runtime, whose containers cannot outlive the agent, ends each of them, whole session and
all, when it closes.

Before the first pod, the agent starts the node's Service network (``kubelite.proxy.node``:
the Service proxy and the cluster DNS on the pod network's gateway, kube-proxy's and
CoreDNS's jobs) and waits for the Services to be listed, as kubelet does, so that every
container gets its Service environment variables. Stopping removes the proxy's rules.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

from kubelite.agent import clusternet, events, localpath, pods
from kubelite.agent import node as node_mod
from kubelite.agent import server as server_mod
from kubelite.agent.runtime import interface as rt
from kubelite.aio import signals, tasks
from kubelite.client import config as config_mod
from kubelite.client import errors, rest
from kubelite.proxy import node as node_services

log = logging.getLogger("kubelite.agent")

SERVICES_SYNC_TIMEOUT = 10.0
DEFAULT_STREAM_PORT = 10250  # kubelet's port; another free one is taken when it is in use


async def make_runtime(kind: str, *, data_dir: Path, pod_cidr: str = "") -> rt.RuntimeDriver:
    if kind in ("docker", "auto"):
        from kubelite.agent.runtime import docker

        net_dir = data_dir / "podnet"
        driver = (docker.DockerDriver(pod_cidr=pod_cidr, state_dir=net_dir) if pod_cidr
                  else docker.DockerDriver(state_dir=net_dir))
        try:
            await driver.start()
            return driver
        except rt.DriverError as exc:
            if kind == "docker":
                raise
            log.warning("no Docker engine (%s): falling back to the process runtime", exc)
            kind = "process"
    if kind == "process":
        from kubelite.agent.runtime import process

        proc = process.ProcessDriver(data_dir=data_dir)
        await proc.start()
        return proc
    if kind == "fake":
        from kubelite.agent.runtime import fake

        fk = fake.FakeDriver()
        await fk.start()
        return fk
    raise ValueError(f"unknown runtime {kind!r}")


async def _register(hb: node_mod.NodeHeartbeat) -> None:
    delay = 0.2
    while True:
        try:
            await hb.register()
            return
        except errors.ApiError as exc:
            log.warning("node registration failed node=%s retry_in=%.1fs error=%s", hb.spec.name, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


@dataclasses.dataclass
class ServiceNetworkOptions:
    """kubelet's --cluster-dns and --cluster-domain; ``proxy``: run the Service proxy and
    cluster DNS on this node (kube-proxy's job, here in the agent)."""

    cluster_dns: str = clusternet.CLUSTER_DNS_IP
    cluster_domain: str = clusternet.CLUSTER_DOMAIN
    proxy: bool = True


async def run(cfg: config_mod.ClientConfig, *, node_name: str, runtime: str, data_dir: Path,
              stream_port: int = DEFAULT_STREAM_PORT, stream_bind: str = "127.0.0.1", pod_cidr: str = "",
              services: ServiceNetworkOptions | None = None) -> None:
    """Run the node agent until cancelled or sent SIGTERM or SIGINT (then it returns normally)."""
    stopped_by = await signals.until_signalled(
        _run(cfg, node_name=node_name, runtime=runtime, data_dir=data_dir, stream_port=stream_port,
             stream_bind=stream_bind, pod_cidr=pod_cidr, services=services or ServiceNetworkOptions()))
    if stopped_by:
        log.info("agent stopped node=%s signal=%s", node_name, stopped_by)


async def _service_network(client: rest.Client, driver: rt.RuntimeDriver, group: tasks.TaskGroup, *,
                           node_name: str, opts: ServiceNetworkOptions) -> tuple[clusternet.ClusterNetwork,
                                                                                 node_services.NodeServices]:
    """Start the node's Service network; pods are made with what it offers (``ClusterNetwork``)."""
    gateway = ""
    pod_gateway = getattr(driver, "pod_gateway", None)
    if opts.proxy and pod_gateway is not None:
        gateway = await pod_gateway()
    net = node_services.NodeServices(client, node_name=node_name, dns_ip=opts.cluster_dns,
                                     domain=opts.cluster_domain, gateway=gateway)
    # As kubelet: no container before the Services are known, or its env would lack them.
    if not await net.start(group, sync_timeout=SERVICES_SYNC_TIMEOUT):
        log.warning("services not listed after %.0fs: pods may start without their service variables",
                    SERVICES_SYNC_TIMEOUT)
    dns_ip = opts.cluster_dns if net.dns_ready else ""
    return clusternet.ClusterNetwork(services=net.view, dns_ip=dns_ip, domain=opts.cluster_domain), net


async def _run(cfg: config_mod.ClientConfig, *, node_name: str, runtime: str, data_dir: Path,
               stream_port: int, stream_bind: str, pod_cidr: str, services: ServiceNetworkOptions) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    driver = await make_runtime(runtime, data_dir=data_dir, pod_cidr=pod_cidr)
    group = tasks.TaskGroup(f"agent/{node_name}")
    stream_server: server_mod.AgentServer | None = None
    service_net: node_services.NodeServices | None = None
    cfg = dataclasses.replace(cfg, user_agent=config_mod.component_user_agent("kubelet"))
    try:
        async with rest.Client(cfg) as client:
            spec = node_mod.NodeSpec.from_host(name=node_name, runtime_version=await driver.version(),
                                               data_dir=data_dir)
            recorder = events.Recorder(client, node_name=node_name)
            manager = pods.PodManager(client, driver, node_name=node_name, host_ip=spec.internal_ip,
                                      volumes_root=data_dir, recorder=recorder, allocatable=spec.capacity)
            manager.cluster_net, service_net = await _service_network(client, driver, group, node_name=node_name,
                                                                      opts=services)
            stream_server = server_mod.AgentServer(manager, token=cfg.bearer_token(), bind=stream_bind,
                                                   port=stream_port)
            await stream_server.start()
            spec.agent_port = stream_server.port
            spec.annotations[node_mod.AGENT_URL_ANNOTATION] = stream_server.url
            hb = node_mod.NodeHeartbeat(client, spec)
            hb.on_event = lambda reason, message: recorder.node_event(reason=reason, message=message)
            recorder.node_event(reason="Starting", message="Starting kubelet.")
            await _register(hb)
            log.info("agent running node=%s runtime=%s streams=%s", node_name, driver.name, stream_server.url)
            group.spawn(hb.run_lease(), name="lease")
            group.spawn(hb.run_status(), name="node-status")
            group.spawn(recorder.run(), name="events")
            cleaner = localpath.LocalPathCleaner(
                client, hostnames={node_name, spec.labels.get(localpath.HOSTNAME_LABEL, node_name)})
            cleaner.start(group)
            try:
                await manager.run()
            finally:
                await cleaner.close()
    finally:
        if service_net is not None:
            await service_net.close()
        await group.close()
        if stream_server is not None:
            await stream_server.close()
        await driver.close()
