"""NodeResourcesFit and NodeResourcesBalancedAllocation: requests against allocatable.

Fit rejects a node when the pod's requests (init containers, sidecars and overhead
included, see ``objects.pod_requests``) exceed what is left of any resource, or the node
is at its pod limit. Its score follows the profile's strategy: LeastAllocated (spread,
the default), MostAllocated (bin-pack) or RequestedToCapacityRatio (a utilisation →
score curve), on the non-zero requests (a container without a cpu or memory request
counts as 100m / 200Mi, init containers and overhead included: ``objects.pod_resources``).
BalancedAllocation prefers nodes whose cpu and memory fractions stay close, on the
real requests, and leaves BestEffort pods unscored.
All of it is arithmetic on the cache's per-node arrays, and row-local: the fit verdicts
and the scores of a pod shape are kept (``cache.RowMemo``) and recomputed only on the
rows whose pods changed since, in Python for a few rows (``_fit_row``, ``_score_row``,
bit for bit what the NumPy versions give), with NumPy for many.

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
_ORDER = {objects.CPU: 0, objects.MEMORY: 1, objects.EPHEMERAL: 2}
FIT_SHAPES_KEPT = 1024


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
        self._cpu_memory = [name for name, _ in self.resources] == [objects.CPU, objects.MEMORY]
        # RequestedToCapacityRatio: utilisation % → score on 0..10, scaled to 0..100.
        self.shape_x = np.array([p[0] for p in shape], np.float64)
        self.shape_y = np.array([p[1] for p in shape], np.float64) * 10.0
        # ``_score_row`` has no np.interp: RequestedToCapacityRatio refreshes with NumPy.
        self.scalar_rows = strategy != "RequestedToCapacityRatio"
        self._full_logged: set[tuple[str, int, int]] = set()
        # Scores and fit verdicts by the pod's requests, updated only where pods came or
        # went (RowMemo).
        self._memo = cache_mod.RowMemo()
        self._fit_memo = cache_mod.RowMemo()
        self._fit_shapes: dict[tuple[tuple[str, int], ...],
                               tuple[list[framework.Reason], list[tuple[int, str, int]]]] = {}

    def filter(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> framework.FilterResult | None:
        reqs = state.info.requests
        key = tuple(reqs.items())
        shape = self._fit_shapes.get(key)
        if shape is None:
            shape = self._fit_shape(key)
        reasons, checks = shape
        # Row-local (each row's verdict reads only that row): kept per pod shape and
        # refreshed on the rows whose pods changed since, as the scores are.
        fail, failing = self._fit_memo.get_counted(cache, key, lambda sel: self._fit_rows(cache, checks, sel),
                                                   lambda row: self._fit_row(cache, checks, row))
        if not failing:
            return None  # every node has room: no per-node verdict to build
        full = (fail & 1) != 0
        if full.any():
            alloc_pods, req_pods = cache.resource(objects.PODS)
            self._log_full(cache, full, alloc_pods, req_pods)
        return framework.FilterResult(fail, reasons)

    def _fit_shape(self, key: tuple[tuple[str, int], ...]) -> tuple[list[framework.Reason],
                                                                    list[tuple[int, str, int]]]:
        """The reasons (bit order) and the (bit, resource, wanted) checks for requests ``key``."""
        reasons = [TOO_MANY_PODS]
        checks: list[tuple[int, str, int]] = []
        # Upstream's order: pods, cpu, memory, ephemeral storage, then extended resources.
        ordered = sorted(key, key=lambda kv: (_ORDER.get(kv[0], 3), kv[0]))
        for name, want in ordered:
            if want <= 0 or name == objects.PODS or len(reasons) >= 63:
                continue
            checks.append((len(reasons), name, want))
            reasons.append(_insufficient(name))
        if len(self._fit_shapes) >= FIT_SHAPES_KEPT:
            self._fit_shapes.clear()
        found = self._fit_shapes[key] = (reasons, checks)
        return found

    @staticmethod
    def _fit_rows(cache: cache_mod.NodeCache, checks: list[tuple[int, str, int]],
                  sel: slice | np.ndarray) -> np.ndarray:
        alloc_pods, req_pods = cache.resource(objects.PODS)
        fail = (req_pods[sel] >= alloc_pods[sel]).astype(np.int64)  # one more pod would exceed the limit
        for bit, name, want in checks:
            alloc, req = cache.resource(name)
            short = alloc[sel] - req[sel] < want
            fail |= short.astype(np.int64) << bit
        return fail

    @staticmethod
    def _fit_row(cache: cache_mod.NodeCache, checks: list[tuple[int, str, int]], row: int) -> int:
        """``_fit_rows`` for one row, in Python integers."""
        fail = 1 if cache.req[objects.PODS].item(row) >= cache.alloc[objects.PODS].item(row) else 0
        for bit, name, want in checks:
            if cache.alloc[name].item(row) - cache.req[name].item(row) < want:
                fail |= 1 << bit
        return fail

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
        return self._memo.get(cache, self.row_key(state, cache), lambda sel: self._score_rows(cache, info, sel),
                              (lambda i: self._score_row(cache, info, i)) if self.scalar_rows else None)

    # Row-local (``framework.RowScorePlugin``): a row's score reads only its own
    # requested and allocatable resources.

    def row_key(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> tuple[int, ...]:
        info = state.info
        if self._cpu_memory:
            return info.nonzero  # the usual resources: the shares are the non-zero requests
        return tuple([self._requested(cache, name, info)[1] for name, _ in self.resources])

    def score_rows(self, state: framework.CycleState, cache: cache_mod.NodeCache,
                   sel: slice | np.ndarray) -> np.ndarray:
        return self._score_rows(cache, state.info, sel)

    def score_row(self, state: framework.CycleState, cache: cache_mod.NodeCache, row: int) -> float:
        return self._score_row(cache, state.info, row)

    def _score_row(self, cache: cache_mod.NodeCache, info: cache_mod.PodInfo, row: int) -> float:
        """``_score_rows`` for one row in Python floats: the same IEEE operations in the
        same order (an int64 turns into a float64 as ``float()`` does), so the same bits."""
        total = 0.0
        weights = 0
        for name, w in self.resources:
            used, extra = self._requested(cache, name, info)
            alloc, inv = cache.inverse(name)
            if self.strategy == "LeastAllocated":
                s = max(alloc.item(row) - float(used.item(row)) - float(extra), 0.0) * inv.item(row)
            else:  # MostAllocated
                s = min(float(used.item(row) + extra), alloc.item(row)) * inv.item(row)
            if w != 1:
                s *= float(w)
            total = s if not weights else total + s
            weights += w
        return total / float(max(weights, 1))

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
    """Upstream NodeResourcesBalancedAllocation: 100 − the standard deviation of the cpu
    and memory fractions (with the pod) in percent, on the pods' *real* requests
    (``useRequested``: no 100m/200Mi defaults; init containers and overhead included).
    A pod requesting neither cpu nor memory (BestEffort) is not scored at all: PreScore
    says SKIP (kubernetes#129138), else such pods would all go to the most balanced
    node. A resource the node has none of is left out, as upstream: the score is 100."""

    name = "NodeResourcesBalancedAllocation"

    def __init__(self, *, weight: int = 1) -> None:
        self.weight = weight
        self._memo = cache_mod.RowMemo()
        # (cache serial, generation, rows) → the rows without cpu or without memory (None: none)
        self._lacking: tuple[tuple[int, int, int], np.ndarray | None] = ((0, -1, -1), None)

    @staticmethod
    def _requests(state: framework.CycleState) -> tuple[int, int]:
        """The pod's own cpu and memory requests (0 where it has none)."""
        reqs = state.info.requests
        return reqs.get(objects.CPU, 0), reqs.get(objects.MEMORY, 0)

    def pre_score(self, state: framework.CycleState, cache: cache_mod.NodeCache,
                  rows: np.ndarray) -> framework.Status | None:
        reqs = state.info.requests
        return None if reqs.get(objects.CPU) or reqs.get(objects.MEMORY) else framework.SKIP

    def score(self, state: framework.CycleState, cache: cache_mod.NodeCache, rows: np.ndarray) -> np.ndarray | None:
        requests = self._requests(state)
        if requests == (0, 0):
            return None  # BestEffort: no preference
        return self._memo.get(cache, requests, lambda sel: self._score_rows(cache, requests, sel),
                              lambda i: self._score_row(cache, requests, i))

    # Row-local (``framework.RowScorePlugin``): cpu and memory of the row alone.
    scalar_rows = True

    def row_key(self, state: framework.CycleState, cache: cache_mod.NodeCache) -> tuple[int, int]:
        reqs = state.info.requests  # ``_requests``, inline: once per pod
        return reqs.get(objects.CPU, 0), reqs.get(objects.MEMORY, 0)

    def score_rows(self, state: framework.CycleState, cache: cache_mod.NodeCache,
                   sel: slice | np.ndarray) -> np.ndarray:
        return self._score_rows(cache, self._requests(state), sel)

    def score_row(self, state: framework.CycleState, cache: cache_mod.NodeCache, row: int) -> float:
        return self._score_row(cache, self._requests(state), row)

    @staticmethod
    def _score_row(cache: cache_mod.NodeCache, requests: tuple[int, int], row: int) -> float:
        """``_score_rows`` for one row in Python floats (the same operations, same bits)."""
        cpu, mem = requests
        if not cpu and not mem:
            return 0.0
        i_cpu = cache.inverse(objects.CPU)[1].item(row)
        i_mem = cache.inverse(objects.MEMORY)[1].item(row)
        if not i_cpu or not i_mem:
            return 100.0  # one fraction only: no deviation
        f_cpu = min(float(cache.req[objects.CPU].item(row) + cpu) * i_cpu, 100.0)
        f_mem = min(float(cache.req[objects.MEMORY].item(row) + mem) * i_mem, 100.0)
        return 100.0 - abs(f_cpu - f_mem) / 2.0

    def _score_rows(self, cache: cache_mod.NodeCache, requests: tuple[int, int],
                    sel: slice | np.ndarray) -> np.ndarray:
        if requests == (0, 0):  # only if PreScore was disabled: every node the same
            return np.zeros(cache.rows if isinstance(sel, slice) else len(sel), np.float64)
        _, inv_cpu = cache.inverse(objects.CPU)
        _, inv_mem = cache.inverse(objects.MEMORY)
        # inverse() is 100/alloc (0 where alloc is 0): fractions in percent, capped at 100.
        f_cpu = (cache.req[objects.CPU][: cache.rows][sel] + requests[0]) * inv_cpu[sel]
        np.minimum(f_cpu, 100.0, out=f_cpu)
        f_mem = (cache.req[objects.MEMORY][: cache.rows][sel] + requests[1]) * inv_mem[sel]
        np.minimum(f_mem, 100.0, out=f_mem)
        # Two resources: their standard deviation is half their difference.
        f_cpu -= f_mem
        np.abs(f_cpu, out=f_cpu)
        f_cpu /= 2.0
        lacking = self._lacking_rows(cache, inv_cpu, inv_mem)
        if lacking is not None:  # a node with no cpu or no memory: that resource is left out
            f_cpu[lacking[sel]] = 0.0
        np.subtract(100.0, f_cpu, out=f_cpu)
        return f_cpu

    def _lacking_rows(self, cache: cache_mod.NodeCache, inv_cpu: np.ndarray,
                      inv_mem: np.ndarray) -> np.ndarray | None:
        """Rows of nodes that have no cpu or no memory allocatable (None: there are none),
        kept per node generation: the usual cluster pays one comparison per refresh."""
        key = (cache.serial, cache.generation, cache.rows)
        if self._lacking[0] != key:
            lacking = cache.valid[: cache.rows] & ((inv_cpu == 0) | (inv_mem == 0))
            self._lacking = (key, lacking if lacking.any() else None)
        return self._lacking[1]
