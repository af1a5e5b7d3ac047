"""The StatefulSet controller: pods with stable identities ``<set>-<ordinal>`` (hostname
= pod name, subdomain = ``serviceName``), one PersistentVolumeClaim per
volumeClaimTemplate and ordinal (``<template>-<set>-<ordinal>``), created in order and
removed in reverse order (OrderedReady: one at a time, each Running and Ready before the
next; Parallel: all at once), updated with RollingUpdate (highest ordinal first, down
to ``partition``) or OnDelete, with ControllerRevisions and upstream's status
(currentRevision/updateRevision, currentReplicas/updatedReplicas…).

**One pod per identity, ever**: a pod is only created under a name no pod object holds,
and the API server keeps a deleted pod's name until its agent confirms it stopped (the
node lifecycle controller never force-deletes StatefulSet pods on an unreachable node),
so a replacement can never run beside the original.

``persistentVolumeClaimRetentionPolicy``: ``whenDeleted: Delete`` gives each PVC an
ownerReference to the StatefulSet (the garbage collector removes it with the set);
``whenScaled: Delete`` gives a condemned pod's PVCs an ownerReference to that pod.
Retain (the default) leaves PVCs alone.

Started by ``controllers.manager``.
"""

from __future__ import annotations

import re
from typing import Any

from kubelite.client import errors, informer, resources
from kubelite.controllers import base, podcontrol, revisions

Obj = dict[str, Any]

POD_NAME = "statefulset.kubernetes.io/pod-name"
POD_INDEX = "apps.kubernetes.io/pod-index"
# What a claim keeps of its volumeClaimTemplate's metadata (name and namespace are its own).
_CLAIM_METADATA = frozenset({"labels", "annotations", "finalizers"})


def _ordinal(sts: Obj, pod: Obj) -> int | None:
    m = re.fullmatch(re.escape(base.name_of(sts)) + r"-(\d+)", base.name_of(pod))
    return int(m.group(1)) if m else None


