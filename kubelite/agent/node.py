"""The agent's Node: registration, the heartbeat Lease, and periodic node status.

Called by ``kubelite.agent.runner`` (one real node) and ``kubelite.agent.simulate`` (many
fake ones in one process).

Heartbeats, as upstream's two-signal design: a cheap ``coordination.k8s.io/v1`` Lease in
``kube-node-lease`` renewed often, and the heavier node status rewritten less often.
kubelite's real agent uses ``leaseDurationSeconds: 8`` renewed every 2 s (Kubernetes:
40 s renewed every 10 s) so that the node lifecycle controller can notice a dead node
within ~8 s on a small cluster; the status is rewritten every 10 s (upstream: every 10 s
while changing, else every 5 min). ``simulate`` uses upstream's 40 s / 10 s so that a
thousand nodes cost the server ~100 writes/s.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import platform
import random
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelite.client import errors, resources, rest

log = logging.getLogger("kubelite.agent.node")

KUBELET_VERSION = "v1.37.0-kubelite"
LEASE_NAMESPACE = "kube-node-lease"
AGENT_URL_ANNOTATION = "kubelite.io/agent-url"

Obj = dict[str, Any]


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    """A MicroTime (Lease renewTime) in the format the API validates."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(machine, machine)


def _meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes."""
    out: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                out[key] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    except OSError:
        pass
    return out


def _os_image() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def host_ip() -> str:
    """The address other machines would reach us at: the source of the default route."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent for UDP connect
            return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"


@dataclass
class NodeSpec:
    """What a node says about itself; ``from_host`` reads a real machine."""

    name: str
    internal_ip: str
    capacity: dict[str, str]
    runtime_version: str
    os_image: str = ""
    kernel_version: str = ""
    architecture: str = "amd64"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    agent_port: int = 0
    data_dir: Path | None = None  # for DiskPressure; None → never under pressure

    @classmethod
    def from_host(cls, *, name: str, runtime_version: str, data_dir: Path, agent_port: int = 0,
                  agent_url: str = "") -> NodeSpec:
        mem = _meminfo().get("MemTotal", 0)
        disk = shutil.disk_usage(data_dir if data_dir.exists() else "/").total
        return cls(
            name=name, internal_ip=host_ip(), runtime_version=runtime_version,
            capacity={"cpu": str(os.cpu_count() or 1), "memory": f"{mem // 1024}Ki", "pods": "110",
                      "ephemeral-storage": f"{disk // 1024}Ki"},
            os_image=_os_image(), kernel_version=platform.release(), architecture=_arch(),
            annotations={AGENT_URL_ANNOTATION: agent_url} if agent_url else {},
            agent_port=agent_port, data_dir=data_dir,
        )


# kubelet's event reasons for its conditions, by condition and whether it holds
# (recordNodeStatusEvent: "Node NAME status is now: NodeReady").
_STATUS_WORDS: dict[str, dict[bool, str]] = {
    "MemoryPressure": {False: "NodeHasSufficientMemory", True: "NodeHasInsufficientMemory"},
    "DiskPressure": {False: "NodeHasNoDiskPressure", True: "NodeHasDiskPressure"},
    "PIDPressure": {False: "NodeHasSufficientPID", True: "NodeHasInsufficientPID"},
    "Ready": {True: "NodeReady", False: "NodeNotReady"},
}


