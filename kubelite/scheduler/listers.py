"""The scheduler's read-only view of the cluster objects that are not nodes or pods:
PersistentVolumeClaims, PersistentVolumes, StorageClasses and PodDisruptionBudgets,
plus the volume bindings the scheduler has *assumed* but not yet seen written.

``scheduler.py`` feeds it from informers (``set``/``delete``) and every change bumps
``version`` and wakes ``wait_until`` callers; ``plugins/volumebinding.py`` reads the
volume objects and records its assumptions here (Reserve) so two pods scheduled
back to back never pick the same static PV; ``plugins/preemption.py`` reads the PDBs.
It lives on ``NodeCache.listers`` so plugins reach it wherever they see the cache.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]

PVCS, PVS, CLASSES, PDBS = "persistentvolumeclaims", "persistentvolumes", "storageclasses", "poddisruptionbudgets"


def key_of(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or ""
    return f"{ns}/{meta.get('name', '')}" if ns else str(meta.get("name", ""))


class Listers:
    """Objects by key (``ns/name``, or ``name`` for cluster-scoped kinds), per kind."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Obj]] = {PVCS: {}, PVS: {}, CLASSES: {}, PDBS: {}}
        self.version = 0
        # Reserve's assumptions, undone by Unreserve or dropped once PreBind saw them land:
        self.assumed_pvs: dict[str, str] = {}  # PV name → "ns/claim" it was chosen for
        self.assumed_selected: dict[str, str] = {}  # "ns/claim" → node chosen for provisioning
        self._changed: asyncio.Event | None = None

    # --- informer side ------------------------------------------------------------------

    def set(self, kind: str, obj: Obj) -> None:
        self.objects[kind][key_of(obj)] = obj
        self._bump()

    def delete(self, kind: str, obj: Obj) -> None:
        self.objects[kind].pop(key_of(obj), None)
        self._bump()

    def _bump(self) -> None:
        self.version += 1
        if self._changed is not None:
            self._changed.set()

    # --- readers ------------------------------------------------------------------------

    def pvc(self, namespace: str, name: str) -> Obj | None:
        return self.objects[PVCS].get(f"{namespace}/{name}")

    def pv(self, name: str) -> Obj | None:
        return self.objects[PVS].get(name)

    def storage_class(self, name: str) -> Obj | None:
        return self.objects[CLASSES].get(name)

    def pvs(self) -> list[Obj]:
        return list(self.objects[PVS].values())

    def pdbs(self) -> list[Obj]:
        return list(self.objects[PDBS].values())

    @property
    def has_volumes(self) -> bool:
        return bool(self.objects[PVCS])

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait (bounded) until ``predicate`` holds, re-checking after every informer
        change rather than polling: True if it held before the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self._changed is None:
                self._changed = asyncio.Event()
            seen = self.version
            self._changed.clear()
            if self.version != seen:
                continue
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
            except TimeoutError:
                pass
