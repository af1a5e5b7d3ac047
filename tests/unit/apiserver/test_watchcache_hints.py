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
