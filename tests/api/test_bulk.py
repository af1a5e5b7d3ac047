"""The bulk endpoint kubelite's scheduler batches its bindings and events through
(``kubelite.apiserver.bulk``): each item gets the answer its own request would have had,
bad input a Status, and the scheduler's batching client falls back to one request per
item on a server without the endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes import client

from kubelite.client import config, errors, rest
from kubelite.scheduler import batching


def post(kubeconfig: Any, path: str, body: Any, method: str = "POST") -> tuple[int, Any]:
    async def call() -> tuple[int, Any]:
        async with rest.Client(config.load_kubeconfig(str(kubeconfig))) as c:
            try:
                return 200, await c.request(method, path, json=body)
            except errors.ApiError as exc:
                return exc.code, exc.status

    return asyncio.run(call())


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def binding(ns: str, name: str, node: str, uid: str = "") -> dict[str, Any]:
    meta = {"name": name, "namespace": ns} | ({"uid": uid} if uid else {})
    return {"apiVersion": "v1", "kind": "Binding", "metadata": meta, "target": {"kind": "Node", "name": node}}


def test_bulk_bindings_answer_per_item_as_their_own_requests_would(k8s: Any, kubeconfig: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    a = core.create_namespaced_pod(namespace, pod("a"))
    core.create_namespaced_pod(namespace, pod("b"))
    core.create_namespaced_pod(namespace, pod("bound"))
    assert post(kubeconfig, f"/api/v1/namespaces/{namespace}/pods/bound/binding",
                binding(namespace, "bound", "n0"))[0] == 200
    code, body = post(kubeconfig, "/apis/bulk.kubelite.io/v1/bindings", {"items": [
        binding(namespace, "a", "n1", uid=a.metadata.uid),
        binding(namespace, "b", "n2", uid="not-b"),
        binding(namespace, "bound", "n3"),
        binding(namespace, "ghost", "n1"),
        {"metadata": {"name": "a", "namespace": namespace}},
        {**binding(namespace, "b", "n1"), "target": {"kind": "Pod", "name": "n1"}},
    ]})
    assert code == 200 and body["kind"] == "BulkResult"
    got = [(i["code"], i.get("reason", "")) for i in body["items"]]
    assert got == [(201, ""), (409, "Conflict"), (409, "Conflict"), (404, "NotFound"), (422, "Invalid"),
                   (422, "Invalid")]
    assert 'target.kind: Unsupported value: "Pod"' in body["items"][5]["message"]
    assert 'already assigned to node "n0"' in body["items"][2]["message"]
    assert "target.name" in body["items"][4]["message"]
    placed = {p.metadata.name: p.spec.node_name for p in core.list_namespaced_pod(namespace).items}
    assert placed == {"a": "n1", "b": None, "bound": "n0"}
    scheduled = {c.type: c.status for c in core.read_namespaced_pod("a", namespace).status.conditions}
    assert scheduled["PodScheduled"] == "True"


def test_bulk_events_are_created_and_validated(k8s: Any, kubeconfig: Any, namespace: str) -> None:
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1", "namespace": namespace},
             "involvedObject": {"kind": "Pod", "name": "x", "namespace": namespace},
             "reason": "Scheduled", "message": "placed", "type": "Normal"}
    code, body = post(kubeconfig, "/apis/bulk.kubelite.io/v1/events", {"items": [
        event, event, {**event, "metadata": {"name": "e2"}}]})
    assert code == 200
    assert [i["code"] for i in body["items"]] == [201, 409, 422]
    names = [e.metadata.name for e in client.CoreV1Api(k8s).list_namespaced_event(namespace).items]
    assert names == ["e1"]


@pytest.mark.parametrize("path,body,want", [
    ("/apis/bulk.kubelite.io/v1/bindings", {"item": []}, 400),
    ("/apis/bulk.kubelite.io/v1/bindings", {"items": [1, 2]}, 400),
    ("/apis/bulk.kubelite.io/v1/bindings", {"items": [{}] * 1001}, 400),
    ("/apis/bulk.kubelite.io/v1/pods", {"items": []}, 404),
])
def test_bad_bulk_requests_get_a_status(kubeconfig: Any, path: str, body: Any, want: int) -> None:
    code, status = post(kubeconfig, path, body)
    assert code == want and status["kind"] == "Status" and status["message"]


def test_get_is_not_allowed(kubeconfig: Any) -> None:
    code, status = post(kubeconfig, "/apis/bulk.kubelite.io/v1/bindings", None, method="GET")
    assert code == 405 and status["kind"] == "Status"


def test_batching_client_groups_items_and_falls_back_without_the_endpoint(kubeconfig: Any, namespace: str,
                                                                          k8s: Any) -> None:
    core = client.CoreV1Api(k8s)
    for i in range(40):
        core.create_namespaced_pod(namespace, pod(f"p{i}"))

    async def run() -> tuple[int, int, list[str]]:
        async with rest.Client(config.load_kubeconfig(str(kubeconfig))) as c:
            singles: list[str] = []

            async def single(item: dict[str, Any]) -> None:
                singles.append(item["metadata"]["name"])
                meta = item["metadata"]
                await c.request("POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding",
                                json=item)

            bulk = batching.BulkWriter(c, kind="bindings", single=single, max_batch=8, in_flight=2)
            await asyncio.gather(*(bulk.submit(binding(namespace, f"p{i}", "n1")) for i in range(20)))
            with pytest.raises(errors.Conflict):
                await bulk.submit(binding(namespace, "p0", "n2"))  # already bound: its own error
            missing = batching.BulkWriter(c, kind="nothing-here", single=single)
            await asyncio.gather(*(missing.submit(binding(namespace, f"p{i}", "n1")) for i in range(20, 40)))
            return bulk.requests, missing.requests, singles

    requests, missing_requests, singles = asyncio.run(run())
    # 20 items at once: the first two leave alone (free slots), the rest in batches of 8
    assert requests <= 6
    assert missing_requests == 0 and sorted(singles) == sorted(f"p{i}" for i in range(20, 40))
    assert all(p.spec.node_name == "n1" for p in core.list_namespaced_pod(namespace).items)
