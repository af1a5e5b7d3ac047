"""DefaultBinder (Bind): ``POST pods/{name}/binding`` through the client; the API server
sets ``spec.nodeName`` and PodScheduled=True. Called from the scheduler's binding
workers, many at once, off the scheduling loop.
"""

from __future__ import annotations

from kubelite.client import errors, rest
from kubelite.scheduler import framework


class DefaultBinder:
    name = "DefaultBinder"

    def __init__(self, client: rest.Client) -> None:
        self.client = client

    async def bind(self, state: framework.CycleState, node: str) -> framework.Status:
        info = state.info
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": info.name, "namespace": info.namespace, "uid": info.uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            await self.client.request("POST", f"/api/v1/namespaces/{info.namespace}/pods/{info.name}/binding",
                                      json=body)
        except errors.ApiError as exc:
            return framework.Status(framework.Code.ERROR, f"binding rejected: {exc}", self.name)
        return framework.Status(framework.Code.SUCCESS)
