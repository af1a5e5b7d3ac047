"""``handlers.validate_fields`` remembers the bytes of bodies it found clean, so a client
sending the same bytes again (a ReplicaSet's pod creates) is not inspected twice. What it
answers must not change: a body with anything to refuse, warn about or drop gets the same
treatment the second time as the first."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from kubelite.api import errors, scheme
from kubelite.apiserver import handlers

POD: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "web-", "labels": {"a": "b"}},
                       "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


@pytest.fixture
def pods() -> scheme.ResourceInfo:
    info = scheme.Scheme().lookup("", "v1", "pods")
    assert info is not None
    return info


def twice(info: scheme.ResourceInfo, raw: bytes, mode: str) -> list[tuple[list[str], dict[str, Any]]]:
    """validate_fields on two fresh decodings of ``raw``: each answer and object after."""
    results = []
    for _ in range(2):
        obj = orjson.loads(raw)
        results.append((handlers.validate_fields(info, obj, raw, mode, whole=True), obj))
    return results


def test_a_clean_body_is_remembered(pods: scheme.ResourceInfo) -> None:
    handlers._CLEAN.clear()
    raw = orjson.dumps(POD)
    (first, obj1), (second, obj2) = twice(pods, raw, "Strict")
    assert first == second == [] and obj1 == obj2 == POD
    assert len(handlers._CLEAN) == 1


@pytest.mark.parametrize("mode", ["Warn", "Strict", "Ignore"])
def test_an_unknown_field_is_reported_and_dropped_every_time(pods: scheme.ResourceInfo, mode: str) -> None:
    handlers._CLEAN.clear()
    raw = orjson.dumps({**POD, "spec": {**POD["spec"], "bogus": 1}})
    if mode == "Strict":
        for _ in range(2):
            with pytest.raises(errors.StatusError, match='unknown field "spec.bogus"'):
                handlers.validate_fields(pods, orjson.loads(raw), raw, mode, whole=True)
    else:
        for warnings, obj in twice(pods, raw, mode):
            assert warnings == (['unknown field "spec.bogus"'] if mode == "Warn" else [])
            assert "bogus" not in obj["spec"]
    assert not handlers._CLEAN


def test_duplicates_nulls_zeros_and_wrong_types_every_time(pods: scheme.ResourceInfo) -> None:
    handlers._CLEAN.clear()
    duplicate = b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","name":"q"},' \
                b'"spec":{"containers":[{"name":"c","image":"nginx"}]}}'
    for warnings, _ in twice(pods, duplicate, "Warn"):
        assert warnings == ['duplicate field "metadata.name"']
    for _, obj in twice(pods, orjson.dumps({**POD, "status": None}), "Warn"):
        assert obj["status"] == {}
    for _, obj in twice(pods, orjson.dumps({**POD, "metadata": {**POD["metadata"], "annotations": {}}}), "Warn"):
        assert "annotations" not in obj["metadata"]  # omitempty: an empty map is not kept
    wrong = orjson.dumps({**POD, "spec": {**POD["spec"], "priority": "high"}})
    for _ in range(2):
        with pytest.raises(errors.StatusError):
            handlers.validate_fields(pods, orjson.loads(wrong), wrong, "Warn", whole=True)
    assert not handlers._CLEAN
