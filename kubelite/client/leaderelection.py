"""Lease-based leader election with client-go's semantics, for the controller manager and
the scheduler: of N kubelite servers, exactly one runs each of them at a time.

The leader is whoever's identity is in ``spec.holderIdentity`` of a
``coordination.k8s.io/v1`` Lease (default namespace ``kube-system``), and it keeps the
lease by rewriting ``spec.renewTime`` every ``retry_period``. Every write carries the
resourceVersion it read, so two candidates writing at once cannot both win: the loser
gets 409 Conflict and stays a follower.

Timing, as in client-go (``tools/leaderelection``):

- A follower takes over only after it has seen the *same* lease record for
  ``leaseDurationSeconds`` on its own monotonic clock; it never compares timestamps
  written by another machine, so clock skew between servers does not matter.
- A leader that has not renewed successfully within ``renew_deadline`` (measured from
  the start of its last good renewal) steps down: its work is cancelled, and
  ``still_leader()`` turns False. Because ``renew_deadline < lease_duration``, the old
  leader has stopped before any follower can start (fencing).
- A leader that stops on purpose releases the lease (holder cleared, duration 1 s) so a
  follower takes over at its next retry instead of waiting the full lease duration.

Defaults are tuned for fast failover on small clusters, beside client-go's (and
kube-controller-manager's) defaults:

    ==================  ========  =========
    setting             kubelite  client-go
    ==================  ========  =========
    lease_duration      4 s       15 s
    renew_deadline      3 s       10 s
    retry_period        0.5 s     2 s
    ==================  ========  =========

Renewals run on a thread of their own, with their own event loop and connection (as
client-go's renew loop is a goroutine of its own): a leader whose main event loop is
saturated by its work — a scheduler binding thousands of pods — must not lose its lease
because the renewal waited behind that work. Pass ``renew_off_loop=False`` to renew on
the caller's loop (the default for in-memory test clients).

A crashed leader is replaced after ``lease_duration`` plus one or two jittered retry
periods (≈ 4.5–6 s; client-go ≈ 17–23 s); a cleanly stopped one within about one
``retry_period``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import inspect
import logging
import math
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubelite.aio import tasks
from kubelite.client import errors, resources, rest

log = logging.getLogger("kubelite.client.leaderelection")

JITTER = 1.2  # client-go's JitterFactor for the acquire loop


class LeadershipLost(Exception):
    """Raised out of ``async with elector.leading()`` when the lease could not be renewed."""


def micro_time(when: datetime.datetime | None = None) -> str:
    """A Kubernetes MicroTime: ``2026-11-21T21:00:00.123456Z`` (UTC, microseconds)."""
    when = when or datetime.datetime.now(datetime.UTC)
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Leadership:
    """One term as leader, handed to the code that runs while leading.

    ``lost`` is set the moment the term ends (lost or stopped); long-running work should
    check ``still_leader()`` before acting on the cluster (fencing).
    """

    elector: LeaderElector
    lost: asyncio.Event = field(default_factory=asyncio.Event)

    def still_leader(self) -> bool:
        return not self.lost.is_set() and self.elector.still_leader()


class _Term:
    """Bookkeeping shared by ``leading()`` and its renew task."""

    def __init__(self, host: asyncio.Task[Any] | None) -> None:
        self.host = host
        self.body_done = False
        self.cancelled_by_us = False


Callback = Callable[..., Awaitable[None] | None]


class LeaderElector:
    """Campaign for, hold and give up one Lease; see the module docstring for semantics."""

    def __init__(
        self,
        client: rest.Client,
        *,
        name: str,
        identity: str,
        namespace: str = "kube-system",
        lease_duration: float = 4.0,
        renew_deadline: float = 3.0,
        retry_period: float = 0.5,
        release_on_cancel: bool = True,
        renew_off_loop: bool | None = None,
        on_started_leading: Callable[[asyncio.Event], Awaitable[None]] | None = None,
        on_stopped_leading: Callback | None = None,
        on_new_leader: Callable[[str], None] | None = None,
    ) -> None:
        if lease_duration <= renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if renew_deadline <= JITTER * retry_period:
            raise ValueError("renew_deadline must be greater than retry_period * 1.2")
        if not identity:
            raise ValueError("leader election needs a non-empty identity")
        self.client = client
        self.name = name
        self.identity = identity
        self.namespace = namespace
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_cancel = release_on_cancel
        # Default: off the loop whenever we have a real client whose config we can reuse.
        self.renew_off_loop = isinstance(client, rest.Client) if renew_off_loop is None else renew_off_loop
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self._leading = False
        self._renewed_at = 0.0  # monotonic start of the last successful acquire/renew
        self._observed: tuple[Any, ...] | None = None  # last lease record seen
        self._observed_at = 0.0  # monotonic time it was first seen
        self._observed_duration = 0.0
        self._reported_leader: str | None = None
        self._own_lease: dict[str, Any] | None = None  # the lease as our last write left it

    # --- state ------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def leader(self) -> str:
        """The holder identity last seen in the lease ("" if none)."""
        return str(self._observed[0]) if self._observed else ""

    def still_leader(self) -> bool:
        """True while our last successful renewal started less than renew_deadline ago."""
        return self._leading and time.monotonic() - self._renewed_at < self.renew_deadline

    def _log(self, msg: str, **kv: Any) -> str:
        extra = " ".join(f"{k}={v}" for k, v in kv.items())
        return f"{msg} lease={self.namespace}/{self.name} identity={self.identity} {extra}".rstrip()

    # --- one attempt ------------------------------------------------------------------

    def _observe(self, spec: dict[str, Any]) -> None:
        record = (spec.get("holderIdentity") or "", spec.get("leaseDurationSeconds"),
                  spec.get("acquireTime"), spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed = record
            self._observed_at = time.monotonic()
            self._observed_duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        holder = record[0]
        if holder and holder != self._reported_leader:
            self._reported_leader = holder
            if holder != self.identity:
                log.info(self._log("new leader observed", leader=holder))
            if self.on_new_leader is not None:
                self.on_new_leader(holder)

    async def try_acquire_or_renew(self, client: rest.Client | None = None) -> bool:
        """One read-modify-write of the lease (through ``client``, default ours); True if we
        hold it afterwards."""
        client = client or self.client
        started = time.monotonic()
        now = micro_time()
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": math.ceil(self.lease_duration),
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": 0,
        }
        try:
            # A renewal writes over the lease our last write returned (as client-go keeps the
            # lease it last saw): one request instead of a read and a write, and none of
            # them waiting for a busy server's cache to catch up. Someone else's write in
            # between turns it into 409, and the next attempt reads afresh.
            lease = self._own_lease if self._leading and self._own_lease is not None else \
                await client.get(resources.LEASES, self.name, namespace=self.namespace)
        except errors.NotFound:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}
            try:
                created = await client.create(resources.LEASES, body, namespace=self.namespace)
            except (errors.AlreadyExists, errors.Conflict):
                return False  # another candidate created it first
            self._observe(created.get("spec") or spec)
            self._renewed_at = started
            self._own_lease = created
            return True

        old = lease.get("spec") or {}
        self._observe(old)
        holder = old.get("holderIdentity") or ""
        valid = time.monotonic() < self._observed_at + self._observed_duration
        if holder and holder != self.identity and valid:
            return False
        if holder == self.identity:
            # Renewal: the term keeps its start and its transition count.
            spec["acquireTime"] = old.get("acquireTime") or now
            spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0)
        else:
            spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + 1
        lease["spec"] = spec
        try:
            # metadata.resourceVersion is what we read: a write in between makes this 409.
            updated = await client.update(resources.LEASES, lease, namespace=self.namespace)
        except errors.Conflict:
            self._own_lease = None
            return False
        except BaseException:
            self._own_lease = None  # unknown outcome: read before the next write
            raise
        self._observe(updated.get("spec") or spec)
        self._renewed_at = started
        self._own_lease = updated
        return True

    # --- campaigning and holding ------------------------------------------------------

    async def acquire(self) -> None:
        """Return once we are the leader; retry every retry_period (jittered)."""
        log.info(self._log("campaigning for leadership"))
        while True:
            try:
                if await self.try_acquire_or_renew():
                    self._leading = True
                    log.info(self._log("became leader"))
                    return
            except errors.ApiError as exc:
                log.info(self._log("lease acquire attempt failed", error=exc))
            await asyncio.sleep(self.retry_period * (1 + random.random() * JITTER))

    async def _renew_until_lost(self, client: rest.Client | None = None) -> None:
        """Renew every retry_period; return when no renewal succeeded within renew_deadline."""
        while True:
            await asyncio.sleep(self.retry_period)
            deadline = self._renewed_at + self.renew_deadline
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                try:
                    if await asyncio.wait_for(self.try_acquire_or_renew(client), remaining):
                        break
                    log.warning(self._log("lease renewal refused", holder=self.leader))
                except (TimeoutError, errors.ApiError) as exc:
                    log.warning(self._log("lease renewal failed", error=repr(exc)))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                await asyncio.sleep(min(self.retry_period, remaining))

    async def release(self) -> None:
        """Give the lease up so a follower need not wait out the lease duration."""
        try:
            lease = await self.client.get(resources.LEASES, self.name, namespace=self.namespace)
            old = lease.get("spec") or {}
            if old.get("holderIdentity") != self.identity:
                return
            now = micro_time()
            lease["spec"] = {"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": now,
                             "renewTime": now, "leaseTransitions": old.get("leaseTransitions") or 0}
            await self.client.update(resources.LEASES, lease, namespace=self.namespace)
            log.info(self._log("released lease"))
        except errors.ApiError as exc:
            log.warning(self._log("lease release failed", error=exc))

    async def _renew_on_thread(self) -> None:
        """``_renew_until_lost`` on a thread with its own loop and client; returns when it
        does. Cancelling this coroutine stops the thread's renewals."""
        main_loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = main_loop.create_future()
        stop = threading.Event()
        inner: dict[str, Any] = {}

        def report() -> None:
            if not finished.done():
                finished.set_result(None)

        async def body() -> None:
            inner["loop"], inner["task"] = asyncio.get_running_loop(), asyncio.current_task()
            if stop.is_set():
                return
            async with rest.Client(self.client.config, pool_size=2) as client:
                await self._renew_until_lost(client)

        def thread_main() -> None:
            try:
                asyncio.run(body())
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # noqa: BLE001 - a broken renewer means a lost lease
                log.error(self._log("lease renewer failed", error=repr(exc)))
            finally:
                with contextlib.suppress(RuntimeError):  # the main loop may be gone
                    main_loop.call_soon_threadsafe(report)

        thread = threading.Thread(target=thread_main, name=f"lease-{self.name}", daemon=True)
        thread.start()
        try:
            await finished
        finally:
            stop.set()
            loop, task = inner.get("loop"), inner.get("task")
            if loop is not None and task is not None:
                with contextlib.suppress(RuntimeError):  # already finished and closed
                    loop.call_soon_threadsafe(task.cancel)

    async def _watch_renewals(self, term: _Term, leadership: Leadership) -> None:
        if self.renew_off_loop:
            await self._renew_on_thread()
        else:
            await self._renew_until_lost()
        self._leading = False
        leadership.lost.set()
        log.warning(self._log("lost leadership: could not renew within renew_deadline",
                              renew_deadline=self.renew_deadline))
        if not term.body_done and term.host is not None:
            term.cancelled_by_us = True
            term.host.cancel()

    async def _end_term(self, tg: tasks.TaskGroup, leadership: Leadership) -> None:
        await tg.close()
        was_leading, self._leading = self._leading, False
        leadership.lost.set()
        if was_leading and self.release_on_cancel:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.release(), self.renew_deadline)

    @contextlib.asynccontextmanager
    async def leading(self) -> AsyncIterator[Leadership]:
        """Wait to become leader, then run the ``async with`` body while renewing.

        If renewal fails past renew_deadline, the body is cancelled and ``LeadershipLost``
        is raised out of the ``async with``. Leaving the body releases the lease.
        """
        await self.acquire()
        term = _Term(asyncio.current_task())
        leadership = Leadership(self)
        tg = tasks.TaskGroup(f"leaderelection/{self.name}")
        tg.spawn(self._watch_renewals(term, leadership), name="renew")
        lost: LeadershipLost | None = None

        def ours() -> bool:
            # Swallow a cancellation only if we asked for it and nobody else did too.
            return term.cancelled_by_us and term.host is not None and term.host.uncancel() == 0

        try:
            yield leadership
        except asyncio.CancelledError:
            if not ours():
                raise
            lost = LeadershipLost(self._log("leadership lost"))
        finally:
            term.body_done = True
            try:
                await self._end_term(tg, leadership)
            except asyncio.CancelledError:
                # Our cancel arrived after the body had already finished.
                if lost is not None or not ours():
                    raise
                lost = LeadershipLost(self._log("leadership lost"))
                await self._end_term(tg, leadership)
        if lost is not None:
            raise lost

    async def run(self) -> None:
        """Callback style: campaign, call ``on_started_leading(lost_event)`` while leading,
        ``on_stopped_leading()`` after each term, and campaign again; until cancelled."""
        while True:
            started = False
            try:
                async with self.leading() as leadership:
                    started = True
                    if self.on_started_leading is not None:
                        await self.on_started_leading(leadership.lost)
                    # The work returned but we keep the lease (as client-go) until told to stop.
                    await leadership.lost.wait()
            except LeadershipLost as exc:
                log.warning(str(exc))
            finally:
                if started and self.on_stopped_leading is not None:
                    result = self.on_stopped_leading()
                    if inspect.isawaitable(result):
                        await result
