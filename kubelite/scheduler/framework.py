"""The scheduling framework: one small Protocol per extension point, and ``Framework``,
which runs a profile's plugins for one pod and explains a failure.

The extension points are upstream's (PreFilter, Filter, PostFilter, PreScore, Score,
Reserve, Permit, PreBind, Bind) with one deliberate change: Filter and Score work on
*all nodes at once*. A filter returns a per-node bitmask of failure reasons over the
cache's NumPy rows and a score an array of scores, so every node is evaluated on every
cycle (no percentageOfNodesToScore sampling) at the cost of a few vector operations.

Scores that depend only on a row's own resources (``RowScorePlugin``: the resource
scorers) are summed once per pod shape and refreshed only on the rows whose pods changed
since (``cache.RowMemo``); when every node is feasible and nothing else scores, the best
nodes are kept the same way (``ties.BestRows``). Every node is still evaluated for every
pod: what is reused is arithmetic whose inputs did not change.

``scheduler.py`` builds one ``Framework`` per profile (selected by ``spec.schedulerName``)
and calls ``schedule`` for each pod popped from the queue; ``plugins/*.py`` implement the
Protocols; ``explain.py`` renders the ``Diagnosis`` stored on an unschedulable pod.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import ties

Obj = dict[str, Any]
MAX_NODE_SCORE = 100.0
NODE_NAMES_PER_REASON = 20  # per-node detail kept in the diagnosis annotation


class Code(enum.IntEnum):
    SUCCESS = 0
    UNSCHEDULABLE = 1  # might fit after preemption or a cluster change
    UNRESOLVABLE = 2  # UnschedulableAndUnresolvable: preemption cannot help on that node
    ERROR = 3  # internal failure: retry with backoff
    SKIP = 4  # PreFilter: the plugin's Filter has nothing to check for this pod; Bind: not mine
    WAIT = 5  # Permit: hold the pod before binding


@dataclass(frozen=True)
class Status:
    code: Code = Code.SUCCESS
    message: str = ""
    plugin: str = ""
    # PreFilter: the only nodes worth filtering (upstream's PreFilterResult.NodeNames);
    # None: all of them
    nodes: frozenset[str] | None = None

    @property
    def ok(self) -> bool:
        return self.code in (Code.SUCCESS, Code.SKIP)


# Shared answers for the common case (Status is immutable): no object per pod and plugin.
SUCCESS = Status()
SKIP = Status(Code.SKIP)


@dataclass(frozen=True)
class Reason:
    """One upstream failure text (``Insufficient cpu``) and whether preemption can help."""

    text: str
    unresolvable: bool = False


@dataclass
class FilterResult:
    """A filter's verdict on every node row: ``fail[row]`` is a bitmask over ``reasons``
    (bit i set ↔ ``reasons[i]`` applies); 0 means the node passes."""

    fail: np.ndarray
    reasons: list[Reason]

    @classmethod
    def single(cls, failed: np.ndarray, reason: Reason) -> FilterResult:
        return cls(failed.astype(np.int64), [reason])


class CycleState(dict[str, Any]):
    """Per-pod, per-cycle scratch space that PreFilter fills and later points read.
    Keys are plugin names; ``pod`` and ``info`` are the pod and its ``PodInfo``."""

    def __init__(self, pod: Obj, info: cache_mod.PodInfo) -> None:
        super().__init__()
        self.pod = pod
        self.info = info
        self.skip: set[str] = set()  # plugins whose PreFilter returned SKIP: no Filter
        # plugins whose PreScore returned SKIP: no Score. Apart from ``skip``, as upstream's
        # SkipFilterPlugins and SkipScorePlugins: a pod without hard spread constraints or
        # required (anti-)affinity still has its soft ones and its preferences scored.
        self.skip_score: set[str] = set()


@runtime_checkable
class Plugin(Protocol):
    name: str


class PreFilterPlugin(Plugin, Protocol):
    """Once per cycle before filtering: compute what Filter needs into ``state``.

    Return None/SUCCESS to go on, SKIP to have this plugin's Filter skipped for this pod,
    UNSCHEDULABLE/UNRESOLVABLE to fail the pod on every node (the message becomes the
    whole explanation). Must not change the cache."""

    def pre_filter(self, state: CycleState, cache: cache_mod.NodeCache) -> Status | None: ...


class FilterPlugin(Plugin, Protocol):
    """Which nodes cannot run the pod, and why: a ``FilterResult`` over all rows (None:
    every node passes). Pure: it reads the cache and ``state``, changes neither. Rows
    of invalid (deleted) nodes may hold anything; the framework masks them out."""

    def filter(self, state: CycleState, cache: cache_mod.NodeCache) -> FilterResult | None: ...


@dataclass
class PostFilterResult:
    nominated_node: str = ""
    victims: list[cache_mod.PodInfo] = field(default_factory=list)
    violations: int = 0  # victims whose eviction breaks a PodDisruptionBudget
    message: str = ""  # appended to the FitError text ("preemption: 0/5 nodes …")
    # No node would fit even after evictions: a nomination the pod still carries is stale
    # and is cleared (upstream's NominatingInfo in ModeOverride with no node).
    clear_nominated: bool = False


class PostFilterPlugin(Plugin, Protocol):
    """Called only when no node fits (upstream: preemption). It may pick a node and
    victims to evict; the scheduler performs the API writes. Must not change the cache."""

    def post_filter(self, state: CycleState, cache: cache_mod.NodeCache, diagnosis: Diagnosis,
                    framework: Framework) -> PostFilterResult: ...


class PreScorePlugin(Plugin, Protocol):
    """Once per cycle with the feasible rows, before any Score: precompute into state.
    Return SKIP to have this plugin's Score skipped for this pod."""

    def pre_score(self, state: CycleState, cache: cache_mod.NodeCache, rows: np.ndarray) -> Status | None: ...


