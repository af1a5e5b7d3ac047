"""CPU precedence for the API server's event loop over the processes it serves.

The API server's event loop is the serial part of the whole control plane: every create,
binding, status update and watch event of the cluster passes through that one thread,
while the scheduler, the controllers, the node agents and the clients that feed it run
beside it on the same cores. When the loop loses its core to one of them for a moment
the whole cluster waits. Measured with ``bench/scheduler.py`` (50,000 pods, two cores,
eight alternating pairs): the loop at niceness -10 placed 8 % more pods per second than
at 0, because it no longer lost its core to the processes its own answers woke.

The SQLite store's writer process is the other serial part: every write waits for its
commit, one batch after another. It is raised too (``also``). At the starting priority it
spent longer runnable but waiting for a core than running (0.37 s against 0.26 s a second,
from ``/proc/PID/schedstat`` mid-run), while the machine still sat 15 % idle; raised with the
loop, six alternating rounds of the 50,000-pod workload placed 8 % more pods per second.

Linux keeps the nice value per thread, so only the loop's thread is raised; children
spawned later (the controllers, the scheduler, an agent) put themselves back to the value
the server started with (``child_niceness``, applied by ``components.adopt_parent``), as
is everything else the server started before. Raising needs root (CAP_SYS_NICE); without it the server runs on at its usual
priority.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

log = logging.getLogger("kubelite.priority")

DEFAULT_LOOP_NICE = -10

_started_with: int | None = None  # the calling thread's niceness before raise_loop


def raise_loop(nice: int, also: Iterable[int] = ()) -> bool:
    """Give the calling thread (the event loop's) niceness ``nice`` when it is lower than
    the present one, and the same to the single-threaded processes ``also``; True when the
    loop now runs at ``nice``."""
    global _started_with
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice >= current:
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)  # Linux: this thread only
    except OSError as exc:
        log.info("api server loop stays at niceness %d: %s (raising it needs root)", current, exc.strerror)
        return False
    _started_with = current
    log.info("api server loop niceness %d (was %d)", nice, current)
    for pid in also:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
        except OSError as exc:  # it may have exited meanwhile
            log.warning("process %d stays at its niceness: %s", pid, exc.strerror)
    return True


def child_niceness() -> int | None:
    """The niceness a child should run at: the one the server started with, when the loop
    was raised (a child inherits the raised value of the thread that forks it)."""
    return _started_with
