"""The SQLite store's reads (``sqlite.SQLiteBackend`` uses them).

A small pool of reader threads, each with its own connection; every call runs in one read
transaction, i.e. on one consistent WAL snapshot. A key's revisions are looked up in the
store's in-memory ``keyindex.KeyIndex`` and its rows by revision (the log's primary key):
the log has no index by key (``keyindex.py`` says why). Watch replays read the log in
revision order.
"""

from __future__ import annotations

import asyncio
import builtins
import itertools
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from kubelite.storage import errors, keyindex
from kubelite.storage.interface import Event, EventType, KeyValue, ListResult

T = TypeVar("T")

REPLAY_CHUNK = 1000         # events per replayed watch batch
_ROWS_PER_SELECT = 5000     # revisions looked up per statement by a list


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: none)."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code == 0xD800:  # skip the surrogates: they cannot be stored as UTF-8
            code = 0xE000
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def _upper(prefix: str) -> str | bytes:
    """The SQL upper bound (exclusive) of keys under ``prefix``. SQLite orders every BLOB
    after every TEXT, so an empty BLOB bounds the prefix that has no ``prefix_end``."""
    end = prefix_end(prefix)
    return b"" if end is None else end


def read_index(path: str, meta: dict[str, int]) -> keyindex.KeyIndex:
    """The key index of the store at ``path``, from its log (blocking)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA query_only=ON")
        rows = conn.execute("SELECT key, revision, deleted FROM log ORDER BY revision")
        index = keyindex.KeyIndex.build(rows, compacted=meta["compacted"])
    finally:
        conn.close()
    index.revision = max(index.revision, meta["revision"])  # trailing rows may have been pruned
    return index


class Readers:
    """The reader threads of one store and what they read."""

    def __init__(self, path: str, index: keyindex.KeyIndex, *, threads: int) -> None:
        self.path = path
        self.closed = False
        # Every key's revisions: changed on the loop as commits are answered, read here.
        self._index = index
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="kubelite-sqlite-reader")
        self._local = threading.local()  # each thread's connection, opened lazily
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` on a reader thread, inside one read transaction."""
        if self.closed:
            raise errors.Unavailable("sqlite store is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._in_snapshot, fn)
        except RuntimeError as exc:  # the pool was shut down under us
            raise errors.Unavailable(f"sqlite store is closed: {exc}") from exc

    def close(self) -> None:
        """Stop the threads and close their connections (blocking)."""
        self.closed = True
        self._pool.shutdown(wait=True)
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()

    def _in_snapshot(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one read transaction, i.e. on one consistent WAL snapshot."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA query_only=ON")
            with self._lock:
                self._conns.append(conn)
            self._local.conn = conn
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            conn.execute("COMMIT")

    @staticmethod
    def _meta(conn: sqlite3.Connection, revision: int) -> tuple[int, int]:
        """(newest revision, compacted revision) of the snapshot; checks ``revision`` in it."""
        meta = dict(conn.execute(
            "SELECT name, value FROM meta WHERE name IN ('revision', 'compacted')").fetchall())
        current, compacted = int(meta["revision"]), int(meta["compacted"])
        if revision > current:
            raise errors.FutureRevision(requested=revision, current=current)
        if 0 < revision < compacted:  # the state *at* the compacted revision is kept
            raise errors.Compacted(requested=revision, compacted=compacted)
        return current, compacted

    def _newest(self, conn: sqlite3.Connection, revision: int) -> int:
        """The newest revision both the snapshot and the key index hold (the index learns of
        a commit a moment after it is visible, the snapshot may predate it); checks
        ``revision`` against it."""
        current = min(self._meta(conn, revision)[0], self._index.revision)
        if revision > current:
            raise errors.FutureRevision(requested=revision, current=current)
        return current

    def _still_kept(self, at: int) -> None:
        """After index lookups at ``at``: a compaction that started meanwhile may have made
        the index forget revisions below its target."""
        if at < self._index.compacted:
            raise errors.Compacted(requested=at, compacted=self._index.compacted)

    def get(self, conn: sqlite3.Connection, key: str, revision: int) -> KeyValue | None:
        current = self._newest(conn, revision)  # a future or compacted revision fails here
        at = revision or current
        found = self._index.newest(key, at)
        self._still_kept(at)
        if found is None:
            return None
        row = conn.execute("SELECT value, create_revision FROM log WHERE revision = ?", (found,)).fetchone()
        if row is None:  # pruned under this snapshot's feet: only below the compacted revision
            raise errors.Compacted(requested=at, compacted=self._index.compacted)
        return KeyValue(key, row[0], row[1], found)

    def list(self, conn: sqlite3.Connection, *, prefix: str, start_key: str, limit: int,
              revision: int) -> ListResult:
        current = self._newest(conn, revision)
        at = revision or current
        end = prefix_end(prefix)
        live = self._index.live(max(prefix, start_key), end, at)
        found = list(itertools.islice(live, limit + 1)) if limit > 0 else list(live)
        more = limit > 0 and len(found) > limit
        count = 0
        if more:
            # The rest is counted at the newest revision only (remainingItemCount, as upstream).
            found = found[:limit]
            if at == current:
                count = self._index.count(found[-1][0] + "\0", end)
        self._still_kept(at)
        rows: dict[int, tuple[bytes, int]] = {}
        for i in range(0, len(found), _ROWS_PER_SELECT):
            chunk = [revision for _, revision in found[i:i + _ROWS_PER_SELECT]]
            marks = ",".join("?" * len(chunk))
            for rev, value, create_revision in conn.execute(
                    f"SELECT revision, value, create_revision FROM log WHERE revision IN ({marks})", chunk):
                rows[rev] = (value, create_revision)
        if len(rows) != len(found):  # pruned under this snapshot's feet
            raise errors.Compacted(requested=at, compacted=self._index.compacted)
        items = [KeyValue(key, *rows[rev], rev) for key, rev in found]
        return ListResult(items=items, revision=at, more=more, count=count)

    def replay(self, conn: sqlite3.Connection, *, prefix: str,
                start: int) -> builtins.list[Event]:  # `list` is a method here
        """Up to ``REPLAY_CHUNK`` events under ``prefix`` from revision ``start`` on."""
        _, compacted = self._meta(conn, 0)
        if start <= compacted:
            raise errors.Compacted(requested=start, compacted=compacted)
        rows = conn.execute(
            "SELECT l.revision, l.key, l.value, l.create_revision, l.prev_revision, l.deleted,"
            " p.value FROM log AS l LEFT JOIN log AS p"
            " ON l.deleted = 0 AND l.prev_revision > 0 AND p.revision = l.prev_revision"
            " WHERE l.revision >= ? AND l.key >= ? AND l.key < ? ORDER BY l.revision LIMIT ?",
            (start, prefix, _upper(prefix), REPLAY_CHUNK)).fetchall()
        events = []
        for rev, key, value, create_rev, prev_rev, deleted, prev_value in rows:
            kv = KeyValue(key, value, create_rev, rev)
            if deleted:
                prev: KeyValue | None = KeyValue(key, value, create_rev, prev_rev)
                events.append(Event(EventType.DELETE, kv, prev, rev))
                continue
            prev = KeyValue(key, prev_value, create_rev, prev_rev) if prev_value is not None else None
            events.append(Event(EventType.PUT, kv, prev, rev))
        return events