class ScorePlugin(Plugin, Protocol):
    """Scores for *every* cache row (an array of length ``cache.rows``), normalised to
    [0, 100] over the feasible ``rows`` (upstream's Score plus NormalizeScore); values
    on other rows are ignored. Higher is better. The framework multiplies by ``weight``.
    Working on whole arrays avoids gathering rows: cheaper than scoring a subset.
    None means no preference (every feasible node scores the same, as upstream's
    PreScore Skip): the framework skips the plugin, since adding one value to every
    node changes no ranking. The array returned may be one the plugin caches: the
    framework never writes into it."""

    weight: int

    def score(self, state: CycleState, cache: cache_mod.NodeCache, rows: np.ndarray) -> np.ndarray | None: ...


class RowScorePlugin(ScorePlugin, Protocol):
    """Optionally, a Score plugin whose score of a row depends only on that row's own
    state (its allocatable and requested resources) and on a key of the pod's shape:
    never on other rows, nor on which rows are feasible (no normalisation), and never
    "no preference". ``score_rows(state, cache, sel)`` gives what ``score`` gives, on
    the rows ``sel`` (a slice or an index array); when ``scalar_rows`` is True,
    ``score_row`` gives one row's value as a Python float, bit for bit the same. The
    framework then keeps the weighted sum of all such plugins per combination of
    ``row_key``s and refreshes only the rows whose pods changed (``cache.RowMemo``),
    instead of adding whole arrays for every pod (``score`` is what everyone else calls)."""

    scalar_rows: bool

    def row_key(self, state: CycleState, cache: cache_mod.NodeCache) -> Any: ...

    def score_rows(self, state: CycleState, cache: cache_mod.NodeCache, sel: Any) -> np.ndarray: ...

    def score_row(self, state: CycleState, cache: cache_mod.NodeCache, row: int) -> float: ...


class ReservePlugin(Plugin, Protocol):
    """Reserve: the node is chosen; claim plugin-held resources. Unreserve must undo it,
    be idempotent, and is called (in reverse order) if any later step fails."""

    def reserve(self, state: CycleState, node: str) -> Status | None: ...

    def unreserve(self, state: CycleState, node: str) -> None: ...


class PermitPlugin(Plugin, Protocol):
    """Last gate before binding: SUCCESS, UNSCHEDULABLE (reject) or WAIT with a timeout
    in seconds (the binder waits; a timeout rejects)."""

    def permit(self, state: CycleState, node: str) -> tuple[Status, float]: ...