def _healthy(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and base.pod_ready(pod) and not base.deleting(pod)


class StatefulSetController(base.Controller):
    name = "statefulset"
    workers = 4

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.sets = self.informers.get(resources.STATEFULSETS)
        self.pods = self.informers.get(resources.PODS)
        self.revs = self.informers.get(resources.CONTROLLERREVISIONS)
        self.pvcs = self.informers.get(resources.PERSISTENTVOLUMECLAIMS)
        self.sets.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self.pods.add_handler(on_add=self._pod_event, on_update=lambda o, n: self._pod_event(n),
                              on_delete=self._pod_event)

    def _pod_event(self, pod: Obj) -> None:
        ref = base.controller_ref(pod)
        if ref and ref.get("kind") == "StatefulSet":
            self.queue.add(f"{base.ns_of(pod)}/{ref.get('name')}")

    async def reconcile(self, key: str) -> float | None:
        cached = self.sets.get(key)
        if cached is None or base.deleting(cached):
            return None
        sts = base.copy(cached)
        spec = sts.get("spec") or {}
        ns = base.ns_of(sts)
        owned = self.pods.by_index("controller", base.uid_of(sts))
        orphans = [p for p in self.pods.by_index("orphan", ns) if _ordinal(sts, p) is not None]
        pods = await podcontrol.claim(self.client, res=resources.PODS, owner=sts, kind="StatefulSet",
                                      api_version="apps/v1", selector=base.selector_of(sts),
                                      owned=owned, orphans=orphans)
        revs = [r for r in self.revs.by_index("controller", base.uid_of(sts))]
        update_rev, revs = await revisions.ensure(self.client, owner=sts, kind="StatefulSet", owned=revs)
        update_name = base.name_of(update_rev)
        status = sts.get("status") or {}
        current_name = status.get("currentRevision") or update_name
        current_rev = next((r for r in revs if base.name_of(r) == current_name), update_rev)

        replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        start = int(((spec.get("ordinals") or {}).get("start")) or 0)
        parallel = spec.get("podManagementPolicy") == "Parallel"
        strategy = spec.get("updateStrategy") or {}
        rolling = (strategy.get("type") or "RollingUpdate") == "RollingUpdate"
        partition = int(((strategy.get("rollingUpdate") or {}).get("partition")) or 0)
        by_ord: dict[int, Obj] = {}
        for pod in pods:
            o = _ordinal(sts, pod)
            if o is not None:
                by_ord[o] = pod
        wanted = range(start, start + replicas)
        condemned = sorted((o for o in by_ord if o not in wanted), reverse=True)

        status_counts = int(status.get("currentReplicas") or 0)
        blocked = False
        create_error: errors.ApiError | None = None
        # Failed pods are replaced (delete now, recreate on the next pass).
        for o in wanted:
            maybe = by_ord.get(o)
            if maybe is not None and (maybe.get("status") or {}).get("phase") == "Failed" and not base.deleting(maybe):
                await self._delete_pod(sts, maybe)
                blocked = True
        if not blocked:
            for o in wanted:
                current = by_ord.get(o)
                if current is None:
                    use_current = rolling and (o - start < partition if partition else o - start < status_counts) \
                        and current_name != update_name
                    rev = current_rev if use_current else update_rev
                    try:
                        await self._create_pod(sts, o, rev)
                    except errors.ApiError as exc:
                        # the status is still written; then the work queue's back-off paces
                        # the retries (upstream's sync returns the error after its status update)
                        create_error = exc
                        blocked = True
                        break
                    if not parallel:
                        blocked = True
                        break
                    continue
                if not parallel and not _healthy(current):
                    blocked = True
                    break
        # Scale down: highest ordinal first; ordered waits for the rest to be healthy.
        if condemned and not (blocked and not parallel):
            if parallel:
                for o in condemned:
                    await self._condemn(sts, by_ord[o])
            else:
                pod = by_ord[condemned[0]]
                if not base.deleting(pod) and all(_healthy(by_ord[o]) for o in wanted if o in by_ord):
                    await self._condemn(sts, pod)
                blocked = True
        # Rolling update: highest ordinal first, one at a time, down to the partition.
        if rolling and not blocked and all(o in by_ord for o in wanted):
            healthy = all(_healthy(by_ord[o]) for o in wanted)
            for o in sorted(wanted, reverse=True):
                if o - start < partition:
                    break
                pod = by_ord[o]
                if base.labels_of(pod).get(revisions.HASH_LABEL) != update_name:
                    if healthy:
                        await self._delete_pod(sts, pod)
                    break
                if not _healthy(pod):
                    break
        await self._write_status(sts, pods=[by_ord[o] for o in wanted if o in by_ord], all_pods=pods,
                                 current=current_name, update=update_name, replicas=replicas)
        in_use = {current_name, update_name} | {base.labels_of(p).get(revisions.HASH_LABEL, "") for p in pods}
        await revisions.prune(self.client, owner=sts, owned=revs, in_use=in_use)
        if create_error is not None:
            raise create_error
        return None

    async def _create_pod(self, sts: Obj, ordinal: int, rev: Obj) -> None:
        name = f"{base.name_of(sts)}-{ordinal}"
        template = revisions.template_of(rev)
        md = template.setdefault("metadata", {})
        labels = md.setdefault("labels", {})
        labels[revisions.HASH_LABEL] = base.name_of(rev)
        labels[POD_NAME] = name
        labels[POD_INDEX] = str(ordinal)
        spec = template.setdefault("spec", {})
        spec["hostname"] = name
        if (sts.get("spec") or {}).get("serviceName"):
            spec["subdomain"] = sts["spec"]["serviceName"]
        volumes = [v for v in spec.get("volumes") or []]
        try:
            for claim in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
                cname = (claim.get("metadata") or {}).get("name") or ""
                claim_name = f"{cname}-{name}"
                await self._ensure_pvc(sts, claim, claim_name, name)
                volumes = [v for v in volumes if v.get("name") != cname]
                volumes.append({"name": cname, "persistentVolumeClaim": {"claimName": claim_name}})
            if volumes:
                spec["volumes"] = volumes
            ref = base.owner_reference(sts, kind="StatefulSet", api_version="apps/v1")
            body = podcontrol.pod_from_template(template, namespace=base.ns_of(sts), owner_ref=ref, name=name)
            await self.client.create(resources.PODS, body, namespace=base.ns_of(sts))
        except errors.AlreadyExists:
            return  # the old pod still holds the identity: wait for it
        except errors.ApiError as exc:
            # upstream's recordPodEvent wording; the caller raises it to the work queue
            self.recorder.event(sts, type_="Warning", reason="FailedCreate",
                                message=f"create Pod {name} in StatefulSet {base.name_of(sts)} failed error: "
                                        f"{exc.message}")
            raise
        self.recorder.event(sts, type_="Normal", reason="SuccessfulCreate",
                            message=f"create Pod {name} in StatefulSet {base.name_of(sts)} successful")

    async def _ensure_pvc(self, sts: Obj, claim: Obj, claim_name: str, pod_name: str) -> None:
        ns = base.ns_of(sts)
        if self.pvcs.get(f"{ns}/{claim_name}") is not None:
            return
        policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        # The template's metadata (labels, annotations), with the selector's labels merged
        # in, as upstream's getPersistentVolumeClaims.
        template_md = claim.get("metadata") or {}
        md: Obj = {k: base.copy(v) for k, v in template_md.items() if k in _CLAIM_METADATA}
        md.update(name=claim_name, namespace=ns, labels={
            **(template_md.get("labels") or {}),
            **(((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})})
        if policy.get("whenDeleted") == "Delete":
            md["ownerReferences"] = [{**base.owner_reference(sts, kind="StatefulSet", api_version="apps/v1"),
                                      "controller": False, "blockOwnerDeletion": True}]
        body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": md,
                "spec": base.copy(claim.get("spec") or {})}
        try:
            await self.client.create(resources.PERSISTENTVOLUMECLAIMS, body, namespace=ns)
        except errors.AlreadyExists:
            return
        except errors.ApiError as exc:
            # upstream's recordClaimEvent; the pod's own FailedCreate follows in _create_pod
            self.recorder.event(sts, type_="Warning", reason="FailedCreate",
                                message=f"create Claim {claim_name} for Pod {pod_name} in StatefulSet "
                                        f"{base.name_of(sts)} failed error: {exc.message}")
            raise
        self.recorder.event(sts, type_="Normal", reason="SuccessfulCreate",
                            message=f"create Claim {claim_name} Pod {pod_name} in StatefulSet {base.name_of(sts)} "
                                    "success")

    async def _condemn(self, sts: Obj, pod: Obj) -> None:
        if base.deleting(pod):
            return
        policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenScaled") == "Delete":
            for claim in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
                cname = f"{(claim.get('metadata') or {}).get('name')}-{base.name_of(pod)}"
                pvc = self.pvcs.get(f"{base.ns_of(sts)}/{cname}")
                if pvc is None:
                    continue
                refs = list(base.meta(pvc).get("ownerReferences") or [])
                refs.append({"apiVersion": "v1", "kind": "Pod", "name": base.name_of(pod),
                             "uid": base.uid_of(pod), "blockOwnerDeletion": True})
                await self.client.patch(resources.PERSISTENTVOLUMECLAIMS, cname,
                                        {"metadata": {"ownerReferences": refs}}, namespace=base.ns_of(sts))
        await self._delete_pod(sts, pod)

    async def _delete_pod(self, sts: Obj, pod: Obj) -> None:
        try:
            await self.client.delete(resources.PODS, base.name_of(pod), namespace=base.ns_of(pod),
                                     preconditions={"uid": base.uid_of(pod)})
        except (errors.NotFound, errors.Conflict):
            return
        self.recorder.event(sts, type_="Normal", reason="SuccessfulDelete",
                            message=f"delete Pod {base.name_of(pod)} in StatefulSet {base.name_of(sts)} successful")

    async def _write_status(self, sts: Obj, *, pods: list[Obj], all_pods: list[Obj], current: str,
                            update: str, replicas: int) -> None:
        mrs = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        live = [p for p in all_pods if not base.deleting(p) and (p.get("status") or {}).get("phase") != "Failed"]
        status: Obj = {
            "observedGeneration": base.meta(sts).get("generation") or 1,
            "replicas": len(live),
            "readyReplicas": len([p for p in live if base.pod_ready(p)]),
            "availableReplicas": len([p for p in live if base.pod_available(p, min_ready_seconds=mrs)]),
            "currentReplicas": len([p for p in live if base.labels_of(p).get(revisions.HASH_LABEL) == current]),
            "updatedReplicas": len([p for p in live if base.labels_of(p).get(revisions.HASH_LABEL) == update]),
            "currentRevision": current, "updateRevision": update,
        }
        old = sts.get("status") or {}
        if old.get("collisionCount") is not None:
            status["collisionCount"] = old["collisionCount"]
        # The rollout is over when every wanted pod runs the update revision and is ready.
        if status["updatedReplicas"] == replicas and status["readyReplicas"] == replicas and \
                len(pods) == replicas and status["replicas"] == replicas:
            status["currentRevision"] = update
            status["currentReplicas"] = status["updatedReplicas"]
        if all((old.get(k) or 0) == (v or 0) for k, v in status.items()):
            return
        await self.client.patch(resources.STATEFULSETS, base.name_of(sts), {"status": status},
                                namespace=base.ns_of(sts), subresource="status")
        self.log.debug("status written statefulset=%s", informer.key_of(sts))
