"""Leader election over Leases: one leader among racing candidates, takeover after the
lease expires, fast handover on release, 409 on a lost race, and stepping down (with its
work cancelled) when renewals fail."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubelite.aio import tasks
from kubelite.client import config, leaderelection, rest

from . import fakeapi
from .fakeapi import eventually

LEASES = "coordination.k8s.io/v1/leases"
LEASE_KEY = "kube-system/ctrl"
# Short but valid timings (client-go's rule: duration > deadline > 1.2 * retry).
FAST = {"lease_duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.1}


@contextlib.asynccontextmanager
async def api() -> AsyncIterator[tuple[fakeapi.FakeApi, rest.Client]]:
    fake = fakeapi.FakeApi()
    async with fakeapi.serve(fake) as url, rest.Client(
            config.ClientConfig(servers=[url], timeout=2.0)) as client:
        yield fake, client


def elector(client: rest.Client, identity: str, **kw: Any) -> leaderelection.LeaderElector:
    return leaderelection.LeaderElector(client, name="ctrl", identity=identity, **{**FAST, **kw})


def lease_spec(fake: fakeapi.FakeApi) -> dict[str, Any]:
    spec: dict[str, Any] = fake.objects[LEASES][LEASE_KEY]["spec"]
    return spec


async def test_of_racing_candidates_exactly_one_leads() -> None:
    # A leader that misses its renew deadline rightly steps down; the deadline here is
    # long enough that a loaded CI machine (the 0.6 s one failed there once) keeps it.
    slow = {"lease_duration": 3.0, "renew_deadline": 2.0, "retry_period": 0.1}
    async with api() as (fake, client):
        electors = [elector(client, f"server-{i}", **slow) for i in range(3)]
        leading: list[str] = []

        async def campaign(e: leaderelection.LeaderElector) -> None:
            async with e.leading():
                leading.append(e.identity)
                await asyncio.Event().wait()

        tg = tasks.TaskGroup("test")
        for e in electors:
            tg.spawn(campaign(e), name=e.identity)
        await eventually(lambda: len(leading) == 1)
        # Several renew periods later there is still exactly one leader, the lease's holder.
        await asyncio.sleep(slow["lease_duration"] * 1.2)
        assert len(leading) == 1
        assert [e.identity for e in electors if e.is_leader] == leading
        spec = lease_spec(fake)
        assert spec["holderIdentity"] == leading[0]
        assert spec["leaseDurationSeconds"] == 3 and spec["leaseTransitions"] == 0
        micro = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"
        assert re.match(micro, spec["renewTime"]) and re.match(micro, spec["acquireTime"])
        await tg.close()


async def test_a_silent_leader_is_replaced_only_after_the_lease_duration() -> None:
    async with api() as (fake, client):
        first = elector(client, "first", release_on_cancel=False)
        second = elector(client, "second")
        tg = tasks.TaskGroup("test")
        first_task = tg.spawn(first.run(), name="first")
        await eventually(lambda: first.is_leader)
        tg.spawn(second.run(), name="second")
        await eventually(lambda: second.leader == "first")

        loop = asyncio.get_running_loop()
        first_task.cancel()  # crashes without releasing: the lease just stops being renewed
        await asyncio.wait([first_task])
        stopped = loop.time()
        await eventually(lambda: second.is_leader, timeout=5)
        assert loop.time() - stopped >= FAST["lease_duration"] - FAST["retry_period"] * 2
        spec = lease_spec(fake)
        assert spec["holderIdentity"] == "second" and spec["leaseTransitions"] == 1
        await tg.close()


async def test_a_leader_that_stops_releases_the_lease_for_a_fast_handover() -> None:
    async with api() as (fake, client):
        first = elector(client, "first", lease_duration=10.0, renew_deadline=5.0)
        second = elector(client, "second", lease_duration=10.0, renew_deadline=5.0)
        async with first.leading():
            pass  # the term ends here and the lease is given back
        assert lease_spec(fake)["holderIdentity"] == ""
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with second.leading():
            assert loop.time() - start < 2.0  # not the 10 s lease duration
            assert lease_spec(fake)["holderIdentity"] == "second"


async def test_a_write_with_a_stale_resource_version_loses_the_race() -> None:
    async with api() as (fake, client):
        fake.put_object(LEASES, {"metadata": {"name": "ctrl", "namespace": "kube-system"},
                                 "spec": {"holderIdentity": "", "leaseDurationSeconds": 1}})
        a, b = elector(client, "a"), elector(client, "b")
        fake.write_gate.clear()  # both read the same resourceVersion before either writes
        attempts = asyncio.gather(a.try_acquire_or_renew(), b.try_acquire_or_renew())
        await eventually(lambda: fake.writes_waiting == 2)
        fake.write_gate.set()
        results = await attempts
        assert sorted(results) == [False, True]
        assert len([r for r in fake.seen("PUT") if r.path.endswith("/leases/ctrl")]) == 2
        winner = "a" if results[0] else "b"
        assert lease_spec(fake)["holderIdentity"] == winner


async def test_a_leader_that_cannot_renew_steps_down_and_its_work_is_cancelled() -> None:
    async with api() as (fake, client):
        # longer than FAST: the margins below must hold on a machine starved of CPU too
        timing = {"lease_duration": 4.0, "renew_deadline": 2.0, "retry_period": 0.2}
        e = elector(client, "only", **timing)
        work_cancelled = asyncio.Event()
        loop = asyncio.get_running_loop()
        with pytest.raises(leaderelection.LeadershipLost):
            async with e.leading() as term:
                assert term.still_leader()
                # The API starts refusing every lease write (say, this server is partitioned).
                fake.inject(503, method="PUT", times=None)
                broken = loop.time()
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    work_cancelled.set()
                    raise
        assert work_cancelled.is_set() and term.lost.is_set()
        assert not term.still_leader() and not e.is_leader
        assert loop.time() - broken < timing["renew_deadline"] + 1.0
        # Fencing: it stepped down before a follower could legally take over.
        assert loop.time() - broken < timing["lease_duration"]


async def test_callbacks_are_told_when_leading_starts_and_stops() -> None:
    async with api() as (fake, client):
        log: list[str] = []
        stop_events: list[asyncio.Event] = []

        async def started(stop: asyncio.Event) -> None:
            log.append("started")
            stop_events.append(stop)
            fake.inject(503, method="PUT", times=None)  # renewals will now fail
            await stop.wait()
            log.append("saw stop")

        e = elector(client, "cb", on_started_leading=started,
                    on_stopped_leading=lambda: log.append("stopped"))
        tg = tasks.TaskGroup("test")
        tg.spawn(e.run(), name="elector")
        await eventually(lambda: "stopped" in log, timeout=5)
        assert log[0] == "started" and stop_events[0].is_set()
        await tg.close()


def test_timings_must_leave_room_for_fencing() -> None:
    with pytest.raises(ValueError):
        leaderelection.LeaderElector(None, name="x", identity="i",  # type: ignore[arg-type]
                                     lease_duration=3, renew_deadline=3)
    with pytest.raises(ValueError):
        leaderelection.LeaderElector(None, name="x", identity="i",  # type: ignore[arg-type]
                                     renew_deadline=1, retry_period=1)


def test_micro_time_format() -> None:
    import datetime
    when = datetime.datetime(2026, 11, 21, 21, 0, 0, 123456, tzinfo=datetime.UTC)
    assert leaderelection.micro_time(when) == "2026-11-21T21:00:00.123456Z"


async def test_cancelling_the_leader_from_outside_cancels_and_releases() -> None:
    async with api() as (fake, client):
        e = elector(client, "cancelled")
        entered = asyncio.Event()

        async def lead() -> None:
            async with e.leading():
                entered.set()
                await asyncio.Event().wait()

        tg = tasks.TaskGroup("test")
        task = tg.spawn(lead(), name="lead")
        await entered.wait()
        task.cancel()
        await asyncio.wait([task])
        assert task.cancelled()  # not turned into LeadershipLost: nobody lost anything
        assert lease_spec(fake)["holderIdentity"] == ""
        await tg.close()
