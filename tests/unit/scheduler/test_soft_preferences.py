"""Preferences are scored even when a pod has no hard rule of the same plugin: preferred
(anti-)affinity without required terms, ScheduleAnyway spread without DoNotSchedule ones.
Upstream keeps the plugins whose PreFilter skipped (no Filter) apart from those whose
PreScore skipped (no Score); coupling them lost every soft rule of such pods."""

from __future__ import annotations

from typing import Any

from kubelite.scheduler import framework, plugins
from kubelite.scheduler.plugins import interpod
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



# --- the terms of pods already placed (upstream InterPodAffinity's symmetry) ---------------

def _term(app: str) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "kubernetes.io/hostname"}


def with_affinity(p: dict[str, Any], kind: str, *, required: bool = False, weight: int = 100) -> dict[str, Any]:
    if required:
        p["spec"]["affinity"] = {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [_term("web")]}}
    else:
        p["spec"]["affinity"] = {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": weight, "podAffinityTerm": _term("web")}]}}
    return p


def test_a_placed_pods_preferred_affinity_draws_matching_pods_to_it() -> None:
    c = crowded_cluster()
    helpers.place(c, with_affinity(helpers.pod("cache-1"), "podAffinity"), "n1")
    for _ in range(10):
        assert helpers.schedule(c, helpers.pod("web-1", labels={"app": "web"})).node == "n1"


def test_a_placed_pods_preferred_anti_affinity_keeps_matching_pods_away() -> None:
    c = crowded_cluster()
    helpers.place(c, with_affinity(helpers.pod("loner"), "podAntiAffinity"), "n0")
    for _ in range(10):
        assert helpers.schedule(c, helpers.pod("web-1", labels={"app": "web"})).node in ("n1", "n2")
    # a pod the term does not select is not affected
    assert helpers.schedule(c, helpers.pod("other", labels={"app": "db"})).node == "n0"


def test_a_placed_pods_required_affinity_weighs_with_hard_pod_affinity_weight() -> None:
    c = crowded_cluster()
    helpers.place(c, with_affinity(helpers.pod("sidecar"), "podAffinity", required=True), "n2")
    web = helpers.pod("web-1", labels={"app": "web"})
    for _ in range(10):
        assert helpers.schedule(c, web).node == "n2"
    # hardPodAffinityWeight 0 turns the symmetry of required terms off
    fw = framework.Framework("test", [interpod.InterPodAffinity(hard_pod_affinity_weight=0)
                                      if isinstance(p, interpod.InterPodAffinity) else p
                                      for p in plugins.default_plugins()])
    assert helpers.schedule(c, web, fw).node == "n0"


def test_the_symmetry_follows_placed_pods_leaving() -> None:
    c = crowded_cluster()
    friend = helpers.place(c, with_affinity(helpers.pod("cache-1"), "podAffinity"), "n1")
    c.remove_pod(friend.key)
    assert helpers.schedule(c, helpers.pod("web-1", labels={"app": "web"})).node == "n0"
