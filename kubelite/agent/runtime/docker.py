"""The Docker runtime driver: pods as real containers through the Docker Engine API.

Used by the node agent's pod workers (through ``RuntimeDriver``, see ``interface``).

Pods live on the ``kubelite`` bridge network with an address the agent picks itself
(``podnet``), so the IP is known before the first container exists and survives
container restarts. A pod with exactly one app container (no init containers, not
hostNetwork) has no sandbox container: its *virtual* sandbox is an id derived from the
pod uid plus the chosen IP, and the app container itself owns the network namespace
(hostname, static IP, port bindings, DNS); a restart creates a new container with the
same IP. That halves the containers per pod, the bulk of pod start-up time. Without
hostPort, that container even starts with ``NetworkMode: none`` and the agent plumbs its
netns onto the network's bridge itself behind a gate entrypoint (``plumbing``): Docker
attaching it to the user-defined network cost another ~30 % per start. The Docker path
stays for hostPort pods and wherever plumbing is unavailable (not root, no static busybox).

Any other pod has a *sandbox* container (``kubelite/pause:1.0``: it only sleeps) owning
the pod's network namespace on the same network; every app and init container joins it
with ``network_mode=container:<sandbox>`` (and its IPC namespace), so the pod's
containers share localhost. hostNetwork pods' sandboxes sit on the host network.
Containers run with
``HostConfig.Init`` (docker-init as PID 1) so that SIGTERM reaches processes that never
installed a handler, as a kubelet user expects from ``kubectl delete``.

All state the agent needs survives an agent restart as container labels (pod uid, name,
namespace, container name, restart attempt, node, pod IP). Exited containers are kept until the
agent removes them, for ``lastState`` and ``logs --previous``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiodocker
import aiohttp
import orjson

from kubelite.agent.runtime import (
    cgroups,
    dockerqueries,
    dockerspec,
    dockerstreams,
    etcfiles,
    plumbing,
    podnet,
)
from kubelite.agent.runtime import interface as rt

PLUMB_RECHECK_S = 10.0  # seconds between looks for a pod network bridge not (yet) visible

log = logging.getLogger("kubelite.agent.runtime.docker")

PAUSE_IMAGE = "kubelite/pause:1.0"
VIRTUAL_PREFIX = "podnet-"  # + pod uid: the id of a sandbox that has no container


@dataclass
class _Virtual:
    """What the one container of a sandbox-less pod needs to own the pod's network."""

    node_name: str
    ip: str
    hostname: str
    port_bindings: dict[str, Any]
    exposed: dict[str, Any]
    dns: rt.DNSConfig | None  # None: recovered after an agent restart, files already written
    aliases: list[tuple[str, list[str]]]
    created_at: float
    engine_dns: dict[str, Any] = field(default_factory=dict)  # recovered: the engine's DNS keys as they were

    def info(self, pod_uid: str) -> rt.SandboxInfo:
        return rt.SandboxInfo(id=VIRTUAL_PREFIX + pod_uid, pod_uid=pod_uid, state=rt.State.RUNNING, ip=self.ip,
                              created_at=self.created_at)


