"""The SQLite store's writer: a child process that owns the only writing connection.

``sqlite.SQLiteBackend`` starts it (``python sqlite_writer.py PATH``, this file run by its
path, so it imports nothing of kubelite) and talks to it over its stdin and stdout in
frames: a 4-byte big-endian length, then a pickle. The first frame out is
``("ready", meta)`` (or ``("error", message)`` when the store cannot be opened); then each
frame in is one batch, a list of ``(kind, key, value, revision)``, and each frame out its
outcome::

    ("done", [per-op result…], revision, compacted, largest)  committed as one transaction
    ("failed", message, revision, compacted, 0)                nothing of the batch committed

where a per-op result is ``("ok", …values)`` or ``(error name, …arguments)`` for an op that
failed alone (``KeyExists``, ``KeyNotFound``, ``RevisionMismatch``, ``FutureRevision``).
End of input ends the process, after the batch in hand is committed.

Why a process and not a thread: a writer thread shares the GIL with the API server's
event loop, and every statement gives the GIL up around SQLite and takes it back after;
under load that second step waits for the loop (measured: 100-115 µs per write inside a
batch against 21 µs on an idle process, and 8-9 ms per group commit of which about 5 ms
was that wait). Here each statement runs at SQLite's speed, and the server's process pays
two pipe transfers and two pickles per batch instead.
"""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import struct
import sys
from typing import Any

# WAL pages between checkpoints (SQLite's default: 1,000). A checkpoint copies the newest
# version of every page the WAL holds back into the database file, so a page written many
# times between two checkpoints is copied once. Objects named at random (every ReplicaSet's
# pods, Events) land all over the key indexes: with checkpoints every 1,000 pages the writer
# wrote ~3.5x the bytes per write that keys in order cost, the disk throttled it, and the
# scheduler benchmark ran 13-25 % slower (docs/benchmarks.md, ninth session). The price: a
# WAL file of up to ~80 MB (at 4 KiB pages), read once when the store reopens after a crash.
WAL_CHECKPOINT_PAGES = 20_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    revision INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    deleted INTEGER NOT NULL
);
DROP INDEX IF EXISTS log_key_revision;
DROP INDEX IF EXISTS log_tombstones;
DROP TABLE IF EXISTS kv;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('revision', 0), ('compacted', 0);
"""
# No index by key: the server keeps it in memory (``keyindex.py`` says why), and this
# process keeps each key's newest row (``Writer.newest``), both read from the log at start.
# Stores made before the eleventh session had an index on (key, revision) and a partial
# one of deletions, and those of the first eight sessions a ``kv`` table (key → newest
# revision): opening such a store drops them.
# Every key's rows in revision order: (key, revision, create_revision, deleted).
ALL_ROWS = "SELECT key, revision, create_revision, deleted FROM log ORDER BY revision"

_LENGTH = struct.Struct(">I")


# ---- frames (both sides) -------------------------------------------------------------------

def encode_frame(value: Any) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def split_frame(buffer: bytes) -> tuple[Any, bytes] | None:
    """The first frame's value and the bytes after it, or None while it is incomplete."""
    if len(buffer) < _LENGTH.size:
        return None
    end = _LENGTH.size + _LENGTH.unpack_from(buffer)[0]
    if len(buffer) < end:
        return None
    return pickle.loads(buffer[_LENGTH.size:end]), buffer[end:]


def write_frame(fd: int, value: Any) -> None:
    view = memoryview(encode_frame(value))
    while view:
        view = view[os.write(fd, view):]


def read_frame(fd: int) -> Any:
    """The next frame's value; EOFError when the other side closed."""
    head = _read_exactly(fd, _LENGTH.size)
    return pickle.loads(_read_exactly(fd, _LENGTH.unpack(head)[0]))


