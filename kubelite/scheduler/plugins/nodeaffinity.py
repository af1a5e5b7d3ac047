"""NodeAffinity: ``nodeSelector`` and required node affinity filter nodes; preferred
node affinity terms add their weights to a node's score.

Label matching is the only per-node Python loop among the filters, so its result is
cached per pod shape (the selector and affinity, serialised) and reused until any node
changes (``cache.generation``): the replicas of one Deployment pay for it once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, objects

MISMATCH = framework.Reason("node(s) didn't match Pod's node affinity/selector", unresolvable=True)
CONFLICT = framework.Status(framework.Code.UNRESOLVABLE, "pod affinity terms conflict")


def named_nodes(spec: dict[str, Any]) -> frozenset[str] | None:
    """The nodes the required node affinity names (``matchFields metadata.name In``) in
    every term, as upstream's NodeAffinity PreFilter (a DaemonSet's pods name their node
    this way); None when some term names none (terms are ORed: any node may match)."""
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution")
    terms = (required or {}).get("nodeSelectorTerms") if isinstance(required, dict) else None
    if not terms:
        return None
    names: set[str] = set()
    for term in terms:
        term_names: set[str] | None = None
        for req in (term or {}).get("matchFields") or []:
            if req.get("key") == "metadata.name" and req.get("operator") == "In":
                values = set(req.get("values") or [])
                term_names = values if term_names is None else term_names & values
        if term_names is None:
            return None
        names |= term_names
    return frozenset(names)


class ShapeCache:
    """Per-pod-shape results valid for one node generation of one node cache (a plugin
    may outlive a cache: another cache's generation numbers say nothing about this one)."""

    def __init__(self, size: int = 256) -> None:
        self.generation = (-1, -1)  # (cache serial, node generation)
        self.size = size
        self.entries: dict[bytes, Any] = {}

    def get(self, cache: cache_mod.NodeCache, key: bytes) -> Any:
        generation = (cache.serial, cache.generation)
        if self.generation != generation or len(self.entries) > self.size:
            self.entries.clear()
            self.generation = generation
        return self.entries.get(key)

    def put(self, key: bytes, value: Any) -> Any:
        self.entries[key] = value
        return value


def required_mask(cache: cache_mod.NodeCache, spec: dict[str, Any], shapes: ShapeCache) -> np.ndarray | None:
    """Rows passing nodeSelector + required node affinity (None: the pod has neither)."""
    selector = spec.get("nodeSelector")
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution")
    if not selector and required is None:
        return None
    key = orjson.dumps([selector, required], option=orjson.OPT_SORT_KEYS)
    mask = shapes.get(cache, key)
    if mask is None or len(mask) != cache.rows:
        mask = np.zeros(cache.rows, bool)
        for row in range(cache.rows):
            if cache.nodes[row] is not None:
                mask[row] = objects.required_node_affinity_matches(spec, cache.labels[row], cache.names[row])
        shapes.put(key, mask)
    result: np.ndarray = mask
    return result


class NodeAffinity:
    name = "NodeAffinity"

    def __init__(self, *, weight: int = 2) -> None:
        self.weight = weight
        self.shapes = ShapeCache()
        self.pref_shapes = ShapeCache()

    def pre_filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.Status | None:
        affinity = (state.pod.get("spec") or {}).get("affinity")
        if not affinity:
            return None  # most pods
        names = named_nodes(state.pod["spec"])
        if names is None:
            return None
        return framework.Status(nodes=names) if names else CONFLICT

    def filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.FilterResult | None:
        mask = required_mask(cache, state.pod.get("spec") or {}, self.shapes)
        if mask is None:
            return None
        return framework.FilterResult.single(~mask, MISMATCH)

    def score(self, state: framework.CycleState, cache: cache_mod.NodeCache,
              rows: np.ndarray) -> np.ndarray | None:
        preferred = ((((state.pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {})
                     .get("preferredDuringSchedulingIgnoredDuringExecution") or [])
        if not preferred:
            return None  # no preference
        key = orjson.dumps(preferred, option=orjson.OPT_SORT_KEYS)
        raw = self.pref_shapes.get(cache, key)
        if raw is None or len(raw) != cache.rows:
            raw = np.zeros(cache.rows, np.float64)
            for row in range(cache.rows):
                if cache.nodes[row] is None:
                    continue
                for term in preferred:
                    if objects.node_selector_term_matches(term.get("preference") or {}, cache.labels[row],
                                                          cache.names[row]):
                        raw[row] += int(term.get("weight") or 0)
            self.pref_shapes.put(key, raw)
        top = raw[rows].max() if len(rows) else 0.0
        return raw * framework.MAX_NODE_SCORE / top if top > 0 else None
