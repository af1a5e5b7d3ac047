"""Watch errors in the stream, and PartialObjectMetadata answers, against a real server.

Upstream's watch cache answers a watch it cannot start once the request is understood
(a resourceVersion older than its window: 410 Expired; one it does not reach in time for
``sendInitialEvents``: 504 Timeout) with HTTP 200 and one ``ERROR`` event carrying the
Status, then ends the stream. lightkube, kr8s and kopf recover (re-list) only from that
form. Both of kubelite's HTTP paths serve watches: the HTTP/1.1 front, and aiohttp for a
connection it hands over (``Connection: close`` does); both are checked.

``Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`` (client-go's
metadata client and informers) gets the object's metadata only, ``as=…List`` a list of
them, and a watch PartialObjectMetadata events.

A watch from a too-old resourceVersion needs a revision older than the watch cache's
window: the cache of a custom resource starts when its CRD is established, so
``resourceVersion=1`` is too old for it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests as http

from tests.conftest import wait_for
from tests.support.rawapi import Api

POM = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
POML = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
# client-go's metadata client: protobuf first (not served here), then JSON
METADATA_CLIENT = ("application/vnd.kubernetes.protobuf;as={as_};g=meta.k8s.io;v=v1,"
                   "application/json;as={as_};g=meta.k8s.io;v=v1,application/json")
# a header the HTTP/1.1 front leaves to aiohttp
FRONTS = {"http1": {}, "aiohttp": {"Connection": "close"}}


@pytest.fixture(scope="module")
def api(kubeconfig: Path) -> Api:
    return Api(kubeconfig)


@pytest.fixture(scope="module")
def crd(api: Api) -> Iterator[tuple[str, str]]:
    """A freshly established CRD: (its group, the plural of its resource)."""
    group = f"wm{uuid.uuid4().hex[:6]}.kubelite.io"
    body = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"gadgets.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                         "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
    resp = api.send("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=body)
    assert resp.status_code == 201, resp.text
    wait_for(lambda: api.send("GET", f"/apis/{group}/v1/gadgets").status_code == 200, timeout=10,
             message="the CRD served")
    yield group, "gadgets"
    api.send("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.{group}")


def _events(resp: http.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in resp.text.splitlines() if line.strip()]


def _configmap(api: Api, namespace: str, name: str, **labels: str) -> dict[str, Any]:
    resp = api.send("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                    body={"metadata": {"name": name, "labels": labels, "annotations": {"note": "x"}},
                          "data": {"big": "y" * 100}})
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


# --- errors in the stream -------------------------------------------------------------------


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("accept", ["application/json", TABLE, POM])
def test_watch_from_a_too_old_version_is_one_error_event(api: Api, crd: tuple[str, str], namespace: str,
                                                         front: str, accept: str) -> None:
    group, plural = crd
    resp = api.send("GET", f"/apis/{group}/v1/namespaces/{namespace}/{plural}",
                    params={"watch": "1", "resourceVersion": "1"}, headers={"Accept": accept, **FRONTS[front]})
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    [event] = _events(resp)  # and then the stream ended
    assert event["type"] == "ERROR"
    status = event["object"]  # a Status, whatever form the objects were asked in
    assert status["kind"] == "Status" and status["apiVersion"] == "v1" and status["status"] == "Failure"
    assert status["code"] == 410 and status["reason"] == "Expired"
    assert status["message"].startswith("too old resource version: 1 (")


@pytest.mark.parametrize("front", FRONTS)
def test_send_initial_events_from_the_future_times_out_in_the_stream(api: Api, namespace: str, front: str) -> None:
    current = int(api.send("GET", f"/api/v1/namespaces/{namespace}/configmaps").json()["metadata"]["resourceVersion"])
    future = current + 1_000_000
    resp = api.send("GET", f"/api/v1/namespaces/{namespace}/configmaps", headers=FRONTS[front], params={
        "watch": "1", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
        "resourceVersion": str(future), "allowWatchBookmarks": "true"})
    assert resp.status_code == 200, resp.text
    [event] = _events(resp)
    assert event["type"] == "ERROR"
    status = event["object"]
    assert status["code"] == 504 and status["reason"] == "Timeout"
    assert status["message"].startswith(f"Too large resource version: {future}, current: ")
    assert status["details"]["causes"] == [{"reason": "ResourceVersionTooLarge",
                                            "message": "Too large resource version"}]
    assert status["details"]["retryAfterSeconds"] == 1


def test_plain_watch_from_the_future_starts_quietly(api: Api, namespace: str) -> None:
    current = int(api.send("GET", f"/api/v1/namespaces/{namespace}/configmaps").json()["metadata"]["resourceVersion"])
    resp = api.send("GET", f"/api/v1/namespaces/{namespace}/configmaps", params={
        "watch": "1", "resourceVersion": str(current + 1_000_000), "timeoutSeconds": "1"})
    assert resp.status_code == 200 and _events(resp) == []  # as upstream: no wait, no error


def test_bad_watch_requests_are_still_http_errors(api: Api, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for params, code in (({"labelSelector": "a in ("}, 400), ({"resourceVersion": "x"}, 400),
                         ({"sendInitialEvents": "true"}, 422)):
        resp = api.send("GET", path, params={"watch": "1", **params})
        assert resp.status_code == code, resp.text
        assert resp.json()["kind"] == "Status"


def test_lightkube_watch_recovers_from_410(kubeconfig: Path, api: Api, crd: tuple[str, str], namespace: str) -> None:
    from lightkube import ApiError, Client, KubeConfig
    from lightkube.generic_resource import create_namespaced_resource
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.types import on_error_retry

    group, plural = crd
    gadget = create_namespaced_resource(group, "v1", "Gadget", plural)
    client = Client(KubeConfig.from_file(kubeconfig))
    try:
        client.create(gadget(metadata=ObjectMeta(name="g1", namespace=namespace)))
        # lightkube raises the in-stream Status as its ApiError (an HTTP 410 was a bare
        # httpx.HTTPStatusError, and its retry loop re-sent the stale version for ever)...
        with pytest.raises(ApiError) as expired:
            next(iter(client.watch(gadget, namespace=namespace, resource_version="1")))
        assert expired.value.status.code == 410
        # ...and with on_error_retry it drops the version and watches from the current state
        op, obj = next(iter(client.watch(gadget, namespace=namespace, resource_version="1", on_error=on_error_retry)))
        assert op == "ADDED" and obj.metadata is not None and obj.metadata.name == "g1"
    finally:
        client.close()


# --- PartialObjectMetadata --------------------------------------------------------------------


@pytest.mark.parametrize("front", FRONTS)
def test_partial_object_metadata_of_one_object(api: Api, namespace: str, front: str) -> None:
    cm = _configmap(api, namespace, "pom", app="x")
    path = f"/api/v1/namespaces/{namespace}/configmaps/pom"
    for accept, version in ((POM, "v1"), (POM.replace("v=v1", "v=v1beta1"), "v1beta1"),
                            (METADATA_CLIENT.format(as_="PartialObjectMetadata"), "v1")):
        resp = api.send("GET", path, headers={"Accept": accept, **FRONTS[front]})
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}",
                               "metadata": cm["metadata"]}
    plain = api.send("GET", path, headers={"Accept": "application/json, " + POM}).json()  # the first one wins
    assert plain["kind"] == "ConfigMap" and plain["data"]["big"]
    refused = api.send("GET", path, headers={"Accept": POML})
    assert refused.status_code == 406 and refused.json()["reason"] == "NotAcceptable"
    assert refused.json()["message"] == ("you requested PartialObjectMetadataList, but the requested object "
                                         "is not a list (*core.ConfigMap)")


def test_partial_object_metadata_list(api: Api, namespace: str, crd: tuple[str, str]) -> None:
    made = [_configmap(api, namespace, f"pl-{i}", app="pl") for i in range(3)]
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    body = api.send("GET", path, params={"labelSelector": "app=pl"},
                    headers={"Accept": METADATA_CLIENT.format(as_="PartialObjectMetadataList")}).json()
    assert body["kind"] == "PartialObjectMetadataList" and body["apiVersion"] == "meta.k8s.io/v1"
    assert set(body["metadata"]) == {"resourceVersion"}
    assert body["items"] == [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                              "metadata": cm["metadata"]} for cm in made]
    page = api.send("GET", path, params={"labelSelector": "app=pl", "limit": "2"},
                    headers={"Accept": POML.replace("v=v1", "v=v1beta1")}).json()
    assert page["apiVersion"] == "meta.k8s.io/v1beta1" and len(page["items"]) == 2 and page["metadata"]["continue"]
    assert page["items"][0]["apiVersion"] == "meta.k8s.io/v1beta1"
    refused = api.send("GET", path, headers={"Accept": POM})
    assert refused.status_code == 406
    assert refused.json()["message"] == ("you requested PartialObjectMetadata, but the requested object is a list "
                                         "(*core.ConfigMapList)")
    group, plural = crd
    api.send("POST", f"/apis/{group}/v1/namespaces/{namespace}/{plural}",
             body={"apiVersion": f"{group}/v1", "kind": "Gadget", "metadata": {"name": "cr"}, "spec": {"a": 1}})
    crs = api.send("GET", f"/apis/{group}/v1/namespaces/{namespace}/{plural}", headers={"Accept": POML}).json()
    assert [(i["kind"], i["metadata"]["name"], set(i)) for i in crs["items"]] == [
        ("PartialObjectMetadata", "cr", {"kind", "apiVersion", "metadata"})]


@pytest.mark.parametrize("front", FRONTS)
def test_partial_object_metadata_watch(api: Api, namespace: str, front: str) -> None:
    cm = _configmap(api, namespace, "pw")
    resp = api.send("GET", f"/api/v1/namespaces/{namespace}/configmaps", headers={"Accept": POM, **FRONTS[front]},
                    params={"watch": "1", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
                            "allowWatchBookmarks": "true", "timeoutSeconds": "1",
                            "fieldSelector": "metadata.name=pw"})  # not the namespace's kube-root-ca.crt
    assert resp.status_code == 200, resp.text
    events = _events(resp)
    added = [e for e in events if e["type"] == "ADDED"]
    bookmark = events[len(added)]  # the first after the initial events (a periodic one may follow)
    assert added == [{"type": "ADDED", "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                                  "metadata": cm["metadata"]}}]
    assert {e["type"] for e in events[len(added):]} == {"BOOKMARK"}
    assert bookmark["object"]["kind"] == "PartialObjectMetadata"
    assert bookmark["object"]["apiVersion"] == "meta.k8s.io/v1"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    # as upstream, a watch asked for PartialObjectMetadataList streams the objects themselves
    resp = api.send("GET", f"/api/v1/namespaces/{namespace}/configmaps", headers={"Accept": POML},
                    params={"watch": "1", "timeoutSeconds": "1"})
    assert {e["object"]["kind"] for e in _events(resp)} == {"ConfigMap"}


def test_partial_object_metadata_of_a_write(api: Api, namespace: str) -> None:
    _configmap(api, namespace, "pp")
    resp = api.send("PATCH", f"/api/v1/namespaces/{namespace}/configmaps/pp",
                    content_type="application/merge-patch+json",
                    body={"metadata": {"labels": {"patched": "yes"}}}, headers={"Accept": POM})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["kind"] == "PartialObjectMetadata" and body["metadata"]["labels"] == {"patched": "yes"}
    gone = api.send("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/pp", headers={"Accept": POM})
    assert gone.json()["kind"] == "Status"  # a Status is never converted


def test_an_accept_header_nothing_satisfies_is_406(api: Api, namespace: str) -> None:
    _configmap(api, namespace, "accept", app="x")
    one = f"/api/v1/namespaces/{namespace}/configmaps/accept"
    for path in (one, f"/api/v1/namespaces/{namespace}/configmaps",
                 f"/api/v1/namespaces/{namespace}/configmaps?watch=1&timeoutSeconds=1"):
        for accept in ("text/html", "application/xml, text/plain;q=0.5",
                       "application/json;as=Foo;g=meta.k8s.io;v=v1"):
            resp = api.send("GET", path, headers={"Accept": accept})
            assert resp.status_code == 406, (path, accept, resp.text)
            assert resp.json()["reason"] == "NotAcceptable"
            assert resp.json()["message"] == ("only the following media types are accepted: application/json, "
                                              "application/yaml, application/vnd.kubernetes.protobuf")
    # What a JSON answer satisfies, and the types upstream would write in another encoding.
    for accept in ("*/*", "application/*", "text/html, */*;q=0.1", "application/vnd.kubernetes.protobuf",
                   "application/yaml", "application/json;stream=watch"):
        resp = api.send("GET", one, headers={"Accept": accept})
        assert resp.status_code == 200 and resp.json()["kind"] == "ConfigMap", (accept, resp.text)
