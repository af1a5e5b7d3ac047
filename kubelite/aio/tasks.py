"""Guarded background tasks: named, logged when they fail, awaited on shutdown.

No module in kubelite calls ``asyncio.create_task`` directly; long-lived work goes through
``TaskGroup.spawn`` so that a crash is logged with the task's name, not lost, and
``close()`` cancels and awaits everything in one place (an orderly shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("kubelite.aio")


class TaskGroup:
    """A set of named background tasks with one shutdown."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}/{name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task failed task=%s error=%r", task.get_name(), exc, exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self, *, timeout: float = 10.0) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)


async def backoff_delays(*, initial: float = 0.2, maximum: float = 5.0, factor: float = 2.0):  # type: ignore[no-untyped-def]
    """Yield growing delays (for reconnect loops): initial, initial*factor, … up to maximum."""
    delay = initial
    while True:
        yield delay
        delay = min(maximum, delay * factor)
