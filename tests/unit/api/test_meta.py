"""Name formats and object-metadata rules, with the messages a real cluster prints."""

from __future__ import annotations

import re
import time

import pytest

from kubelite.api import meta

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def test_dns1123_subdomain() -> None:
    assert meta.is_dns1123_subdomain("my-app.example.com") == []
    assert meta.is_dns1123_subdomain("My_App") == [SUBDOMAIN_MSG]
    assert meta.is_dns1123_subdomain("a" * 254)[0] == "must be no more than 253 characters"


def test_dns1123_label() -> None:
    assert meta.is_dns1123_label("web-1") == []
    assert meta.is_dns1123_label("a.b") == ["must not contain dots"]
    assert meta.is_dns1123_label("-x")[0].startswith("a lowercase RFC 1123 label must consist of")
    assert "must be no more than 63 characters" in meta.is_dns1123_label("a" * 64)


def test_dns1035_label_must_start_with_a_letter() -> None:
    assert meta.is_dns1035_label("svc-1") == []
    assert meta.is_dns1035_label("1svc")[0].startswith("a DNS-1035 label must consist of")


def test_qualified_names_for_label_keys() -> None:
    assert meta.is_qualified_name("app.kubernetes.io/name") == []
    assert meta.is_qualified_name("MyKey_1") == []
    assert meta.is_qualified_name("/x") == ["prefix part must be non-empty"]
    assert meta.is_qualified_name("a/b/c")[0].startswith("a valid label key must consist of")
    assert meta.is_qualified_name("Bad_Prefix/x")[0].startswith("prefix part a lowercase RFC 1123 subdomain")
    assert meta.is_qualified_name("x" * 64)[0] == "name part must be no more than 63 bytes"


def test_label_values() -> None:
    assert meta.is_label_value("") == []
    assert meta.is_label_value("v1.2_3-x") == []
    assert meta.is_label_value("-bad")[0].startswith("a valid label must be an empty string or consist of")


def _fields(causes: list[meta.Cause]) -> list[str]:
    return [c.field for c in causes]


def test_a_good_object_meta_passes() -> None:
    md = {"name": "web", "namespace": "default", "labels": {"app": "web"},
          "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "Note": "x y"},
          "finalizers": ["kopf.zalando.org/KopfFinalizerMarker"],
          "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                               "uid": "u", "controller": True}]}
    assert meta.validate_object_meta(md, namespaced=True) == []


def test_name_or_generate_name_required() -> None:
    causes = meta.validate_object_meta({"namespace": "default"}, namespaced=True)
    assert [(c.field, c.message) for c in causes] == [
        ("metadata.name", "Required value: name or generateName is required")]


def test_name_rules_per_kind() -> None:
    bad = meta.validate_object_meta({"name": "Web"}, namespaced=False)
    assert bad[0].message == f'Invalid value: "Web": {SUBDOMAIN_MSG}'
    assert meta.validate_object_meta({"name": "a.b"}, namespaced=False, name_rule="label")[0].message \
        == 'Invalid value: "a.b": must not contain dots'
    assert meta.validate_object_meta({"name": "1svc", "namespace": "d"}, namespaced=True,
                                     name_rule="dns1035") != []


def test_generate_name_prefix_may_end_with_a_dash() -> None:
    md = {"name": "web-x7k2p", "generateName": "web-", "namespace": "default"}
    assert meta.validate_object_meta(md, namespaced=True) == []
    bad = meta.validate_object_meta({"name": "ok", "generateName": "Web-", "namespace": "d"}, namespaced=True)
    assert _fields(bad) == ["metadata.generateName"]


def test_namespace_rules() -> None:
    assert _fields(meta.validate_object_meta({"name": "a"}, namespaced=True)) == ["metadata.namespace"]
    causes = meta.validate_object_meta({"name": "a", "namespace": "x"}, namespaced=False)
    assert causes[0].message == "Forbidden: not allowed on this type"


def test_bad_labels_annotations_and_finalizers() -> None:
    md = {"name": "a", "namespace": "d", "labels": {"bad key": "v", "ok": "bad value"},
          "annotations": {"also bad": ""}, "finalizers": ["orphan", "foregroundDeletion", "no good"]}
    causes = meta.validate_object_meta(md, namespaced=True)
    assert _fields(causes) == ["metadata.labels", "metadata.labels", "metadata.annotations",
                               "metadata.finalizers", "metadata.finalizers"]
    assert causes[1].message.startswith('Invalid value: "bad value": a valid label must be')
    assert causes[-1].message.endswith("finalizer orphan and foregroundDeletion cannot be both set")


def test_annotation_total_size_limit() -> None:
    md = {"name": "a", "namespace": "d", "annotations": {"big": "x" * (256 * 1024)}}
    causes = meta.validate_object_meta(md, namespaced=True)
    assert [(c.field, c.message) for c in causes] == [
        ("metadata.annotations", "Too long: may not be more than 262144 bytes")]


def test_owner_references() -> None:
    refs = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1", "controller": True},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "2", "controller": True},
            {"kind": "X"}]
    causes = meta.validate_object_meta({"name": "p", "namespace": "d", "ownerReferences": refs}, namespaced=True)
    assert causes[0].message.endswith(
        'Only one reference can have Controller set to true. Found "true" in references for '
        "ReplicaSet/a and ReplicaSet/b")
    assert _fields(causes[1:]) == ["metadata.ownerReferences[2].apiVersion",
                                   "metadata.ownerReferences[2].name", "metadata.ownerReferences[2].uid"]


