"""``batched.update_many``: many bindings at once answer as their own requests would,
including two for the same pod in one batch and pods the cache has not seen."""

from __future__ import annotations

import pytest

from kubelite.api import errors
from kubelite.apiserver import batched, registry, requests
from kubelite.apiserver.strategies import pods as pod_strategy

pytestmark = pytest.mark.usefixtures("default_namespace")


def binding(name: str, node: str) -> batched.Update:
    return "default", name, lambda p: pod_strategy.bind(p, node_name=node, name=name)


async def test_a_batch_of_bindings_answers_per_item(reg: registry.Registry) -> None:
    pods = reg.get("", "v1", "pods")
    assert pods is not None
    opts = requests.WriteOptions.parse({})
    for name in ("a", "b", "c"):
        await pods.create("default", {"metadata": {"name": name},
                                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, opts)
    await reg.cache.wait_fresh()
    answers = await batched.update_many(
        pods, [binding("a", "n1"), binding("b", "n2"), binding("a", "n3"), binding("ghost", "n1"), binding("c", "n1")],
        opts, subresource="binding", copy=pod_strategy.copy_for_binding)
    assert [a["spec"]["nodeName"] if isinstance(a, dict) else a.code for a in answers] == ["n1", "n2", 409, 404, "n1"]
    assert isinstance(answers[2], errors.StatusError) and 'already assigned to node "n1"' in str(answers[2])
    await reg.cache.wait_fresh()
    cached = reg.cache.resource("", "pods").objects
    for name, node in (("a", "n1"), ("b", "n2"), ("c", "n1")):
        pod = cached[f"/registry/core/pods/default/{name}"]
        assert pod["spec"]["nodeName"] == node
        assert pod["metadata"]["resourceVersion"] == next(
            a for a in answers if isinstance(a, dict) and a["metadata"]["name"] == name)["metadata"]["resourceVersion"]
    assert not reg.cache._hints  # every hint taken by its event or withdrawn
    # Again: every pod is bound now, so each binding is refused, as its own request would be.
    again = await batched.update_many(pods, [binding("a", "n2"), binding("b", "n2")], opts,
                                      subresource="binding", copy=pod_strategy.copy_for_binding)
    assert [a.code for a in again if isinstance(a, errors.StatusError)] == [409, 409]


def event(name: str, namespace: str = "default", **extra: object) -> tuple[str, dict]:
    return namespace, {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
                       "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace},
                       "reason": "Scheduled", "message": "m", "type": "Normal", **extra}


async def test_a_batch_of_creates_answers_per_item(reg: registry.Registry) -> None:
    events = reg.get("", "v1", "events")
    assert events is not None
    opts = requests.WriteOptions.parse({})
    answers = await batched.create_many(events, [
        event("e1"), event("e2"), event("e1"), event("e3", namespace="nowhere"), event("bad_Name!"),
        event("e5")], opts)
    codes = [a.code if isinstance(a, errors.StatusError) else a["metadata"]["name"] for a in answers]
    assert codes == ["e1", "e2", 409, 404, 422, "e5"]
    await reg.cache.wait_fresh()
    stored = reg.cache.resource("", "events").objects
    assert sorted(k.rsplit("/", 1)[1] for k in stored) == ["e1", "e2", "e5"]
    for answer in answers:
        if isinstance(answer, dict):
            key = f"/registry/core/events/default/{answer['metadata']['name']}"
            assert stored[key] == answer and answer["metadata"]["uid"] and answer["metadata"]["resourceVersion"]
    assert not reg.cache._hints
