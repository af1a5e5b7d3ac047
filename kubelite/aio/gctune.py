"""Cyclic garbage collector settings for kubelite's long-running processes.

Called by ``kubelite/cli/main.py`` before any command runs (``tune``), by the API
server once its watch cache holds the stored state (``freeze_startup``, then
``TwoGenerations``), and by the scheduler (``TwoGenerations`` for its life,
``freeze_startup`` once a term has synced, ``thaw`` after the term).

Why: an API server keeps every object of the cluster as Python dicts and lists (the
watch cache), and the scheduler and controllers keep their informers' copies. With
CPython's default thresholds (700 allocations per young collection) a burst of writes
runs hundreds of young collections a second, and every time the heap grows by a quarter
a full collection walks all of it: measured on the store path (5,000 creates then 5,000
bindings, 170,000 live objects), collections took 530 ms, about a third of the CPU, and
with 5,000 nodes and 10,000 pods cached a full collection stalls the loop for 0.3-0.5 s.
The objects are JSON trees without cycles, freed by reference counting; cycles come from
exceptions and tasks and are young when they become garbage. So young collections run
every 50,000 allocations (a few ms each), the middle generation every 20 of those, the
full one every 100 of those (the 25 % growth rule still applies on top), and what exists
at start-up is moved out of the collector's sight altogether.

The API server and the scheduler go one step further (``TwoGenerations``): their young
collections promote what survives straight to the oldest generation. With three
generations every long-lived object was traversed twice before it settled, once by a
young collection and again by a middle one, and a middle collection walked ~1,000,000
objects in one go: on the 50,000-pod scheduler benchmark the server's collections took
~1.5 s of its loop (a tenth), two of them 300-450 ms pauses; with two generations, ~0.5 s
and at most ~30 ms (docs/benchmarks.md, eleventh session). Cycles are still found at every
young collection; what escapes one (a cycle whose objects were alive at a collection and
became garbage later) waits for the next full collection. That one is due after
``FULL_EVERY`` young ones and runs at the next quiet moment (twelfth session), at the latest
after twice as many.
"""

from __future__ import annotations

import asyncio
import gc

YOUNG = 50_000
MIDDLE = 20
OLD = 100
FULL_EVERY = 2_000  # young collections between full ones under ``TwoGenerations``


def tune() -> None:
    gc.set_threshold(YOUNG, MIDDLE, OLD)


def freeze_startup() -> None:
    """Collect once, then exempt every surviving object from later collections (they
    are still freed by reference counting when dropped)."""
    gc.collect()
    gc.freeze()


def thaw() -> None:
    """Give frozen objects back to the collector: what a component froze for a period
    (the scheduler, for one term as leader) may hold cycles that become garbage after."""
    gc.unfreeze()


class TwoGenerations:
    """Young and old generations only, for a process whose heap is its picture of the
    cluster (see the module's docstring). CPython has no setting for it, so the automatic
    collector is off while this runs and the event loop checks, every ``period`` seconds,
    whether ``young`` allocations have accumulated: then it collects the young and middle
    generations together (the middle one is always empty), which moves the survivors to
    the oldest. After ``full_every`` such collections a full one is due. It walks the whole
    heap: ~310 ms with the 50,000-pod benchmark's state in the API server. So it waits for
    a quiet moment, a ``period`` in which fewer than ``young // 500`` allocations were
    made, and runs then, between bursts of requests instead of in the middle of one. After
    twice ``full_every`` it runs whatever the load. ``stop`` gives the automatic collector
    back."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, young: int = YOUNG,
                 full_every: int = FULL_EVERY, period: float = 0.01) -> None:
        self.loop = loop
        self.young = young
        self.full_every = full_every
        self.period = period
        self.collections = 0  # young collections made (for tests and diagnostics)
        self.full_collections = 0  # full ones
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._last_count = 0  # the young count at the previous check

    def start(self) -> TwoGenerations:
        gc.disable()
        self._handle = self.loop.call_soon(self._check)
        return self

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        gc.enable()

    def _check(self) -> None:
        young, _, since_full = gc.get_count()  # since_full: middle collections since the last full one
        quiet = abs(young - self._last_count) < self.young // 500
        if young > self.young:
            gc.collect(1)
            self.collections += 1
            young, _, since_full = gc.get_count()
            quiet = False  # a young collection's own allocations, not the load, set the count
        if since_full >= 2 * self.full_every or (since_full >= self.full_every and quiet):
            gc.collect(2)
            self.full_collections += 1
            young = gc.get_count()[0]
        self._last_count = young
        self._handle = self.loop.call_later(self.period, self._check)