def _read_exactly(fd: int, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = os.read(fd, missing)
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


# ---- the store -----------------------------------------------------------------------------

class _Refused(Exception):
    """One op fails alone: ``args`` is its result tuple (error name, arguments…)."""


def open_store(path: str) -> tuple[sqlite3.Connection, dict[str, int]]:
    """Open (creating when needed) the database with the writer's settings."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise RuntimeError(f"sqlite: cannot use WAL journal for {path} (got {mode})")
        # WAL with FULL: every commit is fsynced, an acknowledged write survives power loss.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(SCHEMA)
        meta = {name: int(value) for name, value in conn.execute("SELECT name, value FROM meta")}
    except BaseException:
        conn.close()
        raise
    return conn, meta


class Writer:
    """Applies batches, each op with its own checks, each batch one transaction."""

    def __init__(self, conn: sqlite3.Connection, meta: dict[str, int]) -> None:
        self.conn = conn
        self.rev = meta["revision"]
        self.compacted = meta["compacted"]
        # key → (revision, create_revision, deleted) of its newest row: what a write checks.
        self.newest: dict[str, tuple[int, int, int]] = {}
        for key, revision, create_revision, deleted in conn.execute(ALL_ROWS):
            self.newest[key] = (revision, create_revision, deleted)

    def run_batch(self, ops: list[tuple[str, str, Any, int]]) -> tuple[Any, ...]:
        start = (self.rev, self.compacted)
        undo: list[tuple[str, tuple[int, int, int] | None]] = []  # newest entries this batch replaced
        results: list[tuple[Any, ...]] = []
        cur = self.conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            for op in ops:
                try:
                    results.append(self._apply(cur, undo, *op))
                except _Refused as refused:
                    results.append(refused.args)
            if self.rev != start[0]:
                cur.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (self.rev,))
            cur.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 -- any failure loses the whole transaction
            if self.conn.in_transaction:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            self.rev, self.compacted = start
            for key, entry in reversed(undo):
                if entry is None:
                    self.newest.pop(key, None)
                else:
                    self.newest[key] = entry
            return "failed", f"{type(exc).__name__}: {exc}", self.rev, self.compacted, 0
        return "done", results, self.rev, self.compacted, len(ops)

    def _set(self, undo: list[tuple[str, tuple[int, int, int] | None]], key: str,
             entry: tuple[int, int, int] | None) -> None:
        undo.append((key, self.newest.get(key)))
        if entry is None:
            del self.newest[key]
        else:
            self.newest[key] = entry

    def _apply(self, cur: sqlite3.Cursor, undo: list[tuple[str, tuple[int, int, int] | None]],
               kind: str, key: str, value: Any, revision: int) -> tuple[Any, ...]:
        if kind == "create":
            row = self.newest.get(key)
            if row is not None and not row[2]:
                raise _Refused("KeyExists", key)
            rev = self.rev + 1
            cur.execute("INSERT INTO log VALUES (?, ?, ?, ?, 0, 0)", (rev, key, value, rev))
            self._set(undo, key, (rev, rev, 0))
            self.rev = rev
            return ("ok", rev)
        if kind in ("update", "delete"):
            row = self.newest.get(key)
            if row is None or row[2]:
                raise _Refused("KeyNotFound", key)
            mod_revision, create_revision, _ = row
            if revision and mod_revision != revision:
                raise _Refused("RevisionMismatch", key, revision, mod_revision)
            old = cur.execute("SELECT value FROM log WHERE revision = ?", (mod_revision,)).fetchone()[0]
            rev = self.rev + 1
            if kind == "update":
                cur.execute("INSERT INTO log VALUES (?, ?, ?, ?, ?, 0)", (rev, key, value, create_revision, mod_revision))
                self._set(undo, key, (rev, create_revision, 0))
            else:
                cur.execute("INSERT INTO log VALUES (?, ?, ?, ?, ?, 1)", (rev, key, old, create_revision, mod_revision))
                self._set(undo, key, (rev, create_revision, 1))
            self.rev = rev
            return ("ok", rev, old, create_revision, mod_revision)
        if kind == "compact":
            if revision > self.rev:
                raise _Refused("FutureRevision", revision, self.rev)
            if revision > self.compacted:
                # Recorded before any row goes, so no reader ever sees a half-pruned past.
                cur.execute("UPDATE meta SET value = ? WHERE name = 'compacted'", (revision,))
                self.compacted = revision
            return ("ok", None)
        if kind == "prune":
            return ("ok", self._prune(cur, undo, value))
        if kind == "pragma":
            return ("ok", cur.execute(f"PRAGMA {key}").fetchone()[0])
        raise ValueError(f"unknown op {kind!r}")

    def _prune(self, cur: sqlite3.Cursor, undo: list[tuple[str, tuple[int, int, int] | None]],
               rows: list[tuple[int, str]]) -> int:
        """Delete the given (revision, key) rows: history the server's key index found
        superseded at or below the compacted revision (``KeyIndex.prunable``). Only those
        are taken: a row above it, or a key's newest live row, is never deleted here."""
        doomed = [(revision,) for revision, key in rows if revision <= self.compacted
                  and not ((entry := self.newest.get(key)) and entry[0] == revision and not entry[2])]
        cur.executemany("DELETE FROM log WHERE revision = ?", doomed)
        for revision, key in rows:
            entry = self.newest.get(key)
            if entry is not None and entry[0] == revision and entry[2]:
                self._set(undo, key, None)  # a deleted key whose deletion is forgotten too
        return len(doomed)


def main(path: str) -> int:
    # Ctrl-C reaches the whole process group: the server shuts down, and this process ends
    # when the server closes its input, after committing what the server had queued.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Frames go out on the stdout we were given; anything printed by mistake goes to stderr.
    out = os.dup(1)
    os.dup2(2, 1)
    try:
        conn, meta = open_store(path)
    except Exception as exc:  # noqa: BLE001 -- reported to the server, which refuses to start
        write_frame(out, ("error", f"{type(exc).__name__}: {exc}"))
        return 1
    write_frame(out, ("ready", meta))
    writer = Writer(conn, meta)
    try:
        while True:
            try:
                ops = read_frame(0)
            except EOFError:
                return 0
            write_frame(out, writer.run_batch(ops))
    except BrokenPipeError:
        return 0
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
