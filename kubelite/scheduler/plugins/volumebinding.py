"""VolumeBinding (PreFilter, Filter, Reserve/Unreserve, PreBind): a pod's
PersistentVolumeClaims decide where it may run, and the scheduler finishes binding
the WaitForFirstConsumer ones once it has picked the node (upstream
pkg/scheduler/framework/plugins/volumebinding, the "delayed binding" protocol).

- PreFilter sorts the pod's claims: missing or terminating claims and unbound claims of
  an Immediate class make the pod unschedulable everywhere (nothing on a node can help);
- Filter: a bound claim's PV must accept the node (``spec.nodeAffinity``); an unbound
  WaitForFirstConsumer claim needs, on that node, a matching Available PV (the smallest,
  as upstream, and not one already chosen for another claim) or a StorageClass with a
  provisioner whose ``allowedTopologies`` admit the node;
- Reserve assumes the chosen static PVs and provisioning nodes in ``cache.listers`` so the
  next pod does not pick the same PV before the writes land; Unreserve forgets them;
- PreBind writes the binding (PV ``spec.claimRef`` and PVC ``spec.volumeName``) or asks for
  provisioning (PVC annotation ``volume.kubernetes.io/selected-node``), then waits,
  bounded, until the informer shows every claim bound; on timeout the cycle fails and the
  scheduler requeues the pod.

The objects come from ``cache.listers`` (fed by the scheduler's informers). Pods without
claims skip the plugin at the cost of one look at ``spec.volumes``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from kubelite.api import claims
from kubelite.client import errors, resources, rest
from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, listers, objects
from kubelite.scheduler.plugins import nodeaffinity

log = logging.getLogger("kubelite.scheduler")

Obj = dict[str, Any]
SELECTED_NODE = "volume.kubernetes.io/selected-node"
BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
BIND_TIMEOUT = 60.0

# Upstream's ConflictReasons; all UnschedulableAndUnresolvable (evicting pods frees no PV).
# upstream's wording since 1.33 (kubernetes#129887; before: "had volume node affinity conflict")
NODE_CONFLICT = framework.Reason("node(s) didn't match PersistentVolume's node affinity", unresolvable=True)
BIND_CONFLICT = framework.Reason("node(s) didn't find available persistent volumes to bind", unresolvable=True)
PV_NOT_EXIST = framework.Reason("node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)",
                                unresolvable=True)


@dataclass
class PodVolumes:
    """PreFilter's classification of the pod's claims, and Reserve's decisions."""

    cache: cache_mod.NodeCache
    claims: list[Obj] = field(default_factory=list)  # every claim, for PreBind's wait
    bound: list[tuple[Obj, Obj | None]] = field(default_factory=list)  # (claim, its PV or None)
    delayed: list[Obj] = field(default_factory=list)  # unbound WaitForFirstConsumer claims
    static: list[tuple[Obj, Obj]] = field(default_factory=list)  # Reserve: (claim, chosen PV)
    provision: list[Obj] = field(default_factory=list)  # Reserve: claims to provision


# --- pure helpers over claims, volumes and classes ------------------------------------------

def claim_class(pvc: Obj) -> str:
    spec = pvc.get("spec") or {}
    if spec.get("storageClassName") is not None:
        return str(spec["storageClassName"])
    return str(((pvc.get("metadata") or {}).get("annotations") or {}).get(BETA_CLASS_ANNOTATION) or "")


def pv_class(pv: Obj) -> str:
    spec = pv.get("spec") or {}
    if spec.get("storageClassName") is not None:
        return str(spec["storageClassName"])
    return str(((pv.get("metadata") or {}).get("annotations") or {}).get(BETA_CLASS_ANNOTATION) or "")


def delay_binding(pvc: Obj, store: listers.Listers) -> bool:
    """Upstream IsDelayBindingMode: no class, or an unknown one, binds immediately."""
    name = claim_class(pvc)
    cls = store.storage_class(name) if name else None
    return cls is not None and cls.get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER


def _storage(q: Any) -> int:
    return objects.quantity(q) if q is not None else 0


def claim_key(pvc: Obj) -> str:
    return listers.key_of(pvc)


def bound_to(pv: Obj, pvc: Obj) -> bool:
    """Is the PV's claimRef this claim (a uid, when the ref has one, must agree)?"""
    ref = (pv.get("spec") or {}).get("claimRef")
    if not ref:
        return False
    meta = pvc.get("metadata") or {}
    if ref.get("name") != meta.get("name") or (ref.get("namespace") or "") != (meta.get("namespace") or ""):
        return False
    return not ref.get("uid") or ref.get("uid") == meta.get("uid")


