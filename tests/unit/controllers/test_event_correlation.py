"""The controllers' event recorder correlates as client-go's does: a repeated event counts
on the first one, and past ten different messages of one object and reason the rest are
combined into one event ("Created pod: a", "Created pod: b", … for a big ReplicaSet)."""

from __future__ import annotations

import asyncio
from typing import Any

from kubelite.aio import tasks
from kubelite.controllers import base

RS = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
      "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "7"}}


class Events:
    """A client that keeps the events written, and the counts patched onto them."""

    def __init__(self) -> None:
        self.created: dict[str, dict[str, Any]] = {}

    async def create(self, _res: Any, body: dict[str, Any], **_kw: Any) -> dict[str, Any]:
        self.created[body["metadata"]["name"]] = dict(body)
        return body

    async def patch(self, _res: Any, name: str, patch: dict[str, Any], **_kw: Any) -> dict[str, Any]:
        self.created[name].update(patch)
        return self.created[name]


async def record(messages: list[tuple[str, str]]) -> list[dict[str, Any]]:
    client = Events()
    tg = tasks.TaskGroup("t")
    recorder = base.Recorder(client, tg, component="replicaset-controller")  # type: ignore[arg-type]
    for reason, message in messages:
        recorder.event(RS, type_="Normal", reason=reason, message=message)
        await asyncio.sleep(0)  # each write lands before the next is decided, as in a reconcile
        while len(tg):
            await asyncio.sleep(0)
    await tg.close()
    return sorted(client.created.values(), key=lambda e: e["metadata"]["name"])


async def test_a_repeated_event_counts_on_the_first() -> None:
    events = await record([("SuccessfulCreate", "Created pod: a")] * 3 + [("FailedCreate", "Error creating: x")])
    assert [(e["reason"], e["message"], e["count"]) for e in events] == [
        ("SuccessfulCreate", "Created pod: a", 3), ("FailedCreate", "Error creating: x", 1)]


async def test_past_ten_messages_of_one_reason_the_rest_are_combined() -> None:
    events = await record([("SuccessfulCreate", f"Created pod: p{i}") for i in range(25)])
    assert len(events) == 11
    combined = [e for e in events if e["message"].startswith("(combined from similar events): ")]
    assert len(combined) == 1
    assert combined[0]["message"] == "(combined from similar events): Created pod: p24"
    assert combined[0]["count"] == 15
    assert sum(e["count"] for e in events) == 25
