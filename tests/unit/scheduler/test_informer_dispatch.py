"""The scheduler's informers call handlers without a coroutine per event; handlers must
still run in registration order, an async one finishing before the next one starts.
(Here, next to the scheduler that depends on it; the informer's own behaviour is
covered in tests/unit/client/test_informer.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

from kubelite.client import config, informer, resources, rest


def _event(kind: str, name: str, rv: str) -> dict[str, Any]:
    return {"type": kind, "object": {"metadata": {"name": name, "namespace": "default", "resourceVersion": rv}}}


async def test_sync_and_async_handlers_run_in_order_for_every_event() -> None:
    inf = informer.Informer(rest.Client(config.ClientConfig(servers=["https://127.0.0.1:1"])), resources.PODS)
    seen: list[str] = []

    def first(*objs: Any) -> None:
        seen.append(f"first {objs[-1]['metadata']['resourceVersion']}")

    async def second(*objs: Any) -> None:
        await asyncio.sleep(0)
        seen.append(f"second {objs[-1]['metadata']['resourceVersion']}")

    def third(*objs: Any) -> None:
        seen.append(f"third {objs[-1]['metadata']['resourceVersion']}")

    for fn in (first, second, third):
        inf.add_handler(on_add=fn, on_update=fn, on_delete=fn)
    for kind, rv in (("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "3")):
        await inf._apply(_event(kind, "a", rv))
    assert seen == [f"{h} {rv}" for rv in "123" for h in ("first", "second", "third")]
    assert inf.resource_version == "3" and inf.get("default/a") is None


async def test_only_sync_handlers_need_nothing_awaited() -> None:
    inf = informer.Informer(rest.Client(config.ClientConfig(servers=["https://127.0.0.1:1"])), resources.PODS)
    added: list[str] = []
    inf.add_handler(on_add=lambda obj: added.append(obj["metadata"]["name"]))
    assert inf._apply_now(_event("ADDED", "a", "1")) is None
    assert added == ["a"] and (inf.get("default/a") or {})["kind"] == "Pod"