class NodeHeartbeat:
    """Registers one Node, then keeps its Lease and status fresh until cancelled."""

    def __init__(self, client: rest.Client, spec: NodeSpec, *, lease_duration: int = 8,
                 renew_interval: float = 2.0, status_interval: float = 10.0) -> None:
        self.client = client
        self.spec = spec
        self.lease_duration = lease_duration
        self.renew_interval = renew_interval
        self.status_interval = status_interval
        self.node_uid = ""
        self._lease: Obj | None = None
        self._conditions: dict[str, Obj] = {}
        self.changed = asyncio.Event()  # set by the agent when something it reports changed
        # Called (reason, message) for the node's events: its conditions' changes, as kubelet records them.
        self.on_event: Callable[[str, str], None] | None = None

    # --- the Node object -------------------------------------------------------------

    def _labels(self) -> dict[str, str]:
        return {"kubernetes.io/hostname": self.spec.name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": self.spec.architecture, "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": self.spec.architecture, **self.spec.labels}

    def _pressure(self) -> dict[str, tuple[bool, str, str]]:
        """condition type → (true?, reason, message), as upstream's eviction manager says it."""
        out: dict[str, tuple[bool, str, str]] = {}
        mem = _meminfo() if self.spec.data_dir is not None else {}
        low_mem = bool(mem) and mem.get("MemAvailable", 1 << 40) < 100 * 1024 * 1024
        out["MemoryPressure"] = (low_mem, "KubeletHasInsufficientMemory" if low_mem else "KubeletHasSufficientMemory",
                                 "kubelet has insufficient memory available" if low_mem
                                 else "kubelet has sufficient memory available")
        low_disk = False
        if self.spec.data_dir is not None:
            usage = shutil.disk_usage(self.spec.data_dir if self.spec.data_dir.exists() else "/")
            low_disk = usage.free < usage.total * 0.10  # upstream's nodefs.available<10%
        out["DiskPressure"] = (low_disk, "KubeletHasDiskPressure" if low_disk else "KubeletHasNoDiskPressure",
                               "kubelet has disk pressure" if low_disk else "kubelet has no disk pressure")
        out["PIDPressure"] = (False, "KubeletHasSufficientPID", "kubelet has sufficient PID available")
        return out

    def _status(self) -> Obj:
        now = now_iso()
        conditions = []
        wanted: list[tuple[str, bool, str, str]] = [
            (kind, flag, reason, msg) for kind, (flag, reason, msg) in self._pressure().items()]
        wanted.append(("Ready", True, "KubeletReady", "kubelet is posting ready status"))
        for kind, flag, reason, message in wanted:
            status = "True" if flag else "False"
            previous = self._conditions.get(kind)
            transition = previous["lastTransitionTime"] if previous and previous["status"] == status else now
            if (previous is None or previous.get("status") != status) and self.on_event is not None:
                word = _STATUS_WORDS[kind][flag]
                self.on_event(word, f"Node {self.spec.name} status is now: {word}")
            cond = {"type": kind, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": transition,
                    "reason": reason, "message": message}
            self._conditions[kind] = cond
            conditions.append(cond)
        addresses = [{"type": "InternalIP", "address": self.spec.internal_ip},
                     {"type": "Hostname", "address": self.spec.name}]
        return {
            "capacity": dict(self.spec.capacity), "allocatable": dict(self.spec.capacity),
            "conditions": conditions, "addresses": addresses,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.spec.agent_port}},
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "",
                "kernelVersion": self.spec.kernel_version, "osImage": self.spec.os_image,
                "containerRuntimeVersion": self.spec.runtime_version, "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": self.spec.architecture,
            },
        }

    async def register(self) -> Obj:
        """Create the Node, or take over an existing one of our name (an agent restart)."""
        body = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.spec.name, "labels": self._labels(),
                             "annotations": dict(self.spec.annotations)},
                "spec": {}}
        try:
            node = await self.client.create(resources.NODES, body)
        except errors.AlreadyExists:
            node = await self.client.patch(resources.NODES, self.spec.name,
                                           {"metadata": {"labels": self._labels(),
                                                         "annotations": dict(self.spec.annotations)}})
            for cond in (node.get("status") or {}).get("conditions") or []:
                self._conditions[cond.get("type", "")] = cond
        self.node_uid = node["metadata"]["uid"]
        node = await self.update_status()
        log.info("node registered node=%s ip=%s", self.spec.name, self.spec.internal_ip)
        return node

    async def update_status(self) -> Obj:
        return await self.client.patch(resources.NODES, self.spec.name, {"status": self._status()},
                                       subresource="status")

    # --- the Lease ---------------------------------------------------------------------

    async def renew_lease(self) -> None:
        """One renewal: PUT the cached Lease (cheap), re-read on conflict, create if absent."""
        spec = {"holderIdentity": self.spec.name, "leaseDurationSeconds": self.lease_duration,
                "renewTime": now_micro()}
        if self._lease is not None:
            lease = dict(self._lease)
            lease["spec"] = {**(lease.get("spec") or {}), **spec}
            try:
                self._lease = await self.client.update(resources.LEASES, lease, namespace=LEASE_NAMESPACE)
                return
            except (errors.Conflict, errors.NotFound):
                self._lease = None
        try:
            current = await self.client.get(resources.LEASES, self.spec.name, namespace=LEASE_NAMESPACE)
        except errors.NotFound:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.spec.name, "namespace": LEASE_NAMESPACE,
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.spec.name,
                                                      "uid": self.node_uid}] if self.node_uid else []},
                    "spec": spec}
            self._lease = await self.client.create(resources.LEASES, body, namespace=LEASE_NAMESPACE)
            return
        current["spec"] = {**(current.get("spec") or {}), **spec}
        self._lease = await self.client.update(resources.LEASES, current, namespace=LEASE_NAMESPACE)

    async def run_lease(self) -> None:
        # Spread many nodes' renewals over the interval (simulate starts them together).
        await asyncio.sleep(random.random() * self.renew_interval)
        while True:
            try:
                await self.renew_lease()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried at the next tick
                log.warning("lease renewal failed node=%s error=%s", self.spec.name, exc)
            await asyncio.sleep(self.renew_interval)

    async def run_status(self) -> None:
        await asyncio.sleep(random.random() * min(self.status_interval, 10.0))
        while True:
            try:
                await asyncio.wait_for(self.changed.wait(), self.status_interval)
            except TimeoutError:
                pass
            self.changed.clear()
            try:
                await self.update_status()
            except asyncio.CancelledError:
                raise
            except errors.NotFound:
                # Someone deleted our Node: register again, as kubelet does.
                log.warning("node object deleted, registering again node=%s", self.spec.name)
                try:
                    await self.register()
                except errors.ApiError as exc:
                    log.warning("re-registration failed node=%s error=%s", self.spec.name, exc)
            except Exception as exc:  # noqa: BLE001 - reported again at the next tick
                log.warning("node status update failed node=%s error=%s", self.spec.name, exc)
