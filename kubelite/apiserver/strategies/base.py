"""The default strategy: how the generic registry treats a resource unless told otherwise.

A strategy is upstream's ``RESTCreateStrategy``/``RESTUpdateStrategy``/``RESTDeleteStrategy``
in one class: it prepares objects for create and update (status handling, initial status),
validates them, says whether a change bumps ``generation``, which fields selectors can
use, and how deletion goes (graceful or at once). Resource modules in this package
subclass it and override only what differs; ``kubelite.apiserver.registry.Store`` calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelite.api import errors, fieldselectors, meta, scheme, selectors, validation
from kubelite.api.patch import deep_copy

if TYPE_CHECKING:
    from kubelite.apiserver import registry

Obj = dict[str, Any]

# Top-level fields that are not the object's desired state.
_NOT_SPEC = {"apiVersion", "kind", "metadata", "status"}


class Strategy:
    """Behaviour of one resource in the generic registry."""

    # How names are checked: "subdomain" (most), "label" (namespaces), "dns1035" (services).
    name_rule = "subdomain"
    # Whether generation starts at 1 and follows changes of the desired state.
    tracks_generation = True
    # DELETE answers the object (True) or a Status (False), as upstream per resource.
    return_deleted_object = False
    # PUT of a missing object creates it (upstream: events, endpoints, leases don't; few do).
    allow_create_on_update = False
    # What a DELETE naming neither propagationPolicy nor orphanDependents does to the
    # object's dependents (upstream's DefaultGarbageCollectionPolicy): None is Background.
    default_propagation_policy: str | None = None
    # a PUT without metadata.resourceVersion replaces whatever is stored (most built-ins);
    # False: it is refused (422), as upstream's AllowUnconditionalUpdate
    allow_unconditional_update = True

    def __init__(self, info: scheme.ResourceInfo) -> None:
        self.info = info
        self.store: registry.Store | None = None  # set by the registry; gives access to siblings
        # The selectable fields of the last two objects asked about (see selectable_fields).
        self._fields_memo: list[tuple[Obj, dict[str, str]]] = []

    # --- create ------------------------------------------------------------------------

    def prepare_for_create(self, obj: Obj) -> None:
        """Reset what a client may not set on create: status when it is a subresource."""
        if self.info.has_status:
            status = self.initial_status(obj)
            if status is None:
                obj.pop("status", None)
            else:
                obj["status"] = status

    def initial_status(self, obj: Obj) -> Obj | None:
        return self.complete_status({})

    def complete_status(self, status: Obj) -> Obj:
        """Fill in, in place, what Go always serializes in this kind's status (fields
        without ``omitempty``, non-pointer structs), on create and on every status write:
        typed clients require them. The default fills nothing."""
        return status

    async def admit_create(self, obj: Obj) -> None:
        """Last check before a create is stored (may consult other resources via ``store``)."""

    # --- update ------------------------------------------------------------------------

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        """The main endpoint cannot change status when status is a subresource."""
        if self.info.has_status:
            if "status" in old:
                new["status"] = deep_copy(old["status"])
            else:
                new.pop("status", None)

    def prepare_for_status_update(self, new: Obj, old: Obj) -> Obj:
        """The status endpoint changes only status: everything else comes from ``old``."""
        merged = deep_copy(old)
        if "status" in new:
            merged["status"] = new["status"]
        else:
            merged.pop("status", None)
        if isinstance(merged.get("status"), dict):
            self.complete_status(merged["status"])
        # The resourceVersion precondition travels with the request.
        rv = new.get("metadata", {}).get("resourceVersion")
        if rv:
            merged["metadata"]["resourceVersion"] = rv
        return merged

    def scale_selector(self, obj: Obj) -> str:
        """The Scale subresource's ``status.selector``: ``spec.selector`` as a label query."""
        return selectors.selector_to_string((obj.get("spec") or {}).get("selector") or {})

    def spec_changed(self, new: Obj, old: Obj) -> bool:
        keys = (set(new) | set(old)) - _NOT_SPEC
        return any(new.get(k) != old.get(k) for k in keys)

    # --- validation --------------------------------------------------------------------

    def validate(self, obj: Obj) -> list[errors.Cause]:
        causes = meta.validate_object_meta(obj.get("metadata") or {}, namespaced=self.info.namespaced,
                                           name_rule=self.name_rule)
        causes += validation.validate(self.info.group, self.info.kind, obj)
        return causes

    def validate_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        causes = meta.validate_object_meta(new.get("metadata") or {}, namespaced=self.info.namespaced,
                                           name_rule=self.name_rule)
        causes += meta.validate_meta_update(new.get("metadata") or {}, old.get("metadata") or {})
        causes += validation.validate(self.info.group, self.info.kind, new, old=old)
        return causes

    def validate_status_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        return []

    def validate_subresource_update(self, subresource: str, new: Obj, old: Obj) -> list[errors.Cause]:
        """A write through another subresource (finalize, pods/ephemeralcontainers),
        prepared by its handler: by default the object must be valid as it is."""
        return self.validate(new)

    # --- reads -------------------------------------------------------------------------

    def selectable_fields(self, obj: Obj) -> dict[str, str]:
        """The fields a field selector can test. Every watcher with a field selector asks
        this of the same event's object and its previous state in turn (a node agent's
        ``spec.nodeName=…`` watch each), so the last two answers are kept, by identity: read
        paths only ask about cached or freshly decoded objects, which are never mutated."""
        memo = self._fields_memo
        for held, fields in memo:
            if held is obj:
                return fields
        fields = fieldselectors.object_fields(self.info.group, self.info.plural, obj)
        memo.append((obj, fields))
        if len(memo) > 2:
            del memo[0]
        return fields

    @property
    def internal_api_version(self) -> str:
        """The apiVersion objects are stored with (events.k8s.io events are stored as v1)."""
        return self.info.api_version

    def to_external(self, obj: Obj) -> Obj:
        """The stored shape as this resource's clients see it (identity except for aliases)."""
        return obj

    def to_internal(self, obj: Obj) -> Obj:
        return obj

    # --- delete ------------------------------------------------------------------------

    def grace_period(self, obj: Obj, requested: int | None) -> int:
        """Seconds the object stays with a deletionTimestamp before it goes; 0 = at once."""
        return 0

    def pending_finalizers(self, obj: Obj) -> bool:
        return bool(obj.get("metadata", {}).get("finalizers"))

    def admit_delete(self, name: str) -> None:
        """Refuse deleting the object called ``name`` before it is even read, as an
        admission plugin does (upstream admission runs ahead of the store: a refusal here
        wins over NotFound and preconditions, and holds for dry runs)."""

    def validate_delete(self, obj: Obj) -> None:
        """Refuse deleting ``obj`` by raising a Status error (e.g. system PriorityClasses)."""

    def prepare_for_delete(self, obj: Obj) -> None:
        """Called on the object being marked for deletion (e.g. namespaces go Terminating)."""
