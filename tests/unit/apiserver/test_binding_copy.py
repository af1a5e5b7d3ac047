"""A binding copies only what it changes of the stored pod (``pods.copy_for_binding``):
the watch cache's object, which concurrent reads are serving, must stay as it was."""

from __future__ import annotations

import orjson

from kubelite.apiserver import bulk, registry, requests
from kubelite.apiserver.strategies import pods as pod_strategy


async def test_binding_leaves_the_cached_pod_untouched(reg: registry.Registry) -> None:
    opts = requests.WriteOptions.parse({})
    namespaces, pods = reg.get("", "v1", "namespaces"), reg.get("", "v1", "pods")
    assert namespaces is not None and pods is not None
    await namespaces.create(None, {"metadata": {"name": "default"}}, opts)
    pod = {"metadata": {"name": "p", "labels": {"app": "a"}, "annotations": {"note": "x"}},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]},
           "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}}
    created = await pods.create("default", pod, opts)
    await reg.cache.wait_fresh()
    key = "/registry/core/pods/default/p"
    cached = reg.cache.resource("", "pods").objects[key]
    before = orjson.loads(orjson.dumps(cached))

    [result] = await bulk.Bulk(reg)._bind_all([{
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p", "namespace": "default",
                                                           "uid": created["metadata"]["uid"]},
        "target": {"kind": "Node", "name": "n1"}}], opts)

    assert result == {"code": 201}
    assert cached == before
    await reg.cache.wait_fresh()
    now = reg.cache.resource("", "pods").objects[key]
    assert now["spec"]["nodeName"] == "n1"
    assert [(c["type"], c["status"]) for c in now["status"]["conditions"]] == [("PodScheduled", "True")]
    assert now["metadata"]["labels"] == {"app": "a"} and now["metadata"]["annotations"] == {"note": "x"}


async def test_binding_keeps_the_pods_generation(reg: registry.Registry) -> None:
    opts = requests.WriteOptions.parse({})
    namespaces, pods = reg.get("", "v1", "namespaces"), reg.get("", "v1", "pods")
    assert namespaces is not None and pods is not None
    await namespaces.create(None, {"metadata": {"name": "default"}}, opts)
    created = await pods.create("default", {"metadata": {"name": "g"},
                                            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, opts)
    assert created["metadata"]["generation"] == 1
    bound = await pods.patch("default", "g", lambda p: pod_strategy.bind(p, node_name="n1", name="g"), opts,
                             subresource="binding")
    assert bound["spec"]["nodeName"] == "n1" and bound["metadata"]["generation"] == 1
