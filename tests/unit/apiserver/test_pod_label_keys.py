"""matchLabelKeys / mismatchLabelKeys merged into the label selectors of a new pod's
topology spread constraints and pod (anti-)affinity terms, as upstream's PrepareForCreate."""

from __future__ import annotations

from typing import Any

from kubelite.apiserver.strategies import pods


def _term(**extra: Any) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone", **extra}


def test_keys_the_pod_has_join_the_selectors() -> None:
    pod = {"metadata": {"labels": {"app": "web", "rev": "abc", "tenant": "t1"}}, "spec": {
        "topologySpreadConstraints": [{"maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule",
                                       **_term(matchLabelKeys=["rev", "absent"])}],
        "affinity": {
            "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term(matchLabelKeys=["tenant"])]},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 5, "podAffinityTerm": _term(mismatchLabelKeys=["tenant"], matchLabelKeys=["rev"])}]}}}}
    pods.merge_label_keys(pod)
    spec = pod["spec"]
    assert spec["topologySpreadConstraints"][0]["labelSelector"] == {
        "matchLabels": {"app": "web"}, "matchExpressions": [{"key": "rev", "operator": "In", "values": ["abc"]}]}
    required = spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert required["labelSelector"]["matchExpressions"] == [{"key": "tenant", "operator": "In", "values": ["t1"]}]
    preferred = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert preferred["podAffinityTerm"]["labelSelector"]["matchExpressions"] == [
        {"key": "rev", "operator": "In", "values": ["abc"]},
        {"key": "tenant", "operator": "NotIn", "values": ["t1"]}]
    assert required["matchLabelKeys"] == ["tenant"]  # the keys stay, as upstream


def test_a_term_without_a_selector_or_keys_is_untouched() -> None:
    term = {"topologyKey": "zone", "matchLabelKeys": ["rev"]}
    pod = {"metadata": {"labels": {"rev": "1"}}, "spec": {"affinity": {"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [term, _term()]}}}}
    pods.merge_label_keys(pod)
    assert term == {"topologyKey": "zone", "matchLabelKeys": ["rev"]}
    assert "matchExpressions" not in pod["spec"]["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"][1]["labelSelector"]
    plain = {"metadata": {}, "spec": {"containers": []}}
    pods.merge_label_keys(plain)
    assert plain == {"metadata": {}, "spec": {"containers": []}}
