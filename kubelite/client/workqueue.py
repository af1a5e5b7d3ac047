"""A rate-limited work queue of keys, with client-go's guarantees, and the workers around it.

Every controller is ``informer → WorkQueue → reconcile(key)``: informer handlers ``add``
the ``"namespace/name"`` of whatever changed, and ``run_workers`` hands keys to
``reconcile``. The queue promises, as client-go's ``workqueue`` does:

- a key waiting in the queue is held once, however often it is added (*dedupe*);
- a key is never handed to two workers at once: added while it is being processed, it
  is marked *dirty* and queued again when ``done(key)`` is called;
- ``add_rate_limited`` waits per-key exponential backoff (5 ms doubling to 1000 s) and an
  overall token bucket (10 qps, burst 100), whichever is longer, like client-go's
  ``DefaultControllerRateLimiter``; ``forget`` resets a key's backoff after a success.

The queue lives on one event loop and needs no locks: every method but ``get`` is
synchronous, and delayed adds are loop timers, not tasks.

A queue may carry ``metrics`` (``QueueMetrics``: the controller manager's ``workqueue_*``
series, ``kubelite/controllers/metrics.py``), told of each add, hand-out, finish and retry
at the points client-go's queue tells its own.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar

from kubelite.aio import tasks
from kubelite.client import errors

log = logging.getLogger("kubelite.client.workqueue")

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)


class QueueMetrics(Protocol[K_contra]):
    """What a queue reports, at client-go's points: ``added`` when a key becomes due (not
    when it was already waiting), ``started`` when a worker takes it, ``finished`` when the
    worker is done, ``retried`` on every rate-limited add."""

    def added(self, key: K_contra) -> None: ...

    def started(self, key: K_contra) -> None: ...

    def finished(self, key: K_contra) -> None: ...

    def retried(self) -> None: ...


class ShutDown(Exception):
    """``get()`` was called on (or was waiting in) a queue that has been shut down."""


class TokenBucket:
    """Tokens refill at ``qps`` up to ``burst``; ``reserve`` says how long to wait for one.

    Reservations may drive the balance negative: each caller is told its own place in
    the future, so waiters are served in order without a lock. ``qps <= 0`` disables.
    """

    def __init__(self, *, qps: float, burst: int) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._last = time.monotonic()

    def reserve(self) -> float:
        if self.qps <= 0:
            return 0.0
        now = time.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


class RateLimiter(Protocol[K_contra]):
    """How long a key waits before it is retried.

    ``when`` is called once per failure and may change state (it counts the failure);
    ``forget`` ends the key's failure streak; ``num_requeues`` reports its length.
    """

    def when(self, key: K_contra) -> float: ...

    def forget(self, key: K_contra) -> None: ...

    def num_requeues(self, key: K_contra) -> int: ...


class ExponentialRateLimiter(Generic[K]):
    """Per key: ``base * 2**failures``, capped at ``maximum`` (client-go: 5 ms → 1000 s)."""

    def __init__(self, *, base: float = 0.005, maximum: float = 1000.0) -> None:
        self.base = base
        self.maximum = maximum
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        if failures > 60:  # 2**60 * base is far past any maximum; avoid float overflow
            return self.maximum
        return min(self.maximum, self.base * float(1 << failures))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        return self._failures.get(key, 0)


class BucketRateLimiter(Generic[K]):
    """One token bucket for all keys: bounds the overall retry rate after a mass failure."""

    def __init__(self, *, qps: float = 10.0, burst: int = 100) -> None:
        self._bucket = TokenBucket(qps=qps, burst=burst)

    def when(self, key: K) -> float:
        return self._bucket.reserve()

    def forget(self, key: K) -> None:
        pass

    def num_requeues(self, key: K) -> int:
        return 0


class MaxOfRateLimiter(Generic[K]):
    """The longest wait any of the limiters asks for."""

    def __init__(self, *limiters: RateLimiter[K]) -> None:
        self.limiters = limiters

    def when(self, key: K) -> float:
        # Every limiter is asked (each counts the failure), then the longest wait wins.
        return max(limiter.when(key) for limiter in self.limiters)

    def forget(self, key: K) -> None:
        for limiter in self.limiters:
            limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return max(limiter.num_requeues(key) for limiter in self.limiters)


def default_rate_limiter() -> RateLimiter[K]:
    """client-go's controller default: max(per-key 5 ms→1000 s, overall 10 qps burst 100)."""
    return MaxOfRateLimiter(ExponentialRateLimiter(), BucketRateLimiter())


