"""Field validation: the unknown, duplicate and mistyped fields kubectl users see reported."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api import fieldvalidation, schema


def node(group: str, version: str, kind: str) -> schema.Node:
    found = schema.root(group, version, kind)
    assert found is not None
    return found


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"},
                 "annotations": {"a": "b"}, "finalizers": ["x"]},
    "spec": {
        "containers": [
            {"name": "app", "image": "nginx", "ports": [{"containerPort": 80, "protocol": "TCP"}],
             "resources": {"limits": {"cpu": "100m", "memory": 128974848}},
             "env": [{"name": "A", "value": "1"}]},
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
    },
    "status": {"phase": "Pending"},
}


def test_a_valid_pod_has_no_unknown_fields() -> None:
    assert fieldvalidation.unknown_fields(POD, node("", "v1", "Pod")) == []


def test_a_typo_in_a_container_is_reported_with_its_path() -> None:
    pod = {**POD, "spec": {"containers": [{"name": "app", "imagee": "nginx"}]}}
    assert fieldvalidation.unknown_fields(pod, node("", "v1", "Pod")) == ["spec.containers[0].imagee"]


def test_metadata_is_validated_too_but_labels_take_any_key() -> None:
    pod = {**POD, "metadata": {"name": "web", "app": "web", "labels": {"anything": "goes"}}}
    assert fieldvalidation.unknown_fields(pod, node("", "v1", "Pod")) == ["metadata.app"]


def test_unknown_fields_in_deep_and_several_places() -> None:
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "bogus": 1,
        "spec": {
            "strategy": {"rollingUpdate": {"maxUnaivailable": 1}},
            "template": {"spec": {"containers": [{"name": "a"}, {"name": "b", "portz": []}]}},
        },
    }
    assert fieldvalidation.unknown_fields(deployment, node("apps", "v1", "Deployment")) == [
        "bogus",
        "spec.strategy.rollingUpdate.maxUnaivailable",
        "spec.template.spec.containers[1].portz",
    ]


def test_raw_extensions_and_preserved_fields_are_not_checked() -> None:
    revision = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r"},
                "revision": 1, "data": {"whatever": {"deep": [1, 2]}}}
    assert fieldvalidation.unknown_fields(revision, node("apps", "v1", "ControllerRevision")) == []
    crd = schema.Node.from_openapi_v3_schema({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    })
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
              "spec": {"size": 1, "color": "blue"}, "status": {"anything": True}}
    assert fieldvalidation.unknown_fields(widget, crd) == ["spec.color"]


def test_strict_messages_use_upstream_wording() -> None:
    pod = {**POD, "spec": {"containers": [{"name": "app", "imagee": "nginx"}]}}
    problems = fieldvalidation.strict_errors(obj=pod, node=node("", "v1", "Pod"))
    assert problems == ['unknown field "spec.containers[0].imagee"']
    detail = fieldvalidation.strict_message(problems)
    assert detail == 'strict decoding error: unknown field "spec.containers[0].imagee"'
    assert fieldvalidation.cannot_handle(kind="Pod", version="v1", detail=detail) == (
        'Pod in version "v1" cannot be handled as a Pod: '
        'strict decoding error: unknown field "spec.containers[0].imagee"')


def test_duplicate_fields_are_found_with_their_paths() -> None:
    raw = (b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","name":"b",'
           b'"labels":{"x":"1","x":"2"}},"spec":{"containers":[{"name":"c","image":"i","image":"j"}]}}')
    assert fieldvalidation.duplicate_fields(raw) == [
        "metadata.name", "metadata.labels.x", "spec.containers[0].image"]
    problems = fieldvalidation.strict_errors(obj={"apiVersion": "v1"}, node=node("", "v1", "Pod"), raw=raw)
    assert problems[0] == 'duplicate field "metadata.name"'


def test_no_duplicates_and_invalid_json_report_nothing() -> None:
    assert fieldvalidation.duplicate_fields(b'{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}') == []
    assert fieldvalidation.duplicate_fields(b"{not json") == []


def test_a_string_where_an_integer_belongs_reads_like_the_go_decoder() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"replicas": "3", "template": {"spec": {"containers": [
                      {"name": "a", "ports": [{"containerPort": "80"}]}]}}}}
    causes = fieldvalidation.type_errors(deployment, node("apps", "v1", "Deployment"))
    assert [c.field for c in causes] == [
        "spec.replicas", "spec.template.spec.containers[0].ports[0].containerPort"]
    assert causes[0].message == (
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32")
    assert causes[1].message == (
        "json: cannot unmarshal string into Go struct field "
        "ContainerPort.spec.template.spec.containers.ports.containerPort of type int32")
    assert causes[0].reason == "FieldValueTypeInvalid"


@pytest.mark.parametrize(("spec", "problem"), [
    ({"containers": "nginx"}, ("json: cannot unmarshal string into Go struct field PodSpec.spec.containers "
                              "of type []v1.Container")),
    ({"containers": [{"name": 5}]}, ("json: cannot unmarshal number into Go struct field "
                                    "Container.spec.containers.name of type string")),
    ({"hostNetwork": "yes"}, ("json: cannot unmarshal string into Go struct field "
                             "PodSpec.spec.hostNetwork of type bool")),
    ({"terminationGracePeriodSeconds": 1.5}, ("json: cannot unmarshal number 1.5 into Go struct field "
                                             "PodSpec.spec.terminationGracePeriodSeconds of type int64")),
    ({"nodeSelector": {"disk": 1}}, ("json: cannot unmarshal number into Go struct field "
                                    "PodSpec.spec.nodeSelector of type string")),
])
def test_wrong_types_in_a_pod(spec: dict[str, object], problem: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}
    causes = fieldvalidation.type_errors(pod, node("", "v1", "Pod"))
    assert [c.message for c in causes] == [problem]


def test_well_typed_values_nulls_int_or_string_and_quantities_pass() -> None:
    assert fieldvalidation.type_errors(POD, node("", "v1", "Pod")) == []
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": None},
                  "spec": {"replicas": None, "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                           "template": {"spec": {"containers": [{"name": "a", "resources": {
                               "requests": {"cpu": 0.5, "memory": "1Gi"}}}]}}}}
    assert fieldvalidation.type_errors(deployment, node("apps", "v1", "Deployment")) == []
    bad = {"spec": {"strategy": {"rollingUpdate": {"maxSurge": {"x": 1}}}}}
    [cause] = fieldvalidation.type_errors(bad, node("apps", "v1", "Deployment"))
    assert cause.field == "spec.strategy.rollingUpdate.maxSurge"


def test_custom_resources_get_the_schema_validator_wording() -> None:
    crd = schema.Node.from_openapi_v3_schema({
        "type": "object", "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}})
    [cause] = fieldvalidation.type_errors({"spec": {"replicas": "three"}}, crd)
    assert cause.field == "spec.replicas"
    assert cause.message == 'Invalid value: "string": spec.replicas in body must be of type integer: "string"'


def _fast_and_slow(raw: bytes) -> tuple[list[str], list[str]]:
    return fieldvalidation.duplicate_fields(raw, orjson.loads(raw)), fieldvalidation.duplicate_fields(raw)


def test_duplicates_judged_from_the_parsed_object_agree_with_a_full_parse() -> None:
    bodies = [
        b'{"metadata": {"name": "a", "name": "b"}}',
        # the dropped duplicate carries colons of its own; the kept one none
        b'{"metadata": {"annotations": {"x": "a:b:c", "x": "plain"}}}',
        b'{"a": "http://x:80", "b": {"c": ":"}, "d": [{"e": "f:g"}]}',
        # a colon written as an escape proves nothing: the slow path decides
        b'{"a": "\\u003a", "a": "x"}',
        b'{"a": "x", "a": "\\u003a"}',  # the kept value's escaped colon stands for the dropped one's
        b'{"a": "\\u003a", "b": "x"}',
        b'{"k:1": 1, "k:1": 2}',
        b'{"list": [{"a": 1, "a": 1}], "ok": {"b": "::"}}',
    ]
    for raw in bodies:
        fast, slow = _fast_and_slow(raw)
        assert fast == slow, raw


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.one_of(st.text(alphabet="ab:\\\"u0", max_size=6), st.integers(-1000, 1000), st.none()),
                    lambda kids: st.lists(st.tuples(st.sampled_from(["a", "b", "a:b", ":"]), kids), max_size=4)
                    .map(lambda pairs: "{" + ", ".join(f"{orjson.dumps(k).decode()}: {_text(v)}"
                                                       for k, v in pairs) + "}"),
                    max_leaves=12))
def test_fast_duplicate_check_never_misses_one(tree: object) -> None:
    raw = _text(tree).encode()
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return
    assert fieldvalidation.duplicate_fields(raw, parsed) == fieldvalidation.duplicate_fields(raw)


def _text(value: object) -> str:
    """JSON text: strings made by the object strategy are already JSON objects."""
    if isinstance(value, str) and value.startswith("{"):
        return value
    return orjson.dumps(value).decode()


def _walked(obj: object, root: schema.Node) -> list[str]:
    out: list[str] = []
    fieldvalidation._walk_unknown(obj, root, "", out)
    return out


def test_remembered_section_verdicts_match_a_fresh_walk() -> None:
    """Large sections' verdicts are remembered by their bytes (pods of one template repeat
    their spec): the answer must be the walk's, every time, for each schema apart."""
    spec = {"containers": [{"name": "a", "imagee": "x"}], "restartPolicy": "Always", "dnsPolicy": "Default",
            "hostnamee": "h", "nodeSelector": {"any": "key"}}
    pod, pod_node = {**POD, "spec": spec}, node("", "v1", "Pod")
    # the same bytes as a Deployment's spec: other schema node, other answer
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": spec}
    deployment_node = node("apps", "v1", "Deployment")
    for _ in range(2):
        assert fieldvalidation.unknown_fields(pod, pod_node) == _walked(pod, pod_node) == [
            "spec.containers[0].imagee", "spec.hostnamee"]
        assert fieldvalidation.unknown_fields(deployment, deployment_node) == _walked(deployment, deployment_node)
        assert "spec.containers" in fieldvalidation.unknown_fields(deployment, deployment_node)
    fixed = {**pod, "spec": {**spec, "containers": [{"name": "a", "image": "x"}], "hostname": "h"}}
    del fixed["spec"]["hostnamee"]
    assert fieldvalidation.unknown_fields(fixed, pod_node) == []
