"""The process runtime driver: containers as plain host processes. NO ISOLATION.

Used by ``kubelite up``/``agent`` when no Docker engine answers (``--runtime process``).
A container is ``command + args`` run by the agent's user in its own session, with the
container's env and working directory; the image is ignored (there is no filesystem to
unpack it into), every pod shares the host network (pod IP 127.0.0.1), and limits are not
enforced. Output goes to a log file under the agent's data directory. Processes are the
agent's children: they do not survive an agent restart (the next agent starts them anew).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from kubelite.agent.runtime import interface as rt

log = logging.getLogger("kubelite.agent.runtime.process")

WARNING = ("process runtime: pods run as plain host processes with NO isolation (no "
           "filesystem, network, user or resource isolation; images are ignored). Use the docker "
           "runtime for anything but development.")


def _end_with_agent() -> None:
    """In the child, before exec: SIGTERM when the agent that started it dies (Linux
    ``PR_SET_PDEATHSIG``), however it dies. The container runs in a session of its own
    (so the agent's signals do not reach it), and would otherwise outlive the agent."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


class ProcessDriver:
    name = "process"

    def __init__(self, *, data_dir: Path) -> None:
        self.dir = data_dir / "process-logs"
        self._sandboxes: dict[str, tuple[rt.SandboxInfo, str]] = {}
        self._containers: dict[str, tuple[rt.ContainerInfo, str, rt.ContainerConfig]] = {}
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._waiters: set[asyncio.Task[None]] = set()
        self._events: asyncio.Queue[rt.RuntimeEvent] = asyncio.Queue()

    async def start(self) -> None:
        log.warning(WARNING)
        self.dir.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        for cid in list(self._procs):
            await self.stop_container(cid, timeout=2)

    async def version(self) -> str:
        return "process://1.0"

    async def ensure_image(self, image: str, *, policy: str) -> tuple[bool, str]:
        return False, f"process://{image}"

    async def create_sandbox(self, cfg: rt.SandboxConfig) -> rt.SandboxInfo:
        info = rt.SandboxInfo(id=uuid.uuid4().hex, pod_uid=cfg.pod_uid, state=rt.State.RUNNING,
                              ip="127.0.0.1", created_at=time.time())
        self._sandboxes[info.id] = (info, cfg.node_name)
        return info

    async def list_sandboxes(self, *, node_name: str, pod_uid: str | None = None) -> list[rt.SandboxInfo]:
        return [s for s, node in self._sandboxes.values()
                if node == node_name and (pod_uid is None or s.pod_uid == pod_uid)]

    async def remove_sandbox(self, sandbox_id: str) -> None:
        self._sandboxes.pop(sandbox_id, None)

    async def create_container(self, cfg: rt.ContainerConfig, *, sandbox: rt.SandboxInfo) -> str:
        if not (cfg.command or cfg.args):
            raise rt.ContainerConfigError("the process runtime needs an explicit command (images are not run)")
        cid = uuid.uuid4().hex
        info = rt.ContainerInfo(id=cid, pod_uid=cfg.pod_uid, pod_name=cfg.pod_name, namespace=cfg.namespace,
                                name=cfg.name, attempt=cfg.attempt, kind=cfg.kind, state=rt.State.CREATED,
                                image=cfg.image, image_id=f"process://{cfg.image}", created_at=time.time())
        self._containers[cid] = (info, cfg.node_name, cfg)
        return cid

    async def start_container(self, container_id: str) -> None:
        info, node, cfg = self._get(container_id)
        argv = list(cfg.command or []) + list(cfg.args or [])
        out = open(self.dir / f"{container_id}.log", "ab")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL,
                cwd=cfg.working_dir or None, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **cfg.env},
                start_new_session=True, preexec_fn=_end_with_agent)
        except OSError as exc:
            raise rt.ContainerConfigError(str(exc)) from exc
        finally:
            out.close()
        self._procs[container_id] = proc
        self._containers[container_id] = (replace(info, state=rt.State.RUNNING, started_at=time.time()), node, cfg)
        self._events.put_nowait(rt.RuntimeEvent("start", container_id, info.pod_uid, info.name))
        waiter = asyncio.get_running_loop().create_task(self._wait(container_id, proc))
        self._waiters.add(waiter)
        waiter.add_done_callback(self._waiters.discard)

    async def _wait(self, container_id: str, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        self._procs.pop(container_id, None)
        entry = self._containers.get(container_id)
        if entry is None:
            return
        info, node, cfg = entry
        # a signal death reads as 128+signal, as a container's exit code would
        exit_code = 128 - code if code < 0 else code
        self._containers[container_id] = (replace(info, state=rt.State.EXITED, finished_at=time.time(),
                                                  exit_code=exit_code), node, cfg)
        self._events.put_nowait(rt.RuntimeEvent("die", container_id, info.pod_uid, info.name))

    async def stop_container(self, container_id: str, *, timeout: float) -> None:
        proc = self._procs.get(container_id)
        if proc is None or proc.returncode is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), timeout)
        except (TimeoutError, ProcessLookupError):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()

    async def remove_container(self, container_id: str) -> None:
        await self.stop_container(container_id, timeout=0)
        self._containers.pop(container_id, None)
        (self.dir / f"{container_id}.log").unlink(missing_ok=True)

    async def list_containers(self, *, node_name: str, pod_uid: str | None = None) -> list[rt.ContainerInfo]:
        return [c for c, node, _ in self._containers.values()
                if node == node_name and (pod_uid is None or c.pod_uid == pod_uid)]

    def _get(self, container_id: str) -> tuple[rt.ContainerInfo, str, rt.ContainerConfig]:
        entry = self._containers.get(container_id)
        if entry is None:
            raise rt.NotFoundError(container_id)
        return entry

    async def inspect_container(self, container_id: str) -> rt.ContainerInfo:
        return self._get(container_id)[0]

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                   timestamps: bool = False, since: float | None = None) -> AsyncIterator[bytes]:
        path = self.dir / f"{container_id}.log"
        data = path.read_bytes() if path.exists() else b""
        if tail is not None:
            data = b"".join(data.splitlines(keepends=True)[-tail:]) if tail > 0 else b""
        yield data
        offset = path.stat().st_size if path.exists() else 0
        while follow and container_id in self._procs:
            await asyncio.sleep(0.2)
            size = path.stat().st_size if path.exists() else 0
            if size > offset:
                with open(path, "rb") as f:
                    f.seek(offset)
                    yield f.read(size - offset)
                offset = size

    async def exec(self, container_id: str, cmd: list[str], *, timeout: float) -> rt.ExecResult:
        _, _, cfg = self._get(container_id)
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=cfg.working_dir or None, env={"PATH": os.environ.get("PATH", ""), **cfg.env})
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            return rt.ExecResult(exit_code=-1, output=b"command timed out")
        return rt.ExecResult(exit_code=proc.returncode or 0, output=out)

    async def exec_session(self, container_id: str, cmd: list[str], *, tty: bool, stdin: bool) -> rt.ExecSession:
        raise rt.DriverError("interactive exec is not supported by the process runtime")

    async def attach_session(self, container_id: str, *, stdin: bool, tty: bool) -> rt.ExecSession:
        raise rt.DriverError("attach is not supported by the process runtime")

    async def stats(self, container_id: str) -> dict[str, float]:
        self._get(container_id)
        proc = self._procs.get(container_id)
        if proc is None:
            return {"cpu_usage_ns": 0.0, "memory_bytes": 0.0}
        return _proc_stats(proc.pid)

    async def events(self) -> AsyncIterator[rt.RuntimeEvent]:
        while True:
            yield await self._events.get()


_TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _proc_stats(pid: int) -> dict[str, float]:
    """CPU time and resident memory of the container's lead process (its children are not
    counted: the process runtime has no cgroup to sum them)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            # fields after the parenthesised command name, which may itself hold spaces
            fields = f.read().rsplit(b")", 1)[1].split()
        with open(f"/proc/{pid}/statm", "rb") as f:
            resident = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return {"cpu_usage_ns": 0.0, "memory_bytes": 0.0}
    # utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3
    ticks = int(fields[11]) + int(fields[12])
    return {"cpu_usage_ns": ticks * _TICK_NS, "memory_bytes": float(resident * _PAGE)}
