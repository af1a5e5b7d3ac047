"""The scheduler process of ``bench/scheduler.py``, with scheduler_perf's way of seeing
bindings: a handler on the scheduler's own pod informer (scheduler_perf's
``throughputCollector`` hooks the informer it shares with the scheduler), instead of a
watch stream of the harness's own that the API server would serve besides.

Run as ``python bench/schedobserve.py KUBECONFIG FD``: the scheduler runs as
``kubelite.scheduler.runner.run`` does, and every measured pod (``pod-…``) its informer
first sees bound is written to file descriptor ``FD`` as a line ``name monotonic-time``
(``CLOCK_MONOTONIC`` is the same clock in every process), in batches every 20 ms.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import uvloop

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from kubelite.client import config  # the checkout's kubelite, as scheduler.py
from kubelite.scheduler import runner
from kubelite.scheduler import scheduler as scheduler_mod

FLUSH_EVERY = 0.02  # seconds: one write for every pod bound meanwhile

Obj = dict[str, Any]


class Observer:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lines: list[bytes] = []
        self.flush_scheduled = False

    def attach(self, sched: scheduler_mod.Scheduler) -> None:
        sched.pods.add_handler(on_add=lambda pod: self._seen(None, pod), on_update=self._seen)

    def _seen(self, old: Obj | None, new: Obj) -> None:
        name = (new.get("metadata") or {}).get("name") or ""
        if not name.startswith("pod-") or not (new.get("spec") or {}).get("nodeName"):
            return
        if old is not None and (old.get("spec") or {}).get("nodeName"):
            return  # bound before: seen already
        self.lines.append(f"{name} {time.monotonic()!r}\n".encode())
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_later(FLUSH_EVERY, self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        data, self.lines = b"".join(self.lines), []
        view = memoryview(data)
        while view:  # a blocking pipe: a full one only waits for the harness to read
            view = view[os.write(self.fd, view):]


def main() -> None:
    kubeconfig, fd = sys.argv[1], int(sys.argv[2])
    observer = Observer(fd)
    uvloop.install()
    asyncio.run(runner.run(config.load_kubeconfig(kubeconfig), identity="bench", on_term=observer.attach))


if __name__ == "__main__":
    main()
