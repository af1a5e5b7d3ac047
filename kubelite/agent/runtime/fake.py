"""The fake runtime driver: containers that are Running at once and never run anything.

Used by ``kubelite agent --runtime fake`` and by ``kubelite simulate`` (many nodes in one
process) to exercise the control plane at scale without an engine. Pod IPs come from a
private range per driver; exec and logs answer with empty output and exit code 0.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

from kubelite.agent.runtime import interface as rt

_NODE_COUNTER = itertools.count(1)


class _Session:
    async def write(self, data: bytes) -> None:
        pass

    async def close_stdin(self) -> None:
        pass

    async def read(self) -> tuple[int, bytes] | None:
        return None

    async def resize(self, width: int, height: int) -> None:
        pass

    async def exit_code(self) -> int:
        return 0

    async def close(self) -> None:
        pass


class FakeDriver:
    """``RuntimeDriver`` keeping containers in a dict; every operation succeeds instantly."""

    name = "fake"
    supports_mounts = False

    def __init__(self) -> None:
        self._sandboxes: dict[str, tuple[rt.SandboxInfo, str]] = {}  # id → (info, node)
        self._containers: dict[str, tuple[rt.ContainerInfo, str]] = {}
        self._sidecars: set[str] = set()  # init containers that run beside the app (restartPolicy Always)
        self._events: asyncio.Queue[rt.RuntimeEvent] = asyncio.Queue()
        self._net = next(_NODE_COUNTER) % 250
        self._ips = itertools.count(2)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def version(self) -> str:
        return "fake://1.0"

    async def ensure_image(self, image: str, *, policy: str) -> tuple[bool, str]:
        return False, f"sha256:{uuid.uuid5(uuid.NAMESPACE_URL, image).hex}"

    async def create_sandbox(self, cfg: rt.SandboxConfig) -> rt.SandboxInfo:
        n = next(self._ips)
        info = rt.SandboxInfo(id=uuid.uuid4().hex, pod_uid=cfg.pod_uid, state=rt.State.RUNNING,
                              ip=f"10.{self._net}.{(n >> 8) & 255}.{n & 255}", created_at=time.time())
        self._sandboxes[info.id] = (info, cfg.node_name)
        return info

    async def list_sandboxes(self, *, node_name: str, pod_uid: str | None = None) -> list[rt.SandboxInfo]:
        return [s for s, node in self._sandboxes.values()
                if node == node_name and (pod_uid is None or s.pod_uid == pod_uid)]

    async def remove_sandbox(self, sandbox_id: str) -> None:
        self._sandboxes.pop(sandbox_id, None)

    async def create_container(self, cfg: rt.ContainerConfig, *, sandbox: rt.SandboxInfo) -> str:
        cid = uuid.uuid4().hex
        info = rt.ContainerInfo(id=cid, pod_uid=cfg.pod_uid, pod_name=cfg.pod_name, namespace=cfg.namespace,
                                name=cfg.name, attempt=cfg.attempt, kind=cfg.kind, state=rt.State.CREATED,
                                image=cfg.image, image_id=(await self.ensure_image(cfg.image, policy=""))[1],
                                created_at=time.time())
        self._containers[cid] = (info, cfg.node_name)
        if cfg.sidecar:
            self._sidecars.add(cid)
        return cid

    async def start_container(self, container_id: str) -> None:
        info, node = self._get(container_id)
        now = time.time()
        # Init containers "complete" at once so that pods with them still reach Running;
        # sidecars run, as app containers do.
        if info.kind == "init" and container_id not in self._sidecars:
            self._containers[container_id] = (replace(info, state=rt.State.EXITED, started_at=now,
                                                      finished_at=now, exit_code=0), node)
            self._events.put_nowait(rt.RuntimeEvent("die", container_id, info.pod_uid, info.name))
            return
        self._containers[container_id] = (replace(info, state=rt.State.RUNNING, started_at=now), node)
        self._events.put_nowait(rt.RuntimeEvent("start", container_id, info.pod_uid, info.name))

    async def stop_container(self, container_id: str, *, timeout: float) -> None:
        entry = self._containers.get(container_id)
        if entry is None or entry[0].state != rt.State.RUNNING:
            return
        info, node = entry
        self._containers[container_id] = (replace(info, state=rt.State.EXITED, finished_at=time.time(),
                                                  exit_code=137), node)
        self._events.put_nowait(rt.RuntimeEvent("die", container_id, info.pod_uid, info.name))

    async def remove_container(self, container_id: str) -> None:
        self._containers.pop(container_id, None)
        self._sidecars.discard(container_id)

    async def list_containers(self, *, node_name: str, pod_uid: str | None = None) -> list[rt.ContainerInfo]:
        return [c for c, node in self._containers.values()
                if node == node_name and (pod_uid is None or c.pod_uid == pod_uid)]

    def _get(self, container_id: str) -> tuple[rt.ContainerInfo, str]:
        entry = self._containers.get(container_id)
        if entry is None:
            raise rt.NotFoundError(container_id)
        return entry

    async def inspect_container(self, container_id: str) -> rt.ContainerInfo:
        return self._get(container_id)[0]

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                   timestamps: bool = False, since: float | None = None) -> AsyncIterator[bytes]:
        self._get(container_id)
        return
        yield b""  # an async generator with nothing to say

    async def exec(self, container_id: str, cmd: list[str], *, timeout: float) -> rt.ExecResult:
        return rt.ExecResult(exit_code=0, output=b"")

    async def exec_session(self, container_id: str, cmd: list[str], *, tty: bool, stdin: bool) -> rt.ExecSession:
        return _Session()

    async def attach_session(self, container_id: str, *, stdin: bool, tty: bool) -> rt.ExecSession:
        return _Session()

    async def stats(self, container_id: str) -> dict[str, float]:
        return {"cpu_usage_ns": 0.0, "memory_bytes": 0.0}

    async def events(self) -> AsyncIterator[rt.RuntimeEvent]:
        while True:
            yield await self._events.get()
