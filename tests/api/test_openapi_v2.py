"""``/openapi/v2`` against a real server: kubectl's client-side validation of ``kind: List``
files (``kubectl get … -o yaml`` backups), custom resources in them, and JSON readers.

kubectl validates a List itself (its v3 check of the ``fieldValidation`` parameter never
looks a List up), against ``/openapi/v2`` fetched as gnostic protobuf: these tests are the
proof that the document decodes and parses as kubectl needs it.
"""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses

PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


def deployment(name: str, *, spec_extra: str = "", container_extra: str = "") -> str:
    return f"""
- apiVersion: apps/v1
  kind: Deployment
  metadata: {{name: {name}}}
  spec:
    replicas: 1{spec_extra}
    selector: {{matchLabels: {{app: {name}}}}}
    template:
      metadata: {{labels: {{app: {name}}}}}
      spec:
        containers:
        - name: c
          image: registry.example/app:1{container_extra}
"""


def config_map(name: str, extra: str = "") -> str:
    return f"""
- apiVersion: v1
  kind: ConfigMap
  metadata: {{name: {name}}}
  data: {{greeting: hello}}{extra}
"""


def a_list(*items: str) -> str:
    return "apiVersion: v1\nkind: List\nitems:" + "".join(items)


def test_a_list_applies_creates_and_replaces_with_default_validation(kubectl: Kubectl, namespace: str) -> None:
    text = a_list(deployment("web"), config_map("cfg"))
    out = kubectl("apply", "-n", namespace, "-f", "-", stdin=text)
    assert "deployment.apps/web created" in out and "configmap/cfg created" in out
    # the backup a user takes, applied and replaced back
    backup = kubectl("get", "deploy,cm", "-n", namespace, "-o", "yaml")
    assert yaml.safe_load(backup)["kind"] == "List"
    kubectl("apply", "-n", namespace, "-f", "-", stdin=backup)
    backup = kubectl("get", "deploy,cm", "-n", namespace, "-o", "yaml")
    out = kubectl("replace", "-n", namespace, "-f", "-", stdin=backup)
    assert "deployment.apps/web replaced" in out and "configmap/cfg replaced" in out
    kubectl("delete", "-n", namespace, "-f", "-", stdin=text)
    out = kubectl("create", "-n", namespace, "-f", "-", stdin=text)
    assert "deployment.apps/web created" in out and "configmap/cfg created" in out
    # --validate=warn has nothing to say about a List (kubectl: server-side validation unsupported)
    kubectl("apply", "-n", namespace, "-f", "-", "--validate=warn", stdin=text)


def test_unknown_and_wrongly_typed_fields_are_refused_by_kubectl(kubectl: Kubectl, namespace: str) -> None:
    text = a_list(deployment("bad", spec_extra="\n    bogus: 1",
                             container_extra="\n          imagePullPolicyX: Always"),
                  config_map("bad", extra="\n  extra: 1"))
    typed = a_list(deployment("typed").replace("replicas: 1", 'replicas: "two"'))
    for args in ([], ["--validate=strict"], ["--validate=true"]):
        for verb in ("apply", "create", "replace"):
            result = kubectl.run(verb, "-n", namespace, "-f", "-", *args, stdin=text, check=False)
            assert result.returncode != 0, result
            assert result.stderr.startswith('error: error validating "STDIN": error validating data: ['), result
            for message in (
                'ValidationError(Deployment.spec): unknown field "bogus" in io.k8s.api.apps.v1.DeploymentSpec',
                'ValidationError(Deployment.spec.template.spec.containers[0]): unknown field "imagePullPolicyX" '
                'in io.k8s.api.core.v1.Container',
                'ValidationError(ConfigMap): unknown field "extra" in io.k8s.api.core.v1.ConfigMap',
            ):
                assert message in result.stderr, result
            assert "if you choose to ignore these errors, turn validation off with --validate=false" in result.stderr
    result = kubectl.run("apply", "-n", namespace, "-f", "-", stdin=typed, check=False)
    assert ('ValidationError(Deployment.spec.replicas): invalid type for io.k8s.api.apps.v1.DeploymentSpec.replicas: '
            'got "string", expected "integer"') in result.stderr, result
    assert kubectl.run("get", "deploy", "bad", "-n", namespace, check=False).returncode != 0  # nothing was sent
    # without validation kubectl sends them (fieldValidation=Ignore): the server's business
    out = kubectl("apply", "-n", namespace, "-f", "-", "--validate=false", stdin=text)
    assert "deployment.apps/bad created" in out and "configmap/bad created" in out


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: gizmos, singular: gizmo, kind: Gizmo}}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {{type: integer, minimum: 1}}
              port: {{x-kubernetes-int-or-string: true}}
              note: {{type: string, nullable: true}}
              extra: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
              tags: {{type: array, items: {{type: string}}}}
          status:
            type: object
            properties:
              phase: {{type: string}}
