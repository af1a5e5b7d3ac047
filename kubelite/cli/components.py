"""Child processes of ``kubelite server`` / ``kubelite up``: controllers, scheduler, agent.

Each component is an ordinary API client, so it runs in its own process with the
kubeconfig the server wrote: the API server's event loop stays free for requests, and the
second core does the scheduling and reconciling (measured: the scheduler sharing the API
server's loop bound 55 pods/s, in its own process 280 pods/s). A child is restarted with
backoff if it dies, and dies with its parent (``PR_SET_PDEATHSIG``), so ``kill -9`` of a
server takes its controllers and scheduler with it and their Leases expire — no orphan
keeps acting for a dead server.

No Python runs between fork and exec: a server on etcd has gRPC's threads, and a child
that ran Python code there (a ``preexec_fn``) could hang on a lock one of them held at the
fork, with the server's event loop waiting for its exec (seen once in CI: a server never
ready). The child sets its parent-death signal and niceness itself, first thing after exec
(``adopt_parent``), from what the environment tells it.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
from dataclasses import dataclass, field

from kubelite.cli import priority

log = logging.getLogger("kubelite.components")

_PR_SET_PDEATHSIG = 1


_PARENT_ENV = "KUBELITE_PARENT_PID"
_NICE_ENV = "KUBELITE_CHILD_NICE"


def child_env() -> dict[str, str]:
    """The environment of a component: the server's, plus what ``adopt_parent`` reads."""
    env = {**os.environ, _PARENT_ENV: str(os.getpid())}
    nice = priority.child_niceness()  # the server's loop thread may run at a raised priority
    if nice is not None:
        env[_NICE_ENV] = str(nice)
    return env


def adopt_parent() -> None:
    """In a component, first thing: die with the server that started it (SIGKILL when it
    goes, and at once if it went already), at the niceness the server started with. A
    no-op for a process no server started."""
    parent = os.environ.pop(_PARENT_ENV, None)
    nice = os.environ.pop(_NICE_ENV, None)
    if nice is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, int(nice))
        except (OSError, ValueError):
            pass
    if parent is None:
        return
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        return
    if str(os.getppid()) != parent:  # the server died before the signal was set
        os._exit(1)


@dataclass
class Component:
    name: str
    args: list[str]
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    _stopping: bool = field(default=False, repr=False)

    async def supervise(self) -> None:
        delay = 0.5
        while not self._stopping:
            cmd = [sys.executable, "-m", "kubelite.cli.main", *self.args]
            self.proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL,
                                                             env=child_env())
            log.info("component started name=%s pid=%d", self.name, self.proc.pid)
            code = await self.proc.wait()
            if self._stopping:
                return
            self.restarts += 1
            log.error("component exited name=%s code=%s restarts=%d; restarting in %.1fs",
                      self.name, code, self.restarts, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def stop(self) -> None:
        self._stopping = True
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout=10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
