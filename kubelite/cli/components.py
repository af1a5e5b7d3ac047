"""Child processes of ``kubelite server`` / ``kubelite up``: controllers, scheduler, agent.

Each component is an ordinary API client, so it runs in its own process with the
kubeconfig the server wrote: the API server's event loop stays free for requests, and the
second core does the scheduling and reconciling (measured: the scheduler sharing the API
server's loop bound 55 pods/s, in its own process 280 pods/s). A child is restarted with
backoff if it dies, and dies with its parent (``PR_SET_PDEATHSIG``), so ``kill -9`` of a
server takes its controllers and scheduler with it and their Leases expire — no orphan
keeps acting for a dead server.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import signal
import sys
from dataclasses import dataclass, field

from kubelite.cli import priority

log = logging.getLogger("kubelite.components")

_PR_SET_PDEATHSIG = 1


def _prepare_child() -> None:  # runs in the child between fork and exec
    priority.restore_in_child()  # the server's loop thread may run at a raised priority
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


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
                                                             preexec_fn=_prepare_child)
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
