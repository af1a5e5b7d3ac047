"""Image pulls for the pod workers, per imagePullPolicy, with upstream's image pull backoff.

``workers.PodWorker`` asks ``Puller.pull`` before it creates a container. A failed pull
leaves the container waiting with ``ErrImagePull``; the next attempts of the same image
wait the worker's backoff (10 s doubling to 5 min, ``ImagePullBackOff``), shared by every container of the pod
that names it. The events are kubelet's: ``Pulling``, ``Pulled``, ``Failed``, ``BackOff``,
each on the container (``spec.containers{c}`` or ``spec.initContainers{c}``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from kubelite.agent.runtime import interface as rt

Obj = dict[str, Any]


class EventSink(Protocol):
    def __call__(self, reason: str, message: str, *, type_: str = "Normal", container: str | None = None,
                 init: bool = False) -> None: ...


class Puller:
    """The image pulls of one pod."""

    def __init__(self, runtime: rt.RuntimeDriver, *, waiting: dict[str, tuple[str, str]], event: EventSink,
                 wake_at: Callable[[float], None], backoff_base: float, backoff_max: float) -> None:
        self.runtime = runtime
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.waiting = waiting  # the worker's: container → (reason, message) while it cannot start
        self.event = event
        self.wake_at = wake_at
        self.backoff: dict[str, tuple[float, float]] = {}  # image → (delay, until)

    async def pull(self, spec: Obj, *, init: bool) -> str | None:
        """The image id of the container's image, made present; None when it is not (the
        container waits, and the worker is woken when it is worth trying again)."""
        image = spec.get("image", "")
        name = spec["name"]

        def event(reason: str, message: str, type_: str = "Normal") -> None:
            self.event(reason, message, type_=type_, container=name, init=init)

        policy = spec.get("imagePullPolicy") or "IfNotPresent"
        entry = self.backoff.get(image)
        if entry is not None and time.time() < entry[1]:
            self.waiting[name] = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
            event("BackOff", f'Back-off pulling image "{image}"')
            self.wake_at(entry[1])
            return None
        try:
            started = time.monotonic()
            if policy == "Always":
                event("Pulling", f'Pulling image "{image}"')
            pulled, image_id = await self.runtime.ensure_image(image, policy=policy)
        except rt.ImageNeverPullError as exc:
            self.waiting[name] = ("ErrImageNeverPull", str(exc))
            event("ErrImageNeverPull", str(exc), "Warning")
            self.wake_at(time.time() + 10)
            return None
        except rt.ImagePullError as exc:
            if policy != "Always":
                event("Pulling", f'Pulling image "{image}"')
            delay = self.backoff_base if entry is None else min(entry[0] * 2, self.backoff_max)
            self.backoff[image] = (delay, time.time() + delay)
            self.waiting[name] = ("ErrImagePull", str(exc))
            event("Failed", f'Failed to pull image "{image}": {exc}', "Warning")
            event("Failed", "Error: ErrImagePull", "Warning")
            self.wake_at(time.time() + delay)
            return None
        self.backoff.pop(image, None)
        if pulled:
            event("Pulled", f'Successfully pulled image "{image}" in {time.monotonic() - started:.3f}s')
        else:
            event("Pulled", f'Container image "{image}" already present on machine')
        return image_id
