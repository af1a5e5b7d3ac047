"""Picking the best node: the rows with the highest total score, one of them at random
(upstream selectHost: equal nodes share the load), kept between decisions.

``framework.Framework.schedule`` calls ``BestRows.pick`` when every row is feasible and
the total score is the framework's memo of row-local scores (``cache.RowMemo``). That
array changes only on the rows whose pods changed since the last decision (usually one:
the node the last pod went to), so instead of comparing every row against the maximum
for every pod, the set of best rows is kept and corrected on those rows alone. Any other
case (some rows infeasible, other plugins' scores added) goes through
``Framework.select`` on fresh arrays.
"""

from __future__ import annotations

import random

import numpy as np

from kubelite.scheduler import cache as cache_mod

# More rows touched since the last pick than this: start again from the whole array.
MAX_TOUCHED = 64


class BestRows:
    """The rows scoring ``best`` in one score array: ``candidates`` (every row that
    scored ``best`` when the array was last scanned) minus ``gone`` (since changed),
    plus ``extra`` (rows that reached ``best`` since)."""

    def __init__(self) -> None:
        self._values: np.ndarray | None = None
        self._state = (0, -1, -1, -1)  # cache serial, generation, rows, touch mark
        self.best = 0.0
        self._mask = np.zeros(0, bool)
        self._candidates = np.zeros(0, np.int64)
        self._gone: set[int] = set()
        self._extra: set[int] = set()

    def pick(self, cache: cache_mod.NodeCache, values: np.ndarray, rng: random.Random) -> int:
        """A row of ``values`` (one per cache row, every row feasible) with the highest
        score, uniformly at random among equals."""
        if not self._update(cache, values):
            self._scan(cache, values)
        left = len(self._candidates) - len(self._gone)
        k = rng.randrange(left + len(self._extra))
        if k < len(self._extra):
            return sorted(self._extra)[k]
        while True:  # uniform over candidates not gone: fewer than half are (_update)
            row = int(self._candidates[rng.randrange(len(self._candidates))])
            if row not in self._gone:
                return row

    def _scan(self, cache: cache_mod.NodeCache, values: np.ndarray) -> None:
        self._values = values
        self._state = (cache.serial, cache.generation, cache.rows, cache.touch_mark)
        self.best = values.item(int(values.argmax()))
        self._mask = values == self.best
        self._candidates = self._mask.nonzero()[0]
        self._gone, self._extra = set(), set()

    def _update(self, cache: cache_mod.NodeCache, values: np.ndarray) -> bool:
        """Correct the best rows for the rows touched since the last pick; False when
        they must be found again by a scan."""
        serial, generation, rows, mark = self._state
        if (values is not self._values or serial != cache.serial or generation != cache.generation
                or rows != cache.rows):
            return False
        touched = cache.touched_since(mark)
        if touched is None or len(touched) > MAX_TOUCHED:
            return False
        best, mask, gone, extra = self.best, self._mask, self._gone, self._extra
        for row in set(touched):
            v = values.item(row)
            if v > best:
                return False  # a new maximum (a pod left that node): scan
            if v == best:
                if mask[row]:
                    gone.discard(row)
                else:
                    extra.add(row)
            elif mask[row]:
                gone.add(row)
            else:
                extra.discard(row)
        self._state = (serial, generation, rows, cache.touch_mark)
        left = len(self._candidates) - len(gone)
        # None left at the maximum, or rejection sampling would retry too often: scan.
        return left + len(extra) > 0 and 2 * len(gone) <= len(self._candidates)
