"""CRD validation rules (``x-kubernetes-validations``) through a real kubelite server.

What a CRD author and their users meet: objects breaking a rule are refused with 422 and
upstream's message at the rule's field (as kubectl and the Python client show it), valid
ones are stored, a transition rule refuses an update but not a create, status rules apply
to status writes, a CRD whose rule does not compile is refused, and a CRD written in the
style of Gateway API's (extension functions, optional syntax kubelite cannot run) installs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.kubectl_runner import Kubectl, kubectl  # noqa: F401  (fixture)


def crd(group: str, *, rule: str = "self.replicas <= self.maxReplicas") -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gizmos.{group}"},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
            "versions": [{
                "name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "x-kubernetes-validations": [{"rule": "self.metadata.name.startsWith('g-')",
                                                  "message": "names start with g-"}],
                    "properties": {
                        "spec": {
                            "type": "object",
                            "x-kubernetes-validations": [
                                {"rule": rule, "message": "replicas must not exceed maxReplicas"},
                                {"rule": "self.mode == oldSelf.mode", "message": "mode is immutable",
                                 "fieldPath": ".mode"},
                            ],
                            "properties": {
                                "replicas": {"type": "integer",
                                             "x-kubernetes-validations": [{"rule": "self >= oldSelf"}]},
                                "maxReplicas": {"type": "integer"},
                                "mode": {"type": "string"},
                                "tags": {"type": "array", "items": {"type": "string", "x-kubernetes-validations": [
                                    {"rule": "self == self.lowerAscii()", "reason": "FieldValueForbidden",
                                     "message": "tags are lower case"}]}},
                            },
                        },
                        "status": {"type": "object", "properties": {"ready": {"type": "integer"}},
                                   "x-kubernetes-validations": [{"rule": "self.ready >= 0"}]},
                    },
                }},
            }],
        },
    }


def gizmo(group: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{group}/v1", "kind": "Gizmo", "metadata": {"name": name},
            "spec": {"replicas": 1, "maxReplicas": 3, "mode": "a", **spec}}


@pytest.fixture(scope="module")
def group(k8s) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from kubernetes import client

    name = f"r{uuid.uuid4().hex[:6]}.example.com"
    ext = client.ApiextensionsV1Api(k8s)
    ext.create_custom_resource_definition(crd(name))
    yield name
    ext.delete_custom_resource_definition(f"gizmos.{name}")


@pytest.fixture
def objects(k8s):  # type: ignore[no-untyped-def]
    from kubernetes import client

    return client.CustomObjectsApi(k8s)


def refusal(call: Any) -> dict[str, Any]:
    """The Status of a refused request (the test fails if it was accepted)."""
    from kubernetes import client

    with pytest.raises(client.ApiException) as info:
        call()
    assert info.value.status == 422, info.value.body
    body: dict[str, Any] = json.loads(info.value.body)
    return body


def test_an_object_breaking_a_rule_is_refused_with_upstreams_message(objects, group: str,  # type: ignore[no-untyped-def]
                                                                     namespace: str) -> None:
    status = refusal(lambda: objects.create_namespaced_custom_object(
        group, "v1", namespace, "gizmos", gizmo(group, "g-big", replicas=5)))
    assert status["reason"] == "Invalid"
    assert status["message"] == (f'Gizmo.{group} "g-big" is invalid: spec: Invalid value: "object": '
                                 "replicas must not exceed maxReplicas")
    assert status["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec",
                                            "message": 'Invalid value: "object": replicas must not exceed '
                                                       "maxReplicas"}]
    status = refusal(lambda: objects.create_namespaced_custom_object(
        group, "v1", namespace, "gizmos", gizmo(group, "other")))
    assert status["message"] == f'Gizmo.{group} "other" is invalid: <nil>: Invalid value: "object": names start with g-'
    status = refusal(lambda: objects.create_namespaced_custom_object(
        group, "v1", namespace, "gizmos", gizmo(group, "g-tags", tags=["ok", "NotOk"])))
    assert status["details"]["causes"] == [{"reason": "FieldValueForbidden", "field": "spec.tags[1]",
                                            "message": "Forbidden: tags are lower case"}]


def test_rules_are_not_run_on_an_object_of_the_wrong_shape(objects, group: str,  # type: ignore[no-untyped-def]
                                                          namespace: str) -> None:
    status = refusal(lambda: objects.create_namespaced_custom_object(
        group, "v1", namespace, "gizmos", gizmo(group, "g-shape", replicas="many")))
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.replicas", "<nil>"]
    assert status["details"]["causes"][1]["message"] == (
        'Invalid value: "null": some validation rules were not checked because the object was invalid; '
        "correct the existing errors to complete validation")


def test_a_valid_object_is_stored(objects, group: str, namespace: str) -> None:  # type: ignore[no-untyped-def]
    stored = objects.create_namespaced_custom_object(group, "v1", namespace, "gizmos",
                                                     gizmo(group, "g-ok", tags=["x"]))
    assert stored["spec"]["replicas"] == 1


def test_transition_rules_refuse_updates_only(objects, group: str, namespace: str) -> None:  # type: ignore[no-untyped-def]
    objects.create_namespaced_custom_object(group, "v1", namespace, "gizmos", gizmo(group, "g-tr", replicas=2))
    status = refusal(lambda: objects.patch_namespaced_custom_object(
        group, "v1", namespace, "gizmos", "g-tr", {"spec": {"replicas": 1, "mode": "b"}}))
    assert {(c["field"], c["message"]) for c in status["details"]["causes"]} == {
        ("spec.replicas", 'Invalid value: "integer": failed rule: self >= oldSelf'),
        ("spec.mode", 'Invalid value: "object": mode is immutable'),
    }
    grown = objects.patch_namespaced_custom_object(group, "v1", namespace, "gizmos", "g-tr", {"spec": {"replicas": 3}})
    assert grown["spec"]["replicas"] == 3


def test_status_rules_apply_to_status_writes(objects, group: str, namespace: str) -> None:  # type: ignore[no-untyped-def]
    objects.create_namespaced_custom_object(group, "v1", namespace, "gizmos", gizmo(group, "g-st"))
    status = refusal(lambda: objects.patch_namespaced_custom_object_status(
        group, "v1", namespace, "gizmos", "g-st", {"status": {"ready": -1}}))
    assert status["details"]["causes"][0]["field"] == "status"
    done = objects.patch_namespaced_custom_object_status(group, "v1", namespace, "gizmos", "g-st",
                                                         {"status": {"ready": 1}})
    assert done["status"] == {"ready": 1}


def test_kubectl_shows_the_rules_message(kubectl: Kubectl, group: str, namespace: str) -> None:  # noqa: F811
    result = kubectl.run("create", "-n", namespace, "-f", "-", check=False,
                         stdin=json.dumps(gizmo(group, "g-kubectl", replicas=9)))
    assert result.returncode != 0
    assert ('The Gizmo "g-kubectl" is invalid: spec: Invalid value: "object": replicas must not exceed '
            "maxReplicas") in result.stderr


def test_a_crd_whose_rule_does_not_compile_is_refused(k8s) -> None:  # type: ignore[no-untyped-def]
    from kubernetes import client

    name = f"r{uuid.uuid4().hex[:6]}.example.com"
    status = refusal(lambda: client.ApiextensionsV1Api(k8s).create_custom_resource_definition(
        crd(name, rule="self.replicas <=")))
    cause = status["details"]["causes"][0]
    assert cause["field"] == ("spec.versions[0].schema.openAPIV3Schema.properties[spec]"
                              ".x-kubernetes-validations[0].rule")
    assert cause["message"].startswith('Invalid value: apiextensions.ValidationRule{Rule:"self.replicas <=", ')
    assert "compilation failed: ERROR: <input>:1:" in cause["message"]


GATEWAY_STYLE = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: routes.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: routes, singular: route, kind: Route}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - message: hostnames must be lower case
              rule: self.hostnames.all(h, h.lowerAscii() == h)
            - message: sectionName must be set when port is
              rule: '!has(self.port) || self.?sectionName.orValue("") != ""'
            properties:
              hostnames:
                type: array
                maxItems: 16
                items:
                  type: string
                  x-kubernetes-validations:
                  - rule: 'self.split(".").all(l, size(l) <= 63)'
                    message: each label is at most 63 characters
                  - rule: '!format.dns1123Subdomain().validate(self).hasValue()'
              port: {{type: integer}}
              sectionName: {{type: string}}
              url:
                type: string
                x-kubernetes-validations:
                - rule: isURL(self) && url(self).getScheme() in ['http', 'https']
                  message: url must be http(s)
              rules:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                x-kubernetes-validations:
                - rule: self.all(r1, self.exists_one(r2, r1.name == r2.name))
                - rule: size(self.filter(r, has(r.weight))) == 0 || self.map(r, r.weight).sum() <= 100
                  messageExpression: "'weights add up to ' + string(self.map(r, r.weight).sum())"
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {{type: string}}
                    weight: {{type: integer}}
                    matches:
                      type: array
                      items:
                        type: object
                        properties:
                          path: {{type: string}}
                        x-kubernetes-validations:
                        - rule: '!has(self.path) || (self.path.startsWith("/") && !self.path.contains("//"))'
                          message: must be an absolute path
                        - rule: '!has(self.path) || !self.path.matches("/\\\\.\\\\.(/|$)")'
"""


