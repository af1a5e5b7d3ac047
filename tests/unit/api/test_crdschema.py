"""Custom resources against a CRD's openAPIV3Schema: validation messages, pruning, defaults."""

from __future__ import annotations

from typing import Any

from kubelite.api import crdschema

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["color"],
            "properties": {
                "color": {"type": "string", "enum": ["red", "blue"]},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                "port": {"x-kubernetes-int-or-string": True},
                "tags": {"type": "array", "maxItems": 2, "minItems": 1, "items": {"type": "string"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "when": {"type": "string", "format": "date-time"},
                "note": {"type": "string", "nullable": True},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "nested": {"type": "object", "properties": {"mode": {"type": "string", "default": "auto"}}},
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def messages(obj: dict[str, Any]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in crdschema.validate(obj, SCHEMA)]


def test_a_valid_object_has_no_causes() -> None:
    obj = {"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"},
           "spec": {"color": "red", "replicas": 3, "port": "http", "tags": ["a"], "labels": {"k": "v"},
                    "when": "2024-01-02T03:04:05Z", "note": None, "free": {"any": [1]}}}
    assert messages(obj) == []


def test_type_errors_read_like_upstream() -> None:
    assert messages({"spec": {"color": "red", "replicas": "three"}}) == [
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"']
    assert messages({"spec": {"color": "red", "port": 1.5}}) == [
        'spec.port: Invalid value: "number": spec.port in body must be of type integer,string: "number"']
    assert messages({"spec": {"color": "red", "name": None}}) == [
        'spec.name: Invalid value: "null": spec.name in body must be of type string: "null"']


def test_required_enum_bounds_lengths_pattern_items_format() -> None:
    found = messages({"spec": {"replicas": 11, "name": "A", "tags": ["a", "b", "c"], "when": "yesterday"}})
    assert "spec.color: Required value" in found
    assert "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10" in found
    assert 'spec.name: Invalid value: "A": spec.name in body should be at least 2 chars long' in found
    assert "spec.name: Invalid value: \"A\": spec.name in body should match '^[a-z]+$'" in found
    assert "spec.tags: Too many: 3: must have at most 2 items" in found
    assert 'spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday"' \
        in found
    assert messages({"spec": {"color": "pink", "name": "abcdef", "tags": []}}) == [
        'spec.color: Unsupported value: "pink": supported values: "red", "blue"',
        "spec.name: Too long: may not be more than 5 bytes",
        "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items",
    ]


def test_array_items_and_map_values_are_checked_with_their_paths() -> None:
    assert messages({"spec": {"color": "red", "tags": ["a", 2], "labels": {"k": True}}}) == [
        'spec.tags.1: Invalid value: "integer": spec.tags.1 in body must be of type string: "integer"',
        'spec.labels.k: Invalid value: "boolean": spec.labels.k in body must be of type string: "boolean"',
    ]


def test_pruning_drops_undeclared_fields_but_keeps_preserved_ones() -> None:
    obj = {"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a", "bogus": 1},
           "spec": {"color": "red", "colour": "typo", "free": {"x": {"y": 1}}, "labels": {"a": "b"}},
           "status": {"anything": True}, "top": 1}
    crdschema.prune(obj, SCHEMA)
    assert obj == {"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"},
                   "spec": {"color": "red", "free": {"x": {"y": 1}}, "labels": {"a": "b"}},
                   "status": {"anything": True}}


def test_defaults_fill_absent_fields_inside_present_objects() -> None:
    obj: dict[str, Any] = {"spec": {"color": "red", "nested": {}}}
    crdschema.apply_defaults(obj, SCHEMA)
    assert obj["spec"] == {"color": "red", "replicas": 1, "nested": {"mode": "auto"}}
    kept = {"spec": {"color": "red", "replicas": 0}}
    crdschema.apply_defaults(kept, SCHEMA)
    assert kept["spec"]["replicas"] == 0
    assert crdschema.apply_defaults({}, SCHEMA) is None  # no spec, nothing to default into


def test_structural_problems_of_a_crd_schema() -> None:
    assert crdschema.structural_problems(SCHEMA, "s") == []
    found = [f"{c.field}: {c.message}" for c in crdschema.structural_problems(
        {"type": "object", "properties": {"a": {"properties": {"b": {"type": "strin"}}},
                                          "l": {"type": "array"}}}, "s")]
    assert "s.properties[a].type: Required value: must not be empty for specified object fields" in found
    assert any(f.startswith("s.properties[a].properties[b].type: Unsupported value: \"strin\"") for f in found)
    assert "s.properties[l].items: Required value: must be specified" in found
