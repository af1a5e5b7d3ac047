"""Persistent volumes: the PV binder, kubelite's local-path provisioner, and the PV/PVC
protection finalizers — the three controllers upstream runs as persistentvolume-binder
(pkg/controller/volume/persistentvolume), an external provisioner (rancher's
local-path-provisioner) and pv-/pvc-protection.

Started by ``controllers.manager``. The protocol between them, the scheduler and the
agent is upstream's, carried by annotations:

1. ``PersistentVolumeController`` binds an unbound claim to the smallest Available PV that
   fits (class, access modes, capacity, selector, volumeMode), writing ``pv.spec.claimRef``,
   ``pvc.spec.volumeName``, phase Bound on both and the annotations
   ``pv.kubernetes.io/bind-completed`` / ``pv.kubernetes.io/bound-by-controller``. A claim
   whose class is WaitForFirstConsumer waits (event ``WaitForFirstConsumer``) until the
   scheduler's VolumeBinding plugin either pre-binds a PV to it or annotates it with
   ``volume.kubernetes.io/selected-node``; with no PV to bind and a class that has a
   provisioner, the claim is marked ``volume.kubernetes.io/storage-provisioner`` for it.
   A PV whose claim is gone becomes Released; reclaim policy Retain keeps it.
2. ``LocalPathProvisioner`` serves classes with provisioner ``kubelite.io/local-path``: for
   a claim marked for it and carrying a selected node it creates PV ``pvc-<claim uid>``, a
   ``hostPath`` (DirectoryOrCreate) under ``$KUBELITE_STORAGE_ROOT`` (default
   ``/var/lib/kubelite/storage``) pinned to the node by required nodeAffinity and pre-bound
   to the claim; the binder then completes the binding. Like upstream local-path it
   cannot provision without a node (Immediate classes get a Warning event). Released PVs
   it provisioned with reclaim policy Delete are deleted. The agent creates the directory
   when it first mounts the volume; removing the directory on the node is not done yet.
3. ``VolumeProtectionController`` keeps ``kubernetes.io/pvc-protection`` on claims (removed
   once a deleted claim is used by no scheduled, non-terminated pod) and
   ``kubernetes.io/pv-protection`` on volumes (removed once a deleted volume is not Bound).
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

from kubelite.api import claims, selectors
from kubelite.api.validation import pods as pod_validation
from kubelite.client import errors, informer, resources
from kubelite.controllers import base

Obj = dict[str, Any]

STORAGECLASSES = resources.Resource("storage.k8s.io", "v1", "storageclasses", False, "StorageClass")

ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
LOCAL_PATH = "kubelite.io/local-path"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
LOCAL_PATH_CLEANUP = "kubelite.io/local-path-cleanup"
HOSTNAME_LABEL = "kubernetes.io/hostname"
DEFAULT_STORAGE_ROOT = "/var/lib/kubelite/storage"

# Keys of the shared work queues: volumes are cluster-scoped, claims namespaced.
CLAIM, VOLUME = "claim:", "volume:"


def storage_root() -> str:
    """Where local-path volumes live on every node (``KUBELITE_STORAGE_ROOT``)."""
    return os.environ.get("KUBELITE_STORAGE_ROOT") or DEFAULT_STORAGE_ROOT


def local_path_for(pvc: Obj, *, root: str | None = None) -> str:
    """``<root>/pvc-<uid>_<namespace>_<name>``, local-path-provisioner's folder layout."""
    folder = f"pvc-{base.uid_of(pvc)}_{base.ns_of(pvc)}_{base.name_of(pvc)}"
    return os.path.join(root or storage_root(), folder)


# --- small helpers -----------------------------------------------------------------------


def _spec(obj: Obj) -> Obj:
    spec: Obj = obj.get("spec") or {}
    return spec


def _phase(obj: Obj) -> str:
    return str((obj.get("status") or {}).get("phase") or "")


def _class_of(pvc: Obj) -> str:
    return str(_spec(pvc).get("storageClassName") or "")


