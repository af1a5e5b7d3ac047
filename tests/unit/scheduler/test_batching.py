"""The scheduler's bulk writer: items waiting together leave in one request, each gets its
own outcome (callback or awaited), a server without the bulk endpoint gets one request
per item, and closing answers whatever is left "outcome unknown"."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from kubelite.client import errors, rest
from kubelite.scheduler import batching

Obj = dict[str, Any]


class FakeBulkApi:
    """Answers bulk POSTs (item named "bad-*" → 409); ``gate`` holds every request."""

    def __init__(self, *, bulk: bool = True) -> None:
        self.bulk = bulk
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def request(self, method: str, path: str, *, json: Any = None, **_: Any) -> Any:
        await self.gate.wait()
        if not self.bulk:
            raise errors.NotFound("no such endpoint")
        names = [item["name"] for item in json["items"]]
        self.batches.append(names)
        return {"items": [{"code": 409, "message": "conflict"} if n.startswith("bad-") else {"code": 201}
                          for n in names]}


def writer(api: FakeBulkApi, singles: list[str], **kw: Any) -> batching.BulkWriter:
    async def single(item: Obj) -> None:
        singles.append(item["name"])
        if item["name"].startswith("bad-"):
            raise errors.Conflict("conflict")

    return batching.BulkWriter(cast(rest.Client, api), kind="bindings", single=single, **kw)


async def test_items_waiting_together_leave_in_one_request_with_their_own_outcomes() -> None:
    api = FakeBulkApi()
    w = writer(api, [], max_batch=8, in_flight=2)
    outcomes: dict[str, Any] = {}
    api.gate.clear()
    for i in range(20):
        name = f"bad-{i}" if i % 5 == 0 else f"p{i}"
        w.put({"name": name}, lambda o, name=name: outcomes.__setitem__(name, o))
    await asyncio.sleep(0)
    api.gate.set()
    async with asyncio.timeout(5):
        while len(outcomes) < 20:
            await asyncio.sleep(0.001)
    assert sorted(n for b in api.batches for n in b) == sorted(outcomes)
    assert len(api.batches) <= 3 and max(len(b) for b in api.batches) <= 8
    assert all(isinstance(o, errors.Conflict) for n, o in outcomes.items() if n.startswith("bad-"))
    assert all(o is None for n, o in outcomes.items() if not n.startswith("bad-"))


async def test_submit_raises_its_own_items_error() -> None:
    w = writer(FakeBulkApi(), [])
    await asyncio.gather(*(w.submit({"name": f"p{i}"}) for i in range(5)))
    with pytest.raises(errors.Conflict):
        await w.submit({"name": "bad-1"})


async def test_without_the_bulk_endpoint_every_item_goes_alone() -> None:
    singles: list[str] = []
    w = writer(FakeBulkApi(bulk=False), singles)
    results = await asyncio.gather(*(w.submit({"name": f"p{i}"}) for i in range(6)), return_exceptions=True)
    assert results == [None] * 6 and sorted(singles) == sorted(f"p{i}" for i in range(6))
    assert not w.supported and w.requests == 0
    with pytest.raises(errors.Conflict):
        await w.submit({"name": "bad-2"})


async def test_close_answers_items_in_flight_and_waiting_as_unknown() -> None:
    api = FakeBulkApi()
    api.gate.clear()
    w = writer(api, [], max_batch=2, in_flight=1)
    outcomes: list[Any] = []
    for i in range(5):
        w.put({"name": f"p{i}"}, outcomes.append)
    await asyncio.sleep(0.01)  # the first batch is in flight, held by the gate
    await w.close()
    assert len(outcomes) == 5 and all(isinstance(o, errors.ServerError) for o in outcomes)
