"""How a watch that cannot start is answered (``registry.Store.watch``), as upstream's
cacher: selectors it cannot parse are refused as the request's answer, while a
resourceVersion older than the watch cache's window (410 Expired) or one the cache does
not reach in time for ``sendInitialEvents`` (504 Timeout) becomes a watcher holding only
that error, which ``watch.serve`` sends as one ERROR event after HTTP 200. A plain watch
from a resourceVersion the cache has not reached starts at once and skips the events up
to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubelite import storage
from kubelite.api import errors, scheme
from kubelite.apiserver import registry, requests, strategies, watchcache

WINDOW = 3


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[registry.Registry]:
    """A registry whose watch cache keeps 3 events per resource."""
    backend = await storage.open_backend(f"sqlite://{tmp_path}/state.db")
    cache = watchcache.WatchCache(backend, window=WINDOW)
    await cache.start()
    the_scheme = scheme.Scheme()
    reg = registry.Registry(backend=backend, cache=cache, scheme_=the_scheme)
    for info in the_scheme.resources:
        reg.add(info, strategies.strategy_for(info))
    await reg.get("", "v1", "namespaces").create(  # type: ignore[union-attr]
        None, {"metadata": {"name": "default"}}, requests.WriteOptions())
    try:
        yield reg
    finally:
        await cache.close()
        await backend.close()


def _watch_opts(**query: str) -> requests.ListOptions:
    return requests.ListOptions.parse({"watch": "true", **query})


async def _configmaps(reg: registry.Registry, *names: str) -> list[int]:
    store = reg.get("", "v1", "configmaps")
    assert store is not None
    revisions = []
    for name in names:
        created = await store.create("default", {"metadata": {"name": name}}, requests.WriteOptions())
        revisions.append(int(created["metadata"]["resourceVersion"]))
    await reg.cache.wait_fresh()
    return revisions


def _drain(watcher: watchcache.Watcher) -> list[object]:
    out: list[object] = []
    while not watcher.queue.empty():
        out.append(watcher.queue.get_nowait())
    return out


async def test_too_old_resource_version_is_an_error_event(small: registry.Registry) -> None:
    revisions = await _configmaps(small, "a", "b", "c", "d", "e")
    store = small.get("", "v1", "configmaps")
    assert store is not None
    window_start = store.cache.window_start
    assert window_start == revisions[1]  # a and b fell out of the 3-event window
    watcher, _ = await store.watch("default", _watch_opts(resourceVersion=str(revisions[0])))
    [failure] = _drain(watcher)
    assert isinstance(failure, errors.Expired)
    # upstream's wording: the oldest resourceVersion a watch may still start from
    assert failure.message == f"too old resource version: {revisions[0]} ({window_start})"
    assert failure.to_status()["code"] == 410 and failure.to_status()["reason"] == "Expired"
    assert watcher not in store.cache.watchers  # subscribed to nothing
    # the oldest one still served replays what followed it
    watcher, _ = await store.watch("default", _watch_opts(resourceVersion=str(window_start)))
    assert [e.obj["metadata"]["name"] for e in _drain(watcher)] == ["c", "d", "e"]  # type: ignore[attr-defined]
    store.cache.unsubscribe(watcher)


async def test_send_initial_events_from_the_future_times_out_in_the_stream(
        small: registry.Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchcache, "FRESH_WAIT_SECONDS", 0.05)
    store = small.get("", "v1", "configmaps")
    assert store is not None
    future = small.cache.revision + 1000
    watcher, _ = await store.watch("default", _watch_opts(
        resourceVersion=str(future), sendInitialEvents="true", resourceVersionMatch="NotOlderThan"))
    [failure] = _drain(watcher)
    assert isinstance(failure, errors.Timeout)
    status = failure.to_status()
    assert status["code"] == 504 and status["reason"] == "Timeout"
    assert status["message"] == f"Too large resource version: {future}, current: {small.cache.revision}"
    assert status["details"] == {"causes": [{"reason": "ResourceVersionTooLarge",
                                             "message": "Too large resource version"}], "retryAfterSeconds": 1}


async def test_a_list_keeps_its_http_answer(small: registry.Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchcache, "FRESH_WAIT_SECONDS", 0.05)
    store = small.get("", "v1", "configmaps")
    assert store is not None
    with pytest.raises(errors.Timeout):
        await store.list("default", requests.ListOptions.parse({"resourceVersion": str(small.cache.revision + 99)}))
    revisions = await _configmaps(small, "a", "b")
    await small.backend.compact(revisions[1])
    with pytest.raises(errors.Expired):
        await store.list("default", requests.ListOptions.parse(
            {"resourceVersion": str(revisions[0]), "resourceVersionMatch": "Exact"}))


async def test_bad_selectors_are_still_refused_as_the_answer(small: registry.Registry) -> None:
    store = small.get("", "v1", "configmaps")
    assert store is not None
    with pytest.raises(errors.BadRequest):
        await store.watch("default", _watch_opts(labelSelector="a in ("))
    with pytest.raises(errors.BadRequest):
        await store.watch("default", _watch_opts(fieldSelector="spec.nope=1"))


async def test_a_watch_from_a_future_version_starts_and_skips_up_to_it(small: registry.Registry) -> None:
    store = small.get("", "v1", "configmaps")
    assert store is not None
    # two writes from now (read from a write of our own: the cache may trail the store)
    start = (await _configmaps(small, "warm"))[0] + 2
    watcher, _ = await store.watch("default", _watch_opts(resourceVersion=str(start)))
    assert _drain(watcher) == []
    revisions = await _configmaps(small, "a", "b", "c")
    later = [name for name, rev in zip("abc", revisions, strict=True) if rev > start]
    assert later and "a" not in later, revisions
    events = _drain(watcher)
    assert [(e.type, e.obj["metadata"]["name"]) for e in events] == [("ADDED", n) for n in later]  # type: ignore[attr-defined]
    store.cache.unsubscribe(watcher)


async def test_send_initial_events_false_starts_from_now(small: registry.Registry) -> None:
    await _configmaps(small, "old")
    store = small.get("", "v1", "configmaps")
    assert store is not None
    for rv in ("", "0"):
        watcher, _ = await store.watch("default", _watch_opts(resourceVersion=rv, sendInitialEvents="false"))
        assert _drain(watcher) == []  # no synthetic ADDED of "old"
        await _configmaps(small, f"new{rv}")
        assert [e.obj["metadata"]["name"] for e in _drain(watcher)] == [f"new{rv}"]  # type: ignore[attr-defined]
        store.cache.unsubscribe(watcher)
    watcher, _ = await store.watch("default", _watch_opts())  # unset: the current state first
    assert [e.obj["metadata"]["name"] for e in _drain(watcher)] == ["new", "new0", "old"]  # type: ignore[attr-defined]
    store.cache.unsubscribe(watcher)
