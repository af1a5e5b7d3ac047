"""Informers keep a faithful local copy: paged initial list, watch events to handlers,
re-list after 410, reconnect after errors, bookmarks, indices."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from kubelite.client import config, informer, resources, rest

from . import fakeapi
from .fakeapi import eventually

PODS = "core/v1/pods"


def pod(name: str, node: str = "", namespace: str = "default") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"nodeName": node}}


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def on_add(self, obj: dict[str, Any]) -> None:
        self.events.append(("add", informer.key_of(obj)))

    async def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.events.append(("update", informer.key_of(new)))

    def on_delete(self, obj: dict[str, Any]) -> None:
        self.events.append(("delete", informer.key_of(obj)))

    def attach(self, inf: informer.Informer) -> None:
        inf.add_handler(on_add=self.on_add, on_update=self.on_update, on_delete=self.on_delete)


@contextlib.asynccontextmanager
async def setup(**informer_kw: Any) -> AsyncIterator[tuple[fakeapi.FakeApi, rest.Client, informer.Informer]]:
    fake = fakeapi.FakeApi()
    async with fakeapi.serve(fake) as url:
        conf = config.ClientConfig(servers=[url])
        async with rest.Client(conf) as client:
            yield fake, client, informer.Informer(client, resources.PODS, **informer_kw)


async def test_initial_list_is_paged_then_watch_events_reach_handlers() -> None:
    async with setup(page_size=2) as (fake, client, inf):
        for i in range(5):
            fake.put_object(PODS, pod(f"p{i}"))
        rec = Recorder()
        rec.attach(inf)
        async with inf.running():
            assert await inf.wait_synced(5)
            assert sorted(inf.keys()) == [f"default/p{i}" for i in range(5)]
            assert rec.events == [("add", f"default/p{i}") for i in range(5)]
            assert len([r for r in fake.seen("GET") if "watch" not in r.query]) == 3  # 2+2+1
            assert (inf.get("default/p0") or {})["kind"] == "Pod"  # filled in from the resource

            rec.events.clear()
            await client.create(resources.PODS, pod("new"))
            await client.patch(resources.PODS, "p1", {"metadata": {"labels": {"a": "b"}}})
            await client.delete(resources.PODS, "p2")
            await eventually(lambda: len(rec.events) == 3)
            assert rec.events == [("add", "default/new"), ("update", "default/p1"),
                                  ("delete", "default/p2")]
            assert (inf.get("default/p1") or {})["metadata"]["labels"] == {"a": "b"}
            assert inf.get("default/p2") is None
            assert inf.resource_version == str(fake.rv)
            query = fake.seen("GET")[-1].query
            assert query["allowWatchBookmarks"] == "true" and query["watch"] == "true"


async def test_410_relists_and_reports_what_was_missed() -> None:
    async with setup() as (fake, _client, inf):
        for name in ["a", "b", "c"]:
            fake.put_object(PODS, pod(name))
        rec = Recorder()
        rec.attach(inf)
        async with inf.running():
            await inf.wait_synced(5)
            await eventually(lambda: fake.active_watches == 1)
            # Take the watch away, change things behind the informer's back, then forget
            # the history it would need to catch up: only a re-list can tell it.
            fake.watch_gate.clear()
            fake.end_watches()
            await eventually(lambda: fake.active_watches == 0)
            fake.remove_object(PODS, "default/a")
            fake.put_object(PODS, dict(pod("b"), spec={"nodeName": "n9"}))
            fake.put_object(PODS, pod("d"))
            fake.compact()
            rec.events.clear()
            fake.watch_gate.set()
            await eventually(lambda: len(rec.events) == 3)
            assert sorted(rec.events) == [("add", "default/d"), ("delete", "default/a"),
                                          ("update", "default/b")]
            assert sorted(inf.keys()) == ["default/b", "default/c", "default/d"]
            lists = [r for r in fake.seen("GET") if "watch" not in r.query]
            assert len(lists) == 2


async def test_reconnects_after_errors_and_resumes_from_the_last_version() -> None:
    async with setup() as (fake, client, inf):
        fake.put_object(PODS, pod("a"))
        rec = Recorder()
        rec.attach(inf)
        # The first watch fails outright: the informer backs off and watches again.
        fake.inject(500, query_has="watch", times=1)
        async with inf.running():
            await inf.wait_synced(5)
            await eventually(lambda: fake.active_watches == 1)
            seen_rv = inf.resource_version
            fake.end_watches()  # a clean end (server timeout): re-watch from where we were
            await eventually(lambda: fake.active_watches == 1)
            await client.create(resources.PODS, pod("b"))
            await eventually(lambda: ("add", "default/b") in rec.events)
            watches = [r for r in fake.seen("GET") if "watch" in r.query]
            assert watches[-1].query["resourceVersion"] == seen_rv
            assert len([r for r in fake.seen("GET") if "watch" not in r.query]) == 1


async def test_bookmarks_advance_the_resource_version_without_events() -> None:
    async with setup() as (fake, _client, inf):
        rec = Recorder()
        rec.attach(inf)
        async with inf.running():
            await inf.wait_synced(5)
            await eventually(lambda: fake.active_watches == 1)
            mark = fake.bookmark()
            await eventually(lambda: inf.resource_version == str(mark))
            assert rec.events == []


async def test_index_tracks_pods_by_node_through_updates_and_deletes() -> None:
    async with setup() as (fake, client, inf):
        fake.put_object(PODS, pod("p1", "node-a"))
        fake.put_object(PODS, pod("p2", "node-a"))
        fake.put_object(PODS, pod("p3", ""))
        inf.add_index("node", lambda o: (o.get("spec") or {}).get("nodeName") or None)
        async with inf.running():
            await inf.wait_synced(5)
            assert [p["metadata"]["name"] for p in inf.by_index("node", "node-a")] == ["p1", "p2"]
            await client.patch(resources.PODS, "p1", {"spec": {"nodeName": "node-b"}})
            await client.delete(resources.PODS, "p2")
            await eventually(lambda: inf.index_keys("node", "node-a") == [])
            assert inf.index_keys("node", "node-b") == ["default/p1"]
            # An index added to a running informer is built from the cache at once.
            inf.add_index("ns", lambda o: o["metadata"]["namespace"])
            assert inf.index_keys("ns", "default") == ["default/p1", "default/p3"]


async def test_a_failing_handler_does_not_stop_the_informer() -> None:
    async with setup() as (_fake, client, inf):
        added: list[str] = []

        def broken(obj: dict[str, Any]) -> None:
            raise RuntimeError("handler bug")

        async def good(obj: dict[str, Any]) -> None:
            added.append(obj["metadata"]["name"])

        inf.add_handler(on_add=broken)
        inf.add_handler(on_add=good)
        async with inf.running():
            await inf.wait_synced(5)
            await client.create(resources.PODS, pod("x"))
            await client.create(resources.PODS, pod("y"))
            await eventually(lambda: added == ["x", "y"])


async def test_resync_redelivers_cached_objects_as_updates() -> None:
    async with setup(resync_period=0.05) as (fake, _client, inf):
        fake.put_object(PODS, pod("a"))
        rec = Recorder()
        rec.attach(inf)
        async with inf.running():
            await inf.wait_synced(5)
            await eventually(lambda: rec.events.count(("update", "default/a")) >= 2)


async def test_a_handler_added_late_is_told_about_existing_objects() -> None:
    async with setup() as (fake, _client, inf):
        fake.put_object(PODS, pod("a"))
        async with inf.running():
            await inf.wait_synced(5)
            late = Recorder()
            late.attach(inf)
            await eventually(lambda: late.events == [("add", "default/a")])


def test_keys_follow_client_go_format() -> None:
    assert informer.key_of({"metadata": {"name": "n", "namespace": "ns"}}) == "ns/n"
    assert informer.key_of({"metadata": {"name": "node-1"}}) == "node-1"
    assert informer.split_key("ns/n") == ("ns", "n")
    assert informer.split_key("node-1") == (None, "node-1")
