"""The scheduler's picture of the cluster: every node as one row of NumPy arrays, and
every pod placed on a node (bound or only *assumed* while its binding is in flight).

The scheduler (``scheduler.py``) feeds it from the node and pod informers and assumes
a pod the moment it picks a node, so the next pod already sees the capacity gone; the
plugins (``plugins/*.py``) read it in bulk: a filter is one vectorised comparison over all
nodes, never a Python loop over them.

Rows are reused after a node is deleted (``valid`` is False meanwhile). ``generation``
changes whenever anything a node-level filter reads changes (labels, taints,
unschedulable, readiness), so plugins may cache per-pod-shape masks against it.
Counters of pods matching a selector (for inter-pod affinity and topology spread) are
built on first use and kept current incrementally on every pod added or removed.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kubelite.api import selectors
from kubelite.scheduler import listers as listers_mod
from kubelite.scheduler import objects

log = logging.getLogger("kubelite.scheduler.cache")

Obj = dict[str, Any]
BASE_RESOURCES = (objects.CPU, objects.MEMORY, objects.PODS, objects.EPHEMERAL)
MAX_COUNTERS = 512
TOUCHED_KEPT = 4096
# RowMemo refreshes up to this many touched rows one by one in Python, more with NumPy.
SCALAR_ROWS = 8
_SERIALS = itertools.count(1)


@dataclass(eq=False, slots=True)
class PodInfo:
    """What the scheduler remembers of a pod placed on a node. Slots: the cache keeps
    one per pod, and an instance without a __dict__ is one object fewer for the cyclic
    collector to walk, per pod."""

    key: str
    namespace: str
    name: str
    uid: str
    node: str
    labels: dict[str, str]
    priority: int
    requests: dict[str, int]
    nonzero: tuple[int, int]
    ports: Sequence[tuple[str, str, int]]
    owner_uid: str
    anti_terms: Sequence[objects.AffinityTerm]
    # Terms by which this pod weighs on where *other* pods score (InterPodAffinity's
    # symmetry), with their signed weight; 0 marks a required affinity term (weighed by
    # the plugin's hardPodAffinityWeight).
    score_terms: Sequence[tuple[objects.AffinityTerm, int]]
    terminating: bool
    grace: int
    obj: Obj
    assumed: bool = False
    row: int = -1  # the node's row, -1 while that node is unknown


def pod_info(pod: Obj, *, node: str, assumed: bool = False) -> PodInfo:
    """Everything the cache and the plugins read of a pod, computed once (requests
    included: the resource plugins read ``requests``/``nonzero``, never the spec)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    refs = meta.get("ownerReferences")
    owner = next((r.get("uid", "") for r in refs if r.get("controller")), "") if refs else ""
    requests, nonzero = objects.pod_resources(spec)
    labels = meta.get("labels")
    return PodInfo(
        key=f"{meta.get('namespace', '')}/{meta.get('name', '')}", namespace=meta.get("namespace") or "",
        name=meta.get("name") or "", uid=meta.get("uid") or "", node=node,
        labels=dict(labels) if labels else {}, priority=int(spec.get("priority") or 0),
        requests=requests, nonzero=nonzero,
        ports=objects.host_ports(spec) or (), owner_uid=owner,
        # () rather than a new empty list: the cache keeps one PodInfo per pod, and every
        # list is one more object for the cyclic collector to walk.
        anti_terms=(objects.affinity_terms(pod, "podAntiAffinity", True) or ()) if spec.get("affinity") else (),
        score_terms=_score_terms(pod) if spec.get("affinity") else (),
        terminating=bool(meta.get("deletionTimestamp")),
        grace=int(spec.get("terminationGracePeriodSeconds", 30) or 0), obj=pod, assumed=assumed)


def _score_terms(pod: Obj) -> tuple[tuple[objects.AffinityTerm, int], ...]:
    """Upstream's ``processExistingPod``: a placed pod's required affinity terms (weight 0
    here: hardPodAffinityWeight applies), preferred affinity (+weight) and preferred
    anti-affinity (−weight) terms, counted for each pod they match."""
    terms = [(t, 0) for t in objects.affinity_terms(pod, "podAffinity", True)]
    terms += [(t, t.weight) for t in objects.affinity_terms(pod, "podAffinity", False) if t.weight]
    terms += [(t, -t.weight) for t in objects.affinity_terms(pod, "podAntiAffinity", False) if t.weight]
    return tuple(terms)


