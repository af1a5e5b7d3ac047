"""Which PersistentVolumeClaims a pod uses: the ones it names, and its generic ephemeral
volumes' (``spec.volumes[].ephemeral``), each a claim named ``<pod>-<volume>`` that the
ephemeral volume controller creates from the volume's ``volumeClaimTemplate`` and the pod
owns (so the garbage collector deletes it with the pod), as upstream's
``component-helpers/storage/ephemeral``.

Used by the scheduler's VolumeBinding, the controllers (``ephemeral.py`` makes the claims,
``volumes.py`` protects claims in use) and the node agent (``volumes.py`` mounts them).
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]


def ephemeral_claim_name(pod: Obj, volume: Obj) -> str:
    return f"{(pod.get('metadata') or {}).get('name', '')}-{volume.get('name', '')}"


def pod_claims(pod: Obj) -> list[tuple[str, bool]]:
    """(claim name, is generic ephemeral) for each of the pod's claim-backed volumes."""
    out: list[tuple[str, bool]] = []
    for vol in (pod.get("spec") or {}).get("volumes") or ():
        pvc = vol.get("persistentVolumeClaim")
        if pvc is not None:
            out.append((str(pvc.get("claimName") or ""), False))
        elif vol.get("ephemeral") is not None:
            out.append((ephemeral_claim_name(pod, vol), True))
    return out


def claim_name_of(pod: Obj, volume: Obj) -> str | None:
    """The claim behind one volume of ``pod``; None when it is not claim-backed."""
    if volume.get("persistentVolumeClaim") is not None:
        return str((volume["persistentVolumeClaim"] or {}).get("claimName") or "")
    if volume.get("ephemeral") is not None:
        return ephemeral_claim_name(pod, volume)
    return None


def is_for_pod(pvc: Obj, pod: Obj) -> bool:
    """Whether ``pod`` owns (as controller) the claim: an ephemeral volume may only use a
    claim made for it, never a same-named claim someone else created."""
    uid = (pod.get("metadata") or {}).get("uid")
    return any(r.get("uid") == uid and r.get("controller") for r in (pvc.get("metadata") or {}).get("ownerReferences")
               or ())


def not_for_pod_message(pod: Obj, claim: str) -> str:
    meta = pod.get("metadata") or {}
    ns = meta.get("namespace") or ""
    return f"PVC {ns}/{claim} was not created for pod {ns}/{meta.get('name')} (pod is not owner)"


def ephemeral_claim(pod: Obj, volume: Obj) -> Obj:
    """The claim the ephemeral volume controller creates for ``volume`` of ``pod``: the
    template's labels, annotations and spec, the name ``<pod>-<volume>``, owned by the pod."""
    template = ((volume.get("ephemeral") or {}).get("volumeClaimTemplate")) or {}
    tmeta = template.get("metadata") or {}
    pmeta = pod.get("metadata") or {}
    metadata: Obj = {"name": ephemeral_claim_name(pod, volume), "namespace": pmeta.get("namespace"),
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": pmeta.get("name"),
                                          "uid": pmeta.get("uid"), "controller": True, "blockOwnerDeletion": True}]}
    for key in ("labels", "annotations"):
        if tmeta.get(key):
            metadata[key] = dict(tmeta[key])
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata,
            "spec": copy.deepcopy(template.get("spec") or {})}
