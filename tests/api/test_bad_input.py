"""Bad requests get a Kubernetes ``Status`` with the right code, and nothing is stored."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import requests as http

from tests.support.rawapi import Api


@pytest.fixture(scope="module")
def api(kubeconfig: Path) -> Api:
    return Api(kubeconfig)


def _assert_status(resp: http.Response, code: int, reason: str, *, mentions: str = "") -> dict[str, Any]:
    assert resp.status_code == code, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure" and body["code"] == code and body["reason"] == reason, body
    assert "Traceback" not in body["message"]
    if mentions:
        assert mentions in body["message"], body["message"]
    return body


def _configmap(name: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}, **extra}


def _stored(api: Api, namespace: str, name: str) -> bool:
    return api.send("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}").status_code == 200


CM = "/api/v1/namespaces/{ns}/configmaps"


def test_anonymous_requests_are_unauthorized(api: Api) -> None:
    _assert_status(api.send("GET", "/api/v1/namespaces", auth=False), 401, "Unauthorized")
    _assert_status(api.send("GET", "/api/v1/namespaces", auth=False, headers={"Authorization": "Bearer nope"}),
                   401, "Unauthorized")
    assert api.send("GET", "/version", auth=False).status_code == 200
    assert api.send("GET", "/healthz", auth=False).status_code == 200


@pytest.mark.parametrize("case", [
    "malformed-json", "malformed-yaml", "not-an-object", "empty-body",
    "wrong-apiversion", "wrong-kind", "bad-name", "namespace-mismatch", "unknown-field-strict",
    "too-large", "bad-label", "missing-name", "unsupported-media-type",
])
def test_bad_create_is_refused_and_nothing_is_stored(api: Api, namespace: str, case: str) -> None:
    name = f"bad-{uuid.uuid4().hex[:6]}"
    path = CM.format(ns=namespace)
    params = None
    ctype = "application/json"
    body: Any
    expect = (400, "BadRequest")
    if case == "malformed-json":
        body = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "' + name + '"'
    elif case == "malformed-yaml":
        body, ctype = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}\n  : : :", "application/yaml"
    elif case == "not-an-object":
        body = "[1, 2, 3]"
    elif case == "empty-body":
        body = ""
    elif case == "wrong-apiversion":
        body = _configmap(name, apiVersion="apps/v1")
    elif case == "wrong-kind":
        body = _configmap(name, kind="Secret")
    elif case == "bad-name":
        name = "Bad_Name!"
        body, expect = _configmap(name), (422, "Invalid")
    elif case == "namespace-mismatch":
        body = _configmap(name)
        body["metadata"]["namespace"] = "some-other-namespace"
    elif case == "unknown-field-strict":
        body, params = _configmap(name, dataa={"x": "y"}), {"fieldValidation": "Strict"}
    elif case == "too-large":
        body, expect = _configmap(name, data={"k": "x" * (3 * 1024 * 1024 + 10)}), (413, "RequestEntityTooLarge")
    elif case == "bad-label":
        body, expect = _configmap(name), (422, "Invalid")
        body["metadata"]["labels"] = {"app": "not valid!"}
    elif case == "missing-name":
        body, expect = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, (422, "Invalid")
    elif case == "unsupported-media-type":
        body, ctype, expect = _configmap(name), "text/plain", (415, "UnsupportedMediaType")
    resp = api.send("POST", path, body=body, content_type=ctype, params=params)
    _assert_status(resp, *expect)
    assert not _stored(api, namespace, name)


def test_unknown_field_warns_by_default_and_strict_names_it(api: Api, namespace: str) -> None:
    resp = api.send("POST", CM.format(ns=namespace), body=_configmap("warned", dataa={"x": "y"}))
    assert resp.status_code == 201
    assert 'unknown field \\"dataa\\"' in resp.headers.get("Warning", "") or \
        'unknown field "dataa"' in resp.headers.get("Warning", "")
    strict = api.send("POST", CM.format(ns=namespace), body=_configmap("strict", dataa={"x": "y"}),
                      params={"fieldValidation": "Strict"})
    _assert_status(strict, 400, "BadRequest", mentions='unknown field "dataa"')


def test_conflicts_and_missing_objects(api: Api, namespace: str) -> None:
    path = CM.format(ns=namespace)
    assert api.send("POST", path, body=_configmap("dup")).status_code == 201
    _assert_status(api.send("POST", path, body=_configmap("dup")), 409, "AlreadyExists",
                   mentions='configmaps "dup" already exists')
    _assert_status(api.send("GET", f"{path}/nope"), 404, "NotFound", mentions='configmaps "nope" not found')
    current = api.send("GET", f"{path}/dup").json()
    stale = dict(current, data={"k": "stale"})
    stale["metadata"] = dict(current["metadata"], resourceVersion="1")
    _assert_status(api.send("PUT", f"{path}/dup", body=stale), 409, "Conflict",
                   mentions="the object has been modified")
    assert api.send("GET", f"{path}/dup").json()["data"] == {"k": "v"}


def test_bad_patches(api: Api, namespace: str) -> None:
    path = CM.format(ns=namespace)
    api.send("POST", path, body=_configmap("p"))
    # A failing JSON Patch test operation is 422 and changes nothing.
    resp = api.send("PATCH", f"{path}/p", content_type="application/json-patch+json",
                    body=[{"op": "test", "path": "/data/k", "value": "other"},
                          {"op": "replace", "path": "/data/k", "value": "changed"}])
    _assert_status(resp, 422, "Invalid")
    assert api.send("GET", f"{path}/p").json()["data"] == {"k": "v"}
    _assert_status(api.send("PATCH", f"{path}/p", content_type="application/json-patch+json", body={"op": "x"}),
                   400, "BadRequest")
    _assert_status(api.send("PATCH", f"{path}/p", content_type="application/merge-patch+json", body="{nope"),
                   400, "BadRequest")
    _assert_status(api.send("PATCH", f"{path}/p", content_type="text/plain", body="{}"),
                   415, "UnsupportedMediaType")


def test_bad_query_parameters(api: Api, namespace: str) -> None:
    path = CM.format(ns=namespace)
    _assert_status(api.send("GET", path, params={"labelSelector": "a in (b"}), 400, "BadRequest")
    _assert_status(api.send("GET", path, params={"fieldSelector": "spec.nonsense=1"}), 400, "BadRequest",
                   mentions="spec.nonsense")
    _assert_status(api.send("GET", path, params={"limit": "many"}), 400, "BadRequest")
    _assert_status(api.send("GET", path, params={"continue": "garbage!!"}), 400, "BadRequest")
    _assert_status(api.send("GET", path, params={"watch": "maybe"}), 400, "BadRequest")


def test_unknown_paths_and_methods(api: Api, namespace: str) -> None:
    _assert_status(api.send("GET", "/api/v1/widgets"), 404, "NotFound")
    _assert_status(api.send("GET", "/apis/nope.example.com/v1/things"), 404, "NotFound")
    _assert_status(api.send("PUT", CM.format(ns=namespace), body=_configmap("x")), 405, "MethodNotAllowed")
    _assert_status(api.send("POST", f"/api/v1/namespaces/does-not-exist-{uuid.uuid4().hex[:4]}/configmaps",
                            body=_configmap("x")), 404, "NotFound", mentions="namespaces")


def test_dry_run_stores_nothing(api: Api, namespace: str) -> None:
    path = CM.format(ns=namespace)
    resp = api.send("POST", path, body=_configmap("dry"), params={"dryRun": "All"})
    assert resp.status_code == 201 and resp.json()["metadata"]["name"] == "dry"
    assert not _stored(api, namespace, "dry")
    _assert_status(api.send("POST", path, body=_configmap("dry2"), params={"dryRun": "Some"}), 400, "BadRequest")


def _raw_exchange(api: Api, head: str, body: bytes, *, wait_for_continue: bool) -> tuple[bytes, bytes]:
    """Send ``head``; if asked, read the interim answer before the body. (interim, final)."""
    import socket
    import ssl
    from urllib.parse import urlsplit

    url = urlsplit(api.url)
    ctx = ssl.create_default_context(cafile=str(api.ca))
    token = api.session.headers["Authorization"]
    with socket.create_connection((url.hostname, url.port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=url.hostname) as conn:
        conn.sendall(f"{head}\r\nHost: {url.netloc}\r\nAuthorization: {token}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        interim = conn.recv(4096) if wait_for_continue else b""
        if interim and not interim.startswith(b"HTTP/1.1 100 "):
            return interim, b""  # a final answer instead: the body is not wanted
        conn.sendall(body)
        final = b""
        while chunk := conn.recv(65536):
            final += chunk
        return interim, final


def test_expect_100_continue_is_answered_before_the_body(api: Api) -> None:
    """curl sends ``Expect: 100-continue`` for bodies over 1 KiB and waits for the interim answer."""
    name = f"expect-{uuid.uuid4().hex[:8]}"
    body = __import__("json").dumps(_configmap(name, data={"k": "v" * 4096})).encode()
    interim, final = _raw_exchange(api, "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\n"
                                        "Expect: 100-continue", body, wait_for_continue=True)
    assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
    assert final.startswith(b"HTTP/1.1 201"), final[:300]
    assert api.send("GET", f"/api/v1/namespaces/default/configmaps/{name}").status_code == 200
    api.send("DELETE", f"/api/v1/namespaces/default/configmaps/{name}")


def test_an_unknown_expectation_is_refused(api: Api) -> None:
    interim, _ = _raw_exchange(api, "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nExpect: teapot",
                               b"{}", wait_for_continue=True)
    assert interim.startswith(b"HTTP/1.1 417"), interim[:300]
    assert b'"kind":"Status"' in interim


# --- what the fuzz test (test_bad_input_fuzz.py) found: one pinned example of each -------


@pytest.mark.parametrize(("body", "message"), [
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
      "spec": {"containers": [{"name": 5, "image": "busybox"}]}},
     ('Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go struct field '
     "Container.spec.containers.name of type string")),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ["x"]}},
     ('ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal array into Go struct '
     "field ObjectMeta.metadata.name of type string")),
    ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": ["x"]}},
     "json: cannot unmarshal array into Go struct field Secret.data of type []uint8"),
])
def test_a_value_of_the_wrong_type_is_a_400_naming_it(api: Api, namespace: str, body: dict[str, Any],
                                                      message: str) -> None:
    plural = {"Pod": "pods", "ConfigMap": "configmaps", "Secret": "secrets"}[body["kind"]]
    resp = api.send("POST", f"/api/v1/namespaces/{namespace}/{plural}", body=body)
    assert message in _assert_status(resp, 400, "BadRequest")["message"]
    listed = api.send("GET", f"/api/v1/namespaces/{namespace}/{plural}").json()
    # nothing written (the namespace's own kube-root-ca.crt aside)
    assert [i["metadata"]["name"] for i in listed["items"] if i["metadata"]["name"] != "kube-root-ca.crt"] == []


def test_a_patch_that_leaves_a_wrong_type_is_a_422_on_the_patch(api: Api, namespace: str) -> None:
    assert api.send("POST", f"/api/v1/namespaces/{namespace}/configmaps", body=_configmap("c")).status_code == 201
    resp = api.send("PATCH", f"/api/v1/namespaces/{namespace}/configmaps/c", body={"data": {"k": {"a": 1}}},
                    content_type="application/merge-patch+json")
    body = _assert_status(resp, 422, "Invalid", mentions="json: cannot unmarshal object into Go struct field "
                                                         "ConfigMap.data of type string")
    assert body["details"]["causes"][0]["field"] == "patch"
    assert api.send("GET", f"/api/v1/namespaces/{namespace}/configmaps/c").json()["data"] == {"k": "v"}


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"x":'
     + b"[" * 600 + b"]" * 600 + b"}"),
    ("application/yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\nx: " + b"[" * 300 + b"]" * 300),
])
def test_deep_nesting_is_a_400_not_a_crash(api: Api, namespace: str, content_type: str, body: bytes) -> None:
    resp = api.send("POST", f"/api/v1/namespaces/{namespace}/configmaps", body=body, content_type=content_type)
    _assert_status(resp, 400, "BadRequest", mentions="nests objects or lists more than 100 levels deep")
    assert api.send("GET", "/readyz").status_code == 200


@pytest.mark.parametrize(("value", "mentions"), [
    ("18446744073709551616", "integer out of range"), ("!!binary AAEC", "(bytes)"), ("!!set {a}", "(set)"),
    (".nan", "a number JSON cannot carry"),
])
def test_yaml_values_json_cannot_carry_are_a_400(api: Api, namespace: str, value: str, mentions: str) -> None:
    body = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: y}}\nx: {value}\n"
    resp = api.send("POST", f"/api/v1/namespaces/{namespace}/configmaps", body=body, content_type="application/yaml")
    _assert_status(resp, 400, "BadRequest", mentions=mentions)


def test_a_field_name_with_a_line_break_is_escaped_in_the_warning(api: Api, namespace: str) -> None:
    resp = api.send("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                    body=b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w"},"a\\nb":1}')
    assert resp.status_code == 201, resp.text
    assert resp.headers["Warning"] == '299 - "unknown field \\"a\\\\nb\\""'


def test_a_yaml_body_fifty_thousand_brackets_deep_is_a_400_not_a_crash(api: Api, namespace: str) -> None:
    # libyaml's C composer recursed without bound on this and took the server down (SIGSEGV)
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\nx: " + b"[" * 50000 + b"]" * 50000
    resp = api.send("POST", f"/api/v1/namespaces/{namespace}/configmaps", body=body, content_type="application/yaml")
    _assert_status(resp, 400, "BadRequest", mentions="more than 100 levels deep")
    assert api.send("GET", "/readyz").status_code == 200


@pytest.mark.parametrize(("body", "mentions"), [
    (b"? " * 50000 + b"a", "more than 100 levels deep"),  # nested keys: crashed libyaml too
    (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\n"
     + b"".join(f"l{i}: &l{i} [".encode() + b", ".join([f"*l{i - 1}".encode() if i else b"x"] * 9) + b"]\n"
                for i in range(9)), "through YAML aliases"),
])
def test_yaml_that_nests_or_expands_without_bound_is_a_400(api: Api, namespace: str, body: bytes,
                                                         mentions: str) -> None:
    resp = api.send("POST", f"/api/v1/namespaces/{namespace}/configmaps", body=body, content_type="application/yaml")
    _assert_status(resp, 400, "BadRequest", mentions=mentions)
    assert api.send("GET", "/readyz").status_code == 200


def test_null_sections_are_their_zero_values(api: Api, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/services"
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}}
    assert api.send("POST", base, body=svc).status_code == 201
    # upstream decodes "spec": null as an empty spec, which then fails validation: a 422, never a 500
    resp = api.send("PUT", f"{base}/svc", body={**svc, "spec": None})
    _assert_status(resp, 422, "Invalid", mentions="spec.ports: Required value")
    resp = api.send("PATCH", f"/api/v1/namespaces/{namespace}/configmaps/ac", params={"fieldManager": "m"},
                    body=b"apiVersion: v1\nkind: ConfigMap\nmetadata: null\n", content_type="application/apply-patch+yaml")
    assert resp.status_code == 201, resp.text  # the name comes from the URL