def test_a_gateway_api_style_crd_installs_and_its_rules_run(kubectl: Kubectl, objects,  # noqa: F811
                                                            namespace: str, server) -> None:  # type: ignore[no-untyped-def]
    group = f"g{uuid.uuid4().hex[:6]}.example.com"
    kubectl.apply_text(GATEWAY_STYLE.format(group=group))
    try:
        kubectl("wait", "--for=condition=Established", f"crd/routes.{group}", "--timeout=10s")
        good = {"apiVersion": f"{group}/v1", "kind": "Route", "metadata": {"name": "r1"},
                "spec": {"hostnames": ["a.example.com"], "port": 80, "sectionName": "http",
                         "url": "https://example.com/x",
                         "rules": [{"name": "a", "weight": 60, "matches": [{"path": "/api"}]},
                                   {"name": "b", "weight": 40}]}}
        objects.create_namespaced_custom_object(group, "v1", namespace, "routes", good)
        bad = json.loads(json.dumps(good))
        bad["metadata"]["name"] = "r2"
        bad["spec"]["hostnames"] = ["A.example.com"]
        bad["spec"]["url"] = "ftp://example.com"
        bad["spec"]["rules"][0]["weight"] = 70
        bad["spec"]["rules"][0]["matches"][0]["path"] = "api"
        status = refusal(lambda: objects.create_namespaced_custom_object(group, "v1", namespace, "routes", bad))
        assert sorted((c["field"], c["message"]) for c in status["details"]["causes"]) == [
            ("spec", 'Invalid value: "object": hostnames must be lower case'),
            ("spec.rules", 'Invalid value: "array": weights add up to 110'),
            ("spec.rules[0].matches[0]", 'Invalid value: "object": must be an absolute path'),
            ("spec.url", 'Invalid value: "string": url must be http(s)'),
        ]
        # the rules kubelite cannot run are named once in the server's log, for its operator
        log = server.log_path.read_text(errors="replace")
        skipped = [line for line in log.splitlines() if f"validation rule not evaluated crd=routes.{group}" in line]
        assert len(skipped) == 2, skipped
        assert any("format.dns1123Subdomain()" in line for line in skipped)
        assert any("optional field syntax" in line for line in skipped)
    finally:
        kubectl("delete", "crd", f"routes.{group}", "--ignore-not-found", timeout=30)
