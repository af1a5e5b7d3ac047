"""The ephemeral volume controller: for every generic ephemeral volume of a pod
(``spec.volumes[].ephemeral.volumeClaimTemplate``) it creates the claim ``<pod>-<volume>``,
owned by the pod, as upstream's EphemeralVolumeController. The scheduler waits for the
claim (VolumeBinding), the storage controllers bind or provision it, the node agent
mounts it, and the garbage collector deletes it with the pod.

Started by ``controllers.manager``. A same-named claim the pod does not own is left
alone, with a Warning event on the pod: the scheduler then reports the pod unschedulable
for it, as upstream.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import claims
from kubelite.client import errors, resources
from kubelite.controllers import base

Obj = dict[str, Any]


class EphemeralVolumeController(base.Controller):
    name = "ephemeral-volume"
    workers = 2

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.pods = self.informers.get(resources.PODS)
        self.pvcs = self.informers.get(resources.PERSISTENTVOLUMECLAIMS)
        self.pods.add_handler(on_add=self._pod_changed, on_update=lambda _o, n: self._pod_changed(n))
        self.pvcs.add_handler(on_delete=self._claim_deleted)

    def _pod_changed(self, pod: Obj) -> None:
        if any(ephemeral for _, ephemeral in claims.pod_claims(pod)):
            self.enqueue(pod)

    def _claim_deleted(self, pvc: Obj) -> None:
        # a pod's own claim deleted under it: make it again while the pod lives
        for ref in (pvc.get("metadata") or {}).get("ownerReferences") or ():
            if ref.get("kind") == "Pod" and ref.get("controller"):
                self.queue.add(f"{base.ns_of(pvc)}/{ref.get('name')}")

    async def reconcile(self, key: str) -> float | None:
        pod = self.pods.get(key)
        if pod is None or base.deleting(pod):
            return None
        ns = base.ns_of(pod)
        for vol in (pod.get("spec") or {}).get("volumes") or ():
            if vol.get("ephemeral") is None:
                continue
            name = claims.ephemeral_claim_name(pod, vol)
            existing = self.pvcs.get(f"{ns}/{name}")
            if existing is not None:
                if not claims.is_for_pod(existing, pod):
                    self.recorder.event(pod, type_="Warning", reason="FailedBinding",
                                        message=claims.not_for_pod_message(pod, name))
                continue
            try:
                await self.client.create(resources.PERSISTENTVOLUMECLAIMS, claims.ephemeral_claim(pod, vol),
                                         namespace=ns)
                self.log.info("created ephemeral volume claim pod=%s claim=%s", key, name)
            except errors.AlreadyExists:
                pass  # not seen by the informer yet
            except errors.ApiError as exc:
                # As upstream's syncHandler: a Warning on the pod, and the error to the work
                # queue, whose back-off paces the retries until the claim fits (a quota
                # raised) or the pod is gone (a terminating namespace deletes it).
                self.recorder.event(pod, type_="Warning", reason="FailedBinding",
                                    message=f"ephemeral volume {vol.get('name')}: create PVC {name}: {exc.message}")
                raise
        return None
