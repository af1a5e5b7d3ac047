"""The process runtime driver: containers as plain host processes. NO ISOLATION.

Used by ``kubelite up``/``agent`` when no Docker engine answers (``--runtime process``).
A container is ``command + args`` run by the agent's user in its own session, with the
container's env and working directory; the image is ignored (there is no filesystem to
unpack it into), every pod shares the host network (pod IP 127.0.0.1), and limits are not
enforced; volumes and the termination-message file are not mounted (``supports_mounts``:
a container has the host's /dev, so terminationMessagePath says nothing, and only
``FallbackToLogsOnError`` gives a failed container a message, from its log). Processes
are the agent's children: they do not survive an agent restart (the next agent starts
them anew). A container's processes end together, when its main process does, when it is
stopped, and when the agent stops or the next one starts (``sessions``): nothing it
forked outlives it, unless it left the container's session.

Output: the agent reads the container's stdout and stderr from pipes and writes them to a
log file under its data directory in the CRI log format kubelet reads (one entry a line:
``<RFC 3339 time, ns> <stdout|stderr> <F|P> <content>``, ``P`` for a piece of a longer
line), so ``kubectl logs --timestamps`` and ``--since`` have the time each line arrived.
``kubectl attach`` gets the output as it arrives (and writes to the container's stdin when
its spec asks for ``stdin``); ``kubectl exec`` runs the command as another host process
with the container's env and working directory, over pipes, or a pseudo-terminal for
``-t`` (``processexec``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import functools
import logging
import os
import signal
import termios
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from kubelite.agent.runtime import interface as rt
from kubelite.agent.runtime import processexec, sessions

log = logging.getLogger("kubelite.agent.runtime.process")

WARNING = ("process runtime: pods run as plain host processes with NO isolation (no "
           "filesystem, network, user or resource isolation; images are ignored). Use the docker "
           "runtime for anything but development.")

_PR_SET_PDEATHSIG = 1
PARTIAL_DELAY = 0.2  # a line without its newline is written as a partial entry after this long
MAX_LINE = 16 * 1024  # longer lines are split into partial entries (containerd's default size)
STREAMS = {b"stdout": 1, b"stderr": 2}
ATTACH_BACKLOG = 1024  # chunks of output waiting for an attached client


def _end_with_agent() -> None:
    """In the child, before exec: SIGTERM when the agent that started it dies (Linux
    ``PR_SET_PDEATHSIG``), however it dies. The container runs in a session of its own
    (so the agent's signals do not reach it), and would otherwise outlive the agent."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _terminal_child(terminal: int) -> None:
    """In an exec'd child that gets the pseudo-terminal ``terminal`` as fds 0-2: a session
    of its own with that terminal as its controlling one (job control, ^C), then as
    ``_end_with_agent``. Works whether it runs before the child's fds are set up (uvloop)
    or after (asyncio's own loop); hence its own ``setsid`` rather than ``start_new_session``."""
    os.setsid()
    fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)
    _end_with_agent()


def stamp(ns: int) -> bytes:
    """RFC 3339 with nanoseconds, fixed width, UTC: kubelet's ``RFC3339NanoFixed``. Being
    fixed width, stamps compare as bytes in time order."""
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode() + b".%09dZ" % frac


def render(entries: list[bytes], *, timestamps: bool = False, since: bytes | None = None) -> bytes:
    """CRI log entries (lines without their newline) as ``kubectl logs`` shows them: the
    content, a newline after a full line, the entry's time first with ``timestamps``;
    entries before ``since`` (a ``stamp``) left out."""
    out = []
    for entry in entries:
        parts = entry.split(b" ", 3)
        if len(parts) < 3:
            continue  # not an entry: never written by this driver
        when, _stream, tag = parts[0], parts[1], parts[2]
        if since is not None and when < since:
            continue
        content = parts[3] if len(parts) == 4 else b""
        if timestamps:
            out.append(when + b" ")
        out.append(content)
        if not tag.startswith(b"P"):
            out.append(b"\n")
    return b"".join(out)