class PreBindPlugin(Plugin, Protocol):
    """Async work that must succeed before the pod is bound (e.g. binding volumes).
    Runs off the scheduling loop; failure unreserves and retries the pod.

    Optionally also ``pre_bind_pre_flight(state, node) -> Status | None`` (upstream's
    PreBindPreFlight): synchronous and pure, SKIP when ``pre_bind`` has nothing to do for
    this pod. When every PreBind plugin says SKIP the scheduler binds without waiting
    on any of them (``BatchBindPlugin``)."""

    async def pre_bind(self, state: CycleState, node: str) -> Status | None: ...


class BindPlugin(Plugin, Protocol):
    """Bind the pod to the node. Return SKIP to let the next bind plugin handle it; the
    first non-SKIP answer decides."""

    async def bind(self, state: CycleState, node: str) -> Status: ...


class BatchBindPlugin(BindPlugin, Protocol):
    """A binder that also binds without a coroutine per pod: ``bind_nowait`` starts the
    write and calls ``done(status)`` once it is answered, later and from another task
    (never from inside ``bind_nowait``). It binds every pod (never SKIP). Used, as the
    first binder, when Permit passes at once and no PreBind work is pending."""

    def bind_nowait(self, state: CycleState, node: str, done: Callable[[Status], None]) -> None: ...


# --- diagnosis --------------------------------------------------------------------------

@dataclass
class Diagnosis:
    """Why a pod fits nowhere: reason → node count (the FailedScheduling summary) and
    reason → some node names (for ``kubelite explain``)."""

    num_nodes: int
    counts: dict[str, int] = field(default_factory=dict)
    nodes: dict[str, list[str]] = field(default_factory=dict)
    plugins: set[str] = field(default_factory=set)  # plugins that rejected some node
    unresolvable: np.ndarray | None = None  # rows preemption cannot help
    pre_filter_message: str = ""
    post_filter_message: str = ""
    # node → nominated pods ("ns/name (priority N)") whose held space rejected that node
    nominated: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        """Upstream's FitError text: ``0/5 nodes are available: 3 Insufficient cpu, …``."""
        if not self.num_nodes:
            return NO_NODES  # upstream's ErrNoNodesAvailable: no filter ran, nor preemption
        msg = f"0/{self.num_nodes} nodes are available:"
        if self.pre_filter_message:
            msg += f" {self.pre_filter_message}."
        elif self.counts:
            msg += " " + histogram(self.counts) + "."
        if self.post_filter_message:
            msg += " " + self.post_filter_message
        return msg

    def to_json(self) -> Obj:
        return {"nodes": self.num_nodes, "reasons": dict(sorted(self.counts.items())),
                "nodesByReason": self.nodes, "preFilter": self.pre_filter_message,
                "postFilter": self.post_filter_message, "nominatedPods": self.nominated}


NO_NODES = "no nodes available to schedule pods"


def histogram(counts: dict[str, int]) -> str:
    # Upstream sorts the "count reason" strings themselves.
    return ", ".join(sorted(f"{n} {text}" for text, n in counts.items()))


@dataclass
class Result:
    node: str = ""
    diagnosis: Diagnosis | None = None
    state: CycleState | None = None
    feasible: int = 0


