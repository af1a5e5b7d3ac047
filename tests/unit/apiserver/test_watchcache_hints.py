"""The watch cache takes the object a write stored instead of decoding its bytes again
(``WatchCache.hint``): what it then serves must be exactly what decoding would give, and a
write that fails must leave no hint behind."""

from __future__ import annotations

import orjson
import pytest

from kubelite.api import errors
from kubelite.apiserver import registry, requests, watchcache

KEY = "/registry/core/configmaps/default/c"


pytestmark = pytest.mark.usefixtures("default_namespace")


async def stored(reg: registry.Registry, key: str) -> dict:
    """The object as the datastore holds it, decoded the way the cache would."""
    kv = await reg.cache.backend.get(key)
    assert kv is not None
    return watchcache.decode(kv)


async def test_cached_objects_of_own_writes_equal_the_stored_ones(reg: registry.Registry) -> None:
    opts = requests.WriteOptions.parse({})
    cms = reg.get("", "v1", "configmaps")
    assert cms is not None
    created = await cms.create("default", {"metadata": {"name": "c"}, "data": {"a": "1"}}, opts)
    await reg.cache.wait_fresh()
    cached = reg.cache.resource("", "configmaps").objects[KEY]
    assert cached is created  # taken from the write, not decoded
    assert cached == await stored(reg, KEY)
    assert cached["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]

    def add(cm: dict) -> dict:
        cm.setdefault("data", {})["b"] = "2"
        return cm

    patched = await cms.patch("default", "c", add, opts)
    await reg.cache.wait_fresh()
    cached = reg.cache.resource("", "configmaps").objects[KEY]
    assert cached == await stored(reg, KEY) == patched
    assert cached["data"] == {"a": "1", "b": "2"}
    assert not reg.cache._hints


async def test_a_failed_write_leaves_no_hint(reg: registry.Registry) -> None:
    opts = requests.WriteOptions.parse({})
    cms = reg.get("", "v1", "configmaps")
    assert cms is not None
    await cms.create("default", {"metadata": {"name": "c"}, "data": {"a": "1"}}, opts)
    with pytest.raises(errors.StatusError) as exc:
        await cms.create("default", {"metadata": {"name": "c"}, "data": {"a": "other"}}, opts)
    assert exc.value.code == 409
    # A stale resourceVersion: the update conflicts and must not leave its object behind.
    with pytest.raises(errors.StatusError) as exc:
        await cms.update("default", "c", {"metadata": {"name": "c", "resourceVersion": "1"}, "data": {"a": "x"}},
                         opts)
    assert exc.value.code == 409
    await reg.cache.wait_fresh()
    assert not reg.cache._hints
    assert reg.cache.resource("", "configmaps").objects[KEY]["data"] == {"a": "1"}


async def test_values_from_elsewhere_are_decoded(reg: registry.Registry) -> None:
    """A hint for other bytes (another server's write, as through etcd) is not used."""
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"},
           "data": {"a": "mine"}}
    reg.cache.hint(KEY, orjson.dumps(obj), obj)
    theirs = {**obj, "data": {"a": "theirs"}}
    await reg.cache.backend.create(KEY, orjson.dumps(theirs))
    await reg.cache.wait_fresh()
    cached = reg.cache.resource("", "configmaps").objects[KEY]
    assert cached is not obj and cached["data"] == {"a": "theirs"}
    assert not reg.cache._hints  # the event ended the hint: it could never match again


async def test_replayed_and_deleted_events_end_their_hints(reg: registry.Registry) -> None:
    """An event replayed from the log carries bytes read back, not the written object; a
    delete carries none. Either ends the key's hint, so hints never pile up."""
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"},
           "data": {"a": "1"}}
    value = orjson.dumps(obj)
    revision = await reg.cache.backend.create(KEY, value)
    await reg.cache.wait_fresh()
    reg.cache.hint(KEY, value, obj)
    replay = reg.cache.backend.watch(KEY, start_revision=revision)
    batch = await anext(aiter(replay))
    await replay.aclose()
    assert batch[0].kv.value == value and batch[0].kv.value is not value
    reg.cache._dispatch(batch[0])
    assert not reg.cache._hints
    reg.cache.hint(KEY, value, obj)
    await reg.cache.backend.delete(KEY)
    await reg.cache.wait_fresh()
    assert not reg.cache._hints
    assert KEY not in reg.cache.resource("", "configmaps").objects


def test_a_store_that_reads_values_back_gets_no_hints() -> None:
    """etcd hands the watch bytes of its own: hints for it would only pile up."""
    cache = watchcache.WatchCache(object())  # type: ignore[arg-type]
    cache.hint(KEY, b"{}", {})
    assert not cache._hints


