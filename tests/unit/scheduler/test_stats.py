"""The scheduler's statistics stay bounded however long it runs."""

from __future__ import annotations

from kubelite.scheduler import scheduler


def test_latencies_keep_only_the_most_recent_pods() -> None:
    stats = scheduler.Stats()
    for i in range(scheduler.LATENCIES_KEPT + 500):
        stats.latencies.append(float(i))
    assert len(stats.latencies) == scheduler.LATENCIES_KEPT
    assert stats.latencies[0] == 500.0 and stats.latencies[-1] == scheduler.LATENCIES_KEPT + 499
