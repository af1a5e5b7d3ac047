"""The SQLite storage backend: the embedded, single-server datastore (``sqlite://`` URLs).

Only ``kubelite.storage.open_backend`` builds it; the API server then uses it through the
``StorageBackend`` contract in ``interface.py`` (etcd v3 semantics).

Tables::

    log(revision PK, key, value, create_revision, prev_revision, deleted)   history, one row a write
    meta(name PK, value)      'revision' (newest), 'compacted'

A key's state at any revision is its newest row at or below it, unless that row is a
deletion. The index by key is kept in memory, as etcd keeps its ``treeIndex``
(``keyindex.KeyIndex``, read from the log when the store opens): every write only appends
to the log, in revision order. An SQLite index by key dirtied a page somewhere in the
middle of it for every randomly named object (ReplicaSet pods, Events), written whole to
the WAL and again at the next checkpoint; ``keyindex.py`` says what that cost. Reads look
the revisions up in memory and the rows up by revision. A DELETE row keeps the key's last
value, so a replayed DELETE event carries it. Watch replays read ``log`` by revision.

Writes: a child process (``sqlite_writer.py``) owns the only writing connection and does
*group commit*. The event loop queues ops and sends them as one batch (up to ``_MAX_BATCH``
ops, everything queued meanwhile) over a pipe, with at most ``_BATCHES_IN_FLIGHT`` (two)
batches sent and not yet answered: the next batch already waits in the pipe when a commit
ends, so the writer does not sit idle while the loop takes in the answer; the writer
applies each op with its own checks (a conflicting op fails alone), commits them in one
transaction, i.e. one fsync (``synchronous=FULL`` in WAL mode: an acknowledged write
survives power loss), and answers. Its answer, read on the loop, first fans the batch's
events out to watchers, then resolves the callers' futures, so a caller that starts a watch
at revision 0 after its write returned never sees that write. A process, not a thread, so
that commits never wait for the event loop's GIL (sqlite_writer.py says what that cost).
Reads run on a small pool of reader threads, each with its own connection and one read
transaction (one WAL snapshot) per call (``sqlite_reads.py``).

Slow watchers: each watch has its own unbounded queue, so writers never wait for it; when
more than ``watch_queue_limit`` events are queued and unread, the watch ends with
``WatchOverflow`` — a subclass of ``errors.Compacted``, so the API server answers 410
Expired and the client relists, which is always correct.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import fcntl
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from kubelite.storage import errors, keyindex, sqlite_reads, sqlite_writer
from kubelite.storage.interface import Event, EventType, KeyValue, ListResult

log = logging.getLogger("kubelite.storage.sqlite")

T = TypeVar("T")

_MAX_BATCH = 1000            # ops per transaction; bounds commit latency of one batch
_BATCHES_IN_FLIGHT = 2       # sent to the writer and not yet answered (see ``_send``)
_PIPE_BYTES = 1 << 20        # the pipes to and from the writer process
_PRUNE_CHUNK = 5000         # rows deleted per compaction transaction, so writes interleave
_PRAGMAS = frozenset(("journal_mode", "synchronous", "busy_timeout", "page_size", "wal_autocheckpoint"))


class WatchOverflow(errors.Compacted):
    """A watcher fell too far behind and its watch was ended; relist, then watch again."""

    def __init__(self, *, requested: int, current: int) -> None:
        super().__init__(requested=requested, compacted=current)
        self.args = ((f"watch fell more than its queue limit behind at revision {requested} "
                      f"(current revision {current}); relist and watch again"),)


@dataclass
class WriterStats:
    """Counters kept by the writer thread (read them for tests and metrics)."""

    transactions: int = 0   # committed transactions (= fsyncs of the WAL)
    ops: int = 0            # ops applied, failed ones included
    largest_batch: int = 0


OpKind = Literal["create", "update", "delete", "compact", "prune", "pragma"]


@dataclass(slots=True)
class _Op:
    kind: OpKind
    key: str = ""
    value: Any = b""  # the bytes written; for a prune, the (revision, key) rows to delete
    revision: int = 0   # expected revision (update/delete) or target (compact/prune)
    future: asyncio.Future[Any] | None = None


class _Signal(enum.Enum):
    OVERFLOW = "overflow"  # the watcher's queue passed its bound
    CLOSED = "closed"      # the backend closed


@dataclass(eq=False)
class _Subscription:
    prefix: str
    queue: asyncio.Queue[list[Event] | _Signal] = field(default_factory=asyncio.Queue)
    pending: int = 0  # events queued and not yet taken


def _spawn_writer(path: str) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """Start the writer process and wait until it has opened the store (blocking)."""
    proc = subprocess.Popen([sys.executable, sqlite_writer.__file__, path], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, close_fds=True)
    assert proc.stdout is not None and proc.stdin is not None
    for pipe in (proc.stdin, proc.stdout):
        # A batch (up to about a megabyte) fits the pipe whole: one write, no partial writes
        # waiting on the writer to read (Linux; the default pipe holds 64 KiB).
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    try:
        status, detail = sqlite_writer.read_frame(proc.stdout.fileno())
    except EOFError:
        status, detail = "error", f"the writer process exited with {proc.wait()}"
    if status != "ready":
        proc.stdin.close()
        proc.wait()
        raise errors.Unavailable(f"sqlite: cannot open {path}: {detail}")
    return proc, detail


_REFUSALS: dict[str, Callable[..., errors.StorageError]] = {
    "KeyExists": errors.KeyExists,
    "KeyNotFound": errors.KeyNotFound,
    "RevisionMismatch": lambda key, expected, actual: errors.RevisionMismatch(key, expected=expected, actual=actual),
    "FutureRevision": lambda requested, current: errors.FutureRevision(requested=requested, current=current),
}


def _outcome(op: _Op, outcome: tuple[Any, ...]) -> tuple[Any, Event | None]:
    """The caller's result and the watch event of one op the writer process applied. The
    event carries the very value object the caller wrote (the watch cache recognises its
    own writes by it, see ``WatchCache.hint``)."""
    kind = op.kind
    if kind == "create":
        rev = outcome[1]
        return rev, Event(EventType.PUT, KeyValue(op.key, op.value, rev, rev), None, rev)
    if kind == "update":
        rev, value, create_revision, mod_revision = outcome[1:]
        prev = KeyValue(op.key, value, create_revision, mod_revision)
        return rev, Event(EventType.PUT, KeyValue(op.key, op.value, create_revision, rev), prev, rev)
    if kind == "delete":
        rev, value, create_revision, mod_revision = outcome[1:]
        prev = KeyValue(op.key, value, create_revision, mod_revision)
        return (rev, prev), Event(EventType.DELETE, KeyValue(op.key, value, create_revision, rev), prev, rev)
    return outcome[1], None  # compact, prune, pragma


class _Replies(asyncio.Protocol):
    """The writer process's output: frames, each the outcome of one batch."""

    def __init__(self, backend: SQLiteBackend) -> None:
        self.backend = backend
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (frame := sqlite_writer.split_frame(self.buffer)) is not None:
            reply, self.buffer = frame
            self.backend._on_reply(reply)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.backend._writer_lost(f"its output ended ({exc or 'end of file'})")


