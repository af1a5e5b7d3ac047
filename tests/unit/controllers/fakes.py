"""Stand-ins for the shared informers of controller unit tests: objects by key, and the
``controller``, ``orphan`` and ``namespace`` indexes the manager's informers keep
(``kubelite.controllers.base.SharedInformers``)."""

from __future__ import annotations

from typing import Any

from kubelite.client import resources

Obj = dict[str, Any]


def _controller_uid(obj: Obj) -> str | None:
    return next((r.get("uid") for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)


class FakeInformer:
    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}

    def add_handler(self, **_: Any) -> None:
        pass

    def get(self, key: str) -> Obj | None:
        return self.objects.get(key)

    def by_index(self, index: str, value: str) -> list[Obj]:
        if index == "controller":
            return [o for o in self.objects.values() if _controller_uid(o) == value]
        if index == "orphan":
            return [o for o in self.objects.values()
                    if _controller_uid(o) is None and o["metadata"].get("namespace") == value]
        if index == "namespace":
            return [o for o in self.objects.values() if o["metadata"].get("namespace") == value]
        return []


class FakeInformers:
    def __init__(self) -> None:
        self.by_res: dict[str, FakeInformer] = {}

    def get(self, res: resources.Resource) -> FakeInformer:
        return self.by_res.setdefault(res.plural, FakeInformer())
