"""JSON patch (RFC 6902): ``kubectl rollout undo``, kopf's guarded writes, list-bodied patches."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite.api import errors
from kubelite.api.patch import jsonpatch

# RFC 6902 Appendix A examples that succeed: (document, patch, result)
RFC_SUCCESS: list[tuple[str, Any, list[dict[str, Any]], Any]] = [
    ("A.1 add an object member", {"foo": "bar"},
     [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    ("A.2 add an array element", {"foo": ["bar", "baz"]},
     [{"op": "add", "path": "/foo/1", "value": "qux"}], {"foo": ["bar", "qux", "baz"]}),
    ("A.3 remove an object member", {"baz": "qux", "foo": "bar"},
     [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ("A.4 remove an array element", {"foo": ["bar", "qux", "baz"]},
     [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    ("A.5 replace a value", {"baz": "qux", "foo": "bar"},
     [{"op": "replace", "path": "/baz", "value": "boo"}], {"baz": "boo", "foo": "bar"}),
    ("A.6 move a value", {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ("A.7 move an array element", {"foo": ["all", "grass", "cows", "eat"]},
     [{"op": "move", "from": "/foo/1", "path": "/foo/3"}], {"foo": ["all", "cows", "eat", "grass"]}),
    ("A.8 test a value", {"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ("A.10 add a nested member object", {"foo": "bar"},
     [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ("A.11 ignore unrecognized elements", {"foo": "bar"},
     [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}], {"foo": "bar", "baz": "qux"}),
    ("A.14 ~ escape ordering", {"/": 9, "~1": 10},
     [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ("A.16 add an array value", {"foo": ["bar"]},
     [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}], {"foo": ["bar", ["abc", "def"]]}),
    ("copy", {"a": {"b": [1]}},
     [{"op": "copy", "from": "/a/b", "path": "/c"}], {"a": {"b": [1]}, "c": [1]}),
]


@pytest.mark.parametrize(("name", "doc", "ops", "result"), RFC_SUCCESS, ids=[c[0] for c in RFC_SUCCESS])
def test_rfc_6902_examples(name: str, doc: Any, ops: list[dict[str, Any]], result: Any) -> None:
    before = copy.deepcopy(doc)
    assert jsonpatch.apply(doc, ops) == result
    assert doc == before  # never mutated


RFC_FAILURES: list[tuple[str, Any, list[dict[str, Any]], str]] = [
    ("A.9 test fails", {"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "bar"}], "testing value /baz failed: test failed"),
    ("A.12 add to a nonexistent target", {"foo": "bar"},
     [{"op": "add", "path": "/baz/bat", "value": "qux"}],
     'add operation does not apply: doc is missing path: "/baz/bat": missing value'),
    ("A.15 strings and numbers differ", {"/": 9, "~1": 10},
     [{"op": "test", "path": "/~01", "value": "10"}], "testing value /~01 failed: test failed"),
    ("remove a missing member", {"a": 1},
     [{"op": "remove", "path": "/b"}], "Unable to remove nonexistent key: b"),
    ("index out of range", {"a": [1]},
     [{"op": "replace", "path": "/a/5", "value": 2}], "doc is missing key: /a/5"),
]


@pytest.mark.parametrize(("name", "doc", "ops", "detail"), RFC_FAILURES, ids=[c[0] for c in RFC_FAILURES])
def test_an_operation_that_does_not_apply_is_422_invalid(
        name: str, doc: Any, ops: list[dict[str, Any]], detail: str) -> None:
    with pytest.raises(jsonpatch.PatchFailed) as caught:
        jsonpatch.apply(doc, ops)
    assert isinstance(caught.value, errors.Invalid)
    assert caught.value.code == 422
    assert caught.value.message == "the server rejected our request due to an error in our request"
    assert detail in caught.value.detail


def test_kopf_resource_version_guard() -> None:
    obj = {"metadata": {"name": "x", "resourceVersion": "7", "annotations": {"a": "1"}}}
    guard = {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}
    write = {"op": "replace", "path": "/metadata/annotations", "value": {"kopf.zalando.org/last": "y"}}
    assert jsonpatch.apply(obj, [guard, write])["metadata"]["annotations"] == {"kopf.zalando.org/last": "y"}
    with pytest.raises(jsonpatch.PatchFailed):
        jsonpatch.apply(obj, [{**guard, "value": "6"}, write])


def test_rollout_undo_replaces_the_template_and_annotations() -> None:
    deployment: dict[str, Any] = {"metadata": {"annotations": {"deployment.kubernetes.io/revision": "2"}},
                  "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a", "image": "v2"}]}}}}
    undo = [
        {"op": "replace", "path": "/spec/template", "value": {"spec": {"containers": [{"name": "a", "image": "v1"}]}}},
        {"op": "replace", "path": "/metadata/annotations", "value": {"deployment.kubernetes.io/revision": "1"}},
    ]
    result = jsonpatch.apply(deployment, undo)
    assert result["spec"]["template"]["spec"]["containers"][0]["image"] == "v1"
    assert result["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "v2"


def test_pointer_escapes_and_upstream_leniencies() -> None:
    obj = {"metadata": {"labels": {"app.kubernetes.io/name": "x"}}}
    removed = jsonpatch.apply(obj, [{"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1name"}])
    assert removed == {"metadata": {"labels": {}}}
    # upstream: replace of a missing member adds it; test of a missing member against null passes
    assert jsonpatch.apply({"a": {}}, [{"op": "replace", "path": "/a/b", "value": 1}]) == {"a": {"b": 1}}
    assert jsonpatch.apply({"a": {}}, [{"op": "test", "path": "/a/b", "value": None}]) == {"a": {}}


def test_the_patch_is_all_or_nothing_and_values_are_copied() -> None:
    doc = {"a": [1]}
    value = {"x": [1]}
    with pytest.raises(jsonpatch.PatchFailed):
        jsonpatch.apply(doc, [{"op": "add", "path": "/b", "value": value}, {"op": "remove", "path": "/zzz"}])
    assert doc == {"a": [1]}
    result = jsonpatch.apply(doc, [{"op": "add", "path": "/b", "value": value},
                                   {"op": "add", "path": "/b/x/-", "value": 2}])
    assert result["b"] == {"x": [1, 2]}
    assert value == {"x": [1]}


@pytest.mark.parametrize("ops", [{"op": "add"}, "nope", [1], [{"op": "frobnicate", "path": "/a"}], [{"path": "/a"}]])
def test_malformed_patch_documents_are_400(ops: Any) -> None:
    with pytest.raises(errors.BadRequest):
        jsonpatch.apply({"a": 1}, ops)


def test_too_many_operations_is_413() -> None:
    ops = [{"op": "test", "path": "/a", "value": 1}] * (jsonpatch.MAX_OPERATIONS + 1)
    with pytest.raises(errors.RequestEntityTooLarge):
        jsonpatch.apply({"a": 1}, ops)