def _storage(obj: Obj, *, field: str) -> Fraction:
    spec = _spec(obj)
    value = (spec.get("capacity") or {}).get("storage") if field == "capacity" else \
        ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    return pod_validation.parse_quantity(value) or Fraction(0)


def _claim_ref_key(pv: Obj) -> str | None:
    ref = _spec(pv).get("claimRef")
    if not ref or not ref.get("name"):
        return None
    return f"{ref.get('namespace') or ''}/{ref['name']}"


def _bound_to(pv: Obj, pvc: Obj) -> bool:
    """``pv`` names ``pvc`` in its claimRef (upstream IsVolumeBoundToClaim: an empty uid,
    a pre-binding, counts)."""
    ref = _spec(pv).get("claimRef") or {}
    if ref.get("name") != base.name_of(pvc) or (ref.get("namespace") or "") != base.ns_of(pvc):
        return False
    return not ref.get("uid") or ref.get("uid") == base.uid_of(pvc)


def _delay_binding(cls: Obj | None) -> bool:
    return bool(cls) and (cls or {}).get("volumeBindingMode") == "WaitForFirstConsumer"


def find_best_match(pvc: Obj, volumes: list[Obj], *, delay_binding: bool) -> Obj | None:
    """The PV the binder gives ``pvc``: one pre-bound to it, else the smallest Available PV
    of the same class with enough capacity, the claim's access modes and volumeMode, and
    labels the claim's selector accepts. With delayed binding only pre-bound PVs count (the
    scheduler picks the rest, knowing the node)."""
    spec = _spec(pvc)
    want = _storage(pvc, field="request")
    modes = set(spec.get("accessModes") or [])
    mode = spec.get("volumeMode") or "Filesystem"
    sel = spec.get("selector")
    match = selectors.from_selector_dict(sel) if sel else None
    best: Obj | None = None
    for pv in volumes:
        pspec = _spec(pv)
        if base.deleting(pv) or _storage(pv, field="capacity") < want:
            continue
        if (pspec.get("volumeMode") or "Filesystem") != mode:
            continue
        if _bound_to(pv, pvc):
            return pv
        if delay_binding:
            continue
        if pspec.get("claimRef") or _phase(pv) != "Available":
            continue
        if (pspec.get("storageClassName") or "") != _class_of(pvc):
            continue
        if not modes <= set(pspec.get("accessModes") or []):
            continue
        if match is not None and not match.matches(base.labels_of(pv)):
            continue
        if best is None or _storage(pv, field="capacity") < _storage(best, field="capacity"):
            best = pv
    return best


def _claim_ref(pvc: Obj) -> Obj:
    m = base.meta(pvc)
    return {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": m.get("namespace"),
            "name": m.get("name"), "uid": m.get("uid"), "resourceVersion": m.get("resourceVersion")}