class _Output:
    """A container's stdout and stderr: written to its log file as CRI entries, and handed
    as they arrive to whoever is attached."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self.partial: dict[bytes, bytes] = {b"stdout": b"", b"stderr": b""}
        self.timers: dict[bytes, asyncio.TimerHandle] = {}
        self.transports: list[asyncio.BaseTransport] = []
        self.open = len(STREAMS)
        self.done = asyncio.Event()
        self.listeners: set[asyncio.Queue[tuple[int, bytes] | None]] = set()

    async def connect(self, stream: bytes, fd: int) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_read_pipe(lambda: _Pipe(self, stream), os.fdopen(fd, "rb", buffering=0))
        self.transports.append(transport)

    def received(self, stream: bytes, data: bytes) -> None:
        for queue in self.listeners:
            # An attached client too slow to keep up misses output rather than growing the
            # agent's memory without bound (the log file has everything).
            if queue.qsize() < ATTACH_BACKLOG:
                queue.put_nowait((STREAMS[stream], data))
        lines = (self.partial[stream] + data).split(b"\n")
        rest = lines.pop()
        now = stamp(time.time_ns())
        entries = [b"%s %s F %s\n" % (now, stream, line) for line in lines]
        while len(rest) >= MAX_LINE:
            entries.append(b"%s %s P %s\n" % (now, stream, rest[:MAX_LINE]))
            rest = rest[MAX_LINE:]
        self.partial[stream] = rest
        self._write(b"".join(entries))
        timer = self.timers.get(stream)
        if rest and timer is None:
            self.timers[stream] = asyncio.get_running_loop().call_later(PARTIAL_DELAY, self._flush, stream)
        elif not rest and timer is not None:
            self.timers.pop(stream).cancel()

    def _flush(self, stream: bytes) -> None:
        self.timers.pop(stream, None)
        rest, self.partial[stream] = self.partial[stream], b""
        if rest:
            self._write(b"%s %s P %s\n" % (stamp(time.time_ns()), stream, rest))

    def _write(self, data: bytes) -> None:
        if data and self.fd >= 0:
            try:
                os.write(self.fd, data)
            except OSError as exc:
                log.warning("container log not written error=%s", exc)

    def ended(self, stream: bytes) -> None:
        timer = self.timers.pop(stream, None)
        if timer is not None:
            timer.cancel()
        self._flush(stream)
        self.open -= 1
        if self.open == 0:
            self.done.set()
            for queue in self.listeners:
                queue.put_nowait(None)

    def close(self) -> None:
        for transport in self.transports:
            transport.close()
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _Pipe(asyncio.Protocol):
    def __init__(self, output: _Output, stream: bytes) -> None:
        self.output = output
        self.stream = stream

    def data_received(self, data: bytes) -> None:
        self.output.received(self.stream, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.output.ended(self.stream)


class _AttachSession:
    """``kubectl attach``: the container's output from now on, and its stdin if it has one."""

    def __init__(self, driver: ProcessDriver, container_id: str, output: _Output | None, *, stdin: bool) -> None:
        self.driver = driver
        self.container_id = container_id
        self.output = output
        self.stdin = stdin
        self._out: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        if output is None or output.done.is_set():
            self._out.put_nowait(None)
        else:
            output.listeners.add(self._out)

    async def write(self, data: bytes) -> None:
        if self.stdin:
            await self.driver._write_stdin(self.container_id, data)

    async def close_stdin(self) -> None:
        if self.stdin:
            self.driver._close_stdin(self.container_id, only_once=True)

    async def read(self) -> tuple[int, bytes] | None:
        return await self._out.get()

    async def resize(self, width: int, height: int) -> None:
        pass

    async def exit_code(self) -> int:
        return 0

    async def close(self) -> None:
        if self.output is not None:
            self.output.listeners.discard(self._out)
        if self.stdin:
            self.driver._close_stdin(self.container_id, only_once=True)


