"""Termination messages: what a container leaves at its ``terminationMessagePath`` becomes
``state.terminated.message`` (and ``lastState``'s after a restart), as kubelet does.

Called by the pod workers: ``mount`` when they build a container (a fresh, empty,
world-writable file per container instance under the pod's directory on the node,
``<data dir>/pods/<uid>/containers/<name>/<attempt>``, bind-mounted at the path, default
``/dev/termination-log``), and ``message`` once the instance has exited: the last 4096
bytes of that file. With ``terminationMessagePolicy: FallbackToLogsOnError``, a file left
empty and a non-zero exit code, the last 80 lines of the container's log, at most 2048
bytes, stand in (kubelet's ``MaxContainerTerminationMessageLogLines`` and ``…LogLength``).

A driver that cannot bind-mount host files (``RuntimeDriver.supports_mounts`` false: the
process runtime, whose containers are host processes with the host's /dev) gets no file:
its containers have only the fallback to their logs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubelite.agent.runtime import interface as rt

Obj = dict[str, Any]

DEFAULT_PATH = "/dev/termination-log"
MAX_MESSAGE = 4096  # bytes of the file kept: its end
MAX_LOG_LINES = 80
MAX_LOG_BYTES = 2048


def host_file(pod_dir: Path, *, container: str, attempt: int) -> Path:
    """Where the node keeps the message file of one container instance."""
    return pod_dir / "containers" / container / str(attempt)


def mount(spec: Obj, path: Path) -> rt.Mount:
    """An empty message file at ``path`` (a new instance starts with nothing to say),
    writable whatever user the container runs as, and its mount."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    os.chmod(path, 0o666)
    return rt.Mount(host_path=str(path), container_path=spec.get("terminationMessagePath") or DEFAULT_PATH)


def read_file(path: Path) -> str:
    """The end of the message file, "" when there is none."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - MAX_MESSAGE))
            data = f.read(MAX_MESSAGE)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"Error on reading termination log {path}: {exc}"
    return data.decode(errors="replace")


async def log_tail(runtime: rt.RuntimeDriver, container_id: str) -> str:
    """The last lines of a container's log, at most ``MAX_LOG_BYTES`` of their end."""
    data = b""
    with contextlib.suppress(rt.DriverError):
        async for chunk in runtime.logs(container_id, tail=MAX_LOG_LINES):
            data = (data + chunk)[-MAX_LOG_BYTES:]
    return data.decode(errors="replace")


async def message(runtime: rt.RuntimeDriver, info: rt.ContainerInfo, spec: Obj, path: Path | None) -> str:
    """The ``message`` of an exited instance: the runtime's own (an error starting it), then
    what the container left, joined by ": " as kubelet joins them."""
    said = read_file(path) if path is not None else ""
    if not said and info.exit_code != 0 and spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
        said = await log_tail(runtime, info.id)
    if info.message and said:
        return f"{info.message}: {said}"
    return info.message or said


class Messages:
    """The termination messages of one pod's exited container instances, each read once
    (an exited container says nothing more), kept while the instance is shown."""

    def __init__(self, runtime: rt.RuntimeDriver, *, file_of: Callable[[str, int], Path | None]) -> None:
        self.runtime = runtime
        self.file_of = file_of  # (container name, attempt) → its message file, None without mounts
        self._said: dict[str, str] = {}  # container id → message

    async def read(self, shown: list[rt.ContainerInfo], *, specs: list[Obj]) -> None:
        """Read what the exited ones among ``shown`` (the instances the status shows) left;
        forget the others."""
        by_name = {c.get("name"): c for c in specs}
        ids = {c.id for c in shown}
        for gone in [cid for cid in self._said if cid not in ids]:
            del self._said[gone]
        for c in shown:
            if c.state == rt.State.EXITED and c.id not in self._said:
                self._said[c.id] = await message(self.runtime, c, by_name.get(c.name) or {},
                                                 self.file_of(c.name, c.attempt))

    def told(self, info: rt.ContainerInfo | None) -> rt.ContainerInfo | None:
        """``info`` with its termination message, once it has exited."""
        if info is None or info.id not in self._said:
            return info
        return dataclasses.replace(info, message=self._said[info.id])
