"""Removes a local-path volume's directory from this node when its PersistentVolume goes.

The local-path provisioner (``kubelite.controllers.volumes``) puts the finalizer
``kubelite.io/local-path-cleanup`` on every volume it makes; a volume's data lives on one
node, so only that node's agent can delete it, as upstream local-path-provisioner runs a
helper pod on the node. When such a volume is being deleted (reclaim policy Delete, its
claim gone), the agent of the node its ``nodeAffinity`` names removes the directory and
then the finalizer, and the volume object goes. An agent that is down leaves the volume
Terminating until it returns, instead of losing track of the data.

Started by ``kubelite.agent.runner``; one PersistentVolume informer (volumes are few).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

from kubelite.aio import tasks
from kubelite.client import errors, informer, resources, rest

log = logging.getLogger("kubelite.agent.localpath")

CLEANUP_FINALIZER = "kubelite.io/local-path-cleanup"
HOSTNAME_LABEL = "kubernetes.io/hostname"

Obj = dict[str, Any]


def _node_names(pv: Obj) -> set[str]:
    terms = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") or []
    return {v for t in terms for e in t.get("matchExpressions") or []
            if e.get("key") == HOSTNAME_LABEL and e.get("operator") == "In" for v in e.get("values") or []}


def volume_dir(pv: Obj) -> Path | None:
    """The directory to remove, or None when it does not look like one the provisioner made
    (``pvc-<claim uid>_<namespace>_<name>``): the agent never deletes another path."""
    spec = pv.get("spec") or {}
    path = (spec.get("hostPath") or {}).get("path") or ""
    claim_uid = (spec.get("claimRef") or {}).get("uid") or ""
    name = Path(path).name
    if not path.startswith("/") or not claim_uid or not name.startswith(f"pvc-{claim_uid}_") or ".." in path:
        return None
    return Path(path)


class LocalPathCleaner:
    def __init__(self, client: rest.Client, *, hostnames: set[str]) -> None:
        self.client = client
        self.hostnames = hostnames
        # the resync re-offers a volume whose cleanup failed (an API error on the way)
        self.volumes = informer.Informer(client, resources.PERSISTENTVOLUMES, resync_period=30.0)
        self.volumes.add_handler(on_add=self._seen, on_update=lambda _old, new: self._seen(new))
        self._busy: set[str] = set()
        self._tg = tasks.TaskGroup("local-path-cleaner")

    def start(self, tg: tasks.TaskGroup) -> None:
        self.volumes.start(tg)

    async def close(self) -> None:
        await self._tg.close()

    def _seen(self, pv: Obj) -> None:
        meta = pv.get("metadata") or {}
        name = meta.get("name") or ""
        if not meta.get("deletionTimestamp") or CLEANUP_FINALIZER not in (meta.get("finalizers") or []):
            return
        if not (_node_names(pv) & self.hostnames) or name in self._busy:
            return
        self._busy.add(name)
        self._tg.spawn(self._clean(name, pv), name=f"clean/{name}")

    async def _clean(self, name: str, pv: Obj) -> None:
        try:
            path = volume_dir(pv)
            if path is None:
                log.warning("not removing the directory of volume=%s: unexpected path %r", name,
                            ((pv.get("spec") or {}).get("hostPath") or {}).get("path"))
            else:
                await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)
                log.info("removed local-path directory volume=%s path=%s", name, path)
            await self._drop_finalizer(name)
        except errors.ApiError as exc:
            log.warning("local-path cleanup of volume=%s failed: %s (tried again at the next resync)", name, exc)
        finally:
            self._busy.discard(name)

    async def _drop_finalizer(self, name: str) -> None:
        for _ in range(5):
            try:
                pv = await self.client.get(resources.PERSISTENTVOLUMES, name)
            except errors.NotFound:
                return
            meta = pv["metadata"]
            rest_ = [f for f in meta.get("finalizers") or [] if f != CLEANUP_FINALIZER]
            try:
                await self.client.patch(resources.PERSISTENTVOLUMES, name,
                                        {"metadata": {"finalizers": rest_, "resourceVersion": meta["resourceVersion"]}})
                return
            except errors.Conflict:
                continue
            except errors.NotFound:
                return
