"""The pod network of the Docker driver: one user-defined bridge and the agent's own IPAM.

Used only by ``kubelite.agent.runtime.docker.DockerDriver``. Pods live on a Docker bridge
network (``kubelite``, subnet ``KUBELITE_POD_CIDR``, default 10.88.0.0/16) created here
on first use. The agent, not Docker, picks each pod's address, for two reasons:

- the pod IP must be known before the pod's first container exists (env
  ``fieldRef: status.podIP``, and a single-container pod has no sandbox container whose
  address could be read back);
- a pod keeps its IP for its whole life, across container restarts: a crashed container's
  replacement asks for the same address, which Docker honours only on a network whose
  subnet was configured and only as an explicit ``IPAMConfig.IPv4Address``.

An address is free when no endpoint of the network holds it (``network inspect``), no
kubelite container carries it in its ``io.kubelite.pod-ip`` label (a pod whose only
container is in CrashLoopBackOff holds no endpoint but still owns its IP), and this agent
has not reserved it. Several agents may share one engine (tests), so the choice can still
race another agent's: Docker then answers "Address already in use" at start and the
caller asks again with ``conflict``. Pods that ``plumbing`` wires itself hold no Docker
endpoint: their label alone marks the address as used, and Docker cannot refuse a
duplicate of it, so only the label check and this agent's reservations protect them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import random
import time
from typing import Any

import aiodocker
import orjson

from kubelite.agent.runtime import interface as rt

log = logging.getLogger("kubelite.agent.runtime.podnet")

NETWORK = "kubelite"
DEFAULT_CIDR = os.environ.get("KUBELITE_POD_CIDR", "") or "10.88.0.0/16"
REFRESH_AFTER = 5.0  # s: what other agents allocated meanwhile; our own are reserved locally


def is_conflict(exc: BaseException) -> bool:
    """Docker's answer when a requested static address is taken (at container start)."""
    return "address already in use" in str(getattr(exc, "message", "") or exc).lower()


