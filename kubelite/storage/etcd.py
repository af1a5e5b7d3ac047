"""The etcd storage backend (``etcd://`` / ``etcds://`` URLs): the datastore of an HA cluster.

Only ``kubelite.storage.open_backend`` builds it (``EtcdBackend.open``); the API server then
uses it through the ``StorageBackend`` contract in ``interface.py``, which *is* etcd v3's
model, so most methods are one etcd request:

- create: ``Txn(create_revision(key) == 0 → Put)``; update/delete: ``Txn(mod_revision(key) ==
  expected → Put/Delete, else Range(key))`` — the failure branch's read tells KeyNotFound
  from RevisionMismatch in the same round trip.
- get/list: ``Range`` (linearizable: a member cut off from the quorum answers "no leader",
  never stale data) at a revision, with limit and count for paging.
- watch: one gRPC Watch stream per ``watch()``, ``prev_kv`` on; one etcd WatchResponse is
  one batch (etcd never splits a revision across responses unless asked to fragment).

The gRPC channel to one member, the configuration and the translation of etcd's messages
and error words live in ``etcd_wire.py``; this module is the policy on top: which request
each method sends, when to fail over and what may be retried.

Failover: the backend talks to one endpoint at a time. When that endpoint fails
(connection refused/reset, deadline exceeded, "no leader"), it moves to the next one and
retries reads and ``compact`` (idempotent) until the overall ``timeout``. A write is
retried only when it certainly did not commit: the channel never connected (we wait for a
connected channel before sending a write, so a connect failure proves it was never sent),
or etcd refused it before proposing it ("no leader" — every request carries etcd's
``hasleader`` metadata —, "too many requests", "raft proposal dropped"). Any other failure
of a sent write (the connection dropped, the deadline passed, "request timed out") may or
may not have committed: it surfaces as ``errors.Unavailable`` and the caller decides, as
Kubernetes answers such a write with a timeout. Open watches resume on the next endpoint
from the revision after the last one they delivered, so a consumer sees no gap.

Compaction: etcd has no "what is the compacted revision" request. ``compacted_revision``
finds it by bisection: a ``Range`` at revision R fails with "compacted" exactly when R is
below it (about log2(revisions since the last answer) cheap requests; the answer is
remembered as the next lower bound, since it only grows).
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc  # type: ignore[import-untyped]
from aetcd import rpc  # type: ignore[import-untyped]

from kubelite.aio import tasks
from kubelite.storage import errors, etcd_wire
from kubelite.storage.interface import Event, KeyValue, ListResult

# Re-exported: ``kubelite.storage.etcd_config`` and the tests build the config from here.
EtcdConfig = etcd_wire.EtcdConfig
TLSConfig = etcd_wire.TLSConfig

log = logging.getLogger("kubelite.storage.etcd")

T = TypeVar("T")


class EtcdBackend:
    """``StorageBackend`` on an etcd v3 cluster. Build with ``await EtcdBackend.open(config)``."""

    def __init__(self, config: EtcdConfig) -> None:
        if not config.endpoints:
            raise ValueError("etcd: no endpoints")
        self.config = config
        self._index = 0
        self._conn: etcd_wire.Connection | None = None
        self._closed = False
        self._compacted = 0  # the highest compacted revision seen; a lower bound, it only grows
        # The newest revision any response has shown us: every write acknowledged through
        # this backend is at or below it, so a watch "from now" starts right above it.
        self._seen = 0
        self._tasks = tasks.TaskGroup("etcd")
        self._watches: weakref.WeakSet[_Watch] = weakref.WeakSet()
        self.failovers = 0  # endpoint switches (for tests and metrics)
        self._warned_at = -1e9

    @classmethod
    async def open(cls, config: EtcdConfig) -> EtcdBackend:
        """Connect and check that some endpoint answers (``Unavailable`` if none does)."""
        backend = cls(config)
        try:
            revision = await backend.current_revision()
        except BaseException:
            await backend.close()
            raise
        log.info("etcd store opened endpoints=%s tls=%s revision=%d",
                 ",".join(config.endpoints), config.tls is not None, revision)
        return backend

    @property
    def endpoint(self) -> str:
        """The endpoint in use now."""
        return self.config.endpoints[self._index]

    # ---- connection and retries -----------------------------------------------------------

    def _connection(self) -> etcd_wire.Connection:
        if self._closed:
            raise errors.Unavailable("etcd store is closed")
        if self._conn is None:
            self._conn = etcd_wire.Connection(self.config.endpoints[self._index], self.config)
        return self._conn

    def _fail_over(self, conn: etcd_wire.Connection, reason: str) -> None:
        """Leave ``conn``'s endpoint for the next one (once, however many callers saw it fail)."""
        if self._conn is not conn:
            return
        self._index = (self._index + 1) % len(self.config.endpoints)
        self._conn = None
        self.failovers += 1
        self._log("etcd endpoint failed endpoint=%s reason=%r next=%s", conn.endpoint, reason,
                  self.config.endpoints[self._index])
        # Calls still running on the old channel may finish within their own deadline.
        self._tasks.spawn(conn.channel.close(grace=self.config.request_timeout),
                          name=f"close {conn.endpoint}")

    def _log(self, message: str, *args: Any) -> None:
        """A warning, or a debug line when the last warning is under 5 s old: a long outage
        fails over every few hundred milliseconds and must not flood the log."""
        now = asyncio.get_running_loop().time()
        if now - self._warned_at >= 5.0:
            self._warned_at = now
            log.warning(message, *args)
        else:
            log.debug(message, *args)

    async def _call(self, attempt: Callable[[etcd_wire.Connection, float], Awaitable[T]], *,
                    write: bool) -> T:
        """Run ``attempt(conn, timeout)`` with failover; see the module docstring for when a
        write is retried. Maps etcd's compacted / future-revision errors."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout
        delay = 0.02
        last = "no attempt"
        attempts = 0
        while True:
            conn = self._connection()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise errors.Unavailable(f"etcd: no endpoint answered within "
                                         f"{self.config.timeout:g}s (last error: {last})")
            # A read that timed out may just be a big list: give each retry twice as long.
            # A write gets one attempt's time: a lost proposal should fail fast.
            per_try = min(self.config.request_timeout * (1 if write else 2 ** attempts),
                          remaining)
            attempts += 1
            try:
                if write and not await conn.wait_connected(min(self.config.connect_timeout,
                                                               per_try)):
                    last = f"cannot connect to {conn.endpoint}"
                    self._fail_over(conn, last)
                    continue  # the next endpoint may be up right away: no backoff
                if write and self._conn is not conn:
                    continue  # another caller left this endpoint while we waited; not sent
                try:
                    result = await attempt(conn, per_try)
                except asyncio.CancelledError:
                    if _really_cancelled():
                        raise
                    # gRPC cancels calls still running when their channel closes (a
                    # failover's grace period ran out, or close()): answer as CANCELLED.
                    raise _ChannelClosed() from None
                header = getattr(result, "header", None)
                if header is not None and header.revision > self._seen:
                    self._seen = int(header.revision)
                return result
            except _ChannelClosed:
                if self._closed:
                    raise errors.Unavailable("etcd store is closed") from None
                last = f"channel to {conn.endpoint} closed"
                if write:
                    raise errors.Unavailable(f"etcd: write may or may not have been applied "
                                             f"({last})") from None
            except grpc.aio.AioRpcError as exc:
                if self._closed:
                    raise errors.Unavailable("etcd store is closed") from None
                details = etcd_wire.details(exc)
                code = exc.code()
                if code is grpc.StatusCode.OUT_OF_RANGE and (etcd_wire.COMPACTED in details
                                                             or etcd_wire.FUTURE in details):
                    raise _RevisionError(compacted=etcd_wire.COMPACTED in details) from None
                last = f"{code.name}: {details}"
                lowered = details.lower()
                not_committed = (any(d in details for d in etcd_wire.NOT_PROPOSED)
                                 or any(d in lowered for d in etcd_wire.NOT_SENT))
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    self._fail_over(conn, last)
                elif code is grpc.StatusCode.CANCELLED:
                    pass  # our own channel closed under the call (a failover): try again
                elif not not_committed:
                    raise errors.StorageError(f"etcd: {last}") from None
                if write and not not_committed:
                    raise errors.Unavailable(f"etcd: write may or may not have been applied "
                                             f"({last})") from None
            await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
            delay = min(delay * 2, 0.5)

    async def _range(self, request: Any) -> Any:
        async def attempt(conn: etcd_wire.Connection, timeout: float) -> Any:
            return await conn.kv.Range(request, timeout=timeout, metadata=etcd_wire.METADATA)

        return await self._call(attempt, write=False)

    async def _txn(self, request: Any) -> Any:
        async def attempt(conn: etcd_wire.Connection, timeout: float) -> Any:
            return await conn.kv.Txn(request, timeout=timeout, metadata=etcd_wire.METADATA)

        return await self._call(attempt, write=True)

    async def _revision_error(self, exc: _RevisionError, requested: int) -> errors.StorageError:
        if exc.compacted:
            return errors.Compacted(requested=requested,
                                    compacted=await self.compacted_revision())
        return errors.FutureRevision(requested=requested, current=await self.current_revision())

    # ---- reads ----------------------------------------------------------------------------

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        try:
            resp = await self._range(rpc.RangeRequest(key=etcd_wire.encode_key(key),
                                                      revision=revision))
        except _RevisionError as exc:
            raise await self._revision_error(exc, revision) from None
        return etcd_wire.key_value(resp.kvs[0]) if resp.kvs else None

    async def list(self, prefix: str, *, start_key: str = "", limit: int = 0,
                   revision: int = 0) -> ListResult:
        start, end = etcd_wire.prefix_range(prefix)
        if start_key and etcd_wire.encode_key(start_key) > start:
            start = etcd_wire.encode_key(start_key)
        try:
            resp = await self._range(rpc.RangeRequest(key=start, range_end=end, limit=limit,
                                                      revision=revision))
        except _RevisionError as exc:
            raise await self._revision_error(exc, revision) from None
        items = [etcd_wire.key_value(kv) for kv in resp.kvs]
        more = bool(resp.more)
        return ListResult(items=items, revision=revision or resp.header.revision, more=more,
                          count=max(0, resp.count - len(items)) if more else 0)

    async def current_revision(self) -> int:
        resp = await self._range(rpc.RangeRequest(key=etcd_wire.PROBE_KEY, count_only=True))
        return int(resp.header.revision)

    async def compacted_revision(self) -> int:
        """The newest compacted revision, found by bisection (etcd cannot be asked)."""
        # Reads at R fail as compacted exactly when R < compacted, so the compacted revision
        # is the lowest R that still reads (the newest revision always does).
        low, high = max(1, self._compacted), await self.current_revision()
        while low < high:
            mid = (low + high) // 2
            if await self._compacted_at(mid):
                low = mid + 1
            else:
                high = mid
        if low > 1:
            self._compacted = max(self._compacted, low)
        return self._compacted  # low == 1: compacted at 1 or not at all; we know if we did

    async def _compacted_at(self, revision: int) -> bool:
        """Whether reading at ``revision`` fails because it is compacted."""
        try:
            await self._range(rpc.RangeRequest(key=etcd_wire.PROBE_KEY, count_only=True,
                                               revision=revision))
        except _RevisionError as exc:
            return exc.compacted
        return False

    # ---- writes ---------------------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> int:
        k = etcd_wire.encode_key(key)
        resp = await self._txn(rpc.TxnRequest(
            compare=[rpc.Compare(key=k, target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL,
                                 create_revision=0)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=bytes(value)))]))
        if not resp.succeeded:
            raise errors.KeyExists(key)
        return int(resp.header.revision)

    def _guarded(self, key: str, expected_revision: int, op: Any) -> Any:
        """A txn doing ``op`` if ``key`` exists (at ``expected_revision`` when not 0), and
        reading the key otherwise so the caller can say which condition failed."""
        k = etcd_wire.encode_key(key)
        if expected_revision:
            compare = rpc.Compare(key=k, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL,
                                  mod_revision=expected_revision)
        else:
            compare = rpc.Compare(key=k, target=rpc.Compare.CREATE, result=rpc.Compare.GREATER,
                                  create_revision=0)
        return rpc.TxnRequest(compare=[compare], success=[op], failure=[
            rpc.RequestOp(request_range=rpc.RangeRequest(key=k, keys_only=True))])

    @staticmethod
    def _failed(key: str, expected_revision: int, resp: Any) -> errors.StorageError:
        kvs = resp.responses[0].response_range.kvs if resp.responses else []
        if not kvs:
            return errors.KeyNotFound(key)
        return errors.RevisionMismatch(key, expected=expected_revision,
                                       actual=int(kvs[0].mod_revision))

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        put = rpc.RequestOp(request_put=rpc.PutRequest(key=etcd_wire.encode_key(key),
                                                       value=bytes(value)))
        resp = await self._txn(self._guarded(key, expected_revision, put))
        if not resp.succeeded:
            raise self._failed(key, expected_revision, resp)
        return int(resp.header.revision)

    async def delete(self, key: str, *, expected_revision: int = 0) -> tuple[int, KeyValue]:
        op = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(
            key=etcd_wire.encode_key(key), prev_kv=True))
        resp = await self._txn(self._guarded(key, expected_revision, op))
        if not resp.succeeded:
            raise self._failed(key, expected_revision, resp)
        prev = resp.responses[0].response_delete_range.prev_kvs
        if not prev:  # cannot happen: the compare saw the key in the same transaction
            raise errors.KeyNotFound(key)
        return int(resp.header.revision), etcd_wire.key_value(prev[0])

    async def compact(self, revision: int) -> None:
        """Compact etcd at ``revision``; an already compacted revision is not an error."""
        async def attempt(conn: etcd_wire.Connection, timeout: float) -> Any:
            return await conn.kv.Compact(rpc.CompactionRequest(revision=revision),
                                         timeout=timeout, metadata=etcd_wire.METADATA)

        try:
            # Compacting twice is harmless, so it retries like a read.
            await self._call(attempt, write=False)
        except _RevisionError as exc:
            if not exc.compacted:
                raise await self._revision_error(exc, revision) from None
        self._compacted = max(self._compacted, revision)

    # ---- watch ----------------------------------------------------------------------------

    def watch(self, prefix: str, *, start_revision: int = 0) -> _Watch:
        """Changes under ``prefix`` from ``start_revision`` on; the stream moves to another
        endpoint on failure and resumes where it left off.

        ``start_revision=0`` ("after now") starts right above the newest revision this
        backend has seen, so every write acknowledged through it before this call is left
        out and every later one is in, although the stream opens only at the first
        ``anext``. Writes other clients made meanwhile may show up: they are concurrent.
        """
        if self._closed:
            raise errors.Unavailable("etcd store is closed")
        watch = _Watch(self, prefix, start_revision or self._seen + 1,
                       from_now=not start_revision)
        self._watches.add(watch)
        return watch

    # ---- shutdown -------------------------------------------------------------------------

    async def stopped(self) -> str:
        """Never returns: the client fails over and reconnects to etcd by itself."""
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for watch in list(self._watches):
            watch._cancel()
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.channel.close()
        await self._tasks.close()
        log.info("etcd store closed endpoints=%s", ",".join(self.config.endpoints))


def _really_cancelled() -> bool:
    """Whether the running task itself is being cancelled (not just a gRPC call under it)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class _ChannelClosed(Exception):
    """A call was cancelled because its channel closed under it."""


