"""Which Events have expired (``kubelite.apiserver.eventttl``)."""

from __future__ import annotations

import calendar
import time

from kubelite.apiserver import eventttl


def _at(text: str) -> float:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def _event(name: str, **times: object) -> dict[str, object]:
    created = times.pop("created", "2026-11-22T10:00:00Z")
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": "7",
                         "creationTimestamp": created}, **times}


def test_an_events_last_write_is_the_newest_of_its_times_in_either_shape() -> None:
    assert eventttl.last_written(_event("a")) == "2026-11-22T10:00:00"
    assert eventttl.last_written(_event("b", lastTimestamp="2026-11-22T11:00:00Z",
                                        eventTime="2026-11-22T10:30:00.123456Z")) == "2026-11-22T11:00:00"
    assert eventttl.last_written(_event("c", series={"count": 3, "lastObservedTime": "2026-11-22T12:00:00.5Z"},
                                        deprecatedLastTimestamp="2026-11-22T09:00:00Z")) == "2026-11-22T12:00:00"
    # An offset other than Z is brought to UTC before comparing.
    assert eventttl.last_written(_event("d", eventTime="2026-11-22T14:00:00+02:00")) == "2026-11-22T12:00:00"
    assert eventttl.last_written({"metadata": {"name": "e"}, "lastTimestamp": None}) is None


def test_only_events_last_written_longer_ago_than_the_ttl_expire() -> None:
    now = _at("2026-11-22T12:00:00Z")
    events = [
        _event("old"),  # created 10:00, never updated
        _event("renewed", lastTimestamp="2026-11-22T11:30:00Z"),  # a repeat counted at 11:30
        _event("fresh", created="2026-11-22T11:59:00Z"),
        {"metadata": {"name": "timeless", "namespace": "ns"}},
    ]
    assert eventttl.expired(events, now=now, ttl=3600) == [("ns", "old", "7")]
    assert [name for _, name, _ in eventttl.expired(events, now=now, ttl=60)] == ["old", "renewed"]