def test_selectable_fields_are_answered_per_object(reg: registry.Registry) -> None:
    """The strategy keeps its last two answers by identity (every field-selector watcher asks
    about the same event in turn); a different object always gets its own answer."""
    pods = reg.get("", "v1", "pods")
    assert pods is not None
    strategy = pods.strategy

    def pod(node: str) -> dict:
        return {"metadata": {"name": "p", "namespace": "default"}, "spec": {"nodeName": node}}

    a, b, c = pod("a"), pod("b"), pod("a")
    for _ in range(3):
        assert strategy.selectable_fields(a)["spec.nodeName"] == "a"
        assert strategy.selectable_fields(b)["spec.nodeName"] == "b"
    assert strategy.selectable_fields(c)["spec.nodeName"] == "a"
    assert strategy.selectable_fields(pod("z"))["spec.nodeName"] == "z"
    assert strategy.selectable_fields(a)["spec.nodeName"] == "a"


@pytest.mark.parametrize("obj", [
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"metadata": "x"}},
     "spec": {"template": {"metadata": {"name": "inner"}}}},
    {"metadata": {}, "data": {"k": '"metadata":{'}},
    {"kind": 'say "metadata":{ here', "n": 1, "metadata": {"name": "q"}},
    {"apiVersion": "v1", "metadata": {"name": "é\u2028"}, "data": {}},
])
def test_watch_bytes_spliced_from_the_stored_ones_decode_to_the_object(obj: dict) -> None:
    value = registry.encode_stored(obj)
    obj["metadata"]["resourceVersion"] = "42"
    spliced = watchcache.encoded_with_version(value, obj)
    assert spliced is not None
    assert orjson.loads(spliced) == obj
    event = watchcache.WatchEvent("ADDED", obj, None, 42, KEY, None, value)
    assert event.raw_object() == spliced


@pytest.mark.parametrize("obj", [
    # A nested "metadata" comes first in the bytes: splicing there would be wrong.
    {"spec": {"template": {"metadata": {"name": "inner"}}}, "metadata": {"name": "p"}},
    {"items": [{"metadata": {}}], "metadata": {"name": "p"}},
    {"data": {}},  # no metadata at all
])
def test_objects_whose_bytes_cannot_be_spliced_are_encoded_whole(obj: dict) -> None:
    value = orjson.dumps(obj)  # what encode_stored gives: no resourceVersion yet
    obj.setdefault("metadata", {})["resourceVersion"] = "7"
    assert watchcache.encoded_with_version(value, obj) is None
    event = watchcache.WatchEvent("MODIFIED", obj, None, 7, KEY, None, value)
    assert orjson.loads(event.raw_object()) == obj


async def test_watch_events_of_own_writes_carry_their_resource_version(reg: registry.Registry) -> None:
    """End to end through the cache: the bytes a watch sends for this server's writes
    (spliced from the stored ones) are the cached object, resourceVersion included."""
    cms = reg.get("", "v1", "configmaps")
    assert cms is not None
    cache = reg.cache.resource("", "configmaps")
    watcher = cache.subscribe(namespace=None, predicate=None, since=reg.cache.revision,
                              revision=reg.cache.revision, send_initial=False)
    opts = requests.WriteOptions.parse({})
    created = await cms.create("default", {"metadata": {"name": "c"}, "data": {"a": "1"}}, opts)
    await reg.cache.wait_fresh()
    event = watcher.queue.get_nowait()
    assert isinstance(event, watchcache.WatchEvent) and event._stored is not None
    assert orjson.loads(event.raw_object()) == created
    assert orjson.loads(event.raw_object())["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_events_find_their_resource_by_key_prefix() -> None:
    """The prefix lookup in ``_dispatch`` agrees with splitting the key, odd keys included."""
    cache = watchcache.WatchCache(object())  # type: ignore[arg-type]
    keys = ["/registry/core/pods/default/p", "/registry/apps/deployments/ns/x", "/registry/core/nodes/n1",
            "/registry/core/pods/default/p", "/registry/x", "/other/a/b/c", "/registry/", "/registry/core/pods",
            "/registry/example.com/widgets/ns/w/extra"]
    for key in keys:
        found = cache._resource_of_key(key)
        expected = watchcache.resource_of(key)
        assert (found.group, found.plural) == expected if found is not None else expected is None, key
    assert set(cache._by_prefix) == {"/registry/core/pods/", "/registry/apps/deployments/", "/registry/core/nodes/",
                                     "/registry/example.com/widgets/"}
