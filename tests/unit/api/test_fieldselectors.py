"""Field selectors as kubectl, client-go and kopf send them."""

from __future__ import annotations

import pytest

from kubelite.api import errors, fieldselectors


def test_field_selector_parsing_and_matching() -> None:
    sel = fieldselectors.parse_field_selector("spec.nodeName=node-a,status.phase!=Succeeded")
    assert sel.requirements == [("spec.nodeName", "=", "node-a"), ("status.phase", "!=", "Succeeded")]
    assert sel.fields() == {"spec.nodeName", "status.phase"}
    assert sel.matches({"spec.nodeName": "node-a", "status.phase": "Running"})
    assert not sel.matches({"spec.nodeName": "node-a", "status.phase": "Succeeded"})
    assert not sel.matches({"status.phase": "Running"})  # a missing field is ""
    assert sel.exact_value("spec.nodeName") == "node-a"
    assert sel.exact_value("status.phase") is None


def test_field_selector_double_equals_and_empty() -> None:
    assert fieldselectors.parse_field_selector("metadata.name==x").requirements == [("metadata.name", "=", "x")]
    assert fieldselectors.parse_field_selector("").empty
    assert fieldselectors.parse_field_selector("spec.nodeName=").matches({"spec.nodeName": ""})


def test_field_selector_escapes() -> None:
    sel = fieldselectors.parse_field_selector(r"metadata.name=a\,b\=c\\d")
    assert sel.exact_value("metadata.name") == "a,b=c\\d"
    assert str(sel) == r"metadata.name=a\,b\=c\\d"


@pytest.mark.parametrize(("text", "message"), [
    ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
    (r"metadata.name=a\x", r"invalid field selector: invalid escape sequence: \x"),
    ("metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
])
def test_field_selector_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        fieldselectors.parse_field_selector(text)
    assert exc.value.message == message


def test_supported_fields_per_resource() -> None:
    pods = fieldselectors.parse_field_selector("spec.nodeName=a,status.phase=Running,metadata.namespace=d")
    fieldselectors.validate_field_selector("", "pods", pods)
    with pytest.raises(errors.BadRequest, match="^field label not supported: spec.image$"):
        fieldselectors.validate_field_selector("", "pods", fieldselectors.parse_field_selector("spec.image=x"))
    with pytest.raises(errors.BadRequest, match='^"status.replicas" is not a known field selector: only '
                                                '"metadata.name", "metadata.namespace"$'):
        fieldselectors.validate_field_selector("apps", "deployments",
                                          fieldselectors.parse_field_selector("status.replicas=1"))
    with pytest.raises(errors.BadRequest, match='field label "spec.x" not supported for batchv1.Job'):
        fieldselectors.validate_field_selector("batch", "jobs", fieldselectors.parse_field_selector("spec.x=1"))
    with pytest.raises(errors.BadRequest, match="field label not supported: metadata.namespace"):
        fieldselectors.validate_field_selector("", "nodes", fieldselectors.parse_field_selector("metadata.namespace=a"))
    fieldselectors.validate_field_selector("", "configmaps", fieldselectors.parse_field_selector("metadata.name=a"))


def test_pod_fields_and_node_index() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns"},
           "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                    "hostNetwork": True},
           "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}]}}
    fields = fieldselectors.object_fields("", "pods", pod)
    assert fields["metadata.name"] == "p"
    assert fields["metadata.namespace"] == "ns"
    assert fields["spec.nodeName"] == "n1"
    assert fields["spec.hostNetwork"] == "true"
    assert fields["status.podIP"] == "10.0.0.5"
    assert fields["spec.serviceAccountName"] == ""
    sel = fieldselectors.parse_field_selector("spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed")
    assert sel.matches(fields)


def test_kubectl_describe_event_query() -> None:
    event = {"metadata": {"name": "e", "namespace": "ns"},
             "involvedObject": {"kind": "Pod", "name": "p", "namespace": "ns", "uid": "u1"},
             "reason": "Started", "type": "Normal", "source": {"component": "kubelet"}}
    fields = fieldselectors.object_fields("", "events", event)
    sel = fieldselectors.parse_field_selector(
        "involvedObject.name=p,involvedObject.namespace=ns,involvedObject.kind=Pod,involvedObject.uid=u1")
    fieldselectors.validate_field_selector("", "events", sel)
    assert sel.matches(fields)
    assert fields["source"] == "kubelet"


def test_events_k8s_io_spellings_are_normalized() -> None:
    sel = fieldselectors.normalize_field_selector(
        "events.k8s.io", "events", fieldselectors.parse_field_selector("regarding.name=p,reportingController=kubelet"))
    new_shape = {"metadata": {"name": "e", "namespace": "ns"}, "regarding": {"name": "p"},
                 "reportingController": "kubelet"}
    assert sel.matches(fieldselectors.object_fields("events.k8s.io", "events", new_shape))
    raw = fieldselectors.parse_field_selector("regarding.name=p")
    fieldselectors.validate_field_selector("events.k8s.io", "events", raw)
    assert raw.matches(fieldselectors.object_fields("events.k8s.io", "events", new_shape))
    old_spelling = fieldselectors.normalize_field_selector("", "pods", fieldselectors.parse_field_selector("spec.host=n1"))
    assert old_spelling.requirements == [("spec.nodeName", "=", "n1")]


def test_other_kind_fields() -> None:
    assert fieldselectors.object_fields("", "secrets", {"type": "Opaque"})["type"] == "Opaque"
    assert fieldselectors.object_fields("", "nodes", {"spec": {}})["spec.unschedulable"] == "false"
    assert fieldselectors.object_fields("", "namespaces", {"status": {"phase": "Active"}})["status.phase"] == "Active"
    assert fieldselectors.object_fields("batch", "jobs", {"status": {"succeeded": 2}})["status.successful"] == "2"
    svc = fieldselectors.object_fields("", "services", {"spec": {"type": "NodePort", "clusterIP": "10.0.0.1"}})
    assert (svc["spec.type"], svc["spec.clusterIP"]) == ("NodePort", "10.0.0.1")
    assert set(fieldselectors.object_fields("", "configmaps", {"metadata": {"name": "c"}})) == \
        {"metadata.name", "metadata.namespace"}
