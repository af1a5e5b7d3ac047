"""Cyclic garbage collector settings for kubelite's long-running processes.

Called by ``kubelite/cli/main.py`` before any command runs (``tune``), by the API
server once its watch cache holds the stored state (``freeze_startup``), and by the
scheduler around each term as leader (``freeze_startup`` once synced, ``thaw`` after).

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
"""

from __future__ import annotations

import gc

YOUNG = 50_000
MIDDLE = 20
OLD = 100


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
