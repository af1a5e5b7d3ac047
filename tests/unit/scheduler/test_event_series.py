"""FailedScheduling events that repeat join a series (count, lastTimestamp) instead of
piling up as separate events, as upstream's event broadcaster does with isomorphic events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubelite.client import errors
from kubelite.scheduler import reporting


class FakeClient:
    def __init__(self) -> None:
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.missing: set[str] = set()

    async def patch(self, res: Any, name: str, body: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
        if name in self.missing:
            raise errors.NotFound(f'events "{name}" not found')
        self.patches.append((name, body))
        return {}


POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}, "spec": {}}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_repeated_failure_counts_on_its_first_event() -> None:
    client = FakeClient()
    r = reporting.Reporter(client, identity="test")  # type: ignore[arg-type]
    run(r._failed_scheduling(POD, "0/1 nodes are available: 1 Insufficient cpu."))
    assert len(r._unsent) == 1
    first = r._unsent[0]
    assert (first["reason"], first["type"], first["count"]) == ("FailedScheduling", "Warning", 1)
    run(r._failed_scheduling(POD, "0/1 nodes are available: 1 Insufficient cpu."))
    run(r._failed_scheduling(POD, "0/1 nodes are available: 1 Insufficient cpu."))
    assert len(r._unsent) == 1  # no new event
    assert [(n, b["count"]) for n, b in client.patches] == [(first["metadata"]["name"], 2),
                                                           (first["metadata"]["name"], 3)]
    assert all(b["lastTimestamp"] for _, b in client.patches)
    run(r._failed_scheduling(POD, "0/2 nodes are available: 2 Insufficient cpu."))  # another message
    assert len(r._unsent) == 2


def test_a_series_ends_when_its_event_is_gone_or_old(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient()
    r = reporting.Reporter(client, identity="test")  # type: ignore[arg-type]
    run(r._failed_scheduling(POD, "m"))
    client.missing.add(r._unsent[0]["metadata"]["name"])  # expired by the event TTL
    run(r._failed_scheduling(POD, "m"))
    assert len(r._unsent) == 2 and client.patches == []
    monkeypatch.setattr(reporting, "SERIES_WINDOW", 0.0)
    run(r._failed_scheduling(POD, "m"))
    assert len(r._unsent) == 3
    other = {"metadata": {**POD["metadata"], "uid": "u2"}, "spec": {}}  # a new pod of the same name
    monkeypatch.setattr(reporting, "SERIES_WINDOW", 360.0)
    run(r._failed_scheduling(other, "m"))
    assert len(r._unsent) == 4
