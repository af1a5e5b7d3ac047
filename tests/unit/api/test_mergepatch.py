"""JSON merge patch (RFC 7386): what kopf, kr8s and ``kubectl scale`` send."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite.api import errors
from kubelite.api.patch import mergepatch

# RFC 7386 Appendix A, every example: (original, patch, result)
RFC_EXAMPLES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "result"), RFC_EXAMPLES)
def test_rfc_7386_examples(original: Any, patch: Any, result: Any) -> None:
    assert mergepatch.apply(original, patch) == result


def test_scaling_a_deployment_keeps_everything_else() -> None:
    deployment: dict[str, Any] = {"metadata": {"name": "web", "labels": {"app": "web"}},
                  "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a"}]}}}}
    before = copy.deepcopy(deployment)
    scaled = mergepatch.apply(deployment, {"spec": {"replicas": 5}})
    assert scaled["spec"]["replicas"] == 5
    assert scaled["spec"]["template"] == deployment["spec"]["template"]
    assert scaled["metadata"] == deployment["metadata"]
    assert deployment == before  # the original is untouched


def test_arrays_are_replaced_whole_and_nulls_in_new_values_are_dropped() -> None:
    obj = {"metadata": {"finalizers": ["a", "b"]}}
    assert mergepatch.apply(obj, {"metadata": {"finalizers": ["c"]}}) == {"metadata": {"finalizers": ["c"]}}
    patched = mergepatch.apply({}, {"status": {"conditions": [{"type": "Ready", "reason": None}]}})
    assert patched == {"status": {"conditions": [{"type": "Ready"}]}}


def test_create_gives_a_patch_that_reproduces_the_modified_object() -> None:
    original = {"a": 1, "b": {"c": 2, "d": [1, 2]}, "gone": True, "same": {"x": 1}}
    modified = {"a": 2, "b": {"c": 2, "d": [1, 2, 3], "e": "new"}, "same": {"x": 1}}
    patch = mergepatch.create(original, modified)
    assert patch == {"a": 2, "b": {"d": [1, 2, 3], "e": "new"}, "gone": None}
    assert mergepatch.apply(original, patch) == modified
    assert mergepatch.create(modified, modified) == {}


def test_create_tells_integers_floats_and_booleans_apart() -> None:
    assert mergepatch.create({"a": 1}, {"a": 1.0}) == {"a": 1.0}
    assert mergepatch.create({"a": 1}, {"a": True}) == {"a": True}


def test_a_patch_document_must_be_an_object() -> None:
    assert mergepatch.check_document({"a": 1}) == {"a": 1}
    bads: tuple[Any, ...] = (None, [], "x", 3)
    for bad in bads:
        with pytest.raises(errors.BadRequest, match="Invalid JSON Patch"):
            mergepatch.check_document(bad)