class Framework:
    """One profile: the plugins, in order, for each extension point."""

    def __init__(self, name: str, plugins: Sequence[Any], *, rng: random.Random | None = None,
                 disabled: Mapping[str, Collection[str]] | None = None) -> None:
        """``disabled``: extension point (as a configuration file names it, ``score``) →
        names of plugins that must not run there although they implement it."""
        self.name = name
        self.plugins = list(plugins)
        off = disabled or {}

        def at(point: str, method: str) -> list[Any]:
            skip = off.get(point, ())
            return [p for p in plugins if hasattr(p, method) and getattr(p, "name", None) not in skip]

        self.pre_filter = at("preFilter", "pre_filter")
        self.filters = at("filter", "filter")
        self.post_filters = at("postFilter", "post_filter")
        self.pre_score = at("preScore", "pre_score")
        self.scorers = [p for p in at("score", "score") if getattr(p, "weight", False)]
        # Row-local scorers are summed once per pod shape (``_row_total``); the others
        # are added per pod, in profile order after them.
        self._row_scorers = [p for p in self.scorers if hasattr(p, "row_key")]
        self._other_scorers = [p for p in self.scorers if not hasattr(p, "row_key")]
        self._row_names = frozenset(p.name for p in self._row_scorers)
        self._row_scalar = all(p.scalar_rows for p in self._row_scorers)
        self._row_memo = cache_mod.RowMemo()
        self._all_rows = np.arange(0)
        self._best = ties.BestRows()
        self.reserve = at("reserve", "reserve")
        self.permit = at("permit", "permit")
        self.pre_bind = at("preBind", "pre_bind")
        self.binders = at("bind", "bind")
        self.rng = rng or random.Random()

    def run_filters(self, state: CycleState, cache: cache_mod.NodeCache, *,
                    diagnose: bool = True) -> tuple[np.ndarray, Diagnosis | None]:
        """Feasible mask over rows, and (if asked, or nothing fits) why the rest failed.

        As upstream, a node is charged to the *first* plugin that rejects it, with every
        reason that plugin gave."""
        rows = cache.rows
        ok = cache.valid[:rows].copy()
        results: list[tuple[str, np.ndarray, list[Reason]]] = []
        only: frozenset[str] | None = None  # the PreFilter plugins' node sets, intersected
        narrowed_by: list[str] = []
        for p in self.pre_filter:
            status = p.pre_filter(state, cache)
            if status is None:
                continue
            if status is SKIP or status.code == Code.SKIP:
                state.skip.add(p.name)
                continue
            if status.code == Code.SUCCESS:
                if status.nodes is not None:
                    only = status.nodes if only is None else only & status.nodes
                    narrowed_by.append(p.name)
                continue
            return self._pre_filter_failed(cache, status, {p.name})
        if only is not None:
            plugins = sorted(narrowed_by)
            if not only:  # upstream's RunPreFilterPlugins on an empty intersection
                text = (f"node(s) didn't satisfy plugin {plugins[0]}" if len(plugins) == 1 else
                        f"node(s) didn't satisfy plugin(s) [{' '.join(plugins)}] simultaneously")
                return self._pre_filter_failed(cache, Status(Code.UNRESOLVABLE, text), set(plugins))
            # Nodes outside the set are not filtered at all: charged to the set alone.
            outside = ok.copy()
            for name in only:
                row = cache.index.get(name)
                if row is not None and row < rows:
                    outside[row] = False
            if outside.any():
                reason = Reason(f"node(s) didn't satisfy plugin(s) [{' '.join(plugins)}]", unresolvable=True)
                results.append((plugins[0], outside.astype(np.int64), [reason]))
                ok &= ~outside
        self._filter_pass(state, cache, ok, results)
        held: np.ndarray | None = None
        # count_nonzero: ndarray.any() goes through a Python wrapper, twice as slow here.
        nominated = cache.nominated_for(state.info) if cache.nominated and np.count_nonzero(ok) else []
        if nominated:
            held = self._nominated_pass(state, cache, ok, results, nominated)
        if not diagnose and np.count_nonzero(ok):
            return ok, None
        diagnosis = Diagnosis(num_nodes=cache.node_count)
        unresolvable = np.zeros(rows, bool)
        for name, fail, reasons in results:
            diagnosis.plugins.add(name)
            for bit, reason in enumerate(reasons):
                hit = (fail >> bit) & 1 == 1
                n = int(hit.sum())
                if not n:
                    continue
                diagnosis.counts[reason.text] = diagnosis.counts.get(reason.text, 0) + n
                names = diagnosis.nodes.setdefault(reason.text, [])
                for row in np.flatnonzero(hit)[: NODE_NAMES_PER_REASON - len(names)]:
                    names.append(cache.names[row])
                if reason.unresolvable:
                    unresolvable |= hit
        diagnosis.unresolvable = unresolvable
        if held is not None and held.any():
            for nom in nominated:
                row = cache.index.get(nom.node)
                if row is not None and row < len(held) and held[row]:
                    held_by = diagnosis.nominated.setdefault(nom.node, [])
                    if len(held_by) < NODE_NAMES_PER_REASON:
                        held_by.append(f"{nom.key} (priority {nom.priority})")
        return ok, diagnosis

    @staticmethod
    def _pre_filter_failed(cache: cache_mod.NodeCache, status: Status,
                           plugins: set[str]) -> tuple[np.ndarray, Diagnosis]:
        d = Diagnosis(num_nodes=cache.node_count, pre_filter_message=status.message, plugins=plugins)
        d.unresolvable = np.full(cache.rows, status.code == Code.UNRESOLVABLE)
        return np.zeros(cache.rows, bool), d

    def _nominated_pass(self, state: CycleState, cache: cache_mod.NodeCache, ok: np.ndarray,
                        results: list[tuple[str, np.ndarray, list[Reason]]],
                        nominated: list[cache_mod.PodInfo]) -> np.ndarray:
        """Nominated pods hold space (upstream RunFilterPluginsWithNominatedPods): a node
        with higher-or-equal-priority pods nominated to it must pass the filters again
        with *those* pods placed on it, and only those (another node's nominations do not
        count, even in its zone: upstream adds a node's own nominated pods to that node's
        copy of the state). Nodes without nominations keep the first pass's verdict. The
        first pass ran without them, so what this pass rejects is exactly what the
        nominated pods took. Clears ``ok`` on the rows they fill; returns those rows."""
        rows = cache.rows
        held = np.zeros(rows, bool)
        by_node: dict[str, list[cache_mod.PodInfo]] = {}
        for nom in nominated:
            by_node.setdefault(nom.node, []).append(nom)
        for node, pods in by_node.items():
            row = cache.index.get(node)
            if row is None or row >= rows or not ok[row]:
                continue
            for nom in pods:
                cache.add_pod(nom)
            trial = np.zeros(rows, bool)
            trial[row] = True
            found: list[tuple[str, np.ndarray, list[Reason]]] = []
            try:
                self._filter_pass(state, cache, trial, found)
            finally:
                for nom in pods:
                    cache.remove_pod(nom.key)
            if not trial[row]:
                ok[row] = False
                held[row] = True
                results.extend(found)  # only ``row`` was under trial: only it is charged
        return held

    def _filter_pass(self, state: CycleState, cache: cache_mod.NodeCache, ok: np.ndarray,
                     results: list[tuple[str, np.ndarray, list[Reason]]]) -> None:
        """Run every Filter; clear ``ok`` on the rows rejected, charging each to the first
        plugin that rejects it (with every reason it gave)."""
        rows = cache.rows
        for p in self.filters:
            if p.name in state.skip:
                continue
            res = p.filter(state, cache)
            if res is None:
                continue
            fail = res.fail[:rows]
            newly = ok & (fail != 0)
            if newly.any():
                results.append((p.name, np.where(newly, fail, 0), res.reasons))
                ok &= ~newly

    def run_scores(self, state: CycleState, cache: cache_mod.NodeCache, rows: np.ndarray) -> np.ndarray:
        """The weighted total score of each of ``rows``."""
        total, _ = self._total_scores(state, cache, rows)
        if total is None:
            return np.zeros(len(rows), np.float64)
        result: np.ndarray = total[rows]
        return result

    def _total_scores(self, state: CycleState, cache: cache_mod.NodeCache,
                      rows: np.ndarray) -> tuple[np.ndarray | None, bool]:
        """PreScore, then the weighted sum of every Score over all cache rows (read-only),
        None when no plugin has a preference; and whether that is the memo of the
        row-local scores itself (no other plugin added anything)."""
        for p in self.pre_score:
            status = p.pre_score(state, cache, rows)
            if status is not None and status.code == Code.SKIP:
                state.skip_score.add(p.name)
        total = self._row_total(state, cache)
        fresh = False
        for p in self._other_scorers:
            if p.name in state.skip_score:
                continue
            s = p.score(state, cache, rows)
            if s is None:
                continue
            if total is None:
                total, fresh = s * float(p.weight), True  # a fresh array: the plugin's may be cached
            elif not fresh:
                total, fresh = total + p.weight * s, True  # never into the memo
            elif p.weight == 1:
                total += s
            else:
                total += p.weight * s
        return total, not fresh

    def _row_total(self, state: CycleState, cache: cache_mod.NodeCache) -> np.ndarray | None:
        """The weighted sum of the row-local scorers (``RowScorePlugin``), kept per
        combination of their shape keys and refreshed only on rows touched since."""
        if state.skip_score.isdisjoint(self._row_names):
            scorers, scalar = self._row_scorers, self._row_scalar
            key: tuple[Any, ...] = tuple([p.row_key(state, cache) for p in scorers])
        else:
            scorers = [p for p in self._row_scorers if p.name not in state.skip_score]
            scalar = all(p.scalar_rows for p in scorers)
            # Another set of plugins: their names in the key, so that equal shape keys
            # of different plugins never share a memo.
            key = ("subset", tuple(p.name for p in scorers), tuple([p.row_key(state, cache) for p in scorers]))
        if not scorers:
            return None

        def compute_all(sel: Any) -> np.ndarray:
            total: np.ndarray | None = None
            for p in scorers:
                s = p.score_rows(state, cache, sel)
                if total is None:
                    total = s * float(p.weight)  # a fresh array: the plugin's may be cached
                elif p.weight == 1:
                    total += s
                else:
                    total += p.weight * s
            assert total is not None
            return total

        def row_all(i: int) -> float:
            # compute_all's operations in its order, on Python floats: the same bits.
            total = 0.0
            first = True
            for p in scorers:
                v = p.score_row(state, cache, i)
                if first:
                    total, first = v * float(p.weight), False
                elif p.weight == 1:
                    total += v
                else:
                    total += float(p.weight) * v
            return total

        return self._row_memo.get(cache, key, compute_all, row_all if scalar else None)

    def select(self, rows: np.ndarray, scores: np.ndarray) -> int:
        """The best row; ties broken at random so equal nodes share the load."""
        # scores[argmax]: the maximum without ndarray.max's Python wrapper.
        best = (scores == scores[scores.argmax()]).nonzero()[0]
        return int(rows[best[self.rng.randrange(len(best))] if len(best) > 1 else best[0]])

    def schedule(self, state: CycleState, cache: cache_mod.NodeCache) -> Result:
        """One scheduling cycle's decision (no side effects): a node, or a diagnosis."""
        if not cache.node_count:
            return Result(diagnosis=Diagnosis(num_nodes=0), state=state)
        ok, diagnosis = self.run_filters(state, cache, diagnose=False)
        n = np.count_nonzero(ok)
        if n == 0:
            assert diagnosis is not None
            return Result(diagnosis=diagnosis, state=state)
        if n == 1:
            return Result(node=cache.names[int(ok.argmax())], state=state, feasible=1)
        nominated = (state.pod.get("status") or {}).get("nominatedNodeName")
        if nominated:
            # Upstream's evaluateNominatedNode: the node preemption made room on is taken
            # if it fits, before any other is scored (else the evictions were for nothing).
            row = cache.index.get(nominated)
            if row is not None and row < len(ok) and ok[row]:
                return Result(node=nominated, state=state, feasible=int(n))
        everywhere = n == cache.rows  # usual: no gathering of the feasible rows then
        if everywhere:
            if len(self._all_rows) != n:
                self._all_rows = np.arange(n)
            rows = self._all_rows
        else:
            rows = ok.nonzero()[0]
        total, memo = self._total_scores(state, cache, rows)
        if total is None:
            scores = np.zeros(n, np.float64)
        elif everywhere and memo:
            # The memo changes only where pods came or went: so do its best rows.
            return Result(node=cache.names[self._best.pick(cache, total, self.rng)], state=state, feasible=int(n))
        else:
            scores = total[:n] if everywhere else total[rows]
        return Result(node=cache.names[self.select(rows, scores)], state=state, feasible=int(n))

    def fits_on(self, state: CycleState, cache: cache_mod.NodeCache, row: int) -> bool:
        """Would the pod pass every filter on this one row (used by preemption)."""
        ok, _ = self.run_filters(state, cache, diagnose=False)
        return bool(ok[row]) if row < len(ok) else False
