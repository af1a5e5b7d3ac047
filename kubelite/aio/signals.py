"""Stopping a long-running process cleanly on SIGTERM or SIGINT.

``until_signalled(coro)`` runs ``coro`` in the current task; the first SIGTERM or SIGINT
cancels it once, so that every ``finally`` and ``async with`` on the way out runs (a leader
releases its Lease, a server stops its components and closes its datastore), and then
returns the signal's name instead of raising. Later signals are ignored rather than
interrupting that clean-up (SIGKILL remains for a process that hangs in it).

SIGINT is taken as SIGTERM is, as Kubernetes' components (Go) take both, whatever the
parent left it: a shell starts background commands with SIGINT ignored.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopOnSignal:
    def __init__(self) -> None:
        self.signum: signal.Signals | None = None  # the one received
        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        self.installed: list[signal.Signals] = []
        for signum in SIGNALS:
            try:
                self._loop.add_signal_handler(signum, self._on_signal, signum)
                self.installed.append(signum)
            except (RuntimeError, ValueError):  # not the main thread: whoever runs us decides
                pass

    def _on_signal(self, signum: signal.Signals) -> None:
        if self.signum is None and self._task is not None:
            self.signum = signum
            self._task.cancel(f"{signum.name} received")

    def stopped_us(self) -> bool:
        """After a CancelledError: whether a signal caused it (the cancellation is then
        consumed, and the run ends normally)."""
        if self.signum is not None and self._task is not None:
            self._task.uncancel()
        return self.signum is not None

    def remove(self) -> None:
        for signum in self.installed:
            self._loop.remove_signal_handler(signum)


async def until_signalled(aw: Awaitable[T]) -> str | None:
    """Await ``aw``; None when it finished by itself, the signal's name when a stop signal
    ended it (cancellations from anywhere else propagate)."""
    stop = StopOnSignal()
    try:
        await aw
    except asyncio.CancelledError:
        if not stop.stopped_us():
            raise
    finally:
        stop.remove()
    return stop.signum.name if stop.signum is not None else None
