"""Logs, exec and attach on the Docker Engine API: the stream half of the Docker driver.

``DockerStreams`` is a base class of ``kubelite.agent.runtime.docker.DockerDriver``, which
provides ``docker`` (the aiodocker client); the agent's stream server
(``kubelite.agent.server``) calls these for ``kubectl logs``, ``exec`` and ``attach``.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiodocker
import aiohttp

from kubelite.agent.runtime import interface as rt

_HEADER = struct.Struct(">BxxxL")  # the engine's stdout/stderr frame header


class _DockerSession:
    """An exec or attach stream (``rt.ExecSession``) over aiodocker's hijacked connection."""

    def __init__(self, docker: aiodocker.Docker, stream: Any, exec_id: str | None) -> None:
        self._docker = docker
        self._stream = stream
        self._exec_id = exec_id
        self.container_id = ""

    async def write(self, data: bytes) -> None:
        await self._stream.write_in(data)

    async def close_stdin(self) -> None:
        resp = self._stream._resp
        transport = resp.connection.transport if resp is not None and resp.connection else None
        if transport is not None and transport.can_write_eof():
            transport.write_eof()

    async def read(self) -> tuple[int, bytes] | None:
        msg = await self._stream.read_out()
        if msg is None:
            return None
        return (2 if msg.stream == 2 else 1), bytes(msg.data)

    async def resize(self, width: int, height: int) -> None:
        path = f"exec/{self._exec_id}/resize" if self._exec_id else f"containers/{self.container_id}/resize"
        try:
            async with self._docker._query(path, method="POST", params={"h": height, "w": width}):
                pass
        except aiodocker.DockerError:
            pass  # a resize racing the process's exit is harmless

    async def exit_code(self) -> int:
        if self._exec_id:
            for _ in range(50):
                info = await self._docker._query_json(f"exec/{self._exec_id}/json")
                if not info.get("Running"):
                    return int(info.get("ExitCode") or 0)
                await asyncio.sleep(0.05)
            return -1
        info = await self._docker._query_json(f"containers/{self.container_id}/json")
        return int((info.get("State") or {}).get("ExitCode") or 0)

    async def close(self) -> None:
        await self._stream.close()


class DockerStreams:
    @property
    def docker(self) -> aiodocker.Docker:
        raise NotImplementedError

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                   timestamps: bool = False, since: float | None = None) -> AsyncIterator[bytes]:
        params = {"stdout": "1", "stderr": "1", "follow": "1" if follow else "0",
                  "timestamps": "1" if timestamps else "0", "tail": str(tail) if tail is not None else "all"}
        if since:
            params["since"] = f"{since:.9f}"
        try:
            info = await self.docker._query_json(f"containers/{container_id}/json")
        except aiodocker.DockerError as exc:
            raise rt.NotFoundError(container_id) from exc
        tty = bool((info.get("Config") or {}).get("Tty"))
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self.docker._query(f"containers/{container_id}/logs", params=params,
                                      timeout=timeout) as resp:
            buffer = b""
            async for chunk in resp.content.iter_any():
                if tty:
                    yield chunk
                    continue
                buffer += chunk
                # The engine multiplexes stdout/stderr with an 8-byte header per frame.
                while len(buffer) >= _HEADER.size:
                    _, size = _HEADER.unpack_from(buffer)
                    if len(buffer) < _HEADER.size + size:
                        break
                    yield buffer[_HEADER.size:_HEADER.size + size]
                    buffer = buffer[_HEADER.size + size:]

    async def exec(self, container_id: str, cmd: list[str], *, timeout: float) -> rt.ExecResult:
        try:
            container = self.docker.containers.container(container_id)
            execution = await container.exec(cmd, stdout=True, stderr=True)
        except aiodocker.DockerError as exc:
            raise rt.DriverError(f"exec: {exc}") from exc
        output = bytearray()

        async def run() -> None:
            async with execution.start(detach=False) as stream:
                while True:
                    msg = await stream.read_out()
                    if msg is None:
                        return
                    output.extend(msg.data)

        try:
            await asyncio.wait_for(run(), timeout)
        except TimeoutError:
            return rt.ExecResult(exit_code=-1, output=b"command timed out")
        session = _DockerSession(self.docker, None, execution.id)
        return rt.ExecResult(exit_code=await session.exit_code(), output=bytes(output))

    async def exec_session(self, container_id: str, cmd: list[str], *, tty: bool,
                           stdin: bool) -> rt.ExecSession:
        container = self.docker.containers.container(container_id)
        execution = await container.exec(cmd, stdout=True, stderr=True, stdin=stdin, tty=tty)
        stream = execution.start(detach=False)
        await stream._init()
        return _DockerSession(self.docker, stream, execution.id)

    async def attach_session(self, container_id: str, *, stdin: bool, tty: bool) -> rt.ExecSession:
        container = self.docker.containers.container(container_id)
        stream = container.attach(stdout=True, stderr=True, stdin=stdin)
        await stream._init()
        session = _DockerSession(self.docker, stream, None)
        session.container_id = container_id
        return session
