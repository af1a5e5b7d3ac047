"""CPU precedence for the API server's event loop over the processes it serves.

The API server's event loop is the serial part of the whole control plane: every create,
binding, status update and watch event of the cluster passes through that one thread,
while the scheduler, the controllers, the node agents and the clients that feed it run
beside it on the same cores. When the loop loses its core to one of them for a moment
the whole cluster waits. Measured with ``bench/scheduler.py`` (50,000 pods, two cores,
eight alternating pairs): the loop at niceness -10 placed 8 % more pods per second than
at 0, because it no longer lost its core to the processes its own answers woke.

Linux keeps the nice value per thread, so only the loop's thread is raised; children
spawned later (the controllers, the scheduler, an agent) are put back to the value the
server started with (``restore_in_child``), as is everything the server started before.
Raising needs root (CAP_SYS_NICE); without it the server runs on at its usual priority.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("kubelite.priority")

DEFAULT_LOOP_NICE = -10

_started_with: int | None = None  # the calling thread's niceness before raise_loop


def raise_loop(nice: int) -> bool:
    """Give the calling thread (the event loop's) niceness ``nice`` when it is lower than
    the present one; True when it now runs at ``nice``."""
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
    return True


def restore_in_child() -> None:
    """In a child between fork and exec: the niceness the server started with."""
    if _started_with is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, _started_with)
        except OSError:
            pass
