"""DefaultBinder (Bind): a ``Binding`` per pod; the API server sets ``spec.nodeName`` and
PodScheduled=True. Called from the scheduler's binding workers, many at once, off the
scheduling loop; the bindings waiting together go in one bulk request
(``kubelite.scheduler.batching``), or one ``POST pods/{name}/binding`` each where the
server has no bulk endpoint.
"""

from __future__ import annotations

from typing import Any

from kubelite.client import errors, rest
from kubelite.scheduler import batching, framework


class DefaultBinder:
    name = "DefaultBinder"

    def __init__(self, client: rest.Client) -> None:
        self.client = client
        self.writer = batching.BulkWriter(client, kind="bindings", single=self._post)

    async def _post(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        await self.client.request("POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding",
                                  json=body)

    async def bind(self, state: framework.CycleState, node: str) -> framework.Status:
        info = state.info
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": info.name, "namespace": info.namespace, "uid": info.uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            await self.writer.submit(body)
        except errors.ApiError as exc:
            return framework.Status(framework.Code.ERROR, f"binding rejected: {exc}", self.name)
        return framework.Status(framework.Code.SUCCESS)