class _VolumeBase(base.Controller):
    """Claims and volumes on one queue (``claim:ns/name``, ``volume:name``)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.claims = self.informers.get(resources.PERSISTENTVOLUMECLAIMS)
        self.volumes = self.informers.get(resources.PERSISTENTVOLUMES)
        self._emitted: set[tuple[str, str]] = set()  # (uid, reason): one event, not one per sync

    def enqueue_claim(self, pvc: Obj) -> None:
        self.queue.add(CLAIM + informer.key_of(pvc))

    def enqueue_volume(self, pv: Obj) -> None:
        self.queue.add(VOLUME + base.name_of(pv))

    def event_once(self, obj: Obj, *, type_: str, reason: str, message: str) -> None:
        mark = (base.uid_of(obj), reason)
        if mark in self._emitted:
            return
        if len(self._emitted) > 100_000:
            self._emitted.clear()
        self._emitted.add(mark)
        self.recorder.event(obj, type_=type_, reason=reason, message=message)

    async def reconcile(self, key: str) -> float | None:
        if key.startswith(CLAIM):
            return await self.sync_claim(key[len(CLAIM):])
        return await self.sync_volume(key[len(VOLUME):])

    async def sync_claim(self, key: str) -> float | None:
        return None

    async def sync_volume(self, name: str) -> float | None:
        return None


# --- 1. the binder -----------------------------------------------------------------------


class PersistentVolumeController(_VolumeBase):
    name = "persistentvolume-binder"
    event_source = "persistentvolume-controller"
    workers = 4

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.classes = self.informers.get(STORAGECLASSES)
        self.claims.add_handler(on_add=self.enqueue_claim, on_update=lambda o, n: self.enqueue_claim(n),
                                on_delete=self._claim_deleted)
        self.volumes.add_handler(on_add=self._volume_changed, on_update=lambda o, n: self._volume_changed(n),
                                 on_delete=self._volume_changed)
        self.classes.add_handler(on_add=self._class_changed, on_update=lambda o, n: self._class_changed(n))

    def _claim_deleted(self, pvc: Obj) -> None:
        for pv in self.volumes.list():
            if _claim_ref_key(pv) == informer.key_of(pvc):
                self.enqueue_volume(pv)

    def _volume_changed(self, pv: Obj) -> None:
        self.enqueue_volume(pv)
        ref = _claim_ref_key(pv)
        if ref is not None:
            self.queue.add(CLAIM + ref)
        elif _phase(pv) == "Available":
            # A free volume appeared: pending claims of its class (or pre-bound to it by
            # name) may take it now.
            cls = _spec(pv).get("storageClassName") or ""
            for pvc in self.claims.list():
                volume_name = _spec(pvc).get("volumeName")
                if volume_name == base.name_of(pv) or (not volume_name and _class_of(pvc) == cls):
                    self.enqueue_claim(pvc)

    def _class_changed(self, cls: Obj) -> None:
        for pvc in self.claims.list():
            if not _spec(pvc).get("volumeName") and _class_of(pvc) == base.name_of(cls):
                self.enqueue_claim(pvc)

    # --- claims ---

    async def sync_claim(self, key: str) -> float | None:
        pvc = self.claims.get(key)
        if pvc is None or base.deleting(pvc):
            return None
        if base.annotations_of(pvc).get(ANN_BIND_COMPLETED):
            return await self._sync_bound_claim(pvc)
        volume_name = _spec(pvc).get("volumeName")
        if volume_name:
            pv = self.volumes.get(volume_name)
            if pv is None:
                return None  # pre-bound to a volume that does not exist yet: wait for it
            if not _spec(pv).get("claimRef") or _bound_to(pv, pvc):
                await self._bind(pv, pvc)
            else:
                self.event_once(pvc, type_="Warning", reason="FailedBinding",
                                message=f'volume "{volume_name}" already bound to a different claim.')
            return None
        class_name = _class_of(pvc)
        cls = self.classes.get(class_name) if class_name else None
        delay = _delay_binding(cls)
        pv = find_best_match(pvc, self.volumes.list(), delay_binding=delay)
        if pv is not None:
            await self._bind(pv, pvc)
            return None
        if delay and not base.annotations_of(pvc).get(ANN_SELECTED_NODE):
            self.event_once(pvc, type_="Normal", reason="WaitForFirstConsumer",
                            message="waiting for first consumer to be created before binding")
            return None
        if not class_name:
            self.event_once(pvc, type_="Normal", reason="FailedBinding",
                            message="no persistent volumes available for this claim and no storage class is set")
            return None
        if cls is None:
            self.event_once(pvc, type_="Warning", reason="ProvisioningFailed",
                            message=f'storageclass.storage.k8s.io "{class_name}" not found')
            return 10.0  # upstream retries provisioning periodically too
        provisioner = str(cls.get("provisioner") or "")
        if provisioner == NO_PROVISIONER:
            self.event_once(pvc, type_="Normal", reason="FailedBinding",
                            message="no persistent volumes available for this claim and no storage class is set"
                            if not class_name else
                            f'storageclass "{class_name}" does not support dynamic provisioning')
            return None
        ann = base.annotations_of(pvc)
        if ann.get(ANN_STORAGE_PROVISIONER) != provisioner or ann.get(ANN_BETA_STORAGE_PROVISIONER) != provisioner:
            await self.client.patch(resources.PERSISTENTVOLUMECLAIMS, base.name_of(pvc), {"metadata": {
                "resourceVersion": base.meta(pvc).get("resourceVersion"),
                "annotations": {ANN_STORAGE_PROVISIONER: provisioner, ANN_BETA_STORAGE_PROVISIONER: provisioner}}},
                namespace=base.ns_of(pvc))
            self.event_once(pvc, type_="Normal", reason="ExternalProvisioning",
                            message=f'waiting for a volume to be created, either by external provisioner '
                                    f'"{provisioner}" or manually created by system administrator')
        return None

    async def _sync_bound_claim(self, pvc: Obj) -> float | None:
        volume_name = _spec(pvc).get("volumeName")
        pv = self.volumes.get(volume_name) if volume_name else None
        if volume_name and pv is None:
            # Losing a claim is drastic: make sure the cache is not merely behind.
            try:
                pv = await self.client.get(resources.PERSISTENTVOLUMES, volume_name)
            except errors.NotFound:
                pv = None
        if not volume_name or pv is None:
            if _phase(pvc) != "Lost":
                await self._claim_status(pvc, {"phase": "Lost"})
                self.event_once(pvc, type_="Warning", reason="ClaimLost",
                                message="Bound claim has lost reference to PersistentVolume. Data on the volume is lost!"
                                if not volume_name else
                                "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
            return None
        if not _spec(pv).get("claimRef") or _bound_to(pv, pvc):
            await self._bind(pv, pvc)
        elif _phase(pvc) != "Lost":
            await self._claim_status(pvc, {"phase": "Lost"})
            self.event_once(pvc, type_="Warning", reason="ClaimMisbound",
                            message="Two claims are bound to the same volume, this one is bound incorrectly")
        return None

    async def _bind(self, pv: Obj, pvc: Obj) -> None:
        """Both halves of a binding, volume first (as upstream: a crash in between leaves a
        volume pointing at a claim, which the next sync completes)."""
        ref = _spec(pv).get("claimRef") or {}
        if ref.get("uid") != base.uid_of(pvc) or ref.get("name") != base.name_of(pvc):
            patch: Obj = {"metadata": {"resourceVersion": base.meta(pv).get("resourceVersion")},
                          "spec": {"claimRef": _claim_ref(pvc)}}
            if not ref:
                patch["metadata"]["annotations"] = {ANN_BOUND_BY_CONTROLLER: "yes"}
            pv = await self.client.patch(resources.PERSISTENTVOLUMES, base.name_of(pv), patch)
        if _phase(pv) != "Bound":
            pv = await self.client.patch(resources.PERSISTENTVOLUMES, base.name_of(pv),
                                         {"status": {"phase": "Bound", "message": None, "reason": None}},
                                         subresource="status")
        ann = base.annotations_of(pvc)
        if _spec(pvc).get("volumeName") != base.name_of(pv) or ann.get(ANN_BIND_COMPLETED) != "yes":
            md: Obj = {"resourceVersion": base.meta(pvc).get("resourceVersion"),
                       "annotations": {ANN_BIND_COMPLETED: "yes"}}
            if not _spec(pvc).get("volumeName"):
                md["annotations"][ANN_BOUND_BY_CONTROLLER] = "yes"
            pvc = await self.client.patch(resources.PERSISTENTVOLUMECLAIMS, base.name_of(pvc),
                                          {"metadata": md, "spec": {"volumeName": base.name_of(pv)}},
                                          namespace=base.ns_of(pvc))
            self.log.info("bound claim=%s/%s volume=%s", base.ns_of(pvc), base.name_of(pvc), base.name_of(pv))
        pspec = _spec(pv)
        want = {"phase": "Bound", "accessModes": pspec.get("accessModes") or [],
                "capacity": dict(pspec.get("capacity") or {})}
        status = pvc.get("status") or {}
        if any(status.get(k) != v for k, v in want.items()):
            await self._claim_status(pvc, want)

    async def _claim_status(self, pvc: Obj, status: Obj) -> None:
        await self.client.patch(resources.PERSISTENTVOLUMECLAIMS, base.name_of(pvc), {"status": status},
                                namespace=base.ns_of(pvc), subresource="status")

    # --- volumes ---

    async def sync_volume(self, name: str) -> float | None:
        pv = self.volumes.get(name)
        if pv is None or base.deleting(pv):
            return None
        spec = _spec(pv)
        ref = spec.get("claimRef")
        if not ref:
            if _phase(pv) != "Available":
                await self._volume_phase(pv, "Available")
            return None
        key = _claim_ref_key(pv) or ""
        pvc = self.claims.get(key)
        if not ref.get("uid"):
            # Pre-bound by a user or the scheduler: the claim's sync completes it.
            if pvc is not None:
                self.enqueue_claim(pvc)
            if _phase(pv) != "Available":
                await self._volume_phase(pv, "Available")
            return None
        if pvc is None or base.uid_of(pvc) != ref.get("uid"):
            # The cache may lag a new claim: ask the API before releasing anything.
            namespace, claim_name = informer.split_key(key)
            try:
                pvc = await self.client.get(resources.PERSISTENTVOLUMECLAIMS, claim_name, namespace=namespace)
            except errors.NotFound:
                pvc = None
            if pvc is None or base.uid_of(pvc) != ref.get("uid"):
                await self._released(pv)
                return None
        claim_volume = _spec(pvc).get("volumeName")
        if not claim_volume:
            self.enqueue_claim(pvc)  # binding in progress: the claim's sync finishes it
        elif claim_volume == name:
            if _phase(pv) != "Bound":
                await self._volume_phase(pv, "Bound")
        else:
            await self._unbind(pv)
        return None

    async def _released(self, pv: Obj) -> None:
        if _phase(pv) not in ("Released", "Failed"):
            pv = await self._volume_phase(pv, "Released")
            self.log.info("volume released volume=%s", base.name_of(pv))
        policy = _spec(pv).get("persistentVolumeReclaimPolicy") or "Retain"
        if policy == "Delete" and base.annotations_of(pv).get(ANN_PROVISIONED_BY) is None \
                and _phase(pv) == "Released":
            # No in-tree deleter here: say so, as upstream does for a volume no plugin can delete.
            await self._volume_phase(pv, "Failed", message=f'error getting deleter volume plugin for volume '
                                                          f'"{base.name_of(pv)}": no deletable volume plugin matched')
            self.recorder.event(pv, type_="Warning", reason="VolumeFailedDelete",
                                message="no deletable volume plugin matched")
        elif policy == "Recycle" and _phase(pv) == "Released":
            await self._volume_phase(pv, "Failed", message="No recycler plugin found for the volume!")
            self.recorder.event(pv, type_="Warning", reason="VolumeFailedRecycle",
                                message="No recycler plugin found for the volume!")

    async def _unbind(self, pv: Obj) -> None:
        """The claim went to another volume: free this one (controller bindings) or keep it
        pre-bound without a uid (a user's binding), as upstream's unbindVolume."""
        if base.annotations_of(pv).get(ANN_BOUND_BY_CONTROLLER):
            patch: Obj = {"metadata": {"resourceVersion": base.meta(pv).get("resourceVersion"),
                                       "annotations": {ANN_BOUND_BY_CONTROLLER: None}},
                          "spec": {"claimRef": None}}
        else:
            patch = {"metadata": {"resourceVersion": base.meta(pv).get("resourceVersion")},
                     "spec": {"claimRef": {"uid": None, "resourceVersion": None}}}
        pv = await self.client.patch(resources.PERSISTENTVOLUMES, base.name_of(pv), patch)
        await self._volume_phase(pv, "Available")

    async def _volume_phase(self, pv: Obj, phase: str, *, message: str | None = None) -> Obj:
        return await self.client.patch(resources.PERSISTENTVOLUMES, base.name_of(pv),
                                       {"status": {"phase": phase, "message": message}},
                                       subresource="status")


# --- 2. the local-path provisioner -------------------------------------------------------


class LocalPathProvisioner(_VolumeBase):
    name = "local-path-provisioner"
    workers = 2

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.classes = self.informers.get(STORAGECLASSES)
        self.nodes = self.informers.get(resources.NODES)
        self.claims.add_handler(on_add=self.enqueue_claim, on_update=lambda o, n: self.enqueue_claim(n))
        self.volumes.add_handler(on_add=self.enqueue_volume, on_update=lambda o, n: self.enqueue_volume(n))

    def _our_class(self, pvc: Obj) -> Obj | None:
        cls = self.classes.get(_class_of(pvc)) if _class_of(pvc) else None
        return cls if cls is not None and cls.get("provisioner") == LOCAL_PATH else None

    async def sync_claim(self, key: str) -> float | None:
        pvc = self.claims.get(key)
        if pvc is None or base.deleting(pvc) or _spec(pvc).get("volumeName"):
            return None
        cls = self._our_class(pvc)
        ann = base.annotations_of(pvc)
        if cls is None or ann.get(ANN_STORAGE_PROVISIONER, ann.get(ANN_BETA_STORAGE_PROVISIONER)) != LOCAL_PATH:
            return None
        node_name = ann.get(ANN_SELECTED_NODE)
        if not node_name:
            if not _delay_binding(cls):
                self.event_once(pvc, type_="Warning", reason="ProvisioningFailed",
                                message=f'failed to provision volume with StorageClass "{base.name_of(cls)}": '
                                        f'configuration error, no node was specified ({LOCAL_PATH} supports only '
                                        f'volumeBindingMode WaitForFirstConsumer)')
            return None
        pv_name = f"pvc-{base.uid_of(pvc)}"
        if self.volumes.get(pv_name) is not None:
            return None
        node = self.nodes.get(node_name)
        if node is None:
            self.event_once(pvc, type_="Warning", reason="ProvisioningFailed",
                            message=f'failed to provision volume with StorageClass "{base.name_of(cls)}": '
                                    f'nodes "{node_name}" not found')
            return 5.0
        self.event_once(pvc, type_="Normal", reason="Provisioning",
                        message=f'External provisioner is provisioning volume for claim "{key}"')
        body = self._volume_for(pvc, cls, node=node, pv_name=pv_name)
        try:
            await self.client.create(resources.PERSISTENTVOLUMES, body)
        except errors.AlreadyExists:
            return None
        self.log.info("provisioned volume=%s claim=%s node=%s", pv_name, key, node_name)
        self.event_once(pvc, type_="Normal", reason="ProvisioningSucceeded",
                        message=f"Successfully provisioned volume {pv_name}")
        return None

    @staticmethod
    def _volume_for(pvc: Obj, cls: Obj, *, node: Obj, pv_name: str) -> Obj:
        spec = _spec(pvc)
        # local-path pins to the node's hostname label, falling back to its name.
        hostname = base.labels_of(node).get(HOSTNAME_LABEL) or base.name_of(node)
        pv_spec: Obj = {
            "capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage")},
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "persistentVolumeReclaimPolicy": cls.get("reclaimPolicy") or "Delete",
            "storageClassName": base.name_of(cls),
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "hostPath": {"path": local_path_for(pvc), "type": "DirectoryOrCreate"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": HOSTNAME_LABEL, "operator": "In", "values": [hostname]}]}]}},
            "claimRef": _claim_ref(pvc),
        }
        if cls.get("mountOptions"):
            pv_spec["mountOptions"] = list(cls["mountOptions"])
        return {"apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": pv_name, "annotations": {ANN_PROVISIONED_BY: LOCAL_PATH},
                             # the node's agent removes the directory, then this finalizer
                             # (kubelite.agent.localpath)
                             "finalizers": [PV_PROTECTION, LOCAL_PATH_CLEANUP]},
                "spec": pv_spec}

    async def sync_volume(self, name: str) -> float | None:
        pv = self.volumes.get(name)
        if pv is None or base.deleting(pv):
            return None
        if base.annotations_of(pv).get(ANN_PROVISIONED_BY) != LOCAL_PATH or _phase(pv) != "Released":
            return None
        if (_spec(pv).get("persistentVolumeReclaimPolicy") or "Delete") != "Delete":
            return None
        try:
            await self.client.delete(resources.PERSISTENTVOLUMES, name)
        except errors.NotFound:
            return None
        self.log.info("deleted released volume=%s path=%s", name,
                      (_spec(pv).get("hostPath") or {}).get("path"))
        return None


# --- 3. protection finalizers ------------------------------------------------------------


def _claims_used_by(pod: Obj) -> list[str]:
    return [name for name, _ in claims.pod_claims(pod) if name]


class VolumeProtectionController(_VolumeBase):
    name = "volume-protection"
    workers = 2

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.pods = self.informers.get(resources.PODS)
        self.claims.add_handler(on_add=self.enqueue_claim, on_update=lambda o, n: self.enqueue_claim(n))
        self.volumes.add_handler(on_add=self.enqueue_volume, on_update=lambda o, n: self.enqueue_volume(n))
        self.pods.add_handler(on_update=lambda o, n: self._pod_changed(n), on_delete=self._pod_changed)

    def _pod_changed(self, pod: Obj) -> None:
        for claim in _claims_used_by(pod):
            key = f"{base.ns_of(pod)}/{claim}"
            pvc = self.claims.get(key)
            if pvc is not None and base.deleting(pvc):
                self.queue.add(CLAIM + key)

    def _in_use(self, pvc: Obj) -> bool:
        """A scheduled pod that is not finished references it (upstream: the kubelet will
        not start an unscheduled pod on a claim being deleted, so those do not count)."""
        for pod in self.pods.by_index("namespace", base.ns_of(pvc)):
            if not _spec(pod).get("nodeName") or _phase(pod) in ("Succeeded", "Failed"):
                continue
            if base.name_of(pvc) in _claims_used_by(pod):
                return True
        return False

    async def sync_claim(self, key: str) -> float | None:
        pvc = self.claims.get(key)
        if pvc is None:
            return None
        await self._finalizer(resources.PERSISTENTVOLUMECLAIMS, pvc, PVC_PROTECTION,
                              keep=not base.deleting(pvc) or self._in_use(pvc))
        return None

    async def sync_volume(self, name: str) -> float | None:
        pv = self.volumes.get(name)
        if pv is None:
            return None
        await self._finalizer(resources.PERSISTENTVOLUMES, pv, PV_PROTECTION,
                              keep=not base.deleting(pv) or _phase(pv) == "Bound")
        return None

    async def _finalizer(self, res: resources.Resource, obj: Obj, finalizer: str, *, keep: bool) -> None:
        current = list(base.meta(obj).get("finalizers") or [])
        if keep == (finalizer in current):
            return
        if keep and base.deleting(obj):
            return  # finalizers cannot be added to an object being deleted
        wanted = current + [finalizer] if keep else [f for f in current if f != finalizer]
        await self.client.patch(res, base.name_of(obj), {"metadata": {
            "resourceVersion": base.meta(obj).get("resourceVersion"), "finalizers": wanted or None}},
            namespace=base.ns_of(obj) or None)
        if not keep:
            self.log.info("protection removed object=%s finalizer=%s", informer.key_of(obj), finalizer)