class _RevisionError(Exception):
    """etcd refused a revision (compacted or future); the caller adds what it knows."""

    def __init__(self, *, compacted: bool) -> None:
        super().__init__("compacted" if compacted else "future revision")
        self.compacted = compacted


@dataclass(eq=False)
class _Watch:
    """One etcd watch stream; reopened on another endpoint when its connection fails."""

    backend: EtcdBackend
    prefix: str
    start_revision: int
    from_now: bool = False       # the caller asked for "after now"; start_revision is our guess
    _next: int = 0               # lowest revision not yet delivered (0: "now", not known yet)
    _call: Any = None
    _done: bool = False
    _opened_once: bool = False
    _delivered: bool = False
    _failures: int = field(default=0)

    def __post_init__(self) -> None:
        self._next = self.start_revision

    def __aiter__(self) -> _Watch:
        return self

    async def __anext__(self) -> builtins.list[Event]:
        backend = self.backend
        while True:
            if backend._closed:
                self._cancel()
                raise errors.Unavailable("etcd store closed")
            if self._done:
                raise StopAsyncIteration
            if self._call is None:
                await self._open()
                continue
            conn, call = self._call
            try:
                resp = await call.read()
            except asyncio.CancelledError:
                if _really_cancelled():
                    raise
                # Our own cancel: aclose()/close(), or the channel closed after a failover.
                if self._call is not None and self._call[1] is call:
                    await self._lost(conn, "channel closed", fail_over=False)
                continue
            except grpc.aio.AioRpcError as exc:
                await self._lost(conn, f"{exc.code().name}: {etcd_wire.details(exc)}",
                                 fail_over=exc.code() is not grpc.StatusCode.CANCELLED)
                continue
            if resp is grpc.aio.EOF:
                await self._lost(conn, "stream ended", fail_over=True)
                continue
            if resp.compact_revision:
                if self.from_now and not self._delivered:
                    # Our guess of "now" was older than etcd's history: really start now.
                    await self._lost(conn, "history compacted", fail_over=False)
                    self._next = 0
                    continue
                self._cancel()
                raise errors.Compacted(requested=self._next, compacted=resp.compact_revision)
            if resp.canceled:
                await self._lost(conn, f"watch cancelled: {resp.cancel_reason}", fail_over=True)
                continue
            if resp.header.revision > backend._seen:
                backend._seen = int(resp.header.revision)
            if resp.created and not self._next:
                # Watching from "now": if the stream breaks before any event, resume after
                # the revision it was created at.
                self._next = resp.header.revision + 1
            events = [etcd_wire.event(ev) for ev in resp.events]
            if self._next:
                events = [e for e in events if e.revision >= self._next]
            if not events:
                continue
            self._failures = 0
            self._delivered = True
            self._next = events[-1].revision + 1
            return events

    async def _open(self) -> None:
        backend = self.backend
        start = self._next
        if not self._opened_once and not self.from_now and start > 1:
            # etcd watches *from* its compacted revision; our contract says that revision
            # is gone too, so ask whether the one before the start is still readable.
            try:
                await backend._range(rpc.RangeRequest(key=etcd_wire.PROBE_KEY, count_only=True,
                                                      revision=start - 1))
            except _RevisionError as exc:
                if exc.compacted:
                    self._cancel()
                    raise errors.Compacted(requested=start,
                                           compacted=await backend.compacted_revision()) from None
        conn = backend._connection()
        start_key, end = etcd_wire.prefix_range(self.prefix)
        call = conn.watch.Watch(metadata=etcd_wire.METADATA)
        try:
            await asyncio.wait_for(call.write(rpc.WatchRequest(
                create_request=rpc.WatchCreateRequest(key=start_key, range_end=end,
                                                      start_revision=start, prev_kv=True))),
                backend.config.request_timeout)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError, TimeoutError) as exc:
            call.cancel()
            await self._lost(conn, f"cannot open watch: {exc!r}", fail_over=True)
            return
        self._call = (conn, call)
        self._opened_once = True

    async def _lost(self, conn: etcd_wire.Connection, reason: str, *, fail_over: bool) -> None:
        if self._call is not None:
            self._call[1].cancel()
            self._call = None
        if self.backend._closed or self._done:
            return
        self._failures += 1
        self.backend._log("etcd watch interrupted prefix=%s endpoint=%s next_revision=%d "
                          "reason=%r", self.prefix, conn.endpoint, self._next, reason)
        if fail_over:
            self.backend._fail_over(conn, reason)
        if self._failures > 1:  # back off when failing over did not help at once
            await asyncio.sleep(min(0.05 * 2 ** self._failures, 1.0))

    def _cancel(self) -> None:
        self._done = True
        if self._call is not None:
            self._call[1].cancel()
            self._call = None

    async def aclose(self) -> None:
        self._cancel()
        self.backend._watches.discard(self)
