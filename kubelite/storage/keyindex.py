"""Every key's revisions, in memory: the SQLite store's index by key.

etcd keeps its data in a B-tree by revision and the index by key in memory (``treeIndex``,
rebuilt from the data when a member starts); the SQLite store does the same. Why not an
SQLite index on (key, revision): objects are named at random (every ReplicaSet's pods,
Events), so each write dirtied one page of that index somewhere in the middle, and every
such page went to the write-ahead log whole (4 KiB for a ~50-byte entry) and again at the
next checkpoint. Measured on the scheduler benchmark (50,000 pods, three writes each): the
writer process's CPU per pod fell from 78-98 µs to 43-55 µs without it (docs/benchmarks.md,
eleventh session). The log table alone is written in revision order, i.e. appended.

Threads: only the event loop thread changes an index (``add`` after each commit, ``forget``
after a prune); the store's reader threads look things up meanwhile. Each change is one
list or dict operation (a key's revisions are a tuple, replaced whole), atomic under the GIL, and a reader checks afterwards that the
revision it read at is not below ``compacted`` (pruning forgets only what lies below it).
The keys in order are kept as a sorted list plus the keys added since (``_fresh``), merged
when a reader next needs the order, so a write never pays for sorting.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Iterator


class KeyIndex:
    def __init__(self) -> None:
        # key → its revisions, ascending. Tuples, not lists: the cyclic garbage collector
        # stops tracking a tuple of ints the first time it meets one, while a list per key
        # would add ~10 % to the objects it traverses in the server (a cached pod is ~15).
        # A key has few revisions between compactions, so copying on append is cheap.
        self._revs: dict[str, tuple[int, ...]] = {}
        self._deleted: set[int] = set()  # revisions that are deletions
        self._dead: set[str] = set()  # keys whose newest revision is a deletion
        self._sorted: list[str] = []  # keys in order as of the last merge
        self._fresh: list[str] = []  # keys first written since then
        self._forgotten = 0  # keys forgotten since then (still in ``_sorted``)
        self._merge_lock = threading.Lock()
        self.revision = 0  # the newest revision added
        self.compacted = 0  # reads below it may miss forgotten revisions

    def __len__(self) -> int:
        """Keys with a revision (deleted ones too, until pruned)."""
        return len(self._revs)

    @classmethod
    def build(cls, rows: Iterable[tuple[str, int, int]], *, compacted: int) -> KeyIndex:
        """From (key, revision, deleted) rows in revision order (the log, read at start)."""
        index = cls()
        for key, revision, deleted in rows:
            index.add(key, revision, deleted=bool(deleted))
        index.compacted = compacted
        return index

    def add(self, key: str, revision: int, *, deleted: bool = False) -> None:
        """A committed write of ``key`` at ``revision`` (newer than every one added before)."""
        revs = self._revs.get(key)
        if revs is None:
            self._revs[key] = (revision,)
            self._fresh.append(key)
        else:
            self._revs[key] = (*revs, revision)
        if deleted:
            self._deleted.add(revision)
            self._dead.add(key)
        else:
            self._dead.discard(key)
        self.revision = revision

    def newest(self, key: str, at: int) -> int | None:
        """The revision holding ``key``'s state at revision ``at``; None when it did not
        exist then (never written, or deleted)."""
        revs = self._revs.get(key)
        if not revs:
            return None
        i = bisect.bisect_right(revs, at)
        if i == 0:
            return None
        revision = revs[i - 1]
        return None if revision in self._deleted else revision

    def keys(self, low: str, high: str | None) -> Iterator[str]:
        """Keys ever written (and not forgotten) in [low, high), in order; ``high`` None:
        no upper bound. Keys written while the iterator runs may be left out."""
        ordered = self._ordered()
        i = bisect.bisect_left(ordered, low)
        previous = None
        for key in ordered[i:] if high is None else ordered[i:bisect.bisect_left(ordered, high)]:
            if key != previous and key in self._revs:  # a rebuild racing a write may repeat a key
                yield key
            previous = key

    def count(self, low: str, high: str | None) -> int:
        """How many keys exist now in [low, high) (from the order, without walking it)."""
        ordered = self._ordered()
        end = len(ordered) if high is None else bisect.bisect_left(ordered, high)
        # A copy: the loop may change the set while this reader thread counts.
        dead = sum(1 for key in list(self._dead) if key >= low and (high is None or key < high))
        return max(0, end - bisect.bisect_left(ordered, low) - dead)

    def live(self, low: str, high: str | None, at: int) -> Iterator[tuple[str, int]]:
        """(key, revision of its state) of every key that exists at ``at`` in [low, high)."""
        for key in self.keys(low, high):
            revision = self.newest(key, at)
            if revision is not None:
                yield key, revision

    def _ordered(self) -> list[str]:
        if self._fresh or self._forgotten:
            with self._merge_lock:
                count, forgotten = len(self._fresh), self._forgotten
                if forgotten:  # after a compaction: drop forgotten keys (and so any repeat)
                    self._forgotten -= forgotten
                    del self._fresh[:count]
                    self._sorted = sorted(self._revs)
                elif count:
                    merged = self._sorted + sorted(self._fresh[:count])
                    merged.sort()  # two sorted runs: timsort merges them in linear time
                    self._sorted = merged
                    del self._fresh[:count]
        return self._sorted

    # ---- compaction ------------------------------------------------------------------------

    def prunable(self, compacted: int) -> list[tuple[int, str]]:
        """(revision, key) of every row compaction at ``compacted`` may delete: all of a
        key's revisions at or below it but the one holding its state there, and that one
        too when it is a deletion (the key is absent at ``compacted``)."""
        found: list[tuple[int, str]] = []
        deleted = self._deleted
        for key, revs in list(self._revs.items()):
            n = bisect.bisect_right(revs, compacted)
            if n == 0:
                continue
            keep_last = revs[n - 1] not in deleted
            for revision in revs[:n - 1] if keep_last else revs[:n]:
                found.append((revision, key))
        found.sort()
        return found

    def forget(self, pruned: Iterable[tuple[int, str]]) -> None:
        """Drop revisions whose rows were deleted (``prunable``'s, once committed)."""
        by_key: dict[str, set[int]] = {}
        for revision, key in pruned:
            by_key.setdefault(key, set()).add(revision)
            self._deleted.discard(revision)
        for key, gone in by_key.items():
            revs = self._revs.get(key)
            if revs is None:
                continue
            kept = tuple(r for r in revs if r not in gone)
            if kept:
                self._revs[key] = kept
            else:
                del self._revs[key]
                self._dead.discard(key)
                self._forgotten += 1