def _matches_claim(pv: Obj, pvc: Obj) -> bool:
    """Size, access modes, volume mode, deletion: what any PV for this claim must satisfy."""
    pv_spec, spec = pv.get("spec") or {}, pvc.get("spec") or {}
    if (pv.get("metadata") or {}).get("deletionTimestamp"):
        return False
    want = _storage(((spec.get("resources") or {}).get("requests") or {}).get("storage"))
    if _storage((pv_spec.get("capacity") or {}).get("storage")) < want:
        return False
    if (pv_spec.get("volumeMode") or "Filesystem") != (spec.get("volumeMode") or "Filesystem"):
        return False
    return set(spec.get("accessModes") or ()) <= set(pv_spec.get("accessModes") or ())


def candidate_pvs(pvc: Obj, store: listers.Listers) -> tuple[list[Obj], bool]:
    """PVs that could bind this claim on *some* node, best first, and whether the first
    is pre-bound to it (upstream FindMatchingVolume: a pre-bound PV is the only choice).
    Static candidates are Available (or phase not yet written), unclaimed, of the claim's
    class, big enough (smallest first), matching the claim's selector, and not assumed
    by a pod scheduled moments ago."""
    key = claim_key(pvc)
    for pv in store.pvs():
        if bound_to(pv, pvc) and _matches_claim(pv, pvc):
            return [pv], True
    cls = claim_class(pvc)
    raw_sel = (pvc.get("spec") or {}).get("selector")
    sel = objects.label_selector(raw_sel) if raw_sel is not None else None
    out: list[tuple[int, str, Obj]] = []
    for pv in store.pvs():
        spec = pv.get("spec") or {}
        name = (pv.get("metadata") or {}).get("name") or ""
        if spec.get("claimRef") or (pv.get("status") or {}).get("phase", "Available") not in ("", "Available"):
            continue
        if pv_class(pv) != cls or not _matches_claim(pv, pvc):
            continue
        if store.assumed_pvs.get(name, key) != key:
            continue
        if sel is not None and not sel.matches(dict((pv.get("metadata") or {}).get("labels") or {})):
            continue
        out.append((_storage((spec.get("capacity") or {}).get("storage")), name, pv))
    out.sort(key=lambda t: (t[0], t[1]))
    return [pv for _, _, pv in out], False


def pv_node_mask(cache: cache_mod.NodeCache, pv: Obj, shapes: nodeaffinity.ShapeCache) -> np.ndarray | None:
    """Rows the PV's required node affinity admits (None: it admits every node)."""
    required = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {})
    terms = required.get("nodeSelectorTerms")
    if not terms:
        return None
    key = b"pv" + orjson.dumps(terms, option=orjson.OPT_SORT_KEYS)
    mask = shapes.get(cache, key)
    if mask is None or len(mask) != cache.rows:
        mask = np.zeros(cache.rows, bool)
        for row in range(cache.rows):
            if cache.nodes[row] is not None:
                mask[row] = any(objects.node_selector_term_matches(t, cache.labels[row], cache.names[row])
                                for t in terms)
        shapes.put(key, mask)
    result: np.ndarray = mask
    return result


def _topology_matches(terms: list[Obj], labels: dict[str, str]) -> bool:
    """Upstream MatchTopologySelectorTerms: no terms match everything; else any term whose
    every expression has the node's label value among its values."""
    if not terms:
        return True
    return any(all(labels.get(e.get("key") or "") in (e.get("values") or ())
                   for e in t.get("matchLabelExpressions") or ())
               for t in terms)


def provision_mask(cache: cache_mod.NodeCache, pvc: Obj, shapes: nodeaffinity.ShapeCache) -> np.ndarray:
    """Rows where the claim's class could provision a volume (upstream checkVolumeProvisions)."""
    name = claim_class(pvc)
    cls = cache.listers.storage_class(name) if name else None
    if cls is None or (cls.get("provisioner") or NO_PROVISIONER) == NO_PROVISIONER:
        return np.zeros(cache.rows, bool)
    terms = cls.get("allowedTopologies") or []
    if not terms:
        return np.ones(cache.rows, bool)
    key = b"sc" + orjson.dumps(terms, option=orjson.OPT_SORT_KEYS)
    mask = shapes.get(cache, key)
    if mask is None or len(mask) != cache.rows:
        mask = np.array([cache.nodes[r] is not None and _topology_matches(terms, cache.labels[r])
                         for r in range(cache.rows)], bool)
        shapes.put(key, mask)
    result: np.ndarray = mask
    return result


