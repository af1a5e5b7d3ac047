"""Pod watchers that select one node (each node agent's ``spec.nodeName=<node>`` watch) are
indexed by that node: they see exactly the events an unindexed watcher with the same
selector would, and events of other nodes' pods never reach them."""

from __future__ import annotations

import pytest

from kubelite.apiserver import registry, requests, watchcache
from kubelite.apiserver.strategies import pods as pod_strategy

pytestmark = pytest.mark.usefixtures("default_namespace")


def drain(watcher: watchcache.Watcher) -> list[tuple[str, str, str]]:
    out = []
    while not watcher.queue.empty():
        event = watcher.queue.get_nowait()
        assert isinstance(event, watchcache.WatchEvent)
        out.append((event.type, event.obj["metadata"]["name"], event.obj["spec"].get("nodeName", "")))
    return out


async def test_node_watchers_see_their_node_only(reg: registry.Registry) -> None:
    pods = reg.get("", "v1", "pods")
    assert pods is not None
    opts = requests.WriteOptions.parse({})

    async def watch(selector: str) -> watchcache.Watcher:
        watcher, _ = await pods.watch("default", requests.ListOptions.parse(
            {"watch": "true", "resourceVersion": str(reg.cache.revision), "fieldSelector": selector}))
        return watcher

    on_a, on_b, host_a = await watch("spec.nodeName=a"), await watch("spec.nodeName=b"), await watch("spec.host=a")
    running_on_a = await watch("spec.nodeName=a,status.phase=Running")
    unbound = await watch("spec.nodeName=")  # the scheduler's kind of watch: "" is a value too
    bound_anywhere = await watch("spec.nodeName!=")  # not indexable: offered everything
    cache = reg.cache.resource("", "pods")
    assert set(cache.by_trigger) == {"a", "b", ""} and bound_anywhere in cache.watchers

    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    await pods.create("default", {"metadata": {"name": "p1"}, "spec": spec}, opts)
    await pods.create("default", {"metadata": {"name": "p2"}, "spec": spec}, opts)
    for name, node in (("p1", "a"), ("p2", "b")):
        await pods.patch("default", name, lambda p, n=node, m=name: pod_strategy.bind(p, node_name=n, name=m), opts,
                         subresource="binding", copy=pod_strategy.copy_for_binding)

    def running(pod: dict) -> dict:
        pod["status"]["phase"] = "Running"
        return pod

    await pods.patch("default", "p1", running, opts, subresource="status")
    await pods.delete("default", "p1", requests.DeleteOptions.parse({}, {"gracePeriodSeconds": 0}))
    await reg.cache.wait_fresh()

    assert drain(on_a) == drain(host_a) == [("ADDED", "p1", "a"), ("MODIFIED", "p1", "a"), ("DELETED", "p1", "a")]
    assert drain(on_b) == [("ADDED", "p2", "b")]
    assert drain(running_on_a) == [("ADDED", "p1", "a"), ("DELETED", "p1", "a")]
    assert drain(unbound) == [("ADDED", "p1", ""), ("ADDED", "p2", ""), ("DELETED", "p1", "a"),
                              ("DELETED", "p2", "b")]
    assert [e[:2] for e in drain(bound_anywhere)] == [("ADDED", "p1"), ("ADDED", "p2"), ("MODIFIED", "p1"),
                                                       ("DELETED", "p1")]
    for watcher in (on_a, on_b, host_a, running_on_a, unbound, bound_anywhere):
        cache.unsubscribe(watcher)
    assert not cache.by_trigger and not cache.watchers
