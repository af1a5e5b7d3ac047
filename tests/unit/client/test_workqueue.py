"""The work queue keeps client-go's promises: dedupe, one worker per key, delays, backoff,
shutdown; and run_workers retries failures and forgets successes."""

from __future__ import annotations

import asyncio
import logging

import pytest

from kubelite.aio import tasks
from kubelite.client import workqueue

from .fakeapi import eventually


def queue(**kw: object) -> workqueue.WorkQueue[str]:
    return workqueue.WorkQueue(name="test", **kw)  # type: ignore[arg-type]


async def test_a_key_added_many_times_is_queued_once_in_fifo_order() -> None:
    q = queue()
    for key in ["a", "b", "a", "c", "b"]:
        q.add(key)
    assert len(q) == 3 and q.len() == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]


async def test_a_key_being_processed_is_not_handed_out_again_until_done() -> None:
    q = queue()
    q.add("a")
    key = await q.get()
    q.add("a")  # changed while a worker holds it
    assert len(q) == 0, "must not reach a second worker while the first processes it"
    second = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    assert not second.done()
    q.done(key)  # the pending change is queued now
    assert await asyncio.wait_for(second, 1) == "a"
    q.done("a")
    assert len(q) == 0


async def test_add_after_delivers_later_and_the_earliest_time_wins() -> None:
    q = queue()
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add_after("slow", 5.0)
    q.add_after("slow", 0.05)  # earlier: replaces the 5 s timer
    q.add_after("slow", 1.0)  # later: ignored
    assert len(q) == 0 and q.waiting == 1
    assert await asyncio.wait_for(q.get(), 2) == "slow"
    assert 0.04 <= loop.time() - start < 0.9
    q.add_after("now", 0)
    assert len(q) == 1


def test_exponential_backoff_doubles_from_5ms_to_1000s_and_forget_resets() -> None:
    limiter: workqueue.ExponentialRateLimiter[str] = workqueue.ExponentialRateLimiter()
    delays = [limiter.when("k") for _ in range(20)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[-1] == 1000.0
    assert limiter.num_requeues("k") == 20
    for _ in range(100):
        limiter.when("k")
    assert limiter.when("k") == 1000.0
    limiter.forget("k")
    assert limiter.num_requeues("k") == 0 and limiter.when("k") == 0.005


def test_default_limiter_is_the_slower_of_per_key_backoff_and_the_overall_bucket() -> None:
    limiter: workqueue.RateLimiter[str] = workqueue.default_rate_limiter()
    # The bucket's burst of 100 absorbs the first failures: per-key backoff decides.
    assert [limiter.when(f"k{i}") for i in range(100)] == [0.005] * 100
    # Past the burst the 10 qps bucket is slower than a first failure's 5 ms.
    assert limiter.when("k-new") > 0.05


async def test_add_rate_limited_waits_the_backoff() -> None:
    q = queue(rate_limiter=workqueue.ExponentialRateLimiter(base=0.05, maximum=0.2))
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add_rate_limited("k")
    assert len(q) == 0
    assert await asyncio.wait_for(q.get(), 2) == "k"
    assert loop.time() - start >= 0.045
    assert q.num_requeues("k") == 1
    q.forget("k")
    assert q.num_requeues("k") == 0


async def test_shutdown_drains_then_stops_every_getter() -> None:
    q = queue()
    waiting = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    q.shutdown()
    with pytest.raises(workqueue.ShutDown):
        await asyncio.wait_for(waiting, 1)

    q2 = queue()
    q2.add("left")
    q2.add_after("never", 0.01)
    q2.shutdown()
    q2.add("ignored")
    assert await q2.get() == "left"
    with pytest.raises(workqueue.ShutDown):
        await q2.get()
    assert q2.waiting == 0


async def test_a_cancelled_getter_does_not_swallow_a_key() -> None:
    q = queue()
    first = asyncio.ensure_future(q.get())
    second = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    q.add("k")  # wakes `first`…
    first.cancel()  # …which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == "k"


async def test_run_workers_retries_failures_with_backoff_and_forgets_on_success(
    caplog: pytest.LogCaptureFixture,
) -> None:
    q = queue(rate_limiter=workqueue.ExponentialRateLimiter(base=0.01, maximum=0.05))
    calls: dict[str, int] = {}
    requeues_seen_at_success: list[int] = []

    async def reconcile(key: str) -> None:
        calls[key] = calls.get(key, 0) + 1
        if key == "flaky" and calls[key] < 3:
            raise RuntimeError("not yet")
        requeues_seen_at_success.append(q.num_requeues(key))

    tg = tasks.TaskGroup("test")
    with caplog.at_level(logging.WARNING, logger="kubelite.client.workqueue"):
        workqueue.run_workers(q, reconcile, workers=2, tg=tg)
        q.add("flaky")
        q.add("fine")
        await eventually(lambda: calls.get("flaky") == 3 and calls.get("fine") == 1)
    assert q.num_requeues("flaky") == 0  # forgotten after the success
    assert requeues_seen_at_success.count(2) == 1
    assert "key=flaky" in caplog.text and "not yet" in caplog.text
    q.shutdown()
    await eventually(lambda: len(tg) == 0)


async def test_run_workers_never_reconciles_one_key_concurrently() -> None:
    q = queue()
    active: set[str] = set()
    overlaps: list[str] = []
    done = 0

    async def reconcile(key: str) -> None:
        nonlocal done
        if key in active:
            overlaps.append(key)
        active.add(key)
        await asyncio.sleep(0.002)
        q.add(key if done < 50 else "other")  # keep re-adding the key being processed
        active.discard(key)
        done += 1

    tg = tasks.TaskGroup("test")
    workqueue.run_workers(q, reconcile, workers=8, tg=tg)
    for key in ["a", "b", "c"]:
        q.add(key)
    await eventually(lambda: done >= 60)
    q.shutdown()
    await tg.close()
    assert overlaps == []


async def test_reconcile_may_ask_to_look_again_later() -> None:
    q = queue()
    seen: list[float] = []
    loop = asyncio.get_running_loop()

    async def reconcile(key: str) -> float | None:
        seen.append(loop.time())
        return 0.05 if len(seen) < 2 else None

    tg = tasks.TaskGroup("test")
    workqueue.run_workers(q, reconcile, workers=1, tg=tg)
    q.add("k")
    await eventually(lambda: len(seen) == 2)
    assert seen[1] - seen[0] >= 0.045
    q.shutdown()
    await tg.close()


async def test_token_bucket_allows_the_burst_then_paces() -> None:
    bucket = workqueue.TokenBucket(qps=100, burst=3)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    waits = [bucket.reserve() for _ in range(3)]
    assert waits[0] > 0 and waits[0] < waits[1] < waits[2] <= 0.031
    assert workqueue.TokenBucket(qps=0, burst=1).reserve() == 0.0