def test_meta_update_keeps_identity_fields() -> None:
    old = {"name": "a", "namespace": "d", "uid": "u1", "creationTimestamp": "2026-01-01T00:00:00Z",
           "resourceVersion": "5", "generation": 2}
    assert meta.validate_meta_update(dict(old, labels={"x": "y"}), old) == []
    changed = dict(old, name="b", uid="u2", creationTimestamp="2026-01-02T00:00:00Z", generation=1)
    causes = meta.validate_meta_update(changed, old)
    assert _fields(causes) == ["metadata.generation", "metadata.name", "metadata.uid",
                               "metadata.creationTimestamp"]
    assert causes[1].message == 'Invalid value: "b": field is immutable'


def test_meta_update_needs_resource_version_and_refuses_new_finalizers_while_deleting() -> None:
    old = {"name": "a", "resourceVersion": "5", "deletionTimestamp": "2026-01-01T00:00:00Z",
           "finalizers": ["a.io/x"]}
    new = dict(old, resourceVersion="", finalizers=["a.io/x", "b.io/y"])
    causes = meta.validate_meta_update(new, old)
    assert causes[0].message == ('Forbidden: no new finalizers can be added if the object is being deleted, '
                                 'found new finalizers []string{"b.io/y"}')
    assert causes[1].message == 'Invalid value: "": must be specified for an update'


def test_generate_name() -> None:
    name = meta.generate_name("web-")
    assert re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{5}", name)
    long = meta.generate_name("x" * 70)
    assert len(long) == 63 and long.startswith("x" * 58)
    assert len({meta.generate_name("a-") for _ in range(50)}) > 45


def test_now_rfc3339() -> None:
    stamp = meta.now_rfc3339()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    assert stamp[:4] == time.strftime("%Y", time.gmtime())


@pytest.mark.parametrize(("value", "shown"), [
    ("x", '"x"'), (3, "3"), (True, "true"), ({"a": "b"}, '{"a":"b"}'), (["a"], '["a"]'),
])
def test_values_are_printed_like_go(value: object, shown: str) -> None:
    assert meta.invalid("f", value, "bad").message == f"Invalid value: {shown}: bad"


def test_uids_are_distinct_version_4_uuids() -> None:
    import uuid

    uids = [meta.new_uid() for _ in range(2000)]  # several urandom batches
    assert len(set(uids)) == len(uids)
    for uid in uids:
        parsed = uuid.UUID(uid)
        assert str(parsed) == uid
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
