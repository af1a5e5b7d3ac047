"""What a node's service proxy and cluster DNS read: every Service and EndpointSlice.

Used by ``kubelite.proxy.proxier`` (iptables rules) and ``kubelite.proxy.dns`` (records),
which share one ``ClusterView`` so that a node watches each resource once. ``ServiceView``
is the read interface both use; tests hand them a ``StaticView`` instead of informers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from kubelite.aio import tasks
from kubelite.client import informer, resources, rest

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # an EndpointSlice's Service


def service_of(slice_: Obj) -> str | None:
    """``namespace/service`` of an EndpointSlice, from its ``kubernetes.io/service-name`` label."""
    meta = slice_.get("metadata") or {}
    name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return f"{meta.get('namespace', '')}/{name}" if name else None


class ServiceView(Protocol):
    def services(self) -> list[Obj]: ...

    def service(self, namespace: str, name: str) -> Obj | None: ...

    def slices(self, namespace: str, service: str) -> list[Obj]: ...


class StaticView:
    """A ``ServiceView`` over fixed lists (unit tests)."""

    def __init__(self, services: Iterable[Obj] = (), slices: Iterable[Obj] = ()) -> None:
        self._services = {informer.key_of(s): s for s in services}
        self._slices: dict[str, list[Obj]] = {}
        for s in slices:
            key = service_of(s)
            if key:
                self._slices.setdefault(key, []).append(s)

    def services(self) -> list[Obj]:
        return list(self._services.values())

    def service(self, namespace: str, name: str) -> Obj | None:
        return self._services.get(f"{namespace}/{name}")

    def slices(self, namespace: str, service: str) -> list[Obj]:
        return list(self._slices.get(f"{namespace}/{service}", []))


class ClusterView:
    """Services and EndpointSlices of all namespaces, kept by two informers; ``on_change``
    callbacks run (synchronously, keep them quick) after every change of either."""

    def __init__(self, client: rest.Client) -> None:
        self._services = informer.Informer(client, resources.SERVICES, strip_managed_fields=True)
        self._slices = informer.Informer(client, resources.ENDPOINTSLICES, strip_managed_fields=True)
        self._slices.add_index("service", service_of)
        self._listeners: list[Callable[[], None]] = []
        for inf in (self._services, self._slices):
            inf.add_handler(on_add=lambda _o: self._changed(), on_update=lambda _o, _n: self._changed(),
                            on_delete=lambda _o: self._changed())

    def on_change(self, fn: Callable[[], None]) -> None:
        self._listeners.append(fn)

    def _changed(self) -> None:
        for fn in self._listeners:
            fn()

    def start(self, tg: tasks.TaskGroup) -> None:
        self._services.start(tg)
        self._slices.start(tg)

    async def stop(self) -> None:
        await self._services.stop()
        await self._slices.stop()

    async def wait_synced(self, timeout: float | None = None) -> bool:
        done = await asyncio.gather(self._services.wait_synced(timeout), self._slices.wait_synced(timeout))
        return all(done)

    def services(self) -> list[Obj]:
        return self._services.list()

    def service(self, namespace: str, name: str) -> Obj | None:
        return self._services.get(f"{namespace}/{name}")

    def slices(self, namespace: str, service: str) -> list[Obj]:
        return self._slices.by_index("service", f"{namespace}/{service}")
