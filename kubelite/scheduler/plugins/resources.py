"""NodeResourcesFit and NodeResourcesBalancedAllocation: requests against allocatable.

Fit rejects a node when the pod's requests (init containers, sidecars and overhead
included, see ``objects.pod_requests``) exceed what is left of any resource, or the node
is at its pod limit. Its score follows the profile's strategy: LeastAllocated (spread,
the default), MostAllocated (bin-pack) or RequestedToCapacityRatio (a utilisation →
score curve). BalancedAllocation prefers nodes whose cpu and memory fractions stay close.
All of it is arithmetic on the cache's per-node arrays.

A "Too many pods" verdict is logged (INFO, once per node and pod count) with the node's
row, allocatable pods and the pods counted there by namespace: a node filled by pods
nobody expected (another test's leftovers, assumed pods) is then visible in the log.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, objects

log = logging.getLogger("kubelite.scheduler.plugins.resources")

TOO_MANY_PODS = framework.Reason("Too many pods")
# "Too many pods" diagnostics: at most this many nodes per filter call, and each
# (node, allocatable, counted) state once, so a full cluster does not flood the log.
FULL_NODES_LOGGED = 3
FULL_STATES_REMEMBERED = 4096


_INSUFFICIENT: dict[str, framework.Reason] = {}


def _insufficient(resource: str) -> framework.Reason:
    found = _INSUFFICIENT.get(resource)
    if found is None:
        found = _INSUFFICIENT[resource] = framework.Reason(f"Insufficient {resource}")
    return found


class NodeResourcesFit:
    name = "NodeResourcesFit"

    def __init__(self, *, strategy: str = "LeastAllocated", weight: int = 1,
                 resources: Sequence[tuple[str, int]] = ((objects.CPU, 1), (objects.MEMORY, 1)),
                 shape: Sequence[tuple[float, float]] = ((0.0, 10.0), (100.0, 0.0))) -> None:
        if strategy not in ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"):
            raise ValueError(f"unknown scoring strategy {strategy!r}")
        self.strategy = strategy
        self.weight = weight
        self.resources = list(resources)
        # RequestedToCapacityRatio: utilisation % → score on 0..10, scaled to 0..100.
        self.shape_x = np.array([p[0] for p in shape], np.float64)
        self.shape_y = np.array([p[1] for p in shape], np.float64) * 10.0
        self._full_logged: set[tuple[str, int, int]] = set()
        # Scores by the pod's requests, updated only where pods came or went (RowMemo).
        self._memo = cache_mod.RowMemo()

    def filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.FilterResult | None:
        reasons = [TOO_MANY_PODS]
        alloc_pods, req_pods = cache.resource(objects.PODS)
        full = req_pods >= alloc_pods  # one more pod would exceed the limit
        any_full = bool(full.any())
        if any_full:
            self._log_full(cache, full, alloc_pods, req_pods)
        # Upstream's order: pods, cpu, memory, ephemeral storage, then extended resources.
        ordered = sorted(state.info.requests.items(),
                         key=lambda kv: ({objects.CPU: 0, objects.MEMORY: 1, objects.EPHEMERAL: 2}.get(kv[0], 3), kv[0]))
        shorts: list[tuple[int, np.ndarray]] = []
        for name, want in ordered:
            if want <= 0 or name == objects.PODS or len(reasons) >= 63:
                continue
            alloc, req = cache.resource(name)
            short = alloc - req < want
            if short.any():
                shorts.append((len(reasons), short))
            reasons.append(_insufficient(name))
        if not any_full and not shorts:
            return None  # every node has room: no per-node verdict to build
        fail = full.astype(np.int64)
        for bit, short in shorts:
            fail |= short.astype(np.int64) << bit
        return framework.FilterResult(fail, reasons)

    def _log_full(self, cache: cache_mod.NodeCache, fail: np.ndarray, alloc_pods: np.ndarray,
                  req_pods: np.ndarray) -> None:
        """Say why nodes are "full": row, allocatable pods, counted pods and whose they are
        (namespaces, assumed ones), so a wrong count can be told from a real one."""
        rows = np.flatnonzero(fail & cache.valid[: cache.rows])[:FULL_NODES_LOGGED]
        for row in rows.tolist():
            state = (cache.names[row], int(alloc_pods[row]), int(req_pods[row]))
            if state in self._full_logged:
                continue
            if len(self._full_logged) >= FULL_STATES_REMEMBERED:
                self._full_logged.clear()
            self._full_logged.add(state)
            placed = list(cache.pods_on[row].values())
            by_ns = Counter(p.namespace for p in placed).most_common(3)
            log.info("node at its pod limit (Too many pods) node=%s row=%d allocatable_pods=%d counted_pods=%d "
                     "placed=%d assumed=%d namespaces=%s", state[0], row, state[1], state[2], len(placed),
                     sum(1 for p in placed if p.assumed), ",".join(f"{ns}:{n}" for ns, n in by_ns) or "-")

    def _requested(self, cache: cache_mod.NodeCache, name: str,
                   info: cache_mod.PodInfo) -> tuple[np.ndarray, int]:
        """(requested on every row, this pod's share): what each row would hold with
        the pod (non-zero defaults for cpu/memory)."""
        if name == objects.CPU:
            return cache.nz_cpu[: cache.rows], info.nonzero[0]
        if name == objects.MEMORY:
            return cache.nz_mem[: cache.rows], info.nonzero[1]
        return cache.resource(name)[1], info.requests.get(name, 0)

    def score(self, state: framework.CycleState, cache: cache_mod.NodeCache, rows: np.ndarray) -> np.ndarray:
        info = state.info
        shares = tuple(self._requested(cache, name, info)[1] for name, _ in self.resources)
        return self._memo.get(cache, shares, lambda sel: self._score_rows(cache, info, sel))

    def _score_rows(self, cache: cache_mod.NodeCache, info: cache_mod.PodInfo, sel: slice | np.ndarray) -> np.ndarray:
        # Elementwise, in place where possible: the same value whatever ``sel`` holds.
        total: np.ndarray | None = None
        weights = 0
        for name, w in self.resources:
            used, extra = self._requested(cache, name, info)
            alloc, inv = cache.inverse(name)
            used, alloc, inv = used[sel], alloc[sel], inv[sel]
            if self.strategy == "LeastAllocated":
                s = alloc - used
                s -= extra
                np.maximum(s, 0, out=s)
                s *= inv
            elif self.strategy == "MostAllocated":
                s = np.minimum(used + extra, alloc) * inv
            else:
                util = np.where(inv > 0, np.minimum((used + extra) * inv, 100.0), 100.0)
                s = np.interp(util, self.shape_x, self.shape_y)
            if w != 1:
                s *= w
            if total is None:
                total = s
            else:
                total += s
            weights += w
        if total is None:  # no resources configured
            return np.zeros(cache.rows if isinstance(sel, slice) else len(sel), np.float64)
        total /= max(weights, 1)
        return total


class BalancedAllocation:
    name = "NodeResourcesBalancedAllocation"

    def __init__(self, *, weight: int = 1) -> None:
        self.weight = weight
        self._memo = cache_mod.RowMemo()

    def score(self, state: framework.CycleState, cache: cache_mod.NodeCache, rows: np.ndarray) -> np.ndarray:
        nonzero = state.info.nonzero
        return self._memo.get(cache, nonzero, lambda sel: self._score_rows(cache, nonzero, sel))

    @staticmethod
    def _score_rows(cache: cache_mod.NodeCache, nonzero: tuple[int, int], sel: slice | np.ndarray) -> np.ndarray:
        _, inv_cpu = cache.inverse(objects.CPU)
        _, inv_mem = cache.inverse(objects.MEMORY)
        # inverse() is 100/alloc (0 where alloc is 0): fractions in percent, capped at 100.
        f_cpu = (cache.nz_cpu[: cache.rows][sel] + nonzero[0]) * inv_cpu[sel]
        np.minimum(f_cpu, 100.0, out=f_cpu)
        f_mem = (cache.nz_mem[: cache.rows][sel] + nonzero[1]) * inv_mem[sel]
        np.minimum(f_mem, 100.0, out=f_mem)
        # Two resources: their standard deviation is half their difference.
        f_cpu -= f_mem
        np.abs(f_cpu, out=f_cpu)
        f_cpu /= 2.0
        np.subtract(100.0, f_cpu, out=f_cpu)
        return f_cpu
