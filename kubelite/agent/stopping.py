"""Stopping a pod's containers within one grace period, sidecars last.

Called by ``workers.PodWorker`` whenever it stops several containers of a pod at once:
deletion, an activeDeadlineSeconds failure, and the end of a pod whose app containers are
done while its sidecars still run. As kubelet's termination ordering (KEP-753): every
container's preStop hook runs at once; the app containers (and a regular init container
still running) get SIGTERM right after theirs; each sidecar gets it only once every app
container and every sidecar after it in the spec has exited, so a sidecar that serves the
others (a proxy, a log shipper) outlives them. All of it within the one grace period: a
sidecar still waiting for its turn when the period is over is stopped at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from kubelite.agent.runtime import interface as rt

# (container, seconds left) → None; the hook may use up part of what is left
PreStop = Callable[[rt.ContainerInfo, float], Awaitable[None]]
Stop = Callable[[rt.ContainerInfo, float], Awaitable[None]]


async def stop_in_order(containers: list[rt.ContainerInfo], *, sidecars: dict[str, int], grace: float,
                        pre_stop: PreStop, stop: Stop) -> None:
    """Stop ``containers`` (running or created instances), ``sidecars`` (name → place in the
    spec's initContainers) last and in reverse order, all within ``grace`` seconds."""
    deadline = time.monotonic() + grace
    gone = {c.id: asyncio.Event() for c in containers}

    def left() -> float:
        return max(0.0, deadline - time.monotonic())

    def waits_for(c: rt.ContainerInfo) -> list[asyncio.Event]:
        rank = sidecars.get(c.name)
        if rank is None:
            return []
        return [gone[o.id] for o in containers
                if o.id != c.id and (o.name not in sidecars or sidecars[o.name] > rank)]

    async def one(c: rt.ContainerInfo) -> None:
        try:
            await pre_stop(c, left())
            turn = waits_for(c)
            if turn:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in turn)), left())
            await stop(c, left())
        finally:
            gone[c.id].set()

    await asyncio.gather(*(one(c) for c in containers))