class WorkQueue(Generic[K]):
    """A FIFO of unique keys with dirty/processing tracking, delays and rate limiting."""

    def __init__(self, *, name: str = "queue", rate_limiter: RateLimiter[K] | None = None,
                 metrics: QueueMetrics[K] | None = None) -> None:
        self.name = name
        self.rate_limiter: RateLimiter[K] = rate_limiter or default_rate_limiter()
        self.metrics = metrics
        self._queue: collections.deque[K] = collections.deque()
        self._dirty: set[K] = set()  # needs processing (queued, or re-added while processing)
        self._processing: set[K] = set()  # handed out by get(), not yet done()
        self._waiting: dict[K, tuple[float, asyncio.TimerHandle]] = {}  # add_after timers
        self._getters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._shutting_down = False

    # --- adding -----------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Queue ``key`` unless it is already waiting; if it is being processed, queue it
        again when the worker calls ``done``."""
        if self._shutting_down or key in self._dirty:
            return
        if self.metrics is not None:
            self.metrics.added(key)
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` once ``delay`` seconds have passed; a pending earlier time wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        ready = loop.time() + delay
        pending = self._waiting.get(key)
        if pending is not None:
            if pending[0] <= ready:
                return
            pending[1].cancel()
        self._waiting[key] = (ready, loop.call_at(ready, self._fire, key))

    def _fire(self, key: K) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: K) -> None:
        """Add ``key`` after the rate limiter's backoff (counts one more failure)."""
        if self.metrics is not None:
            self.metrics.retried()
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff (after it was processed successfully)."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self.rate_limiter.num_requeues(key)

    # --- taking -----------------------------------------------------------------------

    async def get(self) -> K:
        """Wait for a key and mark it processing; the caller must call ``done(key)``.

        Raises ``ShutDown`` once the queue is shut down and empty.
        """
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._getters:
                    self._getters.remove(waiter)
                elif self._queue:
                    # We were woken for a key we will not take: pass the wake-up on.
                    self._wake_one()
                raise
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        if self.metrics is not None:
            self.metrics.started(key)
        return key

    def done(self, key: K) -> None:
        """Processing of ``key`` finished; if it was re-added meanwhile, queue it again."""
        self._processing.discard(key)
        if self.metrics is not None:
            self.metrics.finished(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # --- lifecycle --------------------------------------------------------------------

    def shutdown(self) -> None:
        """Refuse new keys, drop pending delays, and wake every ``get`` (to raise ShutDown
        once the queue is drained)."""
        self._shutting_down = True
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        return len(self._queue)

    def len(self) -> int:
        """Keys ready to be handed out (client-go's ``Len``; delayed keys not included)."""
        return len(self._queue)

    @property
    def processing(self) -> frozenset[K]:
        return frozenset(self._processing)

    @property
    def waiting(self) -> int:
        """Keys scheduled by ``add_after`` that are not due yet."""
        return len(self._waiting)


Reconcile = Callable[[K], Awaitable[float | None]]


def run_workers(
    queue: WorkQueue[K], reconcile: Reconcile[K], *, workers: int, tg: tasks.TaskGroup,
    name: str | None = None,
) -> list[asyncio.Task[None]]:
    """Start ``workers`` tasks on ``tg`` that feed queue keys to ``await reconcile(key)``.

    ``reconcile`` returns ``None`` (done), or a number of seconds after which to look at
    the key again (a periodic check, like controller-runtime's ``RequeueAfter``). When it
    raises, the key is re-added with rate limiting and the error is logged with the key;
    on success the key's backoff is forgotten. Workers end when the queue shuts down.
    """
    label = name or queue.name
    return [tg.spawn(_worker(queue, reconcile, label), name=f"{label}-worker-{i}")
            for i in range(workers)]


async def _worker(queue: WorkQueue[K], reconcile: Reconcile[K], label: str) -> None:
    while True:
        try:
            key = await queue.get()
        except ShutDown:
            return
        try:
            requeue_after = await reconcile(key)
        except asyncio.CancelledError:
            raise
        except errors.ApiError as exc:
            # API refusals are expected weather (conflicts, a server restarting): one line.
            log.warning("reconcile failed queue=%s key=%s requeues=%d error=%s",
                        label, key, queue.num_requeues(key), exc)
            queue.add_rate_limited(key)
        except Exception as exc:
            log.warning("reconcile failed queue=%s key=%s requeues=%d error=%r",
                        label, key, queue.num_requeues(key), exc, exc_info=exc)
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
            if requeue_after is not None and requeue_after >= 0:
                queue.add_after(key, requeue_after)
        finally:
            queue.done(key)
