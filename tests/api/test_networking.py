"""networking.k8s.io/v1 (Ingress, IngressClass, NetworkPolicy) as users meet it.

Through kubectl and the official Python client against the session's server: discovery,
``kubectl apply --prune`` with kubectl's built-in allowlist (which names Ingress and
ReplicationController), ``kubectl create ingress`` (a protobuf body), the ``kubectl get``
columns and ``describe``, upstream's validation messages, the DefaultIngressClass
admission and an Ingress's status subresource. Nothing acts on these objects: kubelite
stores them as kube-apiserver does (an ingress controller would watch them).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl, header, rows

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses

Obj = dict[str, Any]


def _uid() -> str:
    return uuid.uuid4().hex[:6]


def _causes(exc: ApiException) -> list[tuple[str, str]]:
    body = json.loads(exc.body)
    return [(c.get("field", ""), c["message"]) for c in body["details"]["causes"]]


@pytest.fixture
def default_class(k8s) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A default IngressClass for the test's duration (cluster-scoped: removed after)."""
    api = client.NetworkingV1Api(k8s)
    name = f"default-{_uid()}"
    api.create_ingress_class({"metadata": {"name": name, "annotations": {
        "ingressclass.kubernetes.io/is-default-class": "true"}}, "spec": {"controller": "example.com/lb"}})
    yield name
    api.delete_ingress_class(name)


def test_discovery_serves_the_networking_group(kubectl: Kubectl, k8s) -> None:  # type: ignore[no-untyped-def]
    listing = {r[0]: r for r in rows(kubectl("api-resources", "--api-group=networking.k8s.io"))[1:]}
    assert listing["ingresses"] == ["ingresses", "ing", "networking.k8s.io/v1", "true", "Ingress"]
    assert listing["ingressclasses"] == ["ingressclasses", "networking.k8s.io/v1", "false", "IngressClass"]
    assert listing["networkpolicies"] == ["networkpolicies", "netpol", "networking.k8s.io/v1", "true",
                                          "NetworkPolicy"]
    resources = client.NetworkingV1Api(k8s).get_api_resources().resources
    assert {r.name for r in resources} >= {"ingresses", "ingresses/status", "ingressclasses", "networkpolicies"}
    explained = kubectl("explain", "ingress.spec.rules.http.paths.pathType")
    assert "KIND:       Ingress" in explained and "pathType <string>" in explained