class VolumeBinding:
    name = "VolumeBinding"

    def __init__(self, client: rest.Client | None = None, *, bind_timeout: float = BIND_TIMEOUT) -> None:
        self.client = client
        self.bind_timeout = bind_timeout
        self.shapes = nodeaffinity.ShapeCache()

    # --- PreFilter / Filter -------------------------------------------------------------

    def pre_filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.Status | None:
        pod_claims = claims.pod_claims(state.pod)
        if not pod_claims:
            return framework.SKIP
        store = cache.listers
        meta = state.pod.get("metadata") or {}
        ns = meta.get("namespace") or ""
        st = PodVolumes(cache=cache)
        immediate = False
        for name, ephemeral in pod_claims:
            pvc = store.pvc(ns, name)
            if pvc is None:
                return framework.Status(framework.Code.UNRESOLVABLE, f'persistentvolumeclaim "{name}" not found',
                                        self.name)
            pmeta = pvc.get("metadata") or {}
            if pmeta.get("deletionTimestamp"):
                return framework.Status(framework.Code.UNRESOLVABLE,
                                        f'persistentvolumeclaim "{name}" is being deleted', self.name)
            if ephemeral and not claims.is_for_pod(pvc, state.pod):
                return framework.Status(framework.Code.UNRESOLVABLE, claims.not_for_pod_message(state.pod, name),
                                        self.name)
            st.claims.append(pvc)
            volume = (pvc.get("spec") or {}).get("volumeName")
            if volume:
                st.bound.append((pvc, store.pv(volume)))
            elif delay_binding(pvc, store):
                st.delayed.append(pvc)
            else:
                immediate = True
        if immediate:
            return framework.Status(framework.Code.UNRESOLVABLE, UNBOUND_IMMEDIATE, self.name)
        state[self.name] = st
        return None

    def filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.FilterResult | None:
        st: PodVolumes = state[self.name]
        rows = cache.rows
        fail = np.zeros(rows, np.int64)
        for _, pv in st.bound:
            if pv is None:
                fail |= 4
                continue
            mask = pv_node_mask(cache, pv, self.shapes)
            if mask is not None:
                fail |= (~mask[:rows]).astype(np.int64)
        if st.delayed:
            fail |= (~self._delayed_ok(st, cache)).astype(np.int64) << 1
        return framework.FilterResult(fail, [NODE_CONFLICT, BIND_CONFLICT, PV_NOT_EXIST])

    def _delayed_ok(self, st: PodVolumes, cache: cache_mod.NodeCache) -> np.ndarray:
        """Rows where every unbound claim finds a PV or can be provisioned. Per node, the
        claims take PVs greedily in order, each the smallest left (upstream's choice)."""
        rows = cache.rows
        store = cache.listers
        satisfied = np.ones(rows, bool)
        taken: dict[str, np.ndarray] = {}
        for pvc in st.delayed:
            selected = self._selected_node(pvc, store)
            if selected:
                # Provisioning was already asked for on one node; only that node will do.
                only = np.zeros(rows, bool)
                row = cache.index.get(selected)
                if row is not None:
                    only[row] = True
                satisfied &= only & provision_mask(cache, pvc, self.shapes)[:rows]
                continue
            found = np.zeros(rows, bool)
            pvs, _ = candidate_pvs(pvc, store)
            for pv in pvs:
                name = pv["metadata"]["name"]
                mask = pv_node_mask(cache, pv, self.shapes)
                used = taken.get(name)
                avail = ~found if mask is None else mask[:rows] & ~found
                if used is not None:
                    avail &= ~used
                taken[name] = avail if used is None else used | avail
                found |= avail
            satisfied &= found | provision_mask(cache, pvc, self.shapes)[:rows]
        return satisfied

    @staticmethod
    def _selected_node(pvc: Obj, store: listers.Listers) -> str:
        ann = ((pvc.get("metadata") or {}).get("annotations") or {}).get(SELECTED_NODE)
        return str(ann or store.assumed_selected.get(claim_key(pvc)) or "")

    # --- Reserve / Unreserve ------------------------------------------------------------

    def reserve(self, state: framework.CycleState, node: str) -> framework.Status | None:
        st: PodVolumes | None = state.get(self.name)
        if st is None or not st.delayed:
            return None
        cache, store = st.cache, st.cache.listers
        row = cache.index.get(node)
        if row is None:
            return framework.Status(framework.Code.UNSCHEDULABLE, f"node {node} is gone", self.name)
        chosen: set[str] = set()
        for pvc in st.delayed:
            selected = self._selected_node(pvc, store)
            if not selected:
                for pv in candidate_pvs(pvc, store)[0]:
                    name = pv["metadata"]["name"]
                    mask = pv_node_mask(cache, pv, self.shapes)
                    if name not in chosen and (mask is None or bool(mask[row])):
                        chosen.add(name)
                        st.static.append((pvc, pv))
                        break
                else:
                    selected = node if provision_mask(cache, pvc, self.shapes)[row] else ""
                    if not selected:
                        self.unreserve(state, node)
                        return framework.Status(framework.Code.UNSCHEDULABLE, BIND_CONFLICT.text, self.name)
            if selected:
                st.provision.append(pvc)
        for pvc, pv in st.static:
            store.assumed_pvs[pv["metadata"]["name"]] = claim_key(pvc)
        for pvc in st.provision:
            store.assumed_selected.setdefault(claim_key(pvc), node)
        return None

    def unreserve(self, state: framework.CycleState, node: str) -> None:
        st: PodVolumes | None = state.get(self.name)
        if st is None:
            return
        self._forget(st)
        st.static, st.provision = [], []

    @staticmethod
    def _forget(st: PodVolumes) -> None:
        store = st.cache.listers
        for pvc, pv in st.static:
            if store.assumed_pvs.get(pv["metadata"]["name"]) == claim_key(pvc):
                del store.assumed_pvs[pv["metadata"]["name"]]
        for pvc in st.provision:
            store.assumed_selected.pop(claim_key(pvc), None)

    # --- PreBind ------------------------------------------------------------------------

    def pre_bind_pre_flight(self, state: framework.CycleState, node: str) -> framework.Status | None:
        """SKIP when ``pre_bind`` has nothing to write or wait for (no volume to bind)."""
        st: PodVolumes | None = state.get(self.name)
        if st is None or (not st.static and not st.provision):
            return framework.SKIP
        return None

    async def pre_bind(self, state: framework.CycleState, node: str) -> framework.Status | None:
        st: PodVolumes | None = state.get(self.name)
        if st is None or (not st.static and not st.provision):
            return None
        if self.client is None:
            return framework.Status(framework.Code.ERROR, "binding volumes: no API client", self.name)
        try:
            await self._write(st, node)
        except errors.ApiError as exc:
            return framework.Status(framework.Code.ERROR, f"binding volumes: {exc}", self.name)
        store = st.cache.listers
        problem: list[str] = []

        def all_bound() -> bool:
            for pvc in st.claims:
                meta = pvc.get("metadata") or {}
                current = store.pvc(meta.get("namespace") or "", meta.get("name") or "")
                if current is None or (current.get("metadata") or {}).get("uid") != meta.get("uid"):
                    problem.append(f'persistentvolumeclaim "{meta.get("name")}" was deleted')
                    return True
                volume = (current.get("spec") or {}).get("volumeName")
                if not volume:
                    if pvc in st.provision and not self._selected_node(current, store):
                        problem.append(f'provisioning of persistentvolumeclaim "{meta.get("name")}" was reset')
                        return True
                    return False
                pv = store.pv(volume)
                if pv is None or not bound_to(pv, current):
                    return False
            return True

        ok = await store.wait_until(all_bound, self.bind_timeout)
        self._forget(st)
        if problem:
            return framework.Status(framework.Code.ERROR, f"binding volumes: {problem[0]}", self.name)
        if not ok:
            return framework.Status(framework.Code.ERROR, "binding volumes: timed out waiting for the condition",
                                    self.name)
        return None

    async def _write(self, st: PodVolumes, node: str) -> None:
        """The API writes of the delayed-binding protocol, static bindings first."""
        assert self.client is not None
        for pvc, pv in st.static:
            meta = pvc["metadata"]
            ref = {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": meta.get("namespace"),
                   "name": meta.get("name"), "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}
            # Guarded by the PV's resourceVersion: if anyone bound it meanwhile, we conflict.
            await self.client.patch(resources.PERSISTENTVOLUMES, pv["metadata"]["name"],
                                    {"metadata": {"resourceVersion": pv["metadata"].get("resourceVersion")},
                                     "spec": {"claimRef": ref}})
            try:
                await self.client.patch(resources.PERSISTENTVOLUMECLAIMS, meta["name"],
                                        {"spec": {"volumeName": pv["metadata"]["name"]}},
                                        namespace=meta.get("namespace"))
            except errors.ApiError as exc:
                # The PV binder completes a claimRef'd binding itself; keep waiting for it.
                log.info("could not set volumeName pvc=%s pv=%s error=%s", claim_key(pvc),
                         pv["metadata"]["name"], exc)
        for pvc in st.provision:
            meta = pvc["metadata"]
            if ((meta.get("annotations") or {}).get(SELECTED_NODE)) == node:
                continue
            await self.client.patch(resources.PERSISTENTVOLUMECLAIMS, meta["name"],
                                    {"metadata": {"annotations": {SELECTED_NODE: node}}},
                                    namespace=meta.get("namespace"))
        log.info("volumes assumed for pod node=%s static=%s provision=%s", node,
                 [(claim_key(c), p["metadata"]["name"]) for c, p in st.static],
                 [claim_key(c) for c in st.provision])
