"""Preferences are scored even when a pod has no hard rule of the same plugin: preferred
(anti-)affinity without required terms, ScheduleAnyway spread without DoNotSchedule ones.
Upstream keeps the plugins whose PreFilter skipped (no Filter) apart from those whose
PreScore skipped (no Score); coupling them lost every soft rule of such pods."""

from __future__ import annotations

from typing import Any

from tests.unit.scheduler import helpers


def crowded_cluster() -> Any:
    """n0 is by far the emptiest node, so resource scores alone pick it; one web pod is there."""
    c = helpers.cluster(helpers.node("n0", cpu="32"), helpers.node("n1", cpu="2"), helpers.node("n2", cpu="2"))
    helpers.place(c, helpers.pod("web-0", labels={"app": "web"}), "n0")
    helpers.place(c, helpers.pod("busy-1", cpu="1"), "n1")
    helpers.place(c, helpers.pod("busy-2", cpu="1"), "n2")
    return c


def test_resource_scores_alone_pick_the_emptiest_node() -> None:
    c = crowded_cluster()
    assert helpers.schedule(c, helpers.pod("plain", labels={"app": "web"})).node == "n0"


def test_preferred_anti_affinity_alone_is_scored() -> None:
    c = crowded_cluster()
    p = helpers.pod("web-1", labels={"app": "web"})
    p["spec"]["affinity"] = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}},
                                            "topologyKey": "kubernetes.io/hostname"}}]}}
    for _ in range(10):
        assert helpers.schedule(c, p).node in ("n1", "n2")


def test_schedule_anyway_spread_alone_is_scored() -> None:
    c = crowded_cluster()
    p = helpers.pod("web-1", labels={"app": "web"})
    p["spec"]["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                               "whenUnsatisfiable": "ScheduleAnyway",
                                               "labelSelector": {"matchLabels": {"app": "web"}}}]
    for _ in range(10):
        assert helpers.schedule(c, p).node in ("n1", "n2")

