"""The sessions of the process runtime's containers: a container's processes end together.

Used by ``process.ProcessDriver``. A container's main process leads a session of its own
(``setsid`` before exec), and whatever it starts stays in that session unless it calls
``setsid`` itself: a child that moved to another process group (a shell with job control
does that) or was orphaned by its parent is still there. The session is this runtime's
stand-in for a container's PID namespace: when the main process ends, what is left of
its session is killed, as the kernel kills a PID namespace whose init exits.

The driver records the sessions it runs (``SessionFile``). An agent that dies without
closing its driver (SIGKILL, the OOM killer, the ``kubelite up`` server it belonged to
killed) only takes the main processes with it, by their parent-death signal; the next
agent on the same data directory, which does not adopt them (it starts the pods'
containers anew), reads the file at start and ends whatever those sessions still hold.

A session is named by its leader's pid and the leader's start time: a process counts as
the session's only if it started at or after its leader did, so a session id that the
kernel has given again to someone else's session (once every process of ours ended) is
never mistaken for ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("kubelite.agent.runtime.sessions")

END_TIMEOUT = 5.0  # a process stuck in the kernel (state D) may take this long to die of SIGKILL


@dataclass(frozen=True)
class Session:
    sid: int    # the leader's pid, which is the session's id
    since: int  # the leader's start time, in clock ticks after boot (stat(5) field 22)


def _stat(pid: int | str) -> list[bytes] | None:
    """stat(5) fields from the state on (``[0]`` is field 3), None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            # after the parenthesised command name, which may itself hold spaces and parentheses
            return f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def of(pid: int) -> Session:
    """The session led by ``pid``, a container's main process just started. Should it be
    gone already (what it started may live on), the agent's own start time bounds its
    processes' instead."""
    fields = _stat(pid) or _stat("self")
    return Session(sid=pid, since=int(fields[19]) if fields else 0)


def members(session: Session) -> list[int]:
    """The live processes of ``session`` (zombies are dead already: their parent reaps them)."""
    found = []
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            fields = _stat(entry.name)
            if fields is None or fields[0] == b"Z":
                continue
            # field 6 is the session id, field 22 the start time
            if int(fields[3]) == session.sid and int(fields[19]) >= session.since:
                found.append(int(entry.name))
    return found


async def end(session: Session) -> int:
    """SIGKILL every process of ``session`` until none is left (a process may fork while
    its siblings die); the number of processes killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + END_TIMEOUT
    while True:
        alive = await asyncio.to_thread(members, session)
        if not alive:
            return len(killed)
        if time.monotonic() > deadline:
            log.warning("container processes not ended session=%d pids=%s", session.sid, alive)
            return len(killed)
        for pid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        await asyncio.sleep(0.01)


class SessionFile:
    """The sessions of the containers a driver runs, kept in a file so that the next
    driver on the same data directory can end those an agent killed outright left."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.held: dict[str, Session] = {}  # container id → its session

    def add(self, container_id: str, session: Session) -> None:
        self.held[container_id] = session
        self._write()

    def discard(self, container_id: str) -> None:
        if self.held.pop(container_id, None) is not None:
            self._write()

    def _write(self) -> None:
        body = json.dumps({cid: [s.sid, s.since] for cid, s in self.held.items()})
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(body)
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("container sessions not recorded path=%s error=%s", self.path, exc)

    async def end_leftovers(self) -> None:
        """End what the sessions of the previous agent's containers still hold, then start
        a record of our own."""
        try:
            recorded = json.loads(self.path.read_text())
        except FileNotFoundError:
            recorded = {}
        except (OSError, ValueError) as exc:
            log.warning("container sessions of a previous agent unreadable path=%s error=%s", self.path, exc)
            recorded = {}
        for cid, value in recorded.items() if isinstance(recorded, dict) else ():
            try:
                session = Session(sid=int(value[0]), since=int(value[1]))
            except (TypeError, ValueError, IndexError):
                continue
            killed = await end(session)
            if killed:
                log.info("ended processes a previous agent left container=%s session=%d processes=%d",
                         cid, session.sid, killed)
        self.held.clear()
        self._write()