class SQLiteBackend:
    """``StorageBackend`` on one SQLite file. Build with ``await SQLiteBackend.open(path)``."""

    # A live watch event carries the very bytes object its writer passed in (a replayed
    # one is read back from the log): the watch cache's ``hint`` relies on it.
    hands_written_values_to_watch = True

    @property
    def serial_pids(self) -> list[int]:
        """Processes every write waits on, in turn (the writer): the server raises their
        priority with its loop's (``cli/priority.py``)."""
        return [self._wproc.pid]

    def __init__(self, *, path: str, writer: subprocess.Popen[bytes], meta: dict[str, int],
                 index: keyindex.KeyIndex, readers: int, watch_queue_limit: int) -> None:
        self.path = path
        # Every key's revisions: changed on the loop as commits are answered, read by readers.
        self._index = index
        self.stats = WriterStats()
        self._loop = asyncio.get_running_loop()
        self._watch_limit = watch_queue_limit
        # Loop-side view: what has been committed *and* delivered.
        self._rev = meta["revision"]
        self._compacted = meta["compacted"]
        self._subs: set[_Subscription] = set()
        self._closing = False  # no new op or read is accepted
        self._close_started = False
        self._closed = asyncio.Event()
        self._compact_lock = asyncio.Lock()
        # The writer process. Batches go to it from the event loop: ops queue in ``_pending``;
        # up to ``_BATCHES_IN_FLIGHT`` batches are ``_inflight``, answered in order; each reply
        # (``_Replies``) delivers the oldest one's results and sends what queued meanwhile.
        self._wproc = writer
        self._pending: list[_Op] = []
        self._inflight: collections.deque[list[_Op]] = collections.deque()
        self._send_scheduled = False
        self._to_writer: asyncio.WriteTransport | None = None
        self._drained: asyncio.Future[None] | None = None  # close() waits on it for the queue to empty
        self._writer_done: asyncio.Future[None] = self._loop.create_future()
        self._writer_died: asyncio.Future[str] = self._loop.create_future()  # see ``stopped``
        self._readers = sqlite_reads.Readers(path, index, threads=readers)

    @classmethod
    async def open(cls, path: str, *, readers: int = 2,
                   watch_queue_limit: int = 100_000) -> SQLiteBackend:
        """Open or create the store at ``path`` (its directory is created when missing)."""
        writer, meta = await asyncio.to_thread(_spawn_writer, path)
        try:
            index = await asyncio.to_thread(sqlite_reads.read_index, path, meta)
        except BaseException:
            assert writer.stdin is not None
            writer.stdin.close()
            await asyncio.to_thread(writer.wait)
            raise
        log.info("sqlite store opened path=%s revision=%d compacted=%d keys=%d",
                 path, meta["revision"], meta["compacted"], len(index))
        backend = cls(path=path, writer=writer, meta=meta, index=index, readers=readers,
                      watch_queue_limit=watch_queue_limit)
        loop = asyncio.get_running_loop()
        assert writer.stdin is not None and writer.stdout is not None
        backend._to_writer, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, writer.stdin)
        await loop.connect_read_pipe(lambda: _Replies(backend), writer.stdout)
        return backend

    # ---- writes ---------------------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> int:
        rev: int = await self._submit(_Op("create", key, bytes(value)))
        return rev

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        rev: int = await self._submit(_Op("update", key, bytes(value), expected_revision))
        return rev

    def start_create(self, key: str, value: bytes) -> asyncio.Future[int]:
        """``create`` queued now, its outcome a future (see ``start_update``)."""
        return self._queue_op(_Op("create", key, bytes(value)))

    def start_update(self, key: str, value: bytes, *, expected_revision: int) -> asyncio.Future[int]:
        """``update`` queued now, its outcome a future: a caller writing many keys at once
        awaits them together (one gather over futures) instead of a task per write."""
        return self._queue_op(_Op("update", key, bytes(value), expected_revision))

    async def delete(self, key: str, *, expected_revision: int = 0) -> tuple[int, KeyValue]:
        result: tuple[int, KeyValue] = await self._submit(
            _Op("delete", key, revision=expected_revision))
        return result

    async def compact(self, revision: int) -> None:
        """Forget history at and below ``revision``; compacting an already compacted
        revision does nothing (raises ``FutureRevision`` beyond the newest revision)."""
        async with self._compact_lock:
            await self._submit(_Op("compact", revision=revision))
            # Prune in chunks, each its own transaction, so writers are never held up long.
            # Found off the loop: a walk over every key (~0.1 s for 100,000 keys).
            rows = await asyncio.to_thread(self._index.prunable, self._compacted)
            for i in range(0, len(rows), _PRUNE_CHUNK):
                await self._submit(_Op("prune", value=rows[i:i + _PRUNE_CHUNK]))

    async def pragma(self, name: str) -> Any:
        """The writer connection's value of PRAGMA ``name`` (for tests and diagnostics)."""
        if name not in _PRAGMAS:
            raise ValueError(f"pragma {name!r} is not readable here")
        return await self._submit(_Op("pragma", name))

    async def _submit(self, op: _Op) -> Any:
        return await self._queue_op(op)

    def _queue_op(self, op: _Op) -> asyncio.Future[Any]:
        future = op.future = self._loop.create_future()
        if self._closing:
            future.set_exception(errors.Unavailable("sqlite store is closed"))
            return future
        self._pending.append(op)
        if len(self._inflight) < _BATCHES_IN_FLIGHT and not self._send_scheduled:
            # Sent once this turn of the loop is over, with whatever else it queues.
            self._send_scheduled = True
            self._loop.call_soon(self._send)
        return future

    # ---- the writer process ---------------------------------------------------------------

    def _send(self) -> None:
        """Hand the queued ops to the writer process as one batch (one transaction)."""
        self._send_scheduled = False
        if len(self._inflight) >= _BATCHES_IN_FLIGHT or not self._pending or self._to_writer is None:
            return
        batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
        self._inflight.append(batch)
        self._to_writer.write(sqlite_writer.encode_frame([(op.kind, op.key, op.value, op.revision) for op in batch]))

    def _on_reply(self, reply: tuple[Any, ...]) -> None:
        """The writer process's outcome of the oldest batch in flight: deliver it, send the next."""
        batch = self._inflight.popleft() if self._inflight else []
        status, detail, revision, compacted, size = reply
        if status != "done":
            log.error("sqlite commit failed path=%s ops=%d error=%s", self.path, len(batch), detail)
            failure = errors.Unavailable(f"sqlite write failed: {detail}")
            self._deliver([], [(op.future, failure) for op in batch], revision, compacted)
        else:
            results: list[tuple[asyncio.Future[Any] | None, Any]] = []
            events: list[Event] = []
            for op, outcome in zip(batch, detail):
                if outcome[0] != "ok":
                    results.append((op.future, _REFUSALS[outcome[0]](*outcome[1:])))
                    continue
                result, event = _outcome(op, outcome)
                if event is not None:
                    self._index.add(op.key, event.revision, deleted=event.type is EventType.DELETE)
                    events.append(event)
                elif op.kind == "prune":
                    self._index.forget(op.value)
                results.append((op.future, result))
            self.stats.transactions += 1
            self.stats.ops += len(batch)
            self.stats.largest_batch = max(self.stats.largest_batch, size)
            self._deliver(events, results, revision, compacted)
        if self._pending:
            self._send()
        elif not self._inflight and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _writer_lost(self, reason: str) -> None:
        """The writer process's output ended: at close, or because it died."""
        if not self._close_started or self._inflight or self._pending:
            log.critical("sqlite writer process stopped path=%s reason=%s", self.path, reason)
            self._closing = True  # no new op can be queued now; fail those queued
            failure = errors.Unavailable(f"sqlite writer process stopped: {reason}")
            lost = [op for batch in self._inflight for op in batch] + self._pending
            self._inflight.clear()
            self._pending = []
            self._deliver([], [(op.future, failure) for op in lost], 0, 0)
            if not self._close_started and not self._writer_died.done():
                self._writer_died.set_result(f"the sqlite writer process stopped: {reason}")
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if not self._writer_done.done():
            self._writer_done.set_result(None)

    async def stopped(self) -> str:
        """The reason, once the writer process died while the store was open: no write can
        succeed after that, and only a restart (which recovers the database from its
        write-ahead log) helps."""
        return await asyncio.shield(self._writer_died)

    def _stop_writer_process(self) -> None:
        """Wait for the writer process to exit (its input is closed); blocking."""
        proc = self._wproc
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.error("sqlite writer process did not exit; killing it path=%s", self.path)
            proc.kill()
            proc.wait()

    # ---- back on the event loop -----------------------------------------------------------

    def _deliver(self, events: list[Event], results: list[tuple[asyncio.Future[Any] | None, Any]],
                 revision: int, compacted: int) -> None:
        self._rev = max(self._rev, revision)
        self._compacted = max(self._compacted, compacted)
        self._index.revision = max(self._index.revision, self._rev)
        self._index.compacted = self._compacted
        # Watchers first: a write is acknowledged only once its event is queued to them.
        if events:
            self._fanout(events)
        for future, result in results:
            if future is None or future.done():  # the caller was cancelled
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _fanout(self, events: list[Event]) -> None:
        for sub in list(self._subs):
            if sub.prefix:
                matched = [e for e in events if e.kv.key.startswith(sub.prefix)]
                if not matched:
                    continue
            else:
                matched = events.copy()  # each watcher owns its batch
            sub.pending += len(matched)
            if sub.pending > self._watch_limit:
                log.warning("watch ended: consumer too slow prefix=%s queued=%d",
                            sub.prefix, sub.pending)
                self._end_subscription(sub, _Signal.OVERFLOW)
            else:
                sub.queue.put_nowait(matched)

    def _subscribe(self, prefix: str) -> _Subscription:
        sub = _Subscription(prefix)
        self._subs.add(sub)
        return sub

    def _unsubscribe(self, sub: _Subscription) -> None:
        self._subs.discard(sub)

    def _end_subscription(self, sub: _Subscription, signal: _Signal) -> None:
        self._subs.discard(sub)
        while not sub.queue.empty():  # free the backlog now; the watcher only needs the signal
            sub.queue.get_nowait()
        sub.pending = 0
        sub.queue.put_nowait(signal)

    # ---- reads ----------------------------------------------------------------------------

    async def current_revision(self) -> int:
        return self._rev

    async def compacted_revision(self) -> int:
        return self._compacted

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        return await self._read(lambda conn: self._readers.get(conn, key, revision))

    async def list(self, prefix: str, *, start_key: str = "", limit: int = 0,
                   revision: int = 0) -> ListResult:
        return await self._read(
            lambda conn: self._readers.list(conn, prefix=prefix, start_key=start_key, limit=limit,
                                            revision=revision))

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closing:
            raise errors.Unavailable("sqlite store is closed")
        return await self._readers.run(fn)

    # ---- watch ----------------------------------------------------------------------------

    def watch(self, prefix: str, *, start_revision: int = 0) -> _Watch:
        """Changes under ``prefix`` from ``start_revision`` on (0: after now).

        Subscribes at once, before any history is read, so no change falls between the
        replay and the live stream; the live stream drops what the replay already gave.
        """
        if self._closing:
            raise errors.Unavailable("sqlite store is closed")
        if 0 < start_revision <= self._compacted:
            raise errors.Compacted(requested=start_revision, compacted=self._compacted)
        sub = self._subscribe(prefix)
        return _Watch(self, sub, start_revision or self._rev + 1, replay=start_revision > 0)

    # ---- shutdown -------------------------------------------------------------------------

    async def close(self) -> None:
        if self._close_started:
            await self._closed.wait()
            return
        self._close_started = self._closing = True
        try:
            if self._inflight or self._pending:  # queued writes are still committed
                self._drained = self._loop.create_future()
                await asyncio.shield(self._drained)
            if self._to_writer is not None:
                self._to_writer.close()  # end of input: the writer process exits
            await asyncio.shield(self._writer_done)
            await asyncio.to_thread(self._stop_writer_process)
            for sub in list(self._subs):
                self._end_subscription(sub, _Signal.CLOSED)
            await asyncio.to_thread(self._readers.close)
            log.info("sqlite store closed path=%s revision=%d", self.path, self._rev)
        finally:
            self._closed.set()