class DockerDriver(dockerstreams.DockerStreams):
    """``RuntimeDriver`` on the Docker Engine API (aiodocker); logs, exec and attach come
    from ``dockerstreams``, image checks and pulls and container lists from
    ``dockerqueries``."""

    name = "docker"
    supports_mounts = True

    def __init__(self, *, pause_image: str = PAUSE_IMAGE, url: str | None = None,
                 pod_cidr: str = podnet.DEFAULT_CIDR, state_dir: Path | None = None) -> None:
        self.pause_image = pause_image
        # Per-pod files the engine does not write for plumbed pods (/etc/hosts, resolv.conf).
        self._state_dir = state_dir or Path(tempfile.gettempdir()) / "kubelite-podnet"
        self._url = url
        self._pod_cidr = pod_cidr
        self._docker: aiodocker.Docker | None = None
        self._net: podnet.PodNetwork | None = None
        # Sandbox-less pods this agent set up (pod uid → network identity); after an agent
        # restart they are found again from their containers' labels.
        self._virtual: dict[str, _Virtual] = {}
        self._released: set[str] = set()  # virtual sandboxes removed while exited containers stay
        self._owner: dict[str, str] = {}  # container id → pod uid, for containers owning a netns
        self._sandbox_uid: dict[str, str] = {}  # sandbox container id → pod uid
        # Inspect results of exited containers never change: cache them (a sync lists
        # every container of the pod each time).
        self._inspect_cache: dict[str, rt.ContainerInfo] = {}
        self._died: set[str] = set()  # "die" seen, the engine's list may not show it yet
        # "oom" seen. State.OOMKilled was once false for a container its memory limit killed
        # (CI, under load; the cause is not established): the engine's event is a second source.
        self._oom: set[str] = set()
        # Image checks and container lists that a burst of pods shares.
        self._queries = dockerqueries.EngineQueries(docker=lambda: self.docker)
        self._pause_present = False
        # Agent-plumbed pods (``plumbing``): decided once, on the first such pod.
        self._plumber: plumbing.Plumber | None = None
        self._plumb_checked = False
        self._plumb_recheck = 0.0  # monotonic time to look for a missing bridge again
        self._plumb_check_lock = asyncio.Lock()
        self._plumb_ip: dict[str, str] = {}  # container id → pod IP, created here, to plumb at start
        self._plumbed: set[str] = set()  # container ids whose netns is wired
        self._plumb_locks: dict[str, asyncio.Lock] = {}

    @property
    def docker(self) -> aiodocker.Docker:
        if self._docker is None:
            raise rt.DriverError("docker driver not started")
        return self._docker

    @property
    def net(self) -> podnet.PodNetwork:
        if self._net is None:
            self._net = podnet.PodNetwork(self.docker, cidr=self._pod_cidr)
        return self._net

    async def start(self) -> None:
        self._docker = aiodocker.Docker(url=self._url) if self._url else aiodocker.Docker()
        try:
            await asyncio.wait_for(self._docker.version(), 5.0)
        except Exception as exc:
            await self._docker.close()
            self._docker = None
            raise rt.DriverError(f"docker engine not reachable: {exc}") from exc

    async def close(self) -> None:
        if self._docker is not None:
            await self._docker.close()
            self._docker = None

    async def pod_gateway(self) -> str:
        """The pod network's gateway address when it is on this host (a local engine): where
        the node's cluster DNS listens for the pods. Empty for a remote engine."""
        if not self._local_engine():
            return ""
        await self.net.ensure()
        return self.net.gateway

    def _local_engine(self) -> bool:
        """The engine runs on this host (its unix socket): its cgroups are ours to read."""
        return not self._url or self._url.startswith("unix://")

    async def version(self) -> str:
        info = await self.docker.version()
        return f"docker://{info.get('Version', 'unknown')}"

    async def ensure_image(self, image: str, *, policy: str) -> tuple[bool, str]:
        return await self._queries.ensure_image(image, policy=policy)

    # --- sandboxes --------------------------------------------------------------------

    async def create_sandbox(self, cfg: rt.SandboxConfig) -> rt.SandboxInfo:
        if cfg.single_container and not cfg.host_network:
            return await self._create_virtual(cfg)
        # Checked once, not per pod; a create failing with 404 re-checks it below.
        if not self._pause_present and not await self._queries.image_id(self.pause_image):
            raise rt.DriverError(f"sandbox image {self.pause_image} missing (run scripts/build-test-image.sh)")
        self._pause_present = True
        network = ""
        if not cfg.host_network:
            await self.net.ensure()
            network = self.net.name
        config, labels = dockerspec.sandbox_body(cfg, image=self.pause_image, network=network)
        for _ in range(5):  # a new address after each "Address already in use" (a racing agent)
            ip = ""
            if not cfg.host_network:
                ip = await self.net.allocate(cfg.pod_uid)
                labels[rt.LABEL_POD_IP] = ip
                config["NetworkingConfig"] = self.net.endpoint(ip)
            name = f"kubelite_POD_{cfg.pod_name}_{cfg.namespace}_{cfg.pod_uid[:8]}_{uuid.uuid4().hex[:6]}"
            container = None
            try:
                container = await self.docker.containers.create(config, name=name)
                await container.start()
                info = await container.show()
            except aiodocker.DockerError as exc:
                if exc.status == 404:
                    self._pause_present = False
                if ip and podnet.is_conflict(exc):
                    self.net.conflict(cfg.pod_uid, ip)
                    if container is not None:
                        await self.remove_container(container.id)
                    continue
                raise rt.DriverError(f"create sandbox: {exc}") from exc
            self._sandbox_uid[str(info["Id"])] = cfg.pod_uid
            if network and self.net.bridge and self._local_engine():
                plumbing.enable_hairpin(self.net.bridge)
            return dockerspec.sandbox_info(info)
        raise rt.DriverError("create sandbox: no free pod address after 5 tries")

    async def _create_virtual(self, cfg: rt.SandboxConfig) -> rt.SandboxInfo:
        """Only an address: the pod's one container will own the network namespace."""
        self._released.discard(cfg.pod_uid)
        known = self._virtual.get(cfg.pod_uid)
        if known is not None:
            return known.info(cfg.pod_uid)
        ip = await self.net.allocate(cfg.pod_uid)
        bindings, exposed = dockerspec.port_bindings(cfg.ports)
        virtual = _Virtual(node_name=cfg.node_name, ip=ip, hostname=cfg.hostname[:63], port_bindings=bindings,
                           exposed=exposed, dns=cfg.dns, aliases=list(cfg.host_aliases),
                           created_at=time.time())
        self._virtual[cfg.pod_uid] = virtual
        return virtual.info(cfg.pod_uid)

    async def list_sandboxes(self, *, node_name: str, pod_uid: str | None = None) -> list[rt.SandboxInfo]:
        labels = {rt.LABEL_NODE: node_name}
        if pod_uid:
            labels[rt.LABEL_POD_UID] = pod_uid
        # One list of the pod's (or node's) containers gives both kinds: sandbox rows, and
        # the containers owning a netns that stand for a virtual sandbox. The rows carry
        # state, creation time and address: no inspect per sandbox (every pod sync lists
        # its sandboxes; 100 starting pods made ~600 extra engine calls otherwise).
        out = []
        owners: dict[str, tuple[str, float]] = {}  # pod uid → (ip, first container's creation)
        # Oldest first: Created has 1 s resolution, and the stable sort of callers then
        # still puts the newest of a same-second pair last.
        for row in reversed(await self._queries.containers(labels)):
            row_labels = row.get("Labels") or {}
            uid = row_labels.get(rt.LABEL_POD_UID, "")
            if row_labels.get(rt.LABEL_NETNS) == "own":
                owners.setdefault(uid, (row_labels.get(rt.LABEL_POD_IP, ""), float(row.get("Created") or 0)))
                continue
            if row_labels.get(rt.LABEL_KIND) != "sandbox":
                continue
            ip = row_labels.get(rt.LABEL_POD_IP, "")
            for network in ((row.get("NetworkSettings") or {}).get("Networks") or {}).values():
                ip = ip or (network or {}).get("IPAddress") or ""
            self._sandbox_uid[row["Id"]] = uid
            out.append(rt.SandboxInfo(id=row["Id"], pod_uid=uid,
                                      state=rt.State.RUNNING if row.get("State") == "running" else rt.State.EXITED,
                                      ip=ip, created_at=float(row.get("Created") or 0)))
        # A virtual sandbox is "running" while its pod has containers, even when the only
        # one exited: the pod keeps its address until the agent removes the sandbox.
        for uid, (ip, created) in owners.items():
            if uid in self._released:
                continue
            known = self._virtual.get(uid)
            if known is not None:
                out.append(known.info(uid))
                continue
            self.net.reserve(uid, ip)  # adopted after an agent restart
            out.append(rt.SandboxInfo(id=VIRTUAL_PREFIX + uid, pod_uid=uid, state=rt.State.RUNNING, ip=ip,
                                      created_at=created))
        for uid, virtual in self._virtual.items():
            if uid not in owners and virtual.node_name == node_name and (pod_uid is None or uid == pod_uid):
                out.append(virtual.info(uid))  # set up, its container not created yet
        if pod_uid and pod_uid not in owners:
            self._released.discard(pod_uid)
        return out

    def _pod_dir(self, pod_uid: str) -> Path:
        return self._state_dir / pod_uid

    async def remove_sandbox(self, sandbox_id: str) -> None:
        if sandbox_id.startswith(VIRTUAL_PREFIX):
            uid = sandbox_id[len(VIRTUAL_PREFIX):]
            self._virtual.pop(uid, None)
            self._released.add(uid)
            self.net.release(uid)
            shutil.rmtree(self._pod_dir(uid), ignore_errors=True)
            return
        await self.stop_container(sandbox_id, timeout=0)
        await self.remove_container(sandbox_id)
        uid = self._sandbox_uid.pop(sandbox_id, "")
        if uid:
            self.net.release(uid)

    # --- containers -------------------------------------------------------------------

    async def create_container(self, cfg: rt.ContainerConfig, *, sandbox: rt.SandboxInfo) -> str:
        config, host, labels = dockerspec.container_body(cfg)
        virtual = None
        if sandbox.id.startswith(VIRTUAL_PREFIX) and cfg.kind == "ephemeral":
            # added to a running sandbox-less pod: it joins the network namespace of the
            # container that owns it (that container's IPC namespace is private to it)
            host["NetworkMode"] = f"container:{await self._netns_owner(cfg)}"
        elif sandbox.id.startswith(VIRTUAL_PREFIX):
            virtual = self._virtual.get(cfg.pod_uid) or await self._recover_virtual(cfg, sandbox)
            labels[rt.LABEL_POD_IP] = virtual.ip
            labels[rt.LABEL_NETNS] = "own"
            config["Hostname"] = virtual.hostname
            plumber = None if virtual.port_bindings else await self._plumbing()
            if plumber is not None:
                labels[plumbing.LABEL_PLUMB] = "veth"
                host["NetworkMode"] = "none"
                config["NetworkDisabled"] = True  # no engine sandbox, no setkey hook (see plumbing)
                host["Binds"].extend(plumbing.binds())
                pod_dir = self._pod_dir(cfg.pod_uid)
                if virtual.dns is None and (pod_dir / "resolv.conf").exists():
                    # recovered after an agent restart: the files written then still hold
                    host["Binds"] += [f"{pod_dir / 'hosts'}:/etc/hosts", f"{pod_dir / 'resolv.conf'}:/etc/resolv.conf"]
                else:
                    host["Binds"].extend(etcfiles.write(pod_dir, hostname=virtual.hostname, ip=virtual.ip,
                                                        dns=virtual.dns or rt.DNSConfig(), aliases=virtual.aliases))
                host["Init"] = False  # the gate ends as docker-init itself (see plumbing)
                image_config = await self._queries.image_config(cfg.image)
                argv = plumbing.resolve_argv(command=cfg.command, args=cfg.args, image_config=image_config)
                if not argv:
                    raise rt.ContainerConfigError("no command specified")
                image_env = dict(e.partition("=")[::2] for e in image_config.get("Env") or [])
                config["Entrypoint"], config["Cmd"] = plumbing.gate(argv, env={**image_env, **cfg.env})
            else:
                host["NetworkMode"] = self.net.name
                config["NetworkingConfig"] = self.net.endpoint(virtual.ip)
            if virtual.port_bindings:
                host["PortBindings"] = virtual.port_bindings
                config["ExposedPorts"] = virtual.exposed
            if not config.get("NetworkDisabled"):
                if virtual.dns is not None:
                    dockerspec.engine_dns(host, virtual.dns, virtual.aliases)
                else:
                    host.update(virtual.engine_dns)
        else:
            host["NetworkMode"] = host["IpcMode"] = f"container:{sandbox.id}"
        name = f"kubelite_{cfg.name}_{cfg.pod_name}_{cfg.namespace}_{cfg.pod_uid[:8]}_{cfg.attempt}"
        try:
            container = await self.docker.containers.create(config, name=name)
        except aiodocker.DockerError as exc:
            if exc.status == 409:
                # Same pod, container and attempt: created before an agent crash. Adopt it.
                info = await self.docker._query_json(f"containers/{name}/json")
                return str(info["Id"])
            if exc.status in (400, 404):
                raise rt.ContainerConfigError(str(exc.message)) from exc
            raise rt.DriverError(f"create container: {exc}") from exc
        if virtual is not None:
            self._owner[str(container.id)] = cfg.pod_uid
            if labels.get(plumbing.LABEL_PLUMB):
                self._plumb_ip[str(container.id)] = virtual.ip
        return str(container.id)

    async def _netns_owner(self, cfg: rt.ContainerConfig) -> str:
        """The running container that owns a sandbox-less pod's network namespace."""
        rows = await self._queries.containers({rt.LABEL_NODE: cfg.node_name, rt.LABEL_POD_UID: cfg.pod_uid})
        for row in rows:
            if (row.get("Labels") or {}).get(rt.LABEL_NETNS) == "own" and row.get("State") == "running":
                return str(row["Id"])
        raise rt.ContainerConfigError(f"pod {cfg.namespace}/{cfg.pod_name} has no running container "
                                      "whose network the ephemeral container could join")

    async def _plumbing(self) -> plumbing.Plumber | None:
        """The plumber, or None when this host keeps Docker's network attachment."""
        if self._plumb_checked or time.monotonic() < self._plumb_recheck:
            return self._plumber
        async with self._plumb_check_lock:  # a burst of pods asks once
            if self._plumb_checked or time.monotonic() < self._plumb_recheck:
                return self._plumber
            await self.net.ensure()
            reason = plumbing.unavailable_reason(docker_url=self._url)
            if not reason and not self.net.bridge:
                reason = "bridge of the pod network unknown"
            if not reason and not await plumbing.bridge_visible(self.net.bridge):
                # An agent in a network namespace of its own (the partition tests), or an
                # engine restarted since it made the network (it brings the bridge up when
                # a container first joins): pods go through Docker, and we look again later.
                log.info("pod networking through Docker: bridge %s not in this agent's network namespace",
                         self.net.bridge)
                self._plumb_recheck = time.monotonic() + PLUMB_RECHECK_S
                return None
            if reason:
                log.info("pod networking through Docker: %s", reason)
            else:
                self._plumber = plumbing.Plumber(bridge=self.net.bridge, gateway=self.net.gateway,
                                                 prefixlen=self.net.subnet.prefixlen)
                log.info("pod networking plumbed by the agent bridge=%s", self.net.bridge)
            self._plumb_checked = True
        return self._plumber

    async def _ensure_plumbed(self, container_id: str, *, pid: int, ip: str) -> None:
        """Wire the container's netns once; concurrent callers (start, a sync's inspect)
        wait for the first."""
        if container_id in self._plumbed:
            return
        plumber = await self._plumbing()
        if plumber is None:
            raise rt.DriverError("pod plumbing unavailable on this host")
        lock = self._plumb_locks.setdefault(container_id, asyncio.Lock())
        async with lock:
            if container_id in self._plumbed:
                return
            await plumber.plumb(container_id=container_id, pid=pid, ip=ip)
            self._plumbed.add(container_id)
            self._plumb_ip.pop(container_id, None)

    async def _recover_virtual(self, cfg: rt.ContainerConfig, sandbox: rt.SandboxInfo) -> _Virtual:
        """A restarted agent restarting a sandbox-less pod's container: take the network
        identity (hostname, ports, DNS) from the container that owned the netns before."""
        rows = await self._queries.containers({rt.LABEL_POD_UID: cfg.pod_uid, rt.LABEL_NETNS: "own"})
        if not rows:
            raise rt.DriverError(f"pod network of {cfg.namespace}/{cfg.pod_name} is gone; it is set up again")
        info = await self.docker._query_json(f"containers/{rows[0]['Id']}/json")
        conf, host = info.get("Config") or {}, info.get("HostConfig") or {}
        virtual = _Virtual(node_name=cfg.node_name, ip=sandbox.ip or (conf.get("Labels") or {}).get(rt.LABEL_POD_IP, ""),
                           hostname=conf.get("Hostname") or cfg.pod_name[:63],
                           port_bindings=host.get("PortBindings") or {}, exposed=conf.get("ExposedPorts") or {},
                           dns=None, aliases=[], created_at=sandbox.created_at,
                           engine_dns={k: host[k] for k in ("Dns", "DnsSearch", "DnsOptions", "ExtraHosts")
                                       if host.get(k)})
        self._virtual[cfg.pod_uid] = virtual
        return virtual

    async def start_container(self, container_id: str) -> None:
        self._inspect_cache.pop(container_id, None)
        try:
            async with self.docker._query(f"containers/{container_id}/start", method="POST"):
                pass
        except aiodocker.DockerError as exc:
            if exc.status == 304:
                return
            uid = self._owner.get(container_id)
            if uid is not None and podnet.is_conflict(exc):
                # Another agent took the address first: forget this virtual sandbox, so the
                # pod's next sync sets up a new one (and resolves env status.podIP again).
                virtual = self._virtual.pop(uid, None)
                if virtual is not None:
                    self.net.conflict(uid, virtual.ip)
                raise rt.DriverError(f"pod address taken: {exc.message}") from exc
            # e.g. a bind mount or working directory the engine refuses at start
            raise rt.ContainerConfigError(str(exc.message)) from exc
        ip = self._plumb_ip.get(container_id)
        if ip is not None:
            try:
                info = await self.docker._query_json(f"containers/{container_id}/json")
                await self._ensure_plumbed(container_id, pid=int((info.get("State") or {}).get("Pid") or 0), ip=ip)
                # The sync's next list shows it running: keep this answer, no second inspect.
                self._cache_running(dockerspec.container_info(info))
            except (aiodocker.DockerError, rt.DriverError) as exc:
                # The gate would wait forever: stop it, the caller replaces the container.
                await self.stop_container(container_id, timeout=0)
                raise rt.DriverError(f"pod network: {exc}") from exc

    async def stop_container(self, container_id: str, *, timeout: float) -> None:
        try:
            async with self.docker._query(f"containers/{container_id}/stop", method="POST",
                                          params={"t": str(max(0, int(round(timeout))))},
                                          timeout=aiohttp.ClientTimeout(total=timeout + 30)):
                pass
        except aiodocker.DockerError as exc:
            if exc.status in (304, 404):
                return
            raise rt.DriverError(f"stop container: {exc}") from exc

    async def remove_container(self, container_id: str) -> None:
        self._inspect_cache.pop(container_id, None)
        self._died.discard(container_id)
        self._oom.discard(container_id)
        self._owner.pop(container_id, None)
        self._plumb_ip.pop(container_id, None)
        self._plumbed.discard(container_id)
        self._plumb_locks.pop(container_id, None)
        try:
            async with self.docker._query(f"containers/{container_id}", method="DELETE",
                                          params={"force": "1", "v": "1"}):
                pass
        except aiodocker.DockerError as exc:
            if exc.status in (404, 409):  # gone, or removal already in progress
                return
            raise rt.DriverError(f"remove container: {exc}") from exc

    async def list_containers(self, *, node_name: str, pod_uid: str | None = None) -> list[rt.ContainerInfo]:
        labels = {rt.LABEL_NODE: node_name}
        if pod_uid:
            labels[rt.LABEL_POD_UID] = pod_uid
        out: list[rt.ContainerInfo] = []
        for row in await self._queries.containers(labels):
            if (row.get("Labels") or {}).get(rt.LABEL_KIND) == "sandbox":
                continue
            row_state = dockerspec.state_of(row.get("State", ""))
            if row["Id"] in self._died:
                # The engine's list shows a container that died as running for a moment
                # after its "die" event (its list view is updated later); inspect is current.
                if row_state == rt.State.RUNNING:
                    self._inspect_cache.pop(row["Id"], None)
                else:
                    self._died.discard(row["Id"])
            cached = self._inspect_cache.get(row["Id"])
            if cached is not None and cached.state == row_state:
                out.append(cached)
                continue
            try:
                out.append(await self.inspect_container(row["Id"]))
            except rt.NotFoundError:
                continue
        return out

    async def inspect_container(self, container_id: str) -> rt.ContainerInfo:
        try:
            info = await self.docker._query_json(f"containers/{container_id}/json")
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                raise rt.NotFoundError(container_id) from exc
            raise rt.DriverError(f"inspect: {exc}") from exc
        result = dockerspec.container_info(info)
        if result.state == rt.State.EXITED and not result.oom_killed and result.id in self._oom:
            result = replace(result, oom_killed=True)
        labels = (info.get("Config") or {}).get("Labels") or {}
        state = info.get("State") or {}
        if (result.state == rt.State.RUNNING and labels.get(plumbing.LABEL_PLUMB)
                and result.id not in self._plumbed and result.id not in self._plumb_ip):
            # Adopted after an agent restart: an agent killed between start and plumbing
            # left the app waiting at its gate; plumbing is idempotent, so just redo it.
            try:
                await self._ensure_plumbed(result.id, pid=int(state.get("Pid") or 0),
                                           ip=labels.get(rt.LABEL_POD_IP, ""))
            except rt.DriverError as exc:
                log.warning("adopting pod network failed container=%s: %s", result.id[:12], exc)
        if result.state == rt.State.EXITED:
            self._inspect_cache[result.id] = result
        self._cache_running(result)
        return result

    def _cache_running(self, info: rt.ContainerInfo) -> None:
        if info.state == rt.State.RUNNING:
            self._inspect_cache[info.id] = info  # valid until the list shows another state

    async def stats(self, container_id: str) -> dict[str, float]:
        if self._local_engine():
            local = cgroups.read(container_id)
            if local is not None:
                return local
        # one-shot: one cgroup read (~10 ms) instead of Docker's two samples a second apart;
        # the agent's sampler computes rates from its own successive snapshots.
        try:
            data = await self.docker._query_json(f"containers/{container_id}/stats",
                                                 params={"stream": "0", "one-shot": "true"})
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                raise rt.NotFoundError(container_id) from None
            raise rt.DriverError(f"stats of {container_id[:12]}: {exc.message}") from None
        return dockerspec.stats_of(data)

    async def events(self) -> AsyncIterator[rt.RuntimeEvent]:
        filters = orjson.dumps({"type": ["container"], "event": ["start", "die", "oom"],
                                "label": [rt.LABEL_POD_UID]}).decode()
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self.docker._query("events", params={"filters": filters}, timeout=timeout) as resp:
            buffer = b""
            async for chunk in resp.content.iter_any():
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = orjson.loads(line)
                    attrs = (event.get("Actor") or {}).get("Attributes") or {}
                    if event.get("Action") in ("die", "oom"):
                        self._died.add(str((event.get("Actor") or {}).get("ID") or event.get("id")))
                    if event.get("Action") == "oom":
                        oom_id = str((event.get("Actor") or {}).get("ID") or event.get("id"))
                        self._oom.add(oom_id)
                        self._inspect_cache.pop(oom_id, None)  # an exit seen before: inspect again
                    yield rt.RuntimeEvent(kind=str(event.get("Action") or event.get("status") or ""),
                                          container_id=str((event.get("Actor") or {}).get("ID") or event.get("id")),
                                          pod_uid=attrs.get(rt.LABEL_POD_UID, ""),
                                          container=attrs.get(rt.LABEL_CONTAINER, ""))