# The spec fields ``pod_info`` reads (besides nodeName).
_INFO_SPEC_FIELDS = ("containers", "initContainers", "overhead", "priority", "affinity",
                     "terminationGracePeriodSeconds")


def same_placement(p: PodInfo, pod: Obj) -> bool:
    """Would ``pod_info(pod, node=p.node)`` count exactly what ``p`` counts? True for the
    usual update of an assumed pod: its binding landing (only spec.nodeName and status
    changed), so the scheduler can confirm ``p`` instead of rebuilding it."""
    meta = pod.get("metadata") or {}
    old = p.obj
    old_meta = old.get("metadata") or {}
    if p.terminating or meta.get("deletionTimestamp") or (meta.get("uid") or "") != p.uid:
        return False
    if (meta.get("labels") or {}) != p.labels or meta.get("ownerReferences") != old_meta.get("ownerReferences"):
        return False
    spec, old_spec = pod.get("spec") or {}, old.get("spec") or {}
    for f in _INFO_SPEC_FIELDS:
        if spec.get(f) != old_spec.get(f):
            return False
    return True


class RowMemo:
    """Per-pod-shape arrays over node rows where each row's value depends only on that
    row's own state (requested, allocatable) and the shape: the resource scores and the
    resource fit verdict. Kept current by recomputing just the rows whose pods changed
    since (usually one: the last pod placed), instead of every row for every pod.
    Anything else that changes a row (node added, removed, resized) changes
    ``generation``: full recompute.

    ``compute(sel)`` must give the values of the rows ``sel`` (a slice of all rows, or
    an index array), elementwise, so that a partial update equals a full one. ``row(i)``,
    when given, gives one row's value as a Python scalar, bit for bit what ``compute``
    gives for it: a handful of touched rows is then refreshed without NumPy calls,
    which on one-element arrays cost more than the arithmetic itself."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        # key → [cache serial, generation, rows, touch mark, values, non-zero values or -1]
        self._memo: OrderedDict[Any, list[Any]] = OrderedDict()

    def get(self, cache: NodeCache, key: Any, compute: Callable[[Any], np.ndarray],
            row: Callable[[int], Any] | None = None) -> np.ndarray:
        """The values for ``key`` (read-only: callers must not change them)."""
        values: np.ndarray = self._entry(cache, key, compute, row, counted=False)[4]
        return values

    def get_counted(self, cache: NodeCache, key: Any, compute: Callable[[Any], np.ndarray],
                    row: Callable[[int], Any] | None = None) -> tuple[np.ndarray, int]:
        """``get``, and how many values are non-zero (kept up to date row by row: a
        verdict mask answers "does any node fail?" without a scan)."""
        entry = self._entry(cache, key, compute, row, counted=True)
        return entry[4], entry[5]

    def _entry(self, cache: NodeCache, key: Any, compute: Callable[[Any], np.ndarray],
               row: Callable[[int], Any] | None, *, counted: bool) -> list[Any]:
        entry = self._memo.get(key)
        if (entry is not None and entry[0] == cache.serial and entry[1] == cache.generation
                and entry[2] == cache.rows and (entry[5] >= 0 or not counted)):
            mark = cache.touched_base + len(cache.touched)
            if entry[3] == mark:
                return entry
            start = entry[3] - cache.touched_base
            if start >= 0 and mark - entry[3] <= max(64, cache.rows // 16):
                touched = set(cache.touched[start:])
                values = entry[4]
                nonzero = entry[5]
                if row is not None and len(touched) <= SCALAR_ROWS:
                    for i in touched:
                        new = row(i)
                        if nonzero >= 0:
                            nonzero += (new != 0) - (values.item(i) != 0)
                        values[i] = new
                else:
                    idx = np.fromiter(touched, np.int64, len(touched))
                    fresh = compute(idx)
                    if nonzero >= 0:
                        nonzero += int(np.count_nonzero(fresh)) - int(np.count_nonzero(values[idx]))
                    values[idx] = fresh
                entry[3], entry[5] = mark, nonzero
                return entry
        values = compute(slice(0, cache.rows))
        entry = [cache.serial, cache.generation, cache.rows, cache.touch_mark, values,
                 int(np.count_nonzero(values)) if counted else -1]
        self._memo[key] = entry
        self._memo.move_to_end(key)
        if len(self._memo) > self.size:
            self._memo.popitem(last=False)
        return entry


@dataclass(eq=False)
class Counter:
    """Pods matching (selector, namespaces), counted per node row; kept current."""

    selector: selectors.LabelSelector
    namespaces: frozenset[str] | None
    counts: np.ndarray
    term: objects.AffinityTerm | None = None  # for anti-affinity groups: the owners' term
    pods: set[str] = field(default_factory=set)

    def matches(self, p: PodInfo, ns_labels: dict[str, dict[str, str]]) -> bool:
        if self.term is not None:
            return any(t.signature == self.term.signature for t in p.anti_terms)
        if self.namespaces is not None and p.namespace not in self.namespaces:
            return False
        return self.selector.matches(p.labels)


class NodeCache:
    """Nodes as array rows, pods by node; see the module docstring."""

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self.rows = 0  # high-water mark: arrays are meaningful in [0, rows)
        self.index: dict[str, int] = {}
        self.names: list[str] = []
        self.free: list[int] = []
        self.valid = np.zeros(capacity, bool)
        self.unschedulable = np.zeros(capacity, bool)
        self.alloc: dict[str, np.ndarray] = {r: np.zeros(capacity, np.int64) for r in BASE_RESOURCES}
        self.req: dict[str, np.ndarray] = {r: np.zeros(capacity, np.int64) for r in BASE_RESOURCES}
        self.nz_cpu = np.zeros(capacity, np.int64)
        self.nz_mem = np.zeros(capacity, np.int64)
        self.nodes: list[Obj | None] = []
        self.labels: list[dict[str, str]] = []
        self.taints: list[list[Obj]] = []
        self.pods_on: list[dict[str, PodInfo]] = []
        self.pods: dict[str, PodInfo] = {}
        self.orphans: dict[str, dict[str, PodInfo]] = {}  # node name → pods, node not seen yet
        self.ns_labels: dict[str, dict[str, str]] = {}
        self.generation = 0
        self.serial = next(_SERIALS)  # tells caches apart for memos that outlive one
        self._domains: dict[str, tuple[int, np.ndarray, list[str]]] = {}
        self._inverse: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
        self.counters: OrderedDict[tuple[Any, ...], Counter] = OrderedDict()
        self.anti_groups: dict[tuple[Any, ...], Counter] = {}
        # (term signature, signed weight) → placed pods carrying that scoring term, per row
        self.score_groups: dict[tuple[Any, ...], Counter] = {}
        # image → (size, rows that have it)
        self.images: dict[str, tuple[int, set[int]]] = {}
        # (protocol, port) → {row: [hostIP, …]}
        self.ports: dict[tuple[str, int], dict[int, list[str]]] = {}
        # Pending pods nominated to a node by preemption (status.nominatedNodeName), by key;
        # PodInfo.node is the nominated node. They hold space for pods of lower priority
        # (framework.run_filters), as upstream's PodNominator.
        self.nominated: dict[str, PodInfo] = {}
        # PVCs, PVs, StorageClasses and PDBs, for the volume and preemption plugins.
        self.listers = listers_mod.Listers()
        # Rows whose pod accounting changed, in order, for ``RowMemo`` (entries before
        # ``touched_base`` were dropped to bound the list).
        self.touched: list[int] = []
        self.touched_base = 0

    # --- arrays -----------------------------------------------------------------------

    def _grow(self) -> None:
        new = self.capacity * 2

        def grown(a: np.ndarray) -> np.ndarray:
            b = np.zeros(new, a.dtype)
            b[: self.capacity] = a
            return b

        self.valid, self.unschedulable = grown(self.valid), grown(self.unschedulable)
        self.nz_cpu, self.nz_mem = grown(self.nz_cpu), grown(self.nz_mem)
        for d in (self.alloc, self.req):
            for k in d:
                d[k] = grown(d[k])
        for c in [*self.counters.values(), *self.anti_groups.values(), *self.score_groups.values()]:
            c.counts = grown(c.counts)
        self.capacity = new
        self._domains.clear()

    def resource(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(allocatable, requested) arrays for a resource; extended ones appear on demand."""
        if name not in self.alloc:
            self.alloc[name] = np.zeros(self.capacity, np.int64)
            self.req[name] = np.zeros(self.capacity, np.int64)
            for row in range(self.rows):
                node = self.nodes[row]
                if node is not None:
                    self.alloc[name][row] = objects.node_allocatable(node).get(name, 0)
                    self.req[name][row] = sum(p.requests.get(name, 0) for p in self.pods_on[row].values())
        return self.alloc[name][: self.rows], self.req[name][: self.rows]

    def inverse(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(allocatable, 100/allocatable with 0 where nothing is allocatable) as floats,
        cached per node generation: scoring multiplies instead of dividing per pod."""
        cached = self._inverse.get(name)
        if cached is not None and cached[0] == self.generation and len(cached[1]) == self.rows:
            return cached[1], cached[2]
        alloc = self.resource(name)[0].astype(np.float64)
        inv = np.zeros(self.rows, np.float64)
        np.divide(100.0, alloc, out=inv, where=alloc > 0)
        self._inverse[name] = (self.generation, alloc, inv)
        return alloc, inv

    def domains(self, key: str) -> tuple[np.ndarray, list[str]]:
        """Per row, the id of its value for label ``key`` (-1: label missing), and the values."""
        cached = self._domains.get(key)
        if cached is not None and cached[0] == self.generation:
            return cached[1][: self.rows], cached[2]
        values: dict[str, int] = {}
        ids = np.full(self.rows, -1, np.int32)
        for row in range(self.rows):
            if self.nodes[row] is None:
                continue
            v = self.labels[row].get(key)
            if v is not None:
                ids[row] = values.setdefault(v, len(values))
        self._domains[key] = (self.generation, ids, list(values))
        return ids, list(values)

    @property
    def node_count(self) -> int:
        return len(self.index)

    # --- nodes ------------------------------------------------------------------------

    def set_node(self, node: Obj) -> bool:
        """Add or update a node; True when something scheduling depends on changed."""
        name = node["metadata"]["name"]
        row = self.index.get(name)
        if row is None:
            row = self.free.pop() if self.free else self.rows
            if row == self.rows:
                if row >= self.capacity:
                    self._grow()
                self.rows += 1
                self.names.append(name)
                self.nodes.append(None)
                self.labels.append({})
                self.taints.append([])
                self.pods_on.append({})
            self.index[name] = row
            self.names[row] = name
            self.pods_on[row] = {}
            for k in self.req:
                self.req[k][row] = 0
            self.nz_cpu[row] = self.nz_mem[row] = 0
            old = None
        else:
            old = self.nodes[row]
        self.nodes[row] = node
        # As upstream, the node's own labels only: its agent sets kubernetes.io/hostname.
        labels = dict(node["metadata"].get("labels") or {})
        taints = objects.node_taints(node)
        unsched = bool((node.get("spec") or {}).get("unschedulable"))
        alloc = objects.node_allocatable(node)
        changed = (old is None or labels != self.labels[row] or taints != self.taints[row]
                   or unsched != bool(self.unschedulable[row])
                   or any(int(self.alloc[k][row]) != alloc.get(k, 0) for k in self.alloc)
                   or any(k not in self.alloc for k in alloc))
        self.labels[row], self.taints[row] = labels, taints
        self.unschedulable[row] = unsched
        self.valid[row] = True
        for k in alloc:
            if k not in self.alloc:
                self.resource(k)
        for k, arr in self.alloc.items():
            arr[row] = alloc.get(k, 0)
        self._set_images(row, node, fresh=old is None)
        if old is None:
            for p in self.orphans.pop(name, {}).values():
                self._account(p, row, +1)
        if changed:
            self.generation += 1
        return changed

    def _set_images(self, row: int, node: Obj, *, fresh: bool) -> None:
        if not fresh:
            for _, rows in self.images.values():
                rows.discard(row)
        for img in (node.get("status") or {}).get("images") or []:
            size = int(img.get("sizeBytes") or 0)
            for name in img.get("names") or []:
                entry = self.images.setdefault(objects.normalize_image(name), (size, set()))
                entry[1].add(row)

    def remove_node(self, name: str) -> None:
        row = self.index.pop(name, None)
        if row is None:
            return
        # Its pods wait as orphans: the node may come back, or the pods get deleted.
        for p in list(self.pods_on[row].values()):
            self._account(p, row, -1)
            self.orphans.setdefault(name, {})[p.key] = p
        self.pods_on[row] = {}
        self.nodes[row] = None
        self.valid[row] = False
        self.labels[row], self.taints[row] = {}, []
        for arr in self.alloc.values():
            arr[row] = 0
        for _, rows in self.images.values():
            rows.discard(row)
        self.free.append(row)
        self.generation += 1

    # --- pods -------------------------------------------------------------------------

    def _account(self, p: PodInfo, row: int, sign: int) -> None:
        for k, v in p.requests.items():
            if k not in self.req:
                self.resource(k)
            self.req[k][row] += sign * v
        self.req[objects.PODS][row] += sign
        self.nz_cpu[row] += sign * p.nonzero[0]
        self.nz_mem[row] += sign * p.nonzero[1]
        for ip, proto, port in p.ports:
            by_row = self.ports.setdefault((proto, port), {})
            if sign > 0:
                by_row.setdefault(row, []).append(ip)
            else:
                ips = by_row.get(row, [])
                if ip in ips:
                    ips.remove(ip)
                if not ips:
                    by_row.pop(row, None)
        for c in self.counters.values():
            if c.matches(p, self.ns_labels):
                c.counts[row] += sign
        for t in p.anti_terms:
            g = self.anti_groups.get(t.signature)
            if g is None:
                g = self.anti_groups[t.signature] = Counter(t.selector, t.namespaces,
                                                            np.zeros(self.capacity, np.int64), term=t)
            g.counts[row] += sign
        for t, weight in p.score_terms:
            g = self.score_groups.get((t.signature, weight))
            if g is None:
                g = self.score_groups[(t.signature, weight)] = Counter(
                    t.selector, t.namespaces, np.zeros(self.capacity, np.int64), term=t)
            g.counts[row] += sign
        if sign > 0:
            self.pods_on[row][p.key] = p
            p.row = row
        else:
            self.pods_on[row].pop(p.key, None)
            p.row = -1
        if len(self.touched) >= TOUCHED_KEPT:
            self.touched_base += len(self.touched)
            self.touched.clear()
        self.touched.append(row)

    @property
    def touch_mark(self) -> int:
        """A position in the history of touched rows (see ``touched_since``)."""
        return self.touched_base + len(self.touched)

    def touched_since(self, mark: int) -> list[int] | None:
        """Rows whose pods changed since ``mark`` (repeats possible); None when that
        history was dropped."""
        start = mark - self.touched_base
        return self.touched[start:] if start >= 0 else None

    def add_pod(self, p: PodInfo) -> None:
        """Place (or re-place) a pod; replaces any earlier record of the same key."""
        self.remove_pod(p.key)
        self.pods[p.key] = p
        row = self.index.get(p.node)
        if row is None:
            self.orphans.setdefault(p.node, {})[p.key] = p
        else:
            self._account(p, row, +1)

    def remove_pod(self, key: str) -> PodInfo | None:
        p = self.pods.pop(key, None)
        if p is None:
            return None
        if p.row >= 0:
            self._account(p, p.row, -1)
        else:
            self.orphans.get(p.node, {}).pop(key, None)
        return p

    def assumed(self, key: str) -> bool:
        p = self.pods.get(key)
        return p is not None and p.assumed

    def nominate(self, p: PodInfo) -> None:
        """Record that pending pod ``p`` is nominated to ``p.node`` ("" clears it)."""
        if p.node:
            self.nominated[p.key] = p
        else:
            self.nominated.pop(p.key, None)

    def unnominate(self, key: str) -> PodInfo | None:
        return self.nominated.pop(key, None)

    def nominated_for(self, info: PodInfo) -> list[PodInfo]:
        """Nominated pods that hold space against ``info``: priority ≥ its own, not
        itself, on a known node and not already placed (assumed or bound)."""
        if not self.nominated:
            return []
        return [p for p in self.nominated.values()
                if p.priority >= info.priority and p.key != info.key and p.node in self.index
                and p.key not in self.pods]

    def iter_pods(self) -> Iterator[PodInfo]:
        return iter(self.pods.values())

    # --- selector counters ------------------------------------------------------------

    def count(self, selector: selectors.LabelSelector, namespaces: frozenset[str] | None) -> np.ndarray:
        """Per row, how many placed pods match the selector in those namespaces
        (None: every namespace). Built once by a scan, then maintained incrementally."""
        sig = (str(selector), selector.nothing, tuple(sorted(namespaces)) if namespaces is not None else None)
        c = self.counters.get(sig)
        if c is None:
            c = Counter(selector, namespaces, np.zeros(self.capacity, np.int64))
            for p in self.pods.values():
                if p.row >= 0 and c.matches(p, self.ns_labels):
                    c.counts[p.row] += 1
            self.counters[sig] = c
            if len(self.counters) > MAX_COUNTERS:
                self.counters.popitem(last=False)
        else:
            self.counters.move_to_end(sig)
        return c.counts[: self.rows]