class _Watch:
    """One watch: history from the log first, then the live stream, without gap or repeat."""

    def __init__(self, backend: SQLiteBackend, sub: _Subscription, start: int, *,
                 replay: bool) -> None:
        self._backend = backend
        self._sub: _Subscription | None = sub
        self._next = start  # the lowest revision not yet given to the consumer
        self._replaying = replay

    def __aiter__(self) -> _Watch:
        return self

    async def __anext__(self) -> list[Event]:
        sub = self._sub
        if sub is None:
            raise StopAsyncIteration
        try:
            if self._replaying:
                start = self._next
                events = await self._backend._read(
                    lambda conn: self._backend._readers.replay(conn, prefix=sub.prefix, start=start))
                if len(events) < sqlite_reads.REPLAY_CHUNK:
                    # The log held nothing more at that snapshot; later writes were
                    # published after we subscribed, so they are in the queue.
                    self._replaying = False
                if events:
                    self._next = events[-1].revision + 1
                    return events
            while True:
                item = await sub.queue.get()
                if isinstance(item, _Signal):
                    self._finish()
                    if item is _Signal.OVERFLOW:
                        raise WatchOverflow(requested=self._next, current=self._backend._rev)
                    raise errors.Unavailable("sqlite store closed")
                sub.pending -= len(item)
                if item[0].revision < self._next:  # already given by the replay
                    item = [e for e in item if e.revision >= self._next]
                    if not item:
                        continue
                self._next = item[-1].revision + 1
                return item
        except errors.StorageError:
            self._finish()
            raise

    async def aclose(self) -> None:
        self._finish()

    def _finish(self) -> None:
        if self._sub is not None:
            self._backend._unsubscribe(self._sub)
            self._sub = None

    def __del__(self) -> None:
        # A consumer that just stops iterating must not leave its queue filling up.
        sub = self._sub
        if sub is not None:
            try:
                self._backend._loop.call_soon_threadsafe(self._backend._unsubscribe, sub)
            except RuntimeError:
                pass