"""


@pytest.fixture(scope="module")
def group(kubectl: Kubectl) -> Iterator[str]:  # noqa: F811
    name = f"v2{uuid.uuid4().hex[:6]}.example.com"
    kubectl.apply_text(CRD.format(group=name))
    kubectl("wait", "--for=condition=Established", f"crd/gizmos.{name}", "--timeout=10s")
    yield name
    kubectl("delete", "crd", f"gizmos.{name}", "--ignore-not-found", timeout=30)


def gizmo(group: str, name: str, spec: str) -> str:
    return f"""
- apiVersion: {group}/v1
  kind: Gizmo
  metadata: {{name: {name}}}
  spec: {spec}
"""


def test_a_list_with_a_custom_resource_validates(kubectl: Kubectl, group: str, namespace: str) -> None:
    good = a_list(gizmo(group, "g1", '{size: 2, port: http, note: null, extra: {any: [1]}, tags: [a]}'),
                  config_map("cfg"))
    out = kubectl("apply", "-n", namespace, "-f", "-", stdin=good)
    assert f"gizmo.{group}/g1 created" in out and "configmap/cfg created" in out
    kubectl("replace", "-n", namespace, "-f", "-", stdin=good.replace("size: 2", "size: 3"))
    assert json.loads(kubectl("get", f"gizmos.{group}", "g1", "-n", namespace, "-o", "json"))["spec"]["size"] == 3
    bad = a_list(gizmo(group, "g2", '{size: big, colour: red}'), config_map("cfg2"))
    result = kubectl.run("apply", "-n", namespace, "-f", "-", stdin=bad, check=False)
    assert result.returncode != 0
    assert (f'ValidationError(Gizmo.spec): unknown field "colour" in {_reversed(group)}.v1.Gizmo.spec'
            in result.stderr), result
    assert (f'ValidationError(Gizmo.spec.size): invalid type for {_reversed(group)}.v1.Gizmo.spec.size: '
            'got "string", expected "integer"') in result.stderr, result
    # kubectl explain reads v3 and still describes the kind
    assert "size" in kubectl("explain", f"gizmos.{group}.spec")


def _reversed(group: str) -> str:
    return ".".join(reversed(group.split(".")))


def test_explain_still_works(kubectl: Kubectl) -> None:
    out = kubectl("explain", "deployment.spec.strategy")
    assert "FIELD: strategy <DeploymentStrategy>" in out and "rollingUpdate" in out


def test_the_json_document_parses(kubectl: Kubectl, group: str) -> None:
    doc = json.loads(kubectl("get", "--raw", "/openapi/v2"))
    assert doc["swagger"] == "2.0"
    assert doc["securityDefinitions"]["BearerToken"]["type"] == "apiKey"
    assert "io.k8s.api.apps.v1.Deployment" in doc["definitions"]
    assert f"{_reversed(group)}.v1.Gizmo" in doc["definitions"]
    assert f"/apis/{group}/v1/namespaces/{{namespace}}/gizmos/{{name}}" in doc["paths"]


def _tls_and_token(kubeconfig: Path) -> tuple[str, ssl.SSLContext, dict[str, str]]:
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    if cfg.cert_file:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    token = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix("authorization")
    return cfg.host, ctx, {"Authorization": token} if token else {}


def test_python_clients_read_the_json_document(k8s: Any, kubeconfig: Path) -> None:
    import httpx

    method, url, headers, _, _ = k8s.param_serialize("GET", "/openapi/v2", header_params={"Accept": "application/json"},
                                                     auth_settings=["BearerToken"])
    response = k8s.call_api(method, url, header_params=headers)
    response.read()
    assert response.status == 200 and response.getheader("Content-Type") == "application/json"
    assert json.loads(response.data)["info"]["title"] == "Kubernetes"

    host, ctx, auth = _tls_and_token(kubeconfig)
    with httpx.Client(base_url=host, verify=ctx, headers=auth) as http:
        plain = http.get("/openapi/v2")
        assert plain.status_code == 200 and plain.headers["content-encoding"] == "gzip"  # httpx asks for it
        assert plain.json()["swagger"] == "2.0"
        etag = plain.headers["etag"]
        assert etag.startswith('"') and len(etag) == 130  # quoted uppercase hex SHA-512, as upstream
        assert http.get("/openapi/v2", headers={"If-None-Match": etag}).status_code == 304
        proto = http.get("/openapi/v2", headers={"Accept": PROTOBUF})
        assert proto.status_code == 200
        assert proto.headers["content-type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        assert proto.headers["etag"] == etag and "Accept" in proto.headers["vary"]
        assert proto.content.startswith(b"\x0a\x032.0")  # Document.swagger = "2.0"
        assert http.get("/openapi/v2", headers={"Accept": "text/html"}).status_code == 406
        assert httpx.get(f"{host}/openapi/v2", verify=ctx).status_code == 401
