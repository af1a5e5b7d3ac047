"""Scheduling gates in pod validation, as upstream's ValidatePodSpec/ValidatePodUpdate:
qualified names, no duplicates; an update may only remove gates; while a pod is gated its
nodeSelector may grow and its required node affinity may narrow."""

from __future__ import annotations

import copy
from typing import Any

from kubelite.api import defaults, validation


def _pod(**spec: Any) -> dict[str, Any]:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}], **spec}}
    defaults.apply_defaults("", "Pod", pod)
    return pod


def _errors(new: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [f"{c.field}: {c.message}" for c in validation.validate("", "Pod", new, old=old)]


def _required(*terms: list[dict[str, Any]]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": t} for t in terms]}}}


A = {"key": "zone", "operator": "In", "values": ["z1"]}
B = {"key": "disk", "operator": "Exists"}
GATED = {"schedulingGates": [{"name": "example.com/quota"}, {"name": "arch"}]}


def test_gate_names_are_qualified_names_and_unique() -> None:
    assert _errors(_pod(**GATED)) == []
    errs = _errors(_pod(schedulingGates=[{"name": "a b"}, {"name": "x"}, {"name": "x"}]))
    assert errs[0].startswith("spec.schedulingGates[0]: Invalid value: \"a b\": name part must consist of")
    assert errs[1:] == ['spec.schedulingGates[2]: Duplicate value: "x"']


def test_gates_may_be_removed_but_never_added() -> None:
    old = _pod(**GATED)
    fewer = copy.deepcopy(old)
    fewer["spec"]["schedulingGates"] = [{"name": "arch"}]
    assert _errors(fewer, old) == []
    none = copy.deepcopy(old)
    del none["spec"]["schedulingGates"]
    assert _errors(none, old) == []
    more = copy.deepcopy(old)
    more["spec"]["schedulingGates"].append({"name": "extra"})
    assert _errors(more, old) == [
        "spec.schedulingGates[2].name: Forbidden: only deletion is allowed, but found new scheduling gate 'extra'"]
    assert _errors(more, _pod()) != []  # an ungated pod cannot be gated again either


def test_a_gated_pods_node_selector_may_only_grow() -> None:
    old = _pod(nodeSelector={"a": "b"}, **GATED)
    grown = copy.deepcopy(old)
    grown["spec"]["nodeSelector"]["c"] = "d"
    assert _errors(grown, old) == []
    changed = copy.deepcopy(old)
    changed["spec"]["nodeSelector"] = {"a": "z", "c": "d"}
    assert _errors(changed, old) == [
        'spec.nodeSelector: Invalid value: {"a":"z","c":"d"}: only additions to spec.nodeSelector are allowed '
        "(no mutations or deletions)"]
    ungated = _pod(nodeSelector={"a": "b"})
    grown_ungated = copy.deepcopy(ungated)
    grown_ungated["spec"]["nodeSelector"]["c"] = "d"
    assert [e.split(":")[0] for e in _errors(grown_ungated, ungated)] == ["spec"]  # the usual immutability


def test_a_gated_pods_required_node_affinity_may_only_narrow() -> None:
    old = _pod(affinity=_required([A]), **GATED)
    narrowed = copy.deepcopy(old)
    narrowed["spec"]["affinity"] = _required([A, B])
    assert _errors(narrowed, old) == []
    widened = copy.deepcopy(old)
    widened["spec"]["affinity"] = _required([B])
    assert [e.split(": ")[0] for e in _errors(widened, old)] == [
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"]
    assert "only additions are allowed (terms are ORed)" in _errors(widened, old)[0]
    another = copy.deepcopy(old)
    another["spec"]["affinity"] = _required([A], [B])
    assert "no additions/deletions to non-empty NodeSelectorTerms list are allowed" in _errors(another, old)[0]
    fresh = _pod(**GATED)
    added = copy.deepcopy(fresh)
    added["spec"]["affinity"] = _required([A])
    assert _errors(added, fresh) == []  # a gated pod without required affinity may get one
