"""DefaultBinder (Bind): a ``Binding`` per pod; the API server sets ``spec.nodeName`` and
PodScheduled=True. The scheduler calls ``bind_nowait`` from its loop (or ``bind`` from a
binding worker, for pods with PreBind work); the bindings waiting together go in one
bulk request (``kubelite.scheduler.batching``), or one ``POST pods/{name}/binding`` each
where the server has no bulk endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubelite.client import errors, rest
from kubelite.scheduler import batching, framework


class DefaultBinder:
    name = "DefaultBinder"

    def __init__(self, client: rest.Client) -> None:
        self.client = client
        # Two bulk requests in flight: while both are out, bindings gather into the next
        # one (about twice the batch of four slots, for a few ms of latency): each
        # request costs both sides far more than an item in it.
        self.writer = batching.BulkWriter(client, kind="bindings", single=self._post, in_flight=2)

    async def _post(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        await self.client.request("POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding",
                                  json=body)

    async def close(self) -> None:
        await self.writer.close()

    @staticmethod
    def _body(state: framework.CycleState, node: str) -> dict[str, Any]:
        info = state.info
        return {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": info.name, "namespace": info.namespace, "uid": info.uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}

    def _status(self, failure: errors.ApiError | None) -> framework.Status:
        if failure is None:
            return framework.SUCCESS
        return framework.Status(framework.Code.ERROR, f"binding rejected: {failure}", self.name)

    async def bind(self, state: framework.CycleState, node: str) -> framework.Status:
        try:
            await self.writer.submit(self._body(state, node))
        except errors.ApiError as exc:
            return self._status(exc)
        return self._status(None)

    def bind_nowait(self, state: framework.CycleState, node: str,
                    done: Callable[[framework.Status], None]) -> None:
        self.writer.put(self._body(state, node), lambda failure: done(self._status(failure)))