def test_apply_prune_with_kubectls_default_allowlist(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    # the allowlist names ReplicationController and Ingress: every kind on it must be served
    value = f"p{_uid()}"
    label = f"set={value}"
    manifests = tmp_path / "dir"
    manifests.mkdir()
    for name in ("keep", "gone"):
        (manifests / f"{name}.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, labels: {{set: '{value}'}}}}\n"
            "data: {a: '1'}\n")
    kubectl("apply", "-n", namespace, "-f", str(manifests), "-l", label)
    (manifests / "gone.yaml").unlink()
    out = kubectl("apply", "-n", namespace, "-f", str(manifests), "--prune", "-l", label)
    assert "configmap/gone pruned" in out and "configmap/keep unchanged" in out
    assert [r[0] for r in rows(kubectl("get", "cm", "-n", namespace, "-l", label))[1:]] == ["keep"]


def test_kubectl_create_get_and_describe_ingress(kubectl: Kubectl, namespace: str, default_class: str) -> None:
    ns = ("-n", namespace)
    # typed create commands POST protobuf
    kubectl("create", "ingress", "simple", "--rule=foo.com/bar=svc1:8080,tls=my-cert", *ns)
    kubectl("create", "ingress", "catch", "--default-backend=defsvc:http", "--class=other", *ns)
    kubectl.apply_text(f"""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: web, namespace: {namespace}}}
spec:
  podSelector: {{matchLabels: {{app: web}}}}
  egress: [{{ports: [{{port: 53}}]}}]
""")
    ing = kubectl("get", "ing", *ns)
    assert header(ing) == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    by_name = {r[0]: r for r in rows(ing)[1:]}
    # the default class was set by admission; the other names its own (absent) class
    assert by_name["simple"][:4] == ["simple", default_class, "foo.com", "80, 443"]
    assert by_name["catch"][:4] == ["catch", "other", "*", "80"]
    ic = kubectl("get", "ingressclass", default_class)
    assert header(ic) == ["NAME", "CONTROLLER", "PARAMETERS", "AGE"]
    assert rows(ic)[1][:3] == [default_class, "example.com/lb", "<none>"]
    np = kubectl("get", "netpol", *ns)
    assert header(np) == ["NAME", "POD-SELECTOR", "AGE"] and rows(np)[1][:2] == ["web", "app=web"]
    combined = kubectl("get", "ing,ingressclass,netpol", *ns)
    for expected in ("ingress.networking.k8s.io/simple", f"ingressclass.networking.k8s.io/{default_class}",
                     "networkpolicy.networking.k8s.io/web"):
        assert expected in combined
    described = kubectl("describe", "ingress", "simple", *ns)
    assert f"Ingress Class:    {default_class}" in described
    assert "my-cert terminates foo.com" in described and "/bar   svc1:8080" in described
    policy = kubectl("describe", "netpol", "web", *ns)
    assert "To Port: 53/TCP" in policy and "Policy Types: Ingress, Egress" in policy  # defaulted


def test_invalid_ingresses_are_422_with_upstreams_messages(k8s, kubectl: Kubectl,  # type: ignore[no-untyped-def]
                                                           namespace: str) -> None:
    api = client.NetworkingV1Api(k8s)
    bad = kubectl.run("apply", "-n", namespace, "-f", "-", check=False, stdin="""
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bad}
spec:
  rules:
  - host: 1.2.3.4
    http:
      paths:
      - {path: api, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /x, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /y, pathType: Regex, backend: {service: {name: web}}}
""")
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [
        'The Ingress "bad" is invalid: ',
        '* spec.rules[0].host: Invalid value: "1.2.3.4": must be a DNS name, not an IP address',
        '* spec.rules[0].http.paths[0].path: Invalid value: "api": must be an absolute path',
        "* spec.rules[0].http.paths[1].pathType: Required value: pathType must be specified",
        '* spec.rules[0].http.paths[2].pathType: Unsupported value: "Regex": supported values: "Exact", '
        '"ImplementationSpecific", "Prefix"',
        "* spec.rules[0].http.paths[2].backend: Required value: port name or number is required"]
    empty = kubectl.run("apply", "-n", namespace, "-f", "-", check=False, stdin=(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: empty}\nspec: {}\n"))
    assert empty.returncode == 1
    assert 'The Ingress "empty" is invalid: spec: Invalid value: null: either `defaultBackend` or `rules` must ' \
           "be specified" in empty.stderr
    bad_service = kubectl.run("create", "ingress", "svc", "--rule=a.com/=Web:80", "-n", namespace, check=False)
    assert bad_service.returncode == 1
    assert 'spec.rules[0].http.paths[0].backend.service.name: Invalid value: "Web": a DNS-1035 label' \
        in bad_service.stderr
    both = {"metadata": {"name": "both", "annotations": {"kubernetes.io/ingress.class": "a"}},
            "spec": {"ingressClassName": "b", "defaultBackend": {"service": {"name": "w", "port": {"number": 80}}}}}
    with pytest.raises(ApiException) as err:
        api.create_namespaced_ingress(namespace, both)
    assert err.value.status == 422
    assert _causes(err.value) == [("annotations.kubernetes.io/ingress.class",
                                   'Invalid value: "a": must match `ingressClassName` when both are specified')]


def test_default_ingress_class_admission(k8s, namespace: str, default_class: str) -> None:  # type: ignore[no-untyped-def]
    api = client.NetworkingV1Api(k8s)
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    plain = api.create_namespaced_ingress(namespace, {"metadata": {"name": "plain"},
                                                      "spec": {"defaultBackend": backend}})
    assert plain.spec.ingress_class_name == default_class
    annotated = api.create_namespaced_ingress(namespace, {
        "metadata": {"name": "legacy", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
        "spec": {"defaultBackend": backend}})
    assert annotated.spec.ingress_class_name is None  # the deprecated annotation names a class already


def test_ingress_status_is_a_subresource(k8s, kubectl: Kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    api = client.NetworkingV1Api(k8s)
    made = api.create_namespaced_ingress(namespace, {
        "metadata": {"name": "web"}, "spec": {"ingressClassName": "x", "rules": [{"host": "a.example.com"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}}})
    assert made.status.load_balancer.ingress is None and made.metadata.generation == 1
    api.patch_namespaced_ingress_status("web", namespace, {"status": {"loadBalancer": {"ingress": [
        {"ip": "192.168.1.10"}, {"hostname": "lb.example.com"}]}}})
    assert rows(kubectl("get", "ing", "web", "-n", namespace))[1][:4] == [
        "web", "x", "a.example.com", "192.168.1.10,lb.example.com"]
    with pytest.raises(ApiException) as err:
        api.patch_namespaced_ingress_status("web", namespace, {"status": {"loadBalancer": {"ingress": [
            {"ip": "not-an-ip"}]}}})
    assert err.value.status == 422
    assert _causes(err.value) == [("status.loadBalancer.ingress[0].ip", 'Invalid value: "not-an-ip": must be a '
                                   "valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    after = api.patch_namespaced_ingress("web", namespace, {"spec": {"ingressClassName": "y"}})
    assert after.metadata.generation == 2 and after.status.load_balancer.ingress[0].ip == "192.168.1.10"


def test_ingress_class_rules(k8s) -> None:  # type: ignore[no-untyped-def]
    api = client.NetworkingV1Api(k8s)
    name = f"ic-{_uid()}"
    with pytest.raises(ApiException) as err:
        api.create_ingress_class({"metadata": {"name": name}, "spec": {}})
    assert _causes(err.value) == [("spec.controller", "Required value")]
    with pytest.raises(ApiException) as err:
        api.create_ingress_class({"metadata": {"name": name}, "spec": {"controller": "nginx"}})
    assert _causes(err.value) == [("spec.controller", 'Invalid value: "nginx": must be a domain-prefixed path '
                                                      '(such as "acme.io/foo")')]
    made = api.create_ingress_class({"metadata": {"name": name}, "spec": {
        "controller": "example.com/lb", "parameters": {"kind": "LBConfig", "name": "cfg"}}})
    try:
        assert made.spec.parameters.scope == "Cluster"  # defaulted
        with pytest.raises(ApiException) as err:
            api.patch_ingress_class(name, {"spec": {"controller": "example.com/other"}})
        assert _causes(err.value) == [("spec.controller", 'Invalid value: "example.com/other": field is immutable')]
    finally:
        api.delete_ingress_class(name)


def test_network_policy_defaults_and_validation(k8s, namespace: str) -> None:  # type: ignore[no-untyped-def]
    api = client.NetworkingV1Api(k8s)
    made = api.create_namespaced_network_policy(namespace, {"metadata": {"name": "deny"}, "spec": {}})
    assert made.spec.policy_types == ["Ingress"] and made.spec.pod_selector.match_labels is None
    with pytest.raises(ApiException) as err:
        api.create_namespaced_network_policy(namespace, {"metadata": {"name": "bad"}, "spec": {
            "podSelector": {}, "policyTypes": ["Sideways"],
            "ingress": [{"from": [{}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}}],
                         "ports": [{"port": "http", "endPort": 90}]}]}})
    assert err.value.status == 422
    assert _causes(err.value) == [
        ("spec.ingress[0].ports[0].endPort", "Invalid value: 90: may not be specified when `port` is non-numeric"),
        ("spec.ingress[0].from[0]", "Required value: must specify a peer"),
        ("spec.ingress[0].from[1].ipBlock.except[0]",
         'Invalid value: "11.0.0.0/16": must be a strict subset of `cidr`'),
        ("spec.policyTypes[0]", 'Unsupported value: "Sideways": supported values: "Ingress", "Egress"')]