class PodNetwork:
    """The ``kubelite`` bridge network and the pod addresses this agent hands out."""

    def __init__(self, docker: aiodocker.Docker, *, cidr: str = DEFAULT_CIDR, name: str = NETWORK) -> None:
        self.docker = docker
        self.name = name
        self.cidr = cidr
        self.subnet = ipaddress.IPv4Network(cidr, strict=False)
        self.gateway = ""
        self.bridge = ""  # the Linux bridge behind the network (``plumbing`` attaches veths to it)
        self._ready = False
        self._lock = asyncio.Lock()
        self._reserved: dict[str, str] = {}   # pod uid → ip
        self._used: set[str] = set()          # seen on the engine at the last refresh
        self._refreshed = 0.0
        self._cursor = -1

    # --- the network ------------------------------------------------------------------

    async def ensure(self) -> None:
        """Create the network unless it exists (idempotent, safe against a racing agent)."""
        if self._ready:
            return
        async with self._lock:
            if self._ready:
                return
            info = await self._inspect()
            if info is None:
                gateway = str(next(self.subnet.hosts()))
                body = {"Name": self.name, "Driver": "bridge", "CheckDuplicate": True,
                        "Labels": {"io.kubelite.network": "pods"},
                        "IPAM": {"Driver": "default", "Config": [{"Subnet": str(self.subnet), "Gateway": gateway}]}}
                try:
                    await self.docker._query_json("networks/create", method="POST", data=orjson.dumps(body).decode())
                    log.info("pod network created network=%s subnet=%s", self.name, self.subnet)
                except aiodocker.DockerError as exc:
                    if exc.status != 409:  # 409: another agent created it first
                        raise rt.DriverError(f"create network {self.name} ({self.subnet}): {exc.message}") from exc
                info = await self._inspect()
                if info is None:
                    raise rt.DriverError(f"network {self.name} vanished after creation")
            self._adopt_config(info)
            self._ready = True

    async def _inspect(self) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = await self.docker._query_json(f"networks/{self.name}")
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                return None
            raise rt.DriverError(f"inspect network {self.name}: {exc.message}") from exc
        return info

    def _adopt_config(self, info: dict[str, Any]) -> None:
        configs = ((info.get("IPAM") or {}).get("Config") or [])
        v4 = [c for c in configs if c.get("Subnet") and ":" not in c["Subnet"]]
        if not v4:
            # Made by hand without a subnet: Docker would refuse every requested address.
            raise rt.DriverError(f"network {self.name} has no configured IPv4 subnet; remove it "
                                 f"(docker network rm {self.name}) and the agent re-creates it")
        subnet = ipaddress.IPv4Network(v4[0]["Subnet"], strict=False)
        if subnet != self.subnet:
            log.warning("pod network exists with another subnet network=%s subnet=%s wanted=%s",
                        self.name, subnet, self.cidr)
            self.subnet = subnet
        self.gateway = v4[0].get("Gateway") or str(next(subnet.hosts()))
        options = info.get("Options") or {}
        self.bridge = options.get("com.docker.network.bridge.name") or f"br-{str(info.get('Id') or '')[:12]}"

    # --- addresses --------------------------------------------------------------------

    async def _refresh(self) -> None:
        info = await self._inspect() or {}
        used = {str(ep.get("IPv4Address") or "").split("/")[0] for ep in (info.get("Containers") or {}).values()}
        try:
            rows = await self.docker._query_json(
                "containers/json", params={"all": "1", "filters": orjson.dumps({"label": [rt.LABEL_POD_IP]}).decode()})
        except aiodocker.DockerError as exc:
            raise rt.DriverError(f"list pod addresses: {exc.message}") from exc
        used |= {(row.get("Labels") or {}).get(rt.LABEL_POD_IP, "") for row in rows}
        used.discard("")
        self._used = used
        self._refreshed = time.monotonic()

    async def allocate(self, pod_uid: str) -> str:
        """The pod's address: the one it already holds here, else a free one, reserved."""
        await self.ensure()
        if pod_uid in self._reserved:
            return self._reserved[pod_uid]
        async with self._lock:
            if pod_uid in self._reserved:
                return self._reserved[pod_uid]
            # One refresh serves a whole burst of pods (they wait on the lock meanwhile).
            if time.monotonic() - self._refreshed > REFRESH_AFTER:
                await self._refresh()
            first = int(self.subnet.network_address) + 1
            size = self.subnet.num_addresses - 2  # neither the network nor the broadcast address
            if self._cursor < 0:
                # A random start per agent: agents sharing an engine rarely pick alike.
                self._cursor = random.randrange(size)
            taken = self._used | set(self._reserved.values()) | {self.gateway}
            for step in range(size):
                ip = str(ipaddress.IPv4Address(first + (self._cursor + step) % size))
                if ip not in taken:
                    self._cursor = (self._cursor + step + 1) % size
                    self._reserved[pod_uid] = ip
                    return ip
        raise rt.DriverError(f"pod network {self.subnet} is full")

    def reserve(self, pod_uid: str, ip: str) -> None:
        """Keep an address found on the engine (a restarted agent adopting its pods)."""
        if ip:
            self._reserved.setdefault(pod_uid, ip)

    def release(self, pod_uid: str) -> None:
        self._reserved.pop(pod_uid, None)

    def conflict(self, pod_uid: str, ip: str) -> None:
        """Another agent took ``ip`` first: forget it for this pod and look again next time."""
        if self._reserved.get(pod_uid) == ip:
            del self._reserved[pod_uid]
        self._used.add(ip)
        self._refreshed = 0.0

    def endpoint(self, ip: str) -> dict[str, Any]:
        """``NetworkingConfig`` asking for ``ip`` on the pod network."""
        return {"EndpointsConfig": {self.name: {"IPAMConfig": {"IPv4Address": ip}}}}
