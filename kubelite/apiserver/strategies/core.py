"""Strategies of the small core/v1 kinds: namespaces, nodes, data objects, volumes."""

from __future__ import annotations

from typing import Any

from kubelite.api import errors
from kubelite.api.patch import deep_copy
from kubelite.apiserver import podsecurity
from kubelite.apiserver.strategies import base, cluster, limitranges

Obj = dict[str, Any]

# Namespaces upstream's NamespaceLifecycle admission refuses to delete (its immortal set).
IMMORTAL_NAMESPACES = frozenset(("default", "kube-system", "kube-public"))


class DataStrategy(base.Strategy):
    """ConfigMaps, Secrets, ServiceAccounts, Leases, ControllerRevisions: no spec/status split."""

    tracks_generation = False


class ServiceAccountStrategy(DataStrategy):
    return_deleted_object = True  # as upstream: typed clients decode the object


class EndpointsStrategy(DataStrategy):
    allow_create_on_update = True


class NamespaceStrategy(base.Strategy):
    """Namespaces: Active on create; deletion waits for ``spec.finalizers`` (the namespace
    controller empties it through ``/finalize`` once the contents are gone)."""

    name_rule = "label"
    tracks_generation = False

    def initial_status(self, obj: Obj) -> Obj | None:
        return {"phase": "Active"}

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        # Every namespace carries its own name as a label (upstream since 1.21).
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        # spec.finalizers changes only through the finalize subresource.
        new["spec"] = dict(new.get("spec") or {})
        if "finalizers" in (old.get("spec") or {}):
            new["spec"]["finalizers"] = list(old["spec"]["finalizers"])
        labels = new["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = new["metadata"]["name"]

    def validate(self, obj: Obj) -> list[errors.Cause]:
        return super().validate(obj) + podsecurity.validate_namespace(self.store, obj, None)

    def validate_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        return super().validate_update(new, old) + podsecurity.validate_namespace(self.store, new, old)

    def prepare_for_finalize(self, new: Obj, old: Obj) -> Obj:
        merged = deep_copy(old)
        merged.setdefault("spec", {})["finalizers"] = list((new.get("spec") or {}).get("finalizers") or [])
        return merged

    def pending_finalizers(self, obj: Obj) -> bool:
        return super().pending_finalizers(obj) or bool((obj.get("spec") or {}).get("finalizers"))

    def prepare_for_delete(self, obj: Obj) -> None:
        obj.setdefault("status", {})["phase"] = "Terminating"

    def admit_delete(self, name: str) -> None:
        # NamespaceLifecycle admission: the immortal namespaces may not be deleted.
        if name in IMMORTAL_NAMESPACES:
            raise errors.Forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                                   name=name, kind="namespaces")


class NodeStrategy(base.Strategy):
    """Nodes are cluster-scoped; agents post them with their status included."""

    tracks_generation = False

    def initial_status(self, obj: Obj) -> Obj | None:
        return obj.get("status", {})


class PersistentVolumeStrategy(base.Strategy):
    tracks_generation = False
    return_deleted_object = True  # as upstream: typed clients decode the object

    def initial_status(self, obj: Obj) -> Obj | None:
        return {"phase": "Pending"}


class PersistentVolumeClaimStrategy(base.Strategy):
    tracks_generation = False
    return_deleted_object = True  # as upstream: typed clients decode the object

    def initial_status(self, obj: Obj) -> Obj | None:
        return {"phase": "Pending"}

    async def admit_create(self, obj: Obj) -> None:
        # DefaultStorageClass admission: a claim naming no class gets the default one
        await cluster.admit_default_storage_class(self.store, obj)
        limitranges.validate_claim(self.store, obj)


class SecretStrategy(DataStrategy):
    """Secrets: ``stringData`` is a write-only convenience folded into ``data`` (base64)."""

    @staticmethod
    def _fold_string_data(obj: Obj) -> None:
        import base64

        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict) and string_data:
            data = obj.get("data")
            if not isinstance(data, dict):  # absent or null ("data": null) — a wrong type is refused earlier
                data = obj["data"] = {}
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        self._fold_string_data(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        self._fold_string_data(new)