class ProcessDriver:
    name = "process"
    supports_mounts = False

    def __init__(self, *, data_dir: Path) -> None:
        self.dir = data_dir / "process-logs"
        self._sandboxes: dict[str, tuple[rt.SandboxInfo, str]] = {}
        self._containers: dict[str, tuple[rt.ContainerInfo, str, rt.ContainerConfig]] = {}
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._outputs: dict[str, _Output] = {}
        self._stdins: dict[str, int] = {}  # container id → the write end of its stdin pipe
        self._waiters: set[asyncio.Task[None]] = set()
        self._events: asyncio.Queue[rt.RuntimeEvent] = asyncio.Queue()
        self._sessions = sessions.SessionFile(data_dir / "process-sessions.json")
        self._ending: dict[str, asyncio.Lock] = {}  # container id → held while its session is ended

    async def start(self) -> None:
        log.warning(WARNING)
        self.dir.mkdir(parents=True, exist_ok=True)
        # This driver adopts nothing: what an agent killed outright left running would
        # run twice once the pods' containers start anew.
        await self._sessions.end_leftovers()

    async def close(self) -> None:
        """Stop every container, all at once: they cannot outlive the agent, which alone
        knows them (and the agent's stop must fit in its supervisor's patience)."""
        await asyncio.gather(*(self.stop_container(cid, timeout=2) for cid in list(self._procs)))
        # Containers whose main process ended: their waiters may not have ended the rest yet.
        await asyncio.gather(*(self._end_session(cid) for cid in list(self._sessions.held)))
        for waiter in list(self._waiters):
            waiter.cancel()
        await asyncio.gather(*self._waiters, return_exceptions=True)
        for cid in list(self._outputs):
            self._release(cid)

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

    def _log_path(self, container_id: str) -> Path:
        return self.dir / f"{container_id}.log"

    async def start_container(self, container_id: str) -> None:
        info, node, cfg = self._get(container_id)
        argv = list(cfg.command or []) + list(cfg.args or [])
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe() if cfg.stdin else (-1, -1)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=out_w, stderr=err_w, stdin=in_r if cfg.stdin else asyncio.subprocess.DEVNULL,
                cwd=cfg.working_dir or None, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **cfg.env},
                start_new_session=True, preexec_fn=_end_with_agent)
        except OSError as exc:
            for fd in (out_r, err_r, in_w):
                if fd >= 0:
                    os.close(fd)
            raise rt.ContainerConfigError(str(exc)) from exc
        finally:
            for fd in (out_w, err_w, in_r):
                if fd >= 0:
                    os.close(fd)
        output = _Output(self._log_path(container_id))
        self._outputs[container_id] = output
        await output.connect(b"stdout", out_r)
        await output.connect(b"stderr", err_r)
        if in_w >= 0:
            os.set_blocking(in_w, False)
            self._stdins[container_id] = in_w
        self._procs[container_id] = proc
        self._sessions.add(container_id, sessions.of(proc.pid))
        self._containers[container_id] = (replace(info, state=rt.State.RUNNING, started_at=time.time()), node, cfg)
        self._events.put_nowait(rt.RuntimeEvent("start", container_id, info.pod_uid, info.name))
        waiter = asyncio.get_running_loop().create_task(self._wait(container_id, proc, output))
        self._waiters.add(waiter)
        waiter.add_done_callback(self._waiters.discard)

    async def _wait(self, container_id: str, proc: asyncio.subprocess.Process, output: _Output) -> None:
        code = await proc.wait()
        await self._end_session(container_id)  # as a PID namespace ends with its init
        # What it wrote last is in the pipes still: in the log before the exit is reported.
        # (Not longer than a second: a child that left the session may hold them open.)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(output.done.wait(), 1.0)
        self._procs.pop(container_id, None)
        self._close_stdin(container_id)
        entry = self._containers.get(container_id)
        if entry is None:
            return
        info, node, cfg = entry
        self._containers[container_id] = (replace(info, state=rt.State.EXITED, finished_at=time.time(),
                                                  exit_code=processexec.exit_code_of(code)), node, cfg)
        self._events.put_nowait(rt.RuntimeEvent("die", container_id, info.pod_uid, info.name))

    async def stop_container(self, container_id: str, *, timeout: float) -> None:
        """SIGTERM to the main process's group, SIGKILL after ``timeout``; then whatever
        is left of the container's session (a child in a group of its own) is killed."""
        proc = self._procs.get(container_id)
        if proc is not None and proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), timeout)
            except (TimeoutError, ProcessLookupError):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                await proc.wait()
        await self._end_session(container_id)

    async def _end_session(self, container_id: str) -> None:
        """Kill what is left of a container whose main process has ended. Idempotent; a
        second caller (its waiter and a stop, together) waits for the first."""
        session = self._sessions.held.get(container_id)
        if session is None:
            return
        lock = self._ending.setdefault(container_id, asyncio.Lock())
        async with lock:
            if container_id not in self._sessions.held:
                return  # the first caller ended it
            killed = await sessions.end(session)
            if killed:
                info = self._containers.get(container_id)
                log.info("killed what the container's main process left pod=%s container=%s processes=%d",
                         f"{info[0].namespace}/{info[0].pod_name}" if info else "?",
                         info[0].name if info else container_id, killed)
            self._sessions.discard(container_id)
            del self._ending[container_id]

    def _release(self, container_id: str) -> None:
        self._close_stdin(container_id)
        output = self._outputs.pop(container_id, None)
        if output is not None:
            output.close()

    async def remove_container(self, container_id: str) -> None:
        await self.stop_container(container_id, timeout=0)
        self._containers.pop(container_id, None)
        self._release(container_id)
        self._log_path(container_id).unlink(missing_ok=True)

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

    def _running(self, container_id: str) -> bool:
        output = self._outputs.get(container_id)
        return container_id in self._procs or (output is not None and not output.done.is_set())

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                   timestamps: bool = False, since: float | None = None) -> AsyncIterator[bytes]:
        """As kubelet reads a CRI log file: ``tail`` counts entries from the end, ``since``
        (epoch seconds) leaves out older entries, ``timestamps`` puts each entry's time first."""
        path = self._log_path(container_id)
        after = stamp(int(since * 1e9)) if since else None
        try:
            f = open(path, "rb")  # noqa: SIM115 - read while following, closed below
        except FileNotFoundError:
            return
        with f:
            data = f.read()
            end = data.rfind(b"\n") + 1  # a line being written is read when complete
            offset = end
            entries = data[:end].split(b"\n")[:-1]
            if tail is not None:
                entries = entries[-tail:] if tail > 0 else []
            first = render(entries, timestamps=timestamps, since=after)
            if first:
                yield first
            while follow:
                alive = self._running(container_id)
                f.seek(offset)
                more = f.read()
                end = more.rfind(b"\n") + 1
                if end:
                    offset += end
                    chunk = render(more[:end].split(b"\n")[:-1], timestamps=timestamps, since=after)
                    if chunk:
                        yield chunk
                elif not alive:
                    return  # ended, and everything it wrote has been read
                else:
                    await asyncio.sleep(0.2)

    def _exec_env(self, cfg: rt.ContainerConfig) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **cfg.env}

    async def exec(self, container_id: str, cmd: list[str], *, timeout: float) -> rt.ExecResult:
        _, _, cfg = self._get(container_id)
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=cfg.working_dir or None, env=self._exec_env(cfg))
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            return rt.ExecResult(exit_code=-1, output=b"command timed out")
        return rt.ExecResult(exit_code=proc.returncode or 0, output=out)

    async def exec_session(self, container_id: str, cmd: list[str], *, tty: bool, stdin: bool) -> rt.ExecSession:
        """``cmd`` as another host process with the container's env and working directory:
        over pipes, or on a pseudo-terminal for ``tty``."""
        _, _, cfg = self._get(container_id)
        if not cmd:
            raise rt.DriverError("no command given")
        common: dict[str, Any] = {"cwd": cfg.working_dir or None, "env": self._exec_env(cfg)}
        if not tty:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *cmd, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                    start_new_session=True, preexec_fn=_end_with_agent, **common)
            except OSError as exc:
                raise _exec_error(cmd, exc) from exc
            return processexec.ExecSession(proc)
        master, slave = os.openpty()
        try:
            proc = await asyncio.create_subprocess_exec(*cmd, stdin=slave, stdout=slave, stderr=slave,
                                                        preexec_fn=functools.partial(_terminal_child, slave), **common)
        except OSError as exc:
            os.close(master)
            raise _exec_error(cmd, exc) from exc
        finally:
            os.close(slave)
        return processexec.TerminalSession(proc, master)

    async def attach_session(self, container_id: str, *, stdin: bool, tty: bool) -> rt.ExecSession:
        """The container's output from now on; what is typed goes to its stdin when its
        spec has ``stdin: true`` (else nowhere, as on Docker)."""
        _, _, cfg = self._get(container_id)
        return _AttachSession(self, container_id, self._outputs.get(container_id), stdin=stdin and cfg.stdin)

    async def _write_stdin(self, container_id: str, data: bytes) -> None:
        while data:
            fd = self._stdins.get(container_id)
            if fd is None:
                return
            try:
                written = os.write(fd, data)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            except OSError:  # the container stopped reading
                return
            data = data[written:]

    def _close_stdin(self, container_id: str, *, only_once: bool = False) -> None:
        """Close the container's stdin: when it ends, or (``only_once``) when an attached
        client ends its input and the spec says ``stdinOnce``."""
        if only_once:
            entry = self._containers.get(container_id)
            if entry is None or not entry[2].stdin_once:
                return
        fd = self._stdins.pop(container_id, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    async def stats(self, container_id: str) -> dict[str, float]:
        self._get(container_id)
        proc = self._procs.get(container_id)
        if proc is None:
            return {"cpu_usage_ns": 0.0, "memory_bytes": 0.0}
        return _proc_stats(proc.pid)

    async def events(self) -> AsyncIterator[rt.RuntimeEvent]:
        while True:
            yield await self._events.get()


def _exec_error(cmd: list[str], exc: OSError) -> rt.DriverError:
    if isinstance(exc, FileNotFoundError):
        return rt.DriverError(f'exec: "{cmd[0]}": executable file not found in $PATH')
    if isinstance(exc, PermissionError):
        return rt.DriverError(f'exec: "{cmd[0]}": permission denied')
    return rt.DriverError(f"exec: {exc}")


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
