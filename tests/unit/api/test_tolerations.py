"""DefaultTolerationSeconds admission (``api.tolerations``): which pods get the not-ready
and unreachable tolerations, and that each pod gets its own."""

from __future__ import annotations

from typing import Any

from kubelite.api import tolerations

NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
               "tolerationSeconds": 120}


def admitted(spec: dict[str, Any]) -> list[dict[str, Any]]:
    pod = {"metadata": {"name": "p"}, "spec": spec}
    tolerations.add_default_tolerations(pod, not_ready_seconds=300, unreachable_seconds=120)
    result: list[dict[str, Any]] = pod["spec"].get("tolerations", [])
    return result


def test_a_pod_without_tolerations_gets_both():
    assert admitted({"containers": []}) == [NOT_READY, UNREACHABLE]


def test_a_pod_keeps_its_own_tolerations_first():
    own = {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert admitted({"tolerations": [own]}) == [own, NOT_READY, UNREACHABLE]


def test_a_toleration_of_one_taint_leaves_only_the_other_to_add():
    own = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
           "tolerationSeconds": 6000}
    assert admitted({"tolerations": [own]}) == [own, NOT_READY]
    no_effect = {"key": "node.kubernetes.io/not-ready", "operator": "Exists"}  # every effect
    assert admitted({"tolerations": [no_effect]}) == [no_effect, UNREACHABLE]


def test_tolerating_every_key_counts_for_both():
    for own in ({"operator": "Exists"}, {"operator": "Exists", "effect": "NoExecute"}):
        assert admitted({"tolerations": [own]}) == [own]


def test_a_toleration_of_another_effect_does_not_count():
    own = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}
    assert admitted({"tolerations": [own]}) == [own, NOT_READY, UNREACHABLE]


def test_pods_never_share_the_added_tolerations():
    a, b = admitted({}), admitted({})
    assert a == b
    assert all(x is not y for x, y in zip(a, b, strict=True))
    a[0]["tolerationSeconds"] = 1
    assert admitted({})[0]["tolerationSeconds"] == 300
